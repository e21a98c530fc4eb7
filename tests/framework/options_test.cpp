// Options accessors, option values from YAML, and their YAML rendering.
#include <cstdlib>
#include <limits>

#include <gtest/gtest.h>

#include "lrpflow/item.h"
#include "lrpflow/options.h"
#include "lrpflow/option_yaml.h"
#include "lrpflow/pipeline.h"

namespace lrpflow {
namespace {

TEST(Options, AccessorsReturnValuesAndConvertIntsToFloats) {
  Options o({{"flag", true},
             {"n", std::int64_t{3}},
             {"x", 0.5},
             {"s", std::string("abc")},
             {"names", std::vector<std::string>{"a", "b"}},
             {"ints", std::vector<std::int64_t>{1, 2}},
             {"floats", std::vector<double>{1.5}},
             {"tree", YamlText{"{a: 1}"}},
             {"unset", std::monostate{}}});
  EXPECT_TRUE(o.get_bool("flag"));
  EXPECT_EQ(o.get_int("n"), 3);
  EXPECT_DOUBLE_EQ(o.get_float("x"), 0.5);
  EXPECT_DOUBLE_EQ(o.get_float("n"), 3.0);
  EXPECT_EQ(o.get_string("s"), "abc");
  EXPECT_EQ(o.get_string_list("names"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.get_int_list("ints"), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(o.get_float_list("ints"), (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(o.get_float_list("floats"), (std::vector<double>{1.5}));
  EXPECT_EQ(o.get_yaml("tree"), "{a: 1}");
  EXPECT_TRUE(o.has("n"));
  EXPECT_FALSE(o.has("unset"));
  EXPECT_FALSE(o.has("missing"));
}

TEST(Options, ErrorsNameTheOption) {
  Options o({{"n", std::int64_t{3}}, {"unset", std::monostate{}}});
  try {
    o.get_string("n");
    FAIL() << "expected an exception";
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "option 'n' is a int, not a string");
  }
  try {
    o.get_int("missing");
    FAIL() << "expected an exception";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("option 'missing'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(o.get_int("unset"), std::out_of_range);
}

TEST(Options, FormatsValuesAsYaml) {
  EXPECT_EQ(format_option_value(true), "true");
  EXPECT_EQ(format_option_value(std::int64_t{-4}), "-4");
  EXPECT_EQ(format_option_value(2.0), "2.0");
  EXPECT_EQ(format_option_value(0.25), "0.25");
  EXPECT_EQ(format_option_value(std::string("zplus")), "zplus");
  EXPECT_EQ(format_option_value(std::string("yes")), "\"yes\"");  // would read back as a bool
  EXPECT_EQ(format_option_value(std::string("12")), "\"12\"");    // would read back as a number
  EXPECT_EQ(format_option_value(std::string("")), "\"\"");
  EXPECT_EQ(format_option_value(std::vector<std::string>{"a", "b c"}), "[a, b c]");
  EXPECT_EQ(format_option_value(std::vector<std::int64_t>{1, 2}), "[1, 2]");
  EXPECT_EQ(format_option_value(std::monostate{}), "(none)");
}

TEST(Options, FormattedValuesReadBackUnchanged) {
  auto named_a = [](OptionType type) {
    OptionSpec spec;
    spec.name = "a";
    spec.type = type;
    return spec;
  };
  const std::vector<std::pair<OptionSpec, OptionValue>> cases = {
      {named_a(OptionType::String), std::string("on")},
      {named_a(OptionType::String), std::string("1e3")},
      {named_a(OptionType::String), std::string("a: b")},
      {named_a(OptionType::Float), 1e-6},
      {named_a(OptionType::Float), 3.0},
      {named_a(OptionType::StringList), std::vector<std::string>{"x", "no", "#y"}},
      {named_a(OptionType::FloatList), std::vector<double>{0.5, -2.0}},
  };
  for (const auto& [spec, value] : cases) {
    const std::string text = format_option_value(value);
    auto back = option_value_from_yaml(YAML::Load(text), spec);
    ASSERT_TRUE(back.is_ok()) << text << ": " << back.status().message();
    EXPECT_TRUE(back.value() == value) << text;
  }
}

TEST(Options, FloatsAreWrittenAsShortAsTheyRoundTrip) {
  // The quickstart's mean as a float literal: 17 significant digits would print 0.28604059999999998.
  EXPECT_EQ(format_yaml_float(0.2860406), "0.2860406");
  EXPECT_EQ(format_option_value(std::vector<double>{0.2860406, 0.35302425}), "[0.2860406, 0.35302425]");
  EXPECT_EQ(format_yaml_float(1.0), "1.0");  // still a float when read back
  EXPECT_EQ(format_yaml_float(-0.5), "-0.5");
  // Shortest, yet exact: every one reads back as the same double, and drops no needed digit.
  for (double value : {0.1 + 0.2, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, 1e20, 0.2860406, 123456.789}) {
    const std::string text = format_yaml_float(value);
    EXPECT_EQ(YAML::Load(text).as<double>(), value) << text;
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), value) << text;
  }
  EXPECT_EQ(format_yaml_float(0.1 + 0.2), "0.30000000000000004");  // 15 digits would give 0.3, a different double
  EXPECT_EQ(format_yaml_floats({0.25, 2.0}), (std::vector<std::string>{"0.25", "2.0"}));
  EXPECT_EQ(format_yaml_float(std::numeric_limits<double>::quiet_NaN()), ".nan");
}

TEST(Options, ValuesFromYamlAreTypeChecked) {
  auto parse = [](const std::string& yaml, OptionType type, std::vector<std::string> choices = {}) {
    OptionSpec spec{"o", type, {}, "", false, std::move(choices)};
    return option_value_from_yaml(YAML::Load(yaml), spec);
  };
  EXPECT_EQ(std::get<std::int64_t>(parse("42", OptionType::Int).value()), 42);
  EXPECT_EQ(parse("4.5", OptionType::Int).status().message(), "expected an int, got '4.5'");
  EXPECT_EQ(parse("[1]", OptionType::Int).status().message(), "expected an int, got a list");
  EXPECT_DOUBLE_EQ(std::get<double>(parse("7", OptionType::Float).value()), 7.0);
  EXPECT_EQ(parse("abc", OptionType::Float).status().message(), "expected a float, got 'abc'");
  EXPECT_EQ(std::get<bool>(parse("false", OptionType::Bool).value()), false);
  EXPECT_EQ(parse("maybe", OptionType::Bool).status().message(), "expected true or false, got 'maybe'");
  EXPECT_EQ(parse("{a: 1}", OptionType::String).status().message(), "expected a string, got a map");
  EXPECT_EQ(parse("zplus", OptionType::String, {"epsilon", "zplus"}).is_ok(), true);
  EXPECT_EQ(parse("zplsu", OptionType::String, {"epsilon", "zplus"}).status().message(),
            "'zplsu' is not one of: epsilon, zplus (did you mean 'zplus'?)");
  // A single scalar is a one-element list.
  EXPECT_EQ(std::get<std::vector<std::string>>(parse("png", OptionType::StringList).value()),
            std::vector<std::string>{"png"});
  EXPECT_EQ(std::get<std::vector<std::int64_t>>(parse("[1, 2, 3]", OptionType::IntList).value()),
            (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(parse("[1, x]", OptionType::IntList).status().message(), "in the list: expected an int, got 'x'");
  // Yaml options keep the structure: the text reads back as the same tree.
  const YAML::Node tree = YAML::Load(std::get<YamlText>(parse("{a: [1, 2]}", OptionType::Yaml).value()).text);
  EXPECT_EQ(tree["a"][1].as<int>(), 2);
}

TEST(Item, SlotTypesHaveNames) {
  EXPECT_STREQ(slot_type_name(SlotType::Tensor), "tensor");
  EXPECT_EQ(slot_type_of(SlotValue(std::string("x"))), SlotType::Text);
  EXPECT_EQ(slot_type_of(SlotValue(Table{})), SlotType::Table);
  EXPECT_EQ(slot_type_of(SlotValue(std::any(3))), SlotType::Any);
  Item item(0, "a", "a.png");
  item.set("s", std::string("text"));
  EXPECT_EQ(item.get<Table>("s").status().message(), "slot 's' holds a text");
  EXPECT_EQ(item.get<Table>("t").status().message(), "slot 't' is empty");
}

// A library's own type travels in std::any; once named, declarations and errors use its name.
struct Apple {
  int seeds = 0;
};
struct Unnamed {};
TEST(Item, NamedTypesInAnyHaveTheirNameAndTypedAccess) {
  const SlotType apple = SlotType::of<Apple>("apple");
  EXPECT_EQ(apple, SlotType::of<Apple>("apple"));
  EXPECT_NE(apple, SlotType::Any);
  EXPECT_EQ(slot_type_of(SlotValue(std::any(Apple{3}))), apple);
  EXPECT_EQ(slot_type_of(SlotValue(std::any(Unnamed{}))), SlotType::Any);
  Item item(0, "a", "a.png");
  item.set("fruit", Apple{4});  // a non-core type goes into the std::any alternative by itself
  auto fruit = item.get<Apple>("fruit");
  ASSERT_TRUE(fruit) << fruit.status().message();
  EXPECT_EQ(fruit.value()->seeds, 4);
  EXPECT_EQ(item.get<at::Tensor>("fruit").status().message(), "slot 'fruit' holds an apple");
  EXPECT_EQ(item.get<Unnamed>("fruit").status().message(), "slot 'fruit' holds an apple");
  item.set("other", Unnamed{});
  EXPECT_EQ(item.get<Apple>("other").status().message(), "slot 'other' holds a value of another type");
}

// Overlays: what concurrent branches of a pipeline work on. Reads fall through to the base,
// writes stay in the overlay, absorb() merges a branch and record() folds the chain.
TEST(Item, OverlaysReadThroughWriteLocallyAndMerge) {
  auto base = std::make_shared<Item>(4, "id", "src.png");
  base->set("shared", std::string("base"));
  base->add_output("input", "id.input.png");
  base->set_metric("m", 1);
  auto left = std::make_shared<Item>(std::shared_ptr<const Item>(base));
  auto right = std::make_shared<Item>(std::shared_ptr<const Item>(base));
  EXPECT_EQ(left->id(), "id");
  EXPECT_EQ(left->index(), 4);
  EXPECT_EQ(*left->get<std::string>("shared").value(), "base");
  left->set("l", std::string("left"));
  right->set("shared", std::string("right"));
  right->add_output("heat", "id.heat.png");
  right->set_metric("m", 2);
  EXPECT_FALSE(base->has("l"));                                  // the base is not changed
  EXPECT_EQ(*base->get<std::string>("shared").value(), "base");
  EXPECT_FALSE(right->has("l"));                                 // siblings do not see each other
  EXPECT_TRUE(right->outputs().size() == 1 && base->outputs().size() == 1);

  Item joined{std::shared_ptr<const Item>(base)};
  joined.absorb(*left);
  joined.absorb(*right);
  EXPECT_EQ(*joined.get<std::string>("l").value(), "left");
  EXPECT_EQ(*joined.get<std::string>("shared").value(), "right");
  const Item flat = joined.record();
  EXPECT_EQ(flat.base(), nullptr);
  EXPECT_FALSE(flat.has("shared"));  // no slots: only what the manifest records
  ASSERT_EQ(flat.outputs().size(), 2u);
  EXPECT_EQ(flat.outputs()[0].path, "id.input.png");
  EXPECT_EQ(flat.outputs()[1].path, "id.heat.png");
  EXPECT_EQ(flat.metrics().at("m"), 2.0);

  // A failed base fails its overlays; an overlay's own first error is kept when merging.
  right->fail("heat", "boom");
  EXPECT_FALSE(base->failed());
  Item merged{std::shared_ptr<const Item>(base)};
  merged.absorb(*right);
  left->fail("later", "second");
  merged.absorb(*left);
  ASSERT_TRUE(merged.failed());
  EXPECT_EQ(merged.error()->stage, "heat");
  base->fail("load", "first");
  EXPECT_TRUE(left->failed());
  EXPECT_EQ(Item(std::shared_ptr<const Item>(base)).error()->stage, "load");
}

}  // namespace
}  // namespace lrpflow
