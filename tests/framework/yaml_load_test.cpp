// load_yaml(): duplicate keys, recursive aliases and alias bombs are refused at their position;
// everything else reads as YAML::Load reads it.
#include <gtest/gtest.h>

#include "lrpflow/yaml_load.h"

namespace lrpflow {
namespace {

// The message and 1-based position of the YamlContentError that loading `text` throws.
std::string refusal(const std::string& text, const YamlLoadLimits& limits = {}) {
  try {
    load_yaml(text, limits);
  } catch (const YamlContentError& e) {
    return std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg;
  }
  return "(accepted)";
}

TEST(YamlLoad, ReadsWhatYamlLoadReads) {
  const YAML::Node node = load_yaml("a: [1, 2]\nb: {c: d}\nshared: &s [x, y]\nagain: *s\n");
  EXPECT_EQ(node["a"][1].as<int>(), 2);
  EXPECT_EQ(node["b"]["c"].as<std::string>(), "d");
  EXPECT_EQ(node["again"][1].as<std::string>(), "y");
  EXPECT_TRUE(load_yaml("").IsNull());
  EXPECT_THROW(load_yaml("a: [1, 2"), YAML::ParserException);
}

TEST(YamlLoad, DuplicateKeysAtAnyDepth) {
  EXPECT_EQ(refusal("a: 1\nb: 2\na: 3\n"), "3:1: duplicate key 'a' (first given at line 1, column 1)");
  EXPECT_EQ(refusal("m:\n  - {x: 1, y: 2, x: 3}\n"), "2:18: duplicate key 'x' (first given at line 2, column 6)");
  EXPECT_EQ(refusal("a: 1\n'a': 2\n"), "2:1: duplicate key 'a' (first given at line 1, column 1)");
  // The same key in two maps, and values equal to keys, are fine.
  EXPECT_EQ(refusal("p: {x: 1}\nq: {x: x}\n"), "(accepted)");
  // Documents are separate.
  EXPECT_EQ(refusal("a: 1\n---\na: 2\n"), "(accepted)");
}

TEST(YamlLoad, AnAliasInsideTheCollectionItNamesIsRefused) {
  EXPECT_EQ(refusal("&a [*a]"), "1:5: the alias *a is inside the collection &a it names (a collection cannot contain itself)");
  EXPECT_EQ(refusal("x: &m {y: [1, *m]}"), "1:15: the alias *m is inside the collection &m it names (a collection cannot contain itself)");
}

TEST(YamlLoad, AliasExpansionIsBounded) {
  // Each level holds ten aliases of the one before: level k expands to 10^k scalars.
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 8; ++level) {
    text += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int k = 0; k < 10; ++k) text += std::string(k ? ", " : "") + "*l" + std::to_string(level - 1);
    text += "]\n";
  }
  const std::string refused = refusal(text);
  EXPECT_NE(refused.find("aliases expand the document by more than 100000 nodes"), std::string::npos) << refused;
  YamlLoadLimits generous;
  generous.max_aliased_nodes = 1'000'000'000;
  // Up to level 3 the aliases add 110 + 1110 + 11110 nodes (the lists count too): within the bound.
  EXPECT_EQ(refusal(text.substr(0, text.find("l4:"))), "(accepted)");
  YamlLoadLimits tight;
  tight.max_aliased_nodes = 5;  // each alias of the list adds 4 nodes
  EXPECT_EQ(refusal("a: &a [1, 2, 3]\nb: *a\nc: *a\n", tight),
            "3:4: aliases expand the document by more than 5 nodes (at the alias *a); write the values out instead of "
            "nesting aliases");
  EXPECT_EQ(refusal("a: &a [1, 2, 3]\nb: *a\nc: *a\n", generous), "(accepted)");
}

TEST(YamlLoad, AliasesCanBeRefusedAltogether) {
  YamlLoadLimits none;
  none.allow_aliases = false;
  EXPECT_EQ(refusal("[1, 2]", none), "(accepted)");
  EXPECT_EQ(refusal("&a x", none), "1:1: anchors and aliases (&a, *a) are not allowed here");
  EXPECT_EQ(refusal("[&b 1, *b]", none), "1:2: anchors and aliases (&b, *b) are not allowed here");
}

}  // namespace
}  // namespace lrpflow
