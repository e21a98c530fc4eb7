// The one conversion of a YAML value to a typed option: pipeline stage and resource options, rule
// set parameters and `--set` overrides all go through it, so that a value means the same wherever
// it is written.
#pragma once

#include <yaml-cpp/yaml.h>

#include "lrpflow/options.h"
#include "lrpflow/status.h"

namespace lrpflow {

// Converts one YAML value to an option of `spec`'s type, checking the spec's choices and integer
// range; the error says what was expected and what was found (without naming the option: the
// caller adds where it is). Lists also accept a single scalar as a one-element list.
Result<OptionValue> option_value_from_yaml(const YAML::Node& node, const OptionSpec& spec);

}  // namespace lrpflow
