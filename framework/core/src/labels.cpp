#include "lrpflow/labels.h"

#include <yaml-cpp/yaml.h>

#include <sstream>

#include "lrpflow/files.h"
#include "lrpflow/yaml_load.h"

namespace lrpflow {

Result<std::vector<std::string>> load_labels(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) return text.status();
  const std::string ext = file.extension().string();
  std::vector<std::string> labels;
  if (ext == ".yaml" || ext == ".yml") {
    try {
      const YAML::Node root = load_yaml(text.value());
      const YAML::Node classes = root["classes"];
      if (!classes || !classes.IsSequence()) return Status::error(file.string() + ": no `classes:` list");
      for (const auto& c : classes) labels.push_back(c.as<std::string>());
    } catch (const YamlContentError& e) {
      return Status::error(yaml_position(file.string(), e.mark) + ": " + e.msg);
    } catch (const YAML::Exception& e) {
      return Status::error(file.string() + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
  } else {
    std::istringstream lines(text.value());
    for (std::string line; std::getline(lines, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) labels.push_back(line);
    }
  }
  if (labels.empty()) return Status::error(file.string() + ": no class names");
  return labels;
}

std::string label_of(const std::vector<std::string>& labels, std::int64_t index) {
  return index >= 0 && static_cast<size_t>(index) < labels.size() ? labels[static_cast<size_t>(index)] : "";
}

}  // namespace lrpflow
