// Stages of the built-in `lrp_stages` plugin: the forward pass and LRP.
//
// Both are reentrant: the model and the rule set are immutable resources, and each process()
// call owns its tensors.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lrpflow/lrp/engine.h"
#include "lrpflow/stage.h"
#include "lrpflow/lrp/targets.h"

namespace lrpflow::stages {

class ForwardStage : public Stage {
 public:
  Status open(const StageContext& ctx) override;
  Status process(Item& item) override;

 private:
  std::string stage_id_;
  ItemFiles files_;
  std::string input_slot_;
  bool write_prediction_ = true;
  std::shared_ptr<const lrp::Model> model_;
  std::vector<std::string> labels_;
};

class LrpStage : public Stage {
 public:
  Status open(const StageContext& ctx) override;
  Status process(Item& item) override;

 private:
  void record_metrics(Item& item, const lrp::Explanation& e, const std::vector<std::int64_t>& targets) const;
  std::shared_ptr<const lrp::Engine> engine_;
  lrp::TargetSpec target_;
  std::string output_slot_;
  lrp::ExplainOptions options_;
};

}  // namespace lrpflow::stages
