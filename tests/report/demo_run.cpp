#include "demo_run.h"

#include "lrpflow/registry.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "lrpflow/files.h"

namespace lrpflow::testing {
namespace fs = std::filesystem;

namespace {

void write_or_throw(const fs::path& path, const std::string& bytes) {
  const Status status = write_file_atomic(path, bytes);
  if (!status) throw std::runtime_error(status.message());
}

void write_png(const fs::path& path, const cv::Mat& image) {
  fs::create_directories(path.parent_path());
  if (!cv::imwrite(path.string(), image)) throw std::runtime_error("cannot write " + path.string());
}

// A colourful input-like picture: a disc on a gradient, different for every seed.
cv::Mat demo_input(int seed) {
  cv::Mat image(64, 64, CV_8UC3);
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) image.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(4 * x), uchar(4 * y), uchar(37 * seed));
  }
  cv::circle(image, {20 + seed % 24, 32}, 12, cv::Scalar(40, 200, 240), cv::FILLED);
  return image;
}

// A blue-white-red relevance-like map: positive around the disc, negative in a corner.
cv::Mat demo_heatmap(int seed) {
  cv::Mat image(64, 64, CV_8UC3);
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      const double r = std::hypot(x - (20 + seed % 24), y - 32.0);
      const double relevance = std::exp(-r * r / 120.0) - 0.6 * std::exp(-(x * x + y * y) / 200.0);
      const int v = int(std::lround(255 * std::min(1.0, std::abs(relevance))));
      image.at<cv::Vec3b>(y, x) = relevance >= 0 ? cv::Vec3b(uchar(255 - v), uchar(255 - v), 255)
                                                 : cv::Vec3b(255, uchar(255 - v), uchar(255 - v));
    }
  }
  return image;
}

const char* kGraphSvg = R"(<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="320pt" height="120pt" viewBox="0 0 320 120">
<rect width="320" height="120" fill="white"/>
<g font-family="sans-serif" font-size="12">
<ellipse cx="50" cy="60" rx="40" ry="18" fill="#fdd"/><text x="50" y="64" text-anchor="middle">input</text>
<ellipse cx="160" cy="60" rx="44" ry="18" fill="#fdd"/><text x="160" y="64" text-anchor="middle">conv2 #7</text>
<ellipse cx="270" cy="60" rx="40" ry="18" fill="#fdd"/><text x="270" y="64" text-anchor="middle">fc #3</text>
<path d="M90 60 H116 M204 60 H230" stroke="#c00" stroke-width="3"/>
</g></svg>
)";

std::string prediction_json(int predicted, int target) {
  return "{\"target\": " + std::to_string(target) + ", \"predicted\": " + std::to_string(predicted) +
         ", \"top5\": [{\"class\": " + std::to_string(predicted) +
         ", \"label\": \"Ankle <boot>\", \"probability\": 0.81}, {\"class\": 5, \"label\": \"Sandal\", "
         "\"probability\": 0.12}, {\"class\": 7, \"label\": \"Sneaker\", \"probability\": 0.04}, {\"class\": 0, "
         "\"label\": \"T-shirt/top\", \"probability\": 0.02}, {\"class\": 8, \"label\": \"Bag\", \"probability\": 0.01}]}\n";
}

}  // namespace

