// Option schemas and validated option values.
//
// A stage, rule or resource type declares its options as a list of OptionSpec. The host checks a
// YAML `options:` map against that schema (unknown names, wrong types, missing required values are
// reported with file:line:column before anything runs) and hands the component an Options object in
// which every declared option has a value: the one given or the default.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lrpflow/status.h"

namespace lrpflow {

enum class OptionType { Bool, Int, Float, String, StringList, IntList, FloatList, Yaml };

const char* option_type_name(OptionType type);

// Yaml options carry a nested YAML value (a map or a list) as YAML text, for components whose
// configuration is structured (a rule set written inline, per-layer parameters).
struct YamlText {
  std::string text;
  bool operator==(const YamlText& other) const { return text == other.text; }
};

using OptionValue = std::variant<std::monostate, bool, std::int64_t, double, std::string,
                                 std::vector<std::string>, std::vector<std::int64_t>, std::vector<double>,
                                 YamlText>;

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::String;
  OptionValue default_value;            // monostate: no default
  std::string help;
  bool required = false;                // required options have no default
  std::vector<std::string> choices;     // for String options: the allowed values (empty: any)
  // For Int options and the elements of IntList options: the accepted values, checked when the
  // pipeline is read, so that a value a component would narrow to int (2147483648) is an error
  // "out of range" instead of a wrapped number. Wider options (seeds, byte counts) say so.
  std::int64_t min_int = std::numeric_limits<std::int32_t>::min();
  std::int64_t max_int = std::numeric_limits<std::int32_t>::max();
  // For a String option that names a resource (a rule set's `model`, a stage's `model` or
  // `rules`): that resource's type. The pipeline check then requires, for a resource, a resource of
  // that name and type declared before it (one that names a resource that cannot be opened is
  // reported as depending on it); for a stage, that a name written in the file is declared, and
  // that the resource it names is of that type.
  std::string resource_type;

  OptionSpec& names_resource(std::string type) {
    resource_type = std::move(type);
    return *this;
  }
  OptionSpec& int_range(std::int64_t min, std::int64_t max) {
    min_int = min;
    max_int = max;
    return *this;
  }
};

// The upper end of a count option's range (`.int_range(1, kMaxCount)`): the default int32 bound.
constexpr std::int64_t kMaxCount = std::numeric_limits<std::int32_t>::max();

// ok when `value` lies in [spec.min_int, spec.max_int]; else "N is out of range (...)".
Status check_int_range(std::int64_t value, const OptionSpec& spec);

// Validated options of one component instance. Every declared option is present unless it has
// neither a value nor a default (then has() is false).
class Options {
 public:
  Options() = default;
  explicit Options(std::map<std::string, OptionValue> values) : values_(std::move(values)) {}

  bool has(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;  // an Int option converts
  const std::string& get_string(const std::string& name) const;
  const std::vector<std::string>& get_string_list(const std::string& name) const;
  std::vector<std::int64_t> get_int_list(const std::string& name) const;
  std::vector<double> get_float_list(const std::string& name) const;  // an int list converts
  const std::string& get_yaml(const std::string& name) const;

  void set(const std::string& name, OptionValue value) { values_[name] = std::move(value); }
  const std::map<std::string, OptionValue>& values() const { return values_; }

 private:
  const OptionValue& at(const std::string& name) const;  // throws std::out_of_range naming the option
  std::map<std::string, OptionValue> values_;
};

// A value quoted in an error message: at most `max_bytes` of it (cut at a UTF-8 character
// boundary), then "… (N bytes)", so that a megabyte value does not flood the terminal.
std::string abbreviate_for_message(std::string_view text, std::size_t max_bytes = 200);

// Renders a value the way it would be written in YAML (for `lrpflow inspect` and messages).
std::string format_option_value(const OptionValue& value);

// The shortest text that reads back as the same double (0.2860406, not 0.28604059999999998), kept
// recognisable as a float in YAML (1.0, .nan, .inf). For everything lrpflow writes as YAML.
std::string format_yaml_float(double value);
// format_yaml_float() of each value, for emitting a flow list with YAML::Emitter.
std::vector<std::string> format_yaml_floats(const std::vector<double>& values);

}  // namespace lrpflow
