// Reading YAML text without the traps yaml-cpp leaves open.
//
// yaml-cpp accepts duplicate keys silently (lookups find the first, iteration sees both), lets an
// alias name the collection it is inside (`&a [*a]`: a cycle that any walk of the tree follows
// until the stack overflows) and shares aliased nodes, so that a few hundred bytes of nested
// aliases ("billion laughs") expand to billions of nodes when the tree is walked or emitted.
// load_yaml() checks the text's events first and refuses all three with the position of the
// offending key or alias; everything lrpflow reads as YAML goes through it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include <yaml-cpp/yaml.h>

namespace lrpflow {

struct YamlLoadLimits {
  // The nodes that aliases may add to the document in total, counting an alias of a collection
  // as all the nodes in it (aliases of aliases multiply). Real files reuse a list or two.
  std::size_t max_aliased_nodes = 100000;
  // false: any anchor (&name) or alias (*name) is an error (values given on the command line).
  bool allow_aliases = true;
};

// A problem load_yaml() refuses although the text is well-formed YAML. A ParserException, so that
// every caller that reports a parse error with its mark reports these the same way.
class YamlContentError : public YAML::ParserException {
 public:
  YamlContentError(const YAML::Mark& mark, const std::string& message) : YAML::ParserException(mark, message) {}
};

// "source:line:column" of a mark (1-based), for messages about a YamlContentError.
std::string yaml_position(const std::string& source, const YAML::Mark& mark);

// YAML::Load with the checks above. Throws YAML::ParserException (a syntax error) or
// YamlContentError (a duplicate key, a recursive alias, too many aliased nodes, a refused alias).
YAML::Node load_yaml(const std::string& text, const YamlLoadLimits& limits = {});
// The same for a file; a file that cannot be read throws YAML::BadFile like YAML::LoadFile.
YAML::Node load_yaml_file(const std::filesystem::path& path, const YamlLoadLimits& limits = {});

}  // namespace lrpflow
