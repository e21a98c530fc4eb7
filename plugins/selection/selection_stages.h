// Stages of the built-in `selection` plugin: neuron selectors (getoptimizer, topk, mass), the
// critical-path graph and path fidelity.
//
// Selectors and critical_paths are reentrant (they read immutable resources and the item);
// fidelity is reentrant too: its run-level sweep is computed at close() from the items' fidelity.csv.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lrpflow/lrp/engine.h"
#include "lrpflow/selection/output_comparison.h"
#include "lrpflow/selection/paths.h"
#include "lrpflow/selection/selectors.h"
#include "lrpflow/stage.h"

namespace lrpflow::stages {

// What every selector shares: the model, the layers, which sample of the batch.
class SelectorStage : public Stage {
 public:
  Status open(const StageContext& ctx) final;
  Status process(Item& item) final;

 protected:
  virtual Status configure(const StageContext& ctx) = 0;
  virtual Result<selection::Ranked> select(const std::vector<double>& activation, const std::vector<double>& relevance) const = 0;
  virtual const char* method() const = 0;
  std::shared_ptr<const lrp::Model> model_;
  std::vector<std::string> layers_;

 private:
  // The smallest k (1, 2, 4, ...) of `ranked` whose path-restricted output has SMAPE under `optimize_smape_`.
  Result<std::int64_t> optimal_k(const lrp::Activations& acts, const selection::OutputComparison::Reference& full,
                                 const std::string& layer, const std::vector<std::int64_t>& ranked) const;
  std::string stage_id_;
  std::int64_t sample_ = 0;
  double optimize_smape_ = 0;  // 0: off
  selection::OutputComparison comparison_;
};

class GetOptimizerStage : public SelectorStage {
 protected:
  Status configure(const StageContext& ctx) override;
  Result<selection::Ranked> select(const std::vector<double>& a, const std::vector<double>& r) const override;
  const char* method() const override { return "getoptimizer"; }

 private:
  selection::GetOptimizerParams params_;
};

class TopKStage : public SelectorStage {
 protected:
  Status configure(const StageContext& ctx) override;
  Result<selection::Ranked> select(const std::vector<double>& a, const std::vector<double>& r) const override;
  const char* method() const override { return "topk"; }

 private:
  std::int64_t k_ = 1;
};

class MassStage : public SelectorStage {
 protected:
  Status configure(const StageContext& ctx) override;
  Result<selection::Ranked> select(const std::vector<double>& a, const std::vector<double>& r) const override;
  const char* method() const override { return "mass"; }

 private:
  double share_ = 0.8;
};

class CriticalPathsStage : public Stage {
 public:
  Status open(const StageContext& ctx) override;
  Status process(Item& item) override;

 private:
  std::shared_ptr<const lrp::Engine> engine_;
  ItemFiles files_;
  std::vector<std::string> labels_;
  int paths_ = 5;
  selection::PathCombine combine_ = selection::PathCombine::Product;
  bool write_svg_ = true;
  bool input_edges_ = true;
  std::int64_t sample_ = 0;
};

class FidelityStage : public Stage {
 public:
  Status open(const StageContext& ctx) override;
  Status process(Item& item) override;
  Status close(const CloseContext& ctx) override;

 private:
  struct SweepRow {
    std::string layer;
    std::int64_t k;
    double n;
    double mse;
    double smape;
    bool kept_class;
  };
  // The sweep's rows (fidelity not yet filled in) and, appended to `variants`, the restriction of each.
  Status sweep(const lrp::Activations& acts, const lrp::Explanation& e, const std::vector<std::string>& layers,
               std::vector<SweepRow>& rows, std::vector<std::map<std::string, std::vector<std::int64_t>>>& variants) const;

  std::shared_ptr<const lrp::Model> model_;
  ItemFiles files_;
  selection::OutputComparison comparison_;
  bool sweep_ = false;
  std::vector<double> ns_;
  selection::Contribution contribution_ = selection::Contribution::Relevance;
  double smape_target_ = 5.0;
  std::int64_t sample_ = 0;
};

}  // namespace lrpflow::stages
