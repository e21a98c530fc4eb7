// `fidelity`: how well the selected neurons alone reproduce the model's output (MSE, SMAPE, whether
// the predicted class survives), per chosen layer and for all chosen layers together; optionally a
// sweep over k and the threshold factor n.
#include "selection_stages.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "lrpflow/csv.h"
#include "lrpflow/files.h"
#include "lrpflow/recorded_csv.h"
#include "lrpflow/lrp/slots.h"
#include "lrpflow/selection/selection.h"
#include "lrpflow/selection/neurons.h"
#include "sweep_plot.h"

namespace lrpflow::stages {
namespace {

// The columns of an item's fidelity.csv; close() reads them back, so the numbers are written as the
// shortest text that reads back as the same double.
const CsvRow kItemSweepHeader = {"layer", "selector", "k", "n", "mse", "smape", "kept_class"};

}  // namespace

Status FidelityStage::open(const StageContext& ctx) {
  auto model = ctx.resources->get<lrp::Model>(ctx.options.get_string("model"));
  if (!model) return model.status();
  model_ = model.value();
  files_ = ctx.item_files();
  auto comparison = selection::OutputComparison::from_options(ctx.options, ctx.options.get_int("sample"));
  if (!comparison) return comparison.status();
  comparison_ = comparison.value();
  sweep_ = ctx.options.get_bool("sweep");
  ns_ = ctx.options.get_float_list("ns");
  if (ns_.empty()) return Status::error("option ns: give at least one threshold factor");
  auto contribution = selection::parse_contribution(ctx.options.get_string("contribution"));
  if (!contribution) return contribution.status().with_context("option contribution");
  contribution_ = contribution.value();
  smape_target_ = ctx.options.get_float("smape_target");
  sample_ = ctx.options.get_int("sample");
  return Status::ok();
}

Status FidelityStage::process(Item& item) {
  auto acts = lrp::get_activations(item);
  if (!acts) return acts.status();
  auto chosen = item.get<Selection>("selection");
  if (!chosen) return chosen.status();
  auto full = comparison_.reference(acts.value()->logits);
  if (!full) return full.status();

  // Each layer's selection alone, all of them at once, and the sweep's restrictions: one batched
  // restricted forward (a restriction listed twice is computed once).
  std::vector<std::map<std::string, std::vector<std::int64_t>>> variants;
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::int64_t>> all;
  std::vector<std::string> layers;
  for (const LayerSelection& layer : chosen.value()->layers) {
    variants.push_back({{layer.layer, layer.neurons}});
    names.push_back(layer.layer);
    all[layer.layer] = layer.neurons;
    layers.push_back(layer.layer);
  }
  if (!all.empty()) {
    variants.push_back(all);
    names.push_back("all");
  }
  std::vector<SweepRow> rows;
  if (sweep_) {
    auto explanation = lrp::get_explanation(item);
    if (!explanation) return explanation.status();
    LRPFLOW_RETURN_IF_ERROR(sweep(*acts.value(), *explanation.value(), layers, rows, variants));
  }
  if (variants.empty()) return Status::ok();
  auto logits = selection::forward_keeping_each(*model_, *acts.value(), sample_, variants);
  if (!logits) return logits.status();
  for (size_t v = 0; v < variants.size(); ++v) {
    auto fidelity = comparison_.compare(full.value(), logits.value(), static_cast<std::int64_t>(v));
    if (!fidelity) return fidelity.status();
    if (v < names.size()) {
      item.set_metric("fidelity/" + names[v] + "/mse", fidelity.value().mse);
      item.set_metric("fidelity/" + names[v] + "/smape", fidelity.value().smape);
      item.set_metric("fidelity/" + names[v] + "/kept_class", fidelity.value().kept_class ? 1.0 : 0.0);
    } else {
      SweepRow& row = rows[v - names.size()];
      row.mse = fidelity.value().mse;
      row.smape = fidelity.value().smape;
      row.kept_class = fidelity.value().kept_class;
    }
  }
  if (!sweep_) return Status::ok();

  std::vector<CsvRow> table;
  std::map<std::string, std::int64_t> optimal_k;
  for (const SweepRow& r : rows) {
    table.push_back({r.layer, "getoptimizer", std::to_string(r.k), fmt::format("{}", r.n), fmt::format("{}", r.mse),
                     fmt::format("{}", r.smape), r.kept_class ? "1" : "0"});
    if (r.smape < smape_target_ && (optimal_k.count(r.layer) == 0 || r.k < optimal_k[r.layer])) optimal_k[r.layer] = r.k;
  }
  for (const auto& [layer, k] : optimal_k) item.set_metric("fidelity/" + layer + "/optimal_k", static_cast<double>(k));
  const std::string csv_file = files_.relative(item.id(), ".fidelity.csv");
  auto csv_path = files_.absolute(csv_file);
  if (!csv_path) return csv_path.status();
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(csv_path.value(), csv_text(kItemSweepHeader, table)));
  item.add_output("fidelity_csv", csv_file);

  std::map<std::string, Series> mse, smape;
  for (const SweepRow& r : rows) {
    if (r.n != ns_.front()) continue;  // one line per layer: the first threshold factor
    mse[r.layer].name = smape[r.layer].name = r.layer;
    mse[r.layer].x.push_back(static_cast<double>(r.k));
    mse[r.layer].y.push_back(r.mse);
    smape[r.layer].x.push_back(static_cast<double>(r.k));
    smape[r.layer].y.push_back(r.smape);
  }
  std::vector<Series> mse_lines, smape_lines;
  for (const std::string& layer : layers) {
    if (mse.count(layer)) mse_lines.push_back(mse[layer]), smape_lines.push_back(smape[layer]);
  }
  const std::string plot_file = files_.relative(item.id(), ".fidelity.svg");
  auto plot_path = files_.absolute(plot_file);
  if (!plot_path) return plot_path.status();
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(plot_path.value(), plot_two_panels_svg("MSE", mse_lines, "SMAPE (%)", smape_lines)));
  item.add_output("fidelity_plot", plot_file);
  return Status::ok();
}

