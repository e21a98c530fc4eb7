#include "lrpflow/options.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace lrpflow {

const char* option_type_name(OptionType type) {
  switch (type) {
    case OptionType::Bool: return "bool";
    case OptionType::Int: return "int";
    case OptionType::Float: return "float";
    case OptionType::String: return "string";
    case OptionType::StringList: return "string list";
    case OptionType::IntList: return "int list";
    case OptionType::FloatList: return "float list";
    case OptionType::Yaml: return "yaml";
  }
  return "unknown";
}

namespace {

// The alternative a value holds, in words, for "option 'x' is a float, not a string" messages.
const char* held_type_name(const OptionValue& value) {
  switch (value.index()) {
    case 0: return "unset";
    case 1: return "bool";
    case 2: return "int";
    case 3: return "float";
    case 4: return "string";
    case 5: return "string list";
    case 6: return "int list";
    case 7: return "float list";
    case 8: return "yaml";
  }
  return "unknown";
}

[[noreturn]] void wrong_type(const std::string& name, const char* wanted, const OptionValue& value) {
  throw std::invalid_argument("option '" + name + "' is a " + held_type_name(value) + ", not a " + wanted);
}

// Quotes a string when YAML would otherwise read it as something else (a number, a bool, a map).
std::string format_string(const std::string& value) {
  bool plain = !value.empty() && value.find_first_of(":#,[]{}&*!|>'\"%@`\n") == std::string::npos &&
               value.front() != ' ' && value.back() != ' ' && value.front() != '-' && value.front() != '?';
  if (plain) {
    std::string lower;
    for (char c : value) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    static const char* kReserved[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"};
    for (const char* word : kReserved) {
      if (lower == word) plain = false;
    }
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    if (end && *end == '\0') plain = false;  // looks like a number
  }
  if (plain) return value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    if (c == '\n') {
      quoted += "\\n";
      continue;
    }
    quoted.push_back(c);
  }
  return quoted + "\"";
}

template <typename T, typename F>
std::string format_list(const std::vector<T>& values, F format_one) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += format_one(values[i]);
  }
  return out + "]";
}

}  // namespace

std::string abbreviate_for_message(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // inside a character
  return std::string(text.substr(0, cut)) + "\u2026 (" + std::to_string(text.size()) + " bytes)";
}

Status check_int_range(std::int64_t value, const OptionSpec& spec) {
  if (value >= spec.min_int && value <= spec.max_int) return Status::ok();
  return Status::error(std::to_string(value) + " is out of range (" + std::to_string(spec.min_int) + " to " +
                       std::to_string(spec.max_int) + ")");
}

const OptionValue& Options::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || std::holds_alternative<std::monostate>(it->second)) {
    throw std::out_of_range("option '" + name + "' has no value (not declared, or no default and not set)");
  }
  return it->second;
}

bool Options::has(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && !std::holds_alternative<std::monostate>(it->second);
}

bool Options::get_bool(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const bool* b = std::get_if<bool>(&value)) return *b;
  wrong_type(name, "bool", value);
}

std::int64_t Options::get_int(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const std::int64_t* i = std::get_if<std::int64_t>(&value)) return *i;
  wrong_type(name, "int", value);
}

double Options::get_float(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const double* d = std::get_if<double>(&value)) return *d;
  if (const std::int64_t* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  wrong_type(name, "float", value);
}

const std::string& Options::get_string(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const std::string* s = std::get_if<std::string>(&value)) return *s;
  wrong_type(name, "string", value);
}

const std::vector<std::string>& Options::get_string_list(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const auto* list = std::get_if<std::vector<std::string>>(&value)) return *list;
  wrong_type(name, "string list", value);
}

std::vector<std::int64_t> Options::get_int_list(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const auto* list = std::get_if<std::vector<std::int64_t>>(&value)) return *list;
  wrong_type(name, "int list", value);
}

std::vector<double> Options::get_float_list(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const auto* list = std::get_if<std::vector<double>>(&value)) return *list;
  if (const auto* ints = std::get_if<std::vector<std::int64_t>>(&value)) {
    return std::vector<double>(ints->begin(), ints->end());
  }
  wrong_type(name, "float list", value);
}

const std::string& Options::get_yaml(const std::string& name) const {
  const OptionValue& value = at(name);
  if (const YamlText* y = std::get_if<YamlText>(&value)) return y->text;
  wrong_type(name, "yaml", value);
}

std::string format_yaml_float(double value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  char buffer[64];
  // to_chars without a precision is the shortest form that round-trips.
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, result.ptr);
  // Keep a float recognisable as a float when it is read back as YAML.
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

std::vector<std::string> format_yaml_floats(const std::vector<double>& values) {
  std::vector<std::string> out;
  out.reserve(values.size());
  for (double value : values) out.push_back(format_yaml_float(value));
  return out;
}

std::string format_option_value(const OptionValue& value) {
  struct Formatter {
    std::string operator()(std::monostate) const { return "(none)"; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return format_yaml_float(d); }
    std::string operator()(const std::string& s) const { return format_string(s); }
    std::string operator()(const std::vector<std::string>& l) const { return format_list(l, format_string); }
    std::string operator()(const std::vector<std::int64_t>& l) const {
      return format_list(l, [](std::int64_t i) { return std::to_string(i); });
    }
    std::string operator()(const std::vector<double>& l) const { return format_list(l, format_yaml_float); }
    std::string operator()(const YamlText& y) const { return y.text; }
  };
  return std::visit(Formatter{}, value);
}

}  // namespace lrpflow