Manifest write_demo_run(const fs::path& dir, int item_count) {
  if (item_count < 6) throw std::invalid_argument("write_demo_run needs at least 6 items");
  Manifest m;
  m.run.pipeline_file = "examples/fashion_<lrp>.yaml";
  m.run.pipeline_hash = "fnv1a64:0123456789abcdef";
  m.run.inputs_hash = "fnv1a64:fedcba9876543210";
  m.run.lrpflow_version = lrpflow_version();
  m.run.started_at = "2024-05-01T12:00:00Z";
  m.run.finished_at = "2024-05-01T12:03:20Z";
  m.run.state = "complete";
  m.run.threads = 2;
  m.run.max_in_flight = 4;
  m.run.items_total = item_count;
  m.stages = {{"load", "image_loader", item_count, 1.25, 2.5},
              {"explain", "lrp", item_count - 1, 48.0, 61.5},
              {"heatmap", "heatmap", item_count - 1, 3.0, 4.75}};

  for (int i = 0; i < item_count; ++i) {
    ManifestItem item;
    item.index = i;
    item.id = "img_" + std::to_string(i);
    if (i == 3) item.id = "<script>alert('x')</script>";
    if (i == 4) item.id = "shoe/7";
    if (i == 5) item.id = "shoe:7";
    item.source = "inputs/" + std::to_string(i) + ".png";
    const std::string stem = "items/" + std::to_string(i);
    item.timings_ms = {{"load", 1.0 + i % 3}, {"explain", 45.0 + i % 7}};

    if (i == 1) {  // failed in the LRP stage: only the input exists
      item.ok = false;
      item.error = ItemError{"explain", "relevance is not finite at layer <features.3> & beyond"};
      write_png(dir / (stem + "_input.png"), demo_input(i));
      item.outputs = {{"input_image", stem + "_input.png"}};
      m.items.push_back(std::move(item));
      continue;
    }
    write_png(dir / (stem + "_input.png"), demo_input(i));
    item.outputs.push_back({"input_image", stem + "_input.png"});
    if (i == 2) {  // recorded but deleted since (or never written)
      item.outputs.push_back({"heatmap", stem + "_heatmap_gone.png"});
      item.outputs.push_back({"graph_svg", stem + "_graph_gone.svg"});
      item.outputs.push_back({"relevance", stem + "_relevance_gone.npy"});
    } else {
      write_png(dir / (stem + "_heatmap.png"), demo_heatmap(i));
      item.outputs.push_back({"heatmap", stem + "_heatmap.png"});
      write_or_throw(dir / (stem + "_relevance.npy"), std::string("\x93NUMPY", 6) + "demo");
      item.outputs.push_back({"relevance", stem + "_relevance.npy"});
    }
    write_or_throw(dir / (stem + "_prediction.json"), i == 6 ? "{\"predicted\": " : prediction_json(9, i % 2 ? 9 : 5));
    item.outputs.push_back({"prediction", stem + "_prediction.json"});
    item.metrics = {{"predicted_class", 9}, {"confidence", 0.81}, {"lrp/conservation", 0.998}};

    if (i == 0) {  // every kind the report knows, plus one it does not
      write_png(dir / (stem + "_act_features.3.png"), demo_heatmap(5));
      write_png(dir / (stem + "_neuron_features.3_7.png"), demo_heatmap(7));
      write_png(dir / (stem + "_neuron_features.3_12.png"), demo_heatmap(12));
      write_png(dir / (stem + "_deconv_7.png"), demo_input(3));
      write_png(dir / (stem + "_deconv_grid.png"), demo_input(4));
      write_or_throw(dir / (stem + "_graph.svg"), kGraphSvg);
      write_or_throw(dir / (stem + "_graph.json"), "{\"paths\": []}\n");
      write_or_throw(dir / (stem + "_graph.dot"), "digraph g { a -> b }\n");
      write_or_throw(dir / (stem + "_fidelity.csv"), "layer,k,mse\nfeatures.3,8,0.01\n");
      write_or_throw(dir / (stem + "_notes #1.txt"), "an output kind the report does not know\n");
      item.outputs.insert(item.outputs.end(), {{"activation_heatmap", stem + "_act_features.3.png"},
                                               {"neuron_heatmap", stem + "_neuron_features.3_7.png"},
                                               {"neuron_heatmap", stem + "_neuron_features.3_12.png"},
                                               {"deconv", stem + "_deconv_7.png"},
                                               {"deconv_grid", stem + "_deconv_grid.png"},
                                               {"graph_svg", stem + "_graph.svg"},
                                               {"graph_json", stem + "_graph.json"},
                                               {"graph_dot", stem + "_graph.dot"},
                                               {"fidelity_csv", stem + "_fidelity.csv"},
                                               {"notes", stem + "_notes #1.txt"}});
      item.metrics["fidelity/features.3/mse"] = 0.0125;
      item.metrics["fidelity/features.3/smape"] = 0.2;
      item.metrics["fidelity/features.3/kept_class"] = 1;
      item.metrics["aopc/morf"] = 0.42;
      item.metrics["aopc/lerf"] = 0.05;
    }
    m.items.push_back(std::move(item));
  }

  write_png(dir / "fidelity_plot.png", demo_heatmap(11));
  write_or_throw(dir / "fidelity.csv", "layer,k,mse\nfeatures.3,8,0.01\n");
  m.run_outputs = {{"fidelity_plot", "fidelity_plot.png"}, {"fidelity_csv", "fidelity.csv"},
                   // An absolute path (a manifest must not have them): neither read nor linked.
                   {"summary", (fs::absolute(dir) / "fidelity.csv").string()}};
  return m;
}

ReportOptions shipped_report_options() {
  static const ReportOptions options = [] {
    PluginRegistry registry;
    registry.load_directories(PluginRegistry::search_path({}));
    ReportOptions o;
    add_stage_vocabulary(o, registry);
    return o;
  }();
  return options;
}

}  // namespace lrpflow::testing