Status FidelityStage::sweep(const lrp::Activations& acts, const lrp::Explanation& e, const std::vector<std::string>& layers,
                            std::vector<SweepRow>& rows,
                            std::vector<std::map<std::string, std::vector<std::int64_t>>>& variants) const {
  for (const std::string& layer : layers) {
    auto a = selection::neuron_activations(*model_, acts, layer, sample_);
    if (!a) return a.status();
    auto r = selection::neuron_relevances(e, layer, sample_);
    if (!r) return r.status();
    for (double n : ns_) {
      auto ranked = selection::get_optimizer(a.value(), r.value(), {contribution_, n, 0});
      if (!ranked) return ranked.status().with_context("layer '" + layer + "'");
      // The same grid of k for every item (1, 2, 4, ..., the layer's size), so that run-level means
      // compare like with like; when the threshold keeps fewer than k neurons, all kept ones are used.
      const auto& kept = ranked.value().neurons;
      const auto layer_size = static_cast<std::int64_t>(r.value().size());
      for (std::int64_t k = 1;; k = std::min(2 * k, layer_size)) {
        const std::int64_t count = std::min<std::int64_t>(k, static_cast<std::int64_t>(kept.size()));
        variants.push_back({{layer, std::vector<std::int64_t>(kept.begin(), kept.begin() + count)}});
        rows.push_back({layer, k, n, 0, 0, false});
        if (k == layer_size) break;
      }
    }
  }
  return Status::ok();
}

Status FidelityStage::close(const CloseContext& ctx) {
  if (!sweep_ || ctx.nothing_ran) return Status::ok();
  // Mean over the run's ok items per (layer, n, k), read back from each item's fidelity.csv in input
  // order: the same sums, in the same order, whether the run went through at once or was resumed.
  struct Sum {
    double mse = 0, smape = 0, kept = 0;
    int count = 0;
  };
  std::map<std::tuple<std::string, double, std::int64_t>, Sum> sums;
  std::vector<std::string> order;
  LRPFLOW_RETURN_IF_ERROR(ctx.visit_ok_items([&](const RecordedItem& item) -> Status {
    auto csv = read_recorded_csv(ctx.output_dir, item, "fidelity_csv", kItemSweepHeader);
    if (!csv) return csv.status();
    if (!csv.value()) return Status::ok();  // recorded by a configuration without the sweep
    const RecordedCsv& recorded = *csv.value();
    const CsvTable& table = recorded.table;
    const std::vector<std::size_t>& column = recorded.columns;
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      std::vector<double> value(column.size());
      for (std::size_t c = 2; c < column.size(); ++c) {
        auto number = csv_number(table, r, column[c], recorded.origin);
        if (!number) return number.status();
        value[c] = number.value();
      }
      const std::string& layer = table.rows[r][column[0]];
      if (std::find(order.begin(), order.end(), layer) == order.end()) order.push_back(layer);
      Sum& s = sums[{layer, value[3], static_cast<std::int64_t>(value[2])}];
      s.mse += value[4], s.smape += value[5], s.kept += value[6], ++s.count;
    }
    return Status::ok();
  }));
  if (sums.empty()) return Status::ok();
  std::vector<CsvRow> table;
  std::map<std::string, Series> mse, smape;
  for (const auto& [key, s] : sums) {
    const auto& [layer, n, k] = key;
    table.push_back({layer, "getoptimizer", std::to_string(k), fmt::format("{:g}", n), fmt::format("{:.9g}", s.mse / s.count),
                     fmt::format("{:.9g}", s.smape / s.count), fmt::format("{:.6g}", s.kept / s.count), std::to_string(s.count)});
    if (n != ns_.front()) continue;
    mse[layer].name = smape[layer].name = layer;
    mse[layer].x.push_back(static_cast<double>(k)), mse[layer].y.push_back(s.mse / s.count);
    smape[layer].x.push_back(static_cast<double>(k)), smape[layer].y.push_back(s.smape / s.count);
  }
  // A shard writes fidelity_sweep.shard-I-of-N.csv; `lrpflow merge` averages them (weighted by `items`).
  const std::string csv_name = "fidelity_sweep" + ctx.shard_suffix + ".csv";
  const std::string plot_name = "fidelity_sweep" + ctx.shard_suffix + ".svg";
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(
      ctx.output_dir / csv_name,
      csv_text({"layer", "selector", "k", "n", "mse", "smape", "kept_class", "items"}, table)));
  std::vector<Series> mse_lines, smape_lines;
  for (const std::string& layer : order)
    if (mse.count(layer)) mse_lines.push_back(mse[layer]), smape_lines.push_back(smape[layer]);
  LRPFLOW_RETURN_IF_ERROR(
      write_file_atomic(ctx.output_dir / plot_name, plot_two_panels_svg("mean MSE", mse_lines, "mean SMAPE (%)", smape_lines)));
  if (ctx.run_outputs) {
    ctx.run_outputs->push_back({"fidelity_csv", csv_name});
    ctx.run_outputs->push_back({"fidelity_plot", plot_name});
  }
  return Status::ok();
}

}  // namespace lrpflow::stages
