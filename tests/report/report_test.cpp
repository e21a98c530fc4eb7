#include "lrpflow/report.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "demo_run.h"
#include "lrpflow/files.h"
#include "lrpflow/output_layout.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

std::vector<fs::path> html_pages(const fs::path& report_dir) {
  std::vector<fs::path> pages;
  for (const auto& entry : fs::recursive_directory_iterator(report_dir)) {
    if (entry.path().extension() == ".html") pages.push_back(entry.path());
  }
  return pages;
}

// Every value of an attribute (src or href) in a page.
std::vector<std::string> attribute_values(const std::string& html, const std::string& attribute) {
  std::vector<std::string> values;
  const std::regex pattern("\\s" + attribute + "=\"([^\"]*)\"");
  for (std::sregex_iterator it(html.begin(), html.end(), pattern), end; it != end; ++it) values.push_back((*it)[1]);
  return values;
}

// The file a relative URL in a page points to: fragment dropped, %XX decoded, &amp; unescaped.
fs::path url_target(const fs::path& page, std::string url) {
  url = url.substr(0, url.find('#'));
  std::string decoded;
  for (std::size_t i = 0; i < url.size(); ++i) {
    if (url[i] == '%' && i + 2 < url.size()) {
      decoded.push_back(static_cast<char>(std::stoi(url.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else if (url.compare(i, 5, "&amp;") == 0) {
      decoded.push_back('&');
      i += 4;
    } else {
      decoded.push_back(url[i]);
    }
  }
  return (page.parent_path() / decoded).lexically_normal();
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / (std::string("lrpflow_report_") + info->name());
    fs::remove_all(dir_);
    manifest_ = testing::write_demo_run(dir_, 12);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // With what the shipped stage types declare about their outputs, as `lrpflow report` does.
  void write(ReportOptions options = {}) {
    const ReportOptions shipped = testing::shipped_report_options();
    options.sections = shipped.sections;
    options.thumbnail_kinds = shipped.thumbnail_kinds;
    options.metrics = shipped.metrics;
    const Status status = write_report(dir_, manifest_, options);
    ASSERT_TRUE(status.is_ok()) << status.message();
  }
  std::string page(const std::string& relative) const {
    const fs::path path = dir_ / "report" / relative;
    EXPECT_TRUE(fs::is_regular_file(path)) << path;
    return slurp(path);
  }

  fs::path dir_;
  Manifest manifest_;
};

TEST_F(ReportTest, RunPageShowsRunInfoCountsStagesAndErrors) {
  write();
  const std::string index = page("index.html");
  EXPECT_NE(index.find("examples/fashion_&lt;lrp&gt;.yaml"), std::string::npos);
  EXPECT_NE(index.find(">complete<"), std::string::npos);
  EXPECT_NE(index.find("2024-05-01T12:00:00Z"), std::string::npos);
  EXPECT_NE(index.find("2024-05-01T12:03:20Z"), std::string::npos);
  // Counts: 12 items, 11 ok, 1 failed.
  EXPECT_NE(index.find("<b>12</b><span>items in total"), std::string::npos);
  EXPECT_NE(index.find("<b>11</b><span>ok"), std::string::npos);
  EXPECT_NE(index.find("<b>1</b><span>failed"), std::string::npos);
  // Stage table: one row per stage with its mean and p95.
  for (const StageStats& s : manifest_.stages) {
    EXPECT_NE(index.find("<td>" + s.id + "</td><td><code>" + s.type + "</code>"), std::string::npos) << s.id;
  }
  EXPECT_NE(index.find("48.00"), std::string::npos);
  EXPECT_NE(index.find("61.50"), std::string::npos);
  // Error list: the failed item with its stage and message, linked to its page.
  EXPECT_NE(index.find("Errors (1)"), std::string::npos);
  EXPECT_NE(index.find("<a href=\"items/img_1.html\">img_1</a></td><td><code>inputs/1.png</code></td><td>explain</td>"),
            std::string::npos);
  EXPECT_NE(index.find("relevance is not finite at layer &lt;features.3&gt; &amp; beyond"), std::string::npos);
  // Run outputs: the plot inline, the CSV linked.
  EXPECT_NE(index.find("<img src=\"../fidelity_plot.png\""), std::string::npos);
  EXPECT_NE(index.find("<a href=\"../fidelity.csv\">"), std::string::npos);
  // Item list: every item, with a lazy thumbnail of its heatmap.
  for (const ManifestItem& item : manifest_.items) EXPECT_NE(index.find(html_escape(item.id)), std::string::npos);
  EXPECT_NE(index.find("<img src=\"../items/0_heatmap.png\" alt=\"heatmap\" loading=\"lazy\" class=\"thumb\">"),
            std::string::npos);
}

TEST_F(ReportTest, RunInProgressShowsUnprocessedItemsAndCapsTheErrorList) {
  manifest_.run.state = "running";
  manifest_.run.finished_at.clear();
  manifest_.run.items_total = 20;  // 12 recorded so far
  ReportOptions options;
  options.max_listed_errors = 0;
  write(options);
  const std::string index = page("index.html");
  EXPECT_NE(index.find("<b>8</b><span>not processed"), std::string::npos);
  EXPECT_NE(index.find("<b>20</b><span>items in total"), std::string::npos);
  EXPECT_NE(index.find("<span class=\"badge running\">running</span>"), std::string::npos);
  EXPECT_NE(index.find("not finished"), std::string::npos);
  EXPECT_NE(index.find("Errors (1)"), std::string::npos);
  EXPECT_NE(index.find("… and 1 more"), std::string::npos);
  EXPECT_EQ(index.find("relevance is not finite"), std::string::npos) << "error rows beyond the cap were listed";
}

TEST_F(ReportTest, EscapesEveryManifestString) {
  write();
  for (const fs::path& path : html_pages(dir_ / "report")) {
    const std::string html = slurp(path);
    EXPECT_EQ(html.find("<script"), std::string::npos) << path;
    EXPECT_EQ(html.find("<boot>"), std::string::npos) << path;
    EXPECT_EQ(html.find("<lrp>"), std::string::npos) << path;
  }
  const std::string index = page("index.html");
  EXPECT_NE(index.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  // The markup-laden id gets a page whose name is plain characters (and, since the id had to
  // change to become a file name, the hash of the id that safe_name_component() adds).
  const std::string safe = safe_name_component("<script>alert('x')</script>");
  const std::string item = page("items/_script_alert__x____script_" + safe.substr(safe.rfind('-')) + ".html");
  EXPECT_NE(item.find("<h1>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(item.find("Ankle &lt;boot&gt;"), std::string::npos);
}

TEST_F(ReportTest, EveryImageAndLinkResolvesAndMissingFilesShowPlaceholders) {
  write();
  int images = 0;
  for (const fs::path& path : html_pages(dir_ / "report")) {
    const std::string html = slurp(path);
    for (const std::string& src : attribute_values(html, "src")) {
      ++images;
      EXPECT_TRUE(fs::is_regular_file(url_target(path, src))) << path << ": <img src=\"" << src << "\"> is broken";
    }
    for (const std::string& href : attribute_values(html, "href")) {
      if (href.rfind("data:", 0) == 0 || href.rfind("#", 0) == 0) continue;
      EXPECT_TRUE(fs::is_regular_file(url_target(path, href))) << path << ": link \"" << href << "\" is broken";
    }
  }
  EXPECT_GT(images, 20);
  // Item 2's heatmap and graph were recorded but are not there: placeholders that name them.
  const std::string item = page("items/img_2.html");
  EXPECT_NE(item.find("missing file<br><code>2_heatmap_gone.png</code>"), std::string::npos);
  EXPECT_NE(item.find("missing file<br><code>2_graph_gone.svg</code>"), std::string::npos);
  EXPECT_NE(item.find("items/2_relevance_gone.npy</code> <span class=\"badge failed\">missing</span>"), std::string::npos);
  EXPECT_NE(page("index.html").find("<div class=\"missing small\" title=\"items/2_heatmap_gone.png\">"), std::string::npos);
}

TEST_F(ReportTest, PagesHoldNoAbsoluteOrRemoteUrls) {
  write();
  for (const fs::path& path : html_pages(dir_ / "report")) {
    const std::string html = slurp(path);
    EXPECT_EQ(html.find("http:"), std::string::npos) << path;
    EXPECT_EQ(html.find("https:"), std::string::npos) << path;
    EXPECT_EQ(html.find("file:"), std::string::npos) << path;
    EXPECT_EQ(html.find("<link rel=\"stylesheet\""), std::string::npos) << path;
    for (const char* attribute : {"src", "href"}) {
      for (const std::string& url : attribute_values(html, attribute)) {
        EXPECT_NE(url.front(), '/') << path << ": " << url;
        EXPECT_EQ(url.find("://"), std::string::npos) << path << ": " << url;
      }
    }
  }
  // The run output recorded with an absolute path is not linked (manifests are untrusted), only named.
  EXPECT_EQ(count_of(page("index.html"), "<a href=\"../fidelity.csv\">"), 1);
  EXPECT_NE(page("index.html").find("<code>" + html_escape((fs::absolute(dir_) / "fidelity.csv").string()) +
                                    "</code> <span class=\"badge failed\">missing</span>"),
            std::string::npos);
}

TEST_F(ReportTest, ManifestPathsOutsideTheRunAreNeitherReadNorLinked) {
  // Files outside the run's folder that an edited manifest points at: by "..", by a symlink, absolute.
  const fs::path outside = dir_.parent_path() / (dir_.filename().string() + "_outside");
  fs::create_directories(outside);
  ASSERT_TRUE(write_file_atomic(outside / "secret.png", slurp(dir_ / "items/0_heatmap.png")).is_ok());
  ASSERT_TRUE(write_file_atomic(outside / "prediction.json", "{\"predicted\": 3}").is_ok());
  fs::create_directory_symlink(outside, dir_ / "items/link");
  ManifestItem& item = manifest_.items[7];
  ASSERT_EQ(item.id, "img_7");
  item.outputs = {{"heatmap", "../" + outside.filename().string() + "/secret.png"},
                  {"activation_heatmap", "items/link/secret.png"},
                  {"prediction", (outside / "prediction.json").string()}};
  item.metrics.clear();
  write();
  const std::string html = page("items/img_7.html");
  for (const char* attribute : {"src", "href"}) {
    for (const std::string& url : attribute_values(html, attribute)) {
      EXPECT_EQ(url.find("secret"), std::string::npos) << url;
      EXPECT_EQ(url.find("prediction.json"), std::string::npos) << url;
    }
  }
  EXPECT_EQ(count_of(html, "missing file<br><code>secret.png</code>"), 2);
  // The prediction file was not read (it would say class 3): the page says why.
  EXPECT_EQ(html.find("class 3"), std::string::npos);
  EXPECT_NE(html.find("is an absolute path"), std::string::npos);
  fs::remove_all(outside);
}

TEST_F(ReportTest, PagesLongItemListsAndRemovesStalePages) {
  manifest_ = testing::write_demo_run(dir_, 250);
  write(ReportOptions{50});
  EXPECT_TRUE(fs::exists(dir_ / "report" / "items-5.html"));
  write(ReportOptions{100});
  EXPECT_TRUE(fs::exists(dir_ / "report" / "items-2.html"));
  EXPECT_TRUE(fs::exists(dir_ / "report" / "items-3.html"));
  EXPECT_FALSE(fs::exists(dir_ / "report" / "items-4.html")) << "stale page of the earlier report kept";
  EXPECT_FALSE(fs::exists(dir_ / "report" / "items-5.html")) << "stale page of the earlier report kept";

  // Every item is on exactly one list page and has its own page; pages hold 100, 100 and 50 rows.
  std::set<std::string> listed;
  const std::vector<std::pair<std::string, int>> pages = {{"index.html", 100}, {"items-2.html", 100}, {"items-3.html", 50}};
  for (const auto& [name, rows] : pages) {
    const std::string html = page(name);
    int here = 0;
    for (const std::string& href : attribute_values(html, "href")) {
      if (href.rfind("items/", 0) == 0) listed.insert(href);
    }
    for (const ManifestItem& item : manifest_.items) {
      if (html.find(">" + html_escape(item.id) + "</a><br>") != std::string::npos) ++here;
    }
    EXPECT_EQ(here, rows) << name;
    EXPECT_NE(html.find("<nav class=\"pager\">"), std::string::npos) << name;
  }
  EXPECT_EQ(listed.size(), 250u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "report" / "items"), fs::directory_iterator()), 250);
  // The second page links back and forth, and item 150's page knows its list page.
  const std::string second = page("items-2.html");
  EXPECT_NE(second.find("<a href=\"index.html\">← previous</a>"), std::string::npos);
  EXPECT_NE(second.find("<a href=\"items-3.html\">next →</a>"), std::string::npos);
  EXPECT_NE(page("items/img_150.html").find("<a href=\"../items-2.html#items\">"), std::string::npos);
}

TEST_F(ReportTest, ItemPageShowsEveryKindPredictionAndMetrics) {
  write();
  const std::string item = page("items/img_0.html");
  for (const char* file : {"0_input.png", "0_heatmap.png", "0_act_features.3.png", "0_neuron_features.3_7.png",
                           "0_neuron_features.3_12.png", "0_deconv_7.png", "0_deconv_grid.png", "0_graph.svg"}) {
    EXPECT_NE(item.find(std::string("<img src=\"../../items/") + file + "\""), std::string::npos) << file;
  }
  for (const char* heading : {"Input and relevance", "Activation heatmaps", "Neuron heatmaps", "Deconvolution",
                              "Critical path", "Prediction", "Metrics", "Files"}) {
    EXPECT_NE(item.find(std::string("<h2>") + heading + "</h2>"), std::string::npos) << heading;
  }
  // Raw files linked; the unknown kind too, with its awkward name percent-encoded.
  for (const char* file : {"0_relevance.npy", "0_graph.json", "0_graph.dot", "0_fidelity.csv", "0_prediction.json"}) {
    EXPECT_NE(item.find(std::string("<a href=\"../../items/") + file + "\">"), std::string::npos) << file;
  }
  EXPECT_NE(item.find("<td>notes</td><td><a href=\"../../items/0_notes%20%231.txt\">"), std::string::npos);
  // Prediction: all five of the top 5 with their labels; target 5 differs from the predicted 9.
  for (const char* label : {"Ankle &lt;boot&gt;", "Sandal", "Sneaker", "T-shirt/top", "Bag"}) {
    EXPECT_NE(item.find(std::string("<td>") + label + "</td>"), std::string::npos) << label;
  }
  EXPECT_NE(item.find("Predicted: class 9 <b>Ankle &lt;boot&gt;</b> · 81.0%<br>True class: class 5 <b>Sandal</b> "
                      "<span class=\"badge failed\">misclassified</span>"),
            std::string::npos);
  // Metrics in their friendly form, with the raw name next to them.
  EXPECT_NE(item.find("<td>Fidelity at features.3: MSE</td><td class=\"num\">0.0125</td>"), std::string::npos);
  EXPECT_NE(item.find("<td>Fidelity at features.3: class kept</td><td class=\"num\">yes</td>"), std::string::npos);
  EXPECT_NE(item.find("<td>AOPC, most relevant first</td><td class=\"num\">0.42</td>"), std::string::npos);
  EXPECT_NE(item.find("<td>Confidence</td><td class=\"num\">81.0%</td>"), std::string::npos);
  EXPECT_NE(item.find("<code class=\"muted\">lrp/conservation</code>"), std::string::npos);
  EXPECT_EQ(item.find("class=\"error-box\""), std::string::npos);
}

// The demo's prediction files give target 5 to even items and 9 to odd ones, all predict 9; item 1
// failed (no prediction) and item 6's file is corrupt (no target): 10 items with a true class, of
// which the even ones 0, 2, 4, 8, 10 are misclassified.
TEST_F(ReportTest, TrueClassAndCorrectnessOnItemPagesItemListAndRunPage) {
  write();
  const std::string index = page("index.html");
  EXPECT_NE(index.find("<b>5</b><span>misclassified (of 10 with a true class)</span>"), std::string::npos);
  EXPECT_NE(index.find("<th>true class</th>"), std::string::npos);
  // Item list rows: item 0 misclassified, item 3 correct, item 6 unknown.
  auto row_of = [&](const std::string& id) {
    const auto at = index.find(">" + id + "</a><br>");
    EXPECT_NE(at, std::string::npos) << id;
    return at == std::string::npos ? std::string() : index.substr(at, index.find("</tr>", at) - at);
  };
  EXPECT_NE(row_of("img_0").find("<td>class 5 <b>Sandal</b> <span class=\"badge failed\">misclassified</span></td>"),
            std::string::npos)
      << row_of("img_0");
  EXPECT_NE(row_of("img_7").find("<td>class 9 <b>Ankle &lt;boot&gt;</b> <span class=\"badge ok\">correct</span></td>"),
            std::string::npos)
      << row_of("img_7");
  EXPECT_NE(row_of("img_6").find("<td><span class=\"muted\">unknown</span></td>"), std::string::npos) << row_of("img_6");
  // Item pages: the verdict next to the status in the heading.
  EXPECT_NE(page("items/img_0.html").find("<span class=\"badge failed\">misclassified</span></h1>"), std::string::npos);
  EXPECT_NE(page("items/img_7.html").find("<span class=\"badge ok\">correct</span></h1>"), std::string::npos);
}

TEST_F(ReportTest, TrueClassFromTheForwardStagesFilesAndMetrics) {
  // What the forward stage writes (docs/report.md): target and target_label beside the prediction.
  ASSERT_TRUE(write_file_atomic(dir_ / "items/7_prediction.json",
                                R"({"predicted": 3, "label": "Dress", "target": 6, "target_label": "Shirt",
                                    "top5": [{"class": 3, "label": "Dress", "probability": 0.6}]})")
                  .is_ok());
  // Runs written before the key was "target" said "true_class".
  ASSERT_TRUE(write_file_atomic(dir_ / "items/8_prediction.json", R"({"predicted": 2, "true_class": 2, "top5": []})").is_ok());
  // Without a prediction file the metrics predicted_class and target_class say it.
  manifest_.items[9].outputs.erase(std::remove_if(manifest_.items[9].outputs.begin(), manifest_.items[9].outputs.end(),
                                                  [](const OutputFile& f) { return f.kind == "prediction"; }),
                                   manifest_.items[9].outputs.end());
  manifest_.items[9].metrics["predicted_class"] = 4;
  manifest_.items[9].metrics["target_class"] = 1;
  write();
  EXPECT_NE(page("items/img_7.html").find("True class: class 6 <b>Shirt</b> <span class=\"badge failed\">misclassified</span>"),
            std::string::npos);
  EXPECT_NE(page("items/img_8.html").find("True class: class 2 <span class=\"badge ok\">correct</span>"), std::string::npos);
  EXPECT_NE(page("items/img_9.html").find("True class: class 1 <span class=\"badge failed\">misclassified</span>"),
            std::string::npos);
}

TEST_F(ReportTest, RunWarningsAreShownOnTheRunPage) {
  manifest_.run.warnings = {"model 'net' (models/imagenet/vgg16.pt) has random weights: its sidecar says 'weights: random <seed 0>'"};
  write();
  EXPECT_NE(page("index.html").find("<div class=\"error-box\"><b>Warning:</b> model &#39;net&#39; (models/imagenet/vgg16.pt) "
                                    "has random weights: its sidecar says &#39;weights: random &lt;seed 0&gt;&#39;</div>"),
            std::string::npos);
}

TEST_F(ReportTest, ItemsOfAnotherConfigurationAreMarked) {
  const std::string old_hash = "fnv1a64:00000000000000aa";
  manifest_.configurations = {{old_hash, "examples/fashion.yaml", {}, "2024-04-30T10:00:00Z"},
                              {manifest_.run.pipeline_hash, "examples/fashion.yaml", {"--set stages.lrp.options.rules=<zplus>"},
                               manifest_.run.started_at}};
  for (ManifestItem& item : manifest_.items) item.pipeline_hash = item.index < 4 ? old_hash : manifest_.run.pipeline_hash;
  write();
  const std::string index = page("index.html");
  EXPECT_NE(index.find("The items of this run come from 2 configurations"), std::string::npos);
  EXPECT_NE(index.find("<tr><td><code>" + old_hash + "</code></td><td><code>examples/fashion.yaml</code></td><td><code>"
                       "</code></td><td>2024-04-30T10:00:00Z</td><td class=\"num\">4</td></tr>"),
            std::string::npos);
  EXPECT_NE(index.find("<span class=\"badge ok\">current</span></td><td><code>examples/fashion.yaml</code></td><td><code>"
                       "--set stages.lrp.options.rules=&lt;zplus&gt;</code></td><td>2024-05-01T12:00:00Z</td><td class=\"num\">8</td>"),
            std::string::npos);
  EXPECT_EQ(count_of(index, "<span class=\"badge running\">other configuration</span>"), 4);
  EXPECT_NE(page("items/img_0.html").find("configuration <code>" + old_hash +
                                          "</code> <span class=\"badge running\">other configuration</span>"),
            std::string::npos);
  EXPECT_EQ(page("items/img_7.html").find("other configuration"), std::string::npos);
}

TEST_F(ReportTest, FailedItemShowsItsErrorProminently) {
  write();
  const std::string item = page("items/img_1.html");
  EXPECT_NE(item.find("<div class=\"error-box\"><b>This item failed in stage explain:</b> relevance is not finite at "
                      "layer &lt;features.3&gt; &amp; beyond</div>"),
            std::string::npos);
  EXPECT_NE(item.find("<span class=\"badge failed\">failed</span>"), std::string::npos);
  EXPECT_NE(page("index.html").find("<tr class=\"failed-row\">"), std::string::npos);
}

TEST_F(ReportTest, CorruptPredictionFileIsNamedOnTheItemPage) {
  write();
  const std::string item = page("items/img_6.html");
  EXPECT_NE(item.find("The prediction file could not be read:</b> items/6_prediction.json"), std::string::npos);
  // The metrics still give the prediction.
  EXPECT_NE(item.find("<p>Predicted: class 9 · 81.0%<br>True class: <span class=\"muted\">unknown</span></p>"),
            std::string::npos);
}

TEST_F(ReportTest, IdsWithTheSameSafeNameGetTheirOwnPages) {
  write();
  // shoe_7-<hash of shoe/7> and shoe_7-<hash of shoe:7>: safe_name_component() keeps them apart.
  EXPECT_NE(page("items/" + safe_name_component("shoe/7") + ".html").find("<h1>shoe/7 "), std::string::npos);
  EXPECT_NE(page("items/" + safe_name_component("shoe:7") + ".html").find("<h1>shoe:7 "), std::string::npos);
}

TEST_F(ReportTest, ReportFromAManifestReadBackIsTheSame) {
  ASSERT_TRUE(write_manifest(dir_ / "manifest.json", manifest_).is_ok());
  const Result<Manifest> read = read_manifest(dir_ / "manifest.json");
  ASSERT_TRUE(read.is_ok()) << read.status().message();
  write();
  const std::string direct = page("index.html");
  const std::string direct_item = page("items/img_0.html");
  ASSERT_TRUE(write_report(dir_, read.value(), testing::shipped_report_options()).is_ok());
  EXPECT_EQ(page("index.html"), direct);
  EXPECT_EQ(page("items/img_0.html"), direct_item);
}

// The report knows no output kind by name: the sections come from the stage types. The shipped
// ones declare the six sections in page order; without any, the images are only in Files.
TEST_F(ReportTest, SectionsAndThumbnailsComeFromTheStageTypes) {
  const ReportOptions shipped = testing::shipped_report_options();
  EXPECT_EQ(shipped.thumbnail_kinds, (std::vector<std::string>{"heatmap"}));
  std::vector<std::string> declared;
  for (const ReportSection& section : shipped.sections) declared.push_back(section.heading);
  EXPECT_NE(std::find(declared.begin(), declared.end(), "Fidelity"), declared.end());  // the demo item has no plot
  write();
  const std::string with = page("items/img_0.html");
  std::size_t previous = 0;
  for (const char* heading : {"Input and relevance", "Activation heatmaps", "Neuron heatmaps", "Deconvolution",
                              "Critical path"}) {
    const std::size_t at = with.find("<h2>" + std::string(heading) + "</h2>");
    ASSERT_NE(at, std::string::npos) << heading;
    EXPECT_GT(at, previous) << heading << " is out of order";
    previous = at;
  }

  ReportOptions bare;
  ASSERT_TRUE(write_report(dir_, manifest_, bare).is_ok());
  const std::string without = page("items/img_0.html");
  EXPECT_EQ(without.find("<h2>Deconvolution</h2>"), std::string::npos);
  EXPECT_EQ(without.find("<div class=\"gallery\">"), std::string::npos);
  EXPECT_NE(without.find("0_heatmap.png"), std::string::npos);  // still listed under Files
  EXPECT_EQ(page("index.html").find("class=\"thumb\""), std::string::npos);

  // A plugin's section heading is text from a plugin: escaped, and merged with one of the same name.
  ReportOptions hostile;
  hostile.sections = {{"<b>Mine</b>", {"deconv"}, false, 5}, {"<b>Mine</b>", {"heatmap"}, true, 70}};
  ASSERT_TRUE(write_report(dir_, manifest_, hostile).is_ok());
  const std::string mine = page("items/img_0.html");
  EXPECT_NE(mine.find("<h2>&lt;b&gt;Mine&lt;/b&gt;</h2>"), std::string::npos);
  EXPECT_EQ(mine.find("<b>Mine</b>"), std::string::npos);
  const std::size_t deconv = mine.find("0_deconv"), heat = mine.find("0_heatmap.png");
  EXPECT_LT(deconv, heat);  // one section, kinds in declaration order
}

// Metric labels and formats come from the stage types too: without them a metric is its name and
// a number; a plugin's label is escaped, and `*` carries the matched text (a layer name) into it.
TEST_F(ReportTest, MetricLabelsComeFromTheStageTypes) {
  ReportOptions bare;
  ASSERT_TRUE(write_report(dir_, manifest_, bare).is_ok());
  const std::string without = page("items/img_0.html");
  EXPECT_EQ(without.find("Fidelity at"), std::string::npos);
  EXPECT_NE(without.find("<td>fidelity/features.3/kept_class</td><td class=\"num\">1</td>"), std::string::npos);
  EXPECT_NE(without.find("<td>confidence</td><td class=\"num\">0.81</td>"), std::string::npos);

  ReportOptions plugin;
  plugin.metrics = {{"fidelity/*/mse", "<i>MSE</i> of {}", ReportMetric::Format::Number},
                    {"fidelity/*/mse", "shadowed by the first entry"},
                    {"confidence", "Sure?", ReportMetric::Format::YesNo}};
  ASSERT_TRUE(write_report(dir_, manifest_, plugin).is_ok());
  const std::string mine = page("items/img_0.html");
  EXPECT_NE(mine.find("<td>&lt;i&gt;MSE&lt;/i&gt; of features.3</td><td class=\"num\">0.0125</td>"), std::string::npos);
  EXPECT_EQ(mine.find("shadowed"), std::string::npos);
  EXPECT_NE(mine.find("<td>Sure?</td><td class=\"num\">yes</td>"), std::string::npos);
}

TEST_F(ReportTest, ReportPathThatIsAFileIsAnErrorNamingIt) {
  ASSERT_TRUE(write_file_atomic(dir_ / "report", "not a directory").is_ok());
  const Status status = write_report(dir_, manifest_, {});
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find((dir_ / "report").string()), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("not a directory"), std::string::npos) << status.message();
  EXPECT_EQ(slurp(dir_ / "report"), "not a directory");
}

TEST_F(ReportTest, RejectsPagesWithoutItems) {
  const Status status = write_report(dir_, manifest_, ReportOptions{0});
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("items_per_page"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "report"));
}

TEST(HtmlEscape, ReplacesTheFiveSpecialCharacters) {
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html_escape("plain ünïcode"), "plain ünïcode");
}

}  // namespace
}  // namespace lrpflow
