// Pipeline parsing and validation: every diagnostic class, with its message and position.
#include <gtest/gtest.h>

#include "test_support.h"

namespace lrpflow {
namespace {
using testing::parse;
using testing::set;

// Expects a diagnostic at line:column whose message contains `part`.
::testing::AssertionResult has_error(const PipelineLoad& load, int line, int column, const std::string& part,
                                     const std::string& file = "p.yaml") {
  for (const Diagnostic& d : load.diagnostics) {
    if (d.file == file && d.line == line && d.column == column && d.message.find(part) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no diagnostic " << file << ":" << line << ":" << column << " containing '"
                                       << part << "'; got:\n"
                                       << testing::all_messages(load);
}

// Lines:   1 version, 2 stages, 3 "  - id: src", 4 type, 5 options, 6 "  - id: write", 7 type.
const char* kValid =
    "version: 1\n"
    "stages:\n"
    "  - id: src\n"
    "    type: test_source\n"
    "    options: {count: 3}\n"
    "  - id: write\n"
    "    type: test_writer\n";

TEST(Pipeline, ValidPipelineGetsDefaults) {
  const PipelineLoad load = parse(kValid, {}, "dir/quick.yaml");
  ASSERT_TRUE(load.ok()) << testing::all_messages(load);
  const Pipeline& p = *load.pipeline;
  ASSERT_EQ(p.stages.size(), 2u);
  EXPECT_EQ(p.source().id, "src");
  EXPECT_EQ(p.stages[1].inputs, std::vector<std::string>{"src"});  // default: the previous stage
  EXPECT_EQ(p.stages[0].options.get_int("count"), 3);
  EXPECT_EQ(p.stages[0].options.get_string("prefix"), "item");     // default filled in
  EXPECT_EQ(p.stages[1].options.get_string("slot"), "value");
  EXPECT_EQ(p.stages[1].line, 6);
  EXPECT_EQ(p.stages[1].column, 5);
  EXPECT_EQ(p.base_dir, "dir");
  EXPECT_EQ(p.output_dir, "out/quick");
  EXPECT_EQ(p.runtime.on_error, OnError::Skip);
  EXPECT_EQ(p.runtime.intra_op_threads, 1);
  EXPECT_GE(p.runtime.threads, 1);
  EXPECT_EQ(p.runtime.max_in_flight, 2 * p.runtime.threads);
}

TEST(Pipeline, YamlSyntaxError) {
  const PipelineLoad load = parse("version: 1\nstages: b: c\n");
  ASSERT_EQ(load.diagnostics.size(), 1u);
  EXPECT_TRUE(has_error(load, 2, 10, "YAML syntax error: illegal map value"));
}

TEST(Pipeline, EmptyOrNonMapFile) {
  EXPECT_EQ(parse("").diagnostics.at(0).to_string(),
            "p.yaml: error: the pipeline is empty (expected a map with version, stages, ...)");
  EXPECT_TRUE(has_error(parse("- a\n- b\n"), 1, 1, "a pipeline is a YAML map"));
}

TEST(Pipeline, MissingAndWrongVersion) {
  EXPECT_TRUE(has_error(parse(std::string(kValid).substr(11)), 1, 1, "missing 'version' (this lrpflow reads 'version: 1')"));
  const PipelineLoad wrong = parse("version: 2" + std::string(kValid).substr(10));
  EXPECT_TRUE(has_error(wrong, 1, 10, "unsupported version '2' (this lrpflow reads 'version: 1')"));
}

TEST(Pipeline, UnknownTopLevelKeyWithHint) {
  const PipelineLoad load = parse(std::string(kValid) + "outptu: {dir: x}\n");
  EXPECT_TRUE(has_error(load, 8, 1, "unknown key 'outptu' in the pipeline (did you mean 'output'?)"));
  const PipelineLoad far = parse(std::string(kValid) + "zzz: 1\n");
  EXPECT_TRUE(has_error(far, 8, 1, "unknown key 'zzz' in the pipeline; expected one of: version, resources, stages"));
}

TEST(Pipeline, UnknownStageTypeWithHint) {
  std::string text = kValid;
  text.replace(text.find("test_writer"), 11, "test_wrtier");
  EXPECT_TRUE(has_error(parse(text), 7, 11, "stage 'write': unknown stage type 'test_wrtier' (did you mean 'test_writer'?)"));
}

TEST(Pipeline, UnknownOptionWithHintAndMissingRequired) {
  std::string text = kValid;
  text.replace(text.find("count: 3"), 5, "cuont");
  const PipelineLoad load = parse(text);
  EXPECT_TRUE(has_error(load, 5, 15, "stage 'src': unknown option 'cuont' (did you mean 'count'?)"));
  EXPECT_TRUE(has_error(load, 3, 5, "stage 'src': missing required option 'count' (int: number of items)"));
  EXPECT_EQ(load.diagnostics.size(), 2u) << testing::all_messages(load);
}

TEST(Pipeline, MistypedOptionValue) {
  std::string text = kValid;
  text.replace(text.find("count: 3"), 8, "count: many");
  EXPECT_TRUE(has_error(parse(text), 5, 22, "stage 'src': option 'count' (int): expected an int, got 'many'"));
}

TEST(Pipeline, OptionOutsideItsChoices) {
  const PipelineLoad load = parse(std::string(kValid) +
                                  "  - id: fail\n"
                                  "    type: test_fail\n"
                                  "    options: {how: trhow}\n");
  EXPECT_TRUE(has_error(load, 10, 20, "option 'how' (string): 'trhow' is not one of: status, throw (did you mean 'throw'?)"));
}

TEST(Pipeline, MissingAndDuplicateIds) {
  const PipelineLoad load = parse(
      "version: 1\n"
      "stages:\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: 1}\n"
      "  - type: test_writer\n"
      "  - id: src\n"
      "    type: test_slow\n");
  EXPECT_TRUE(has_error(load, 6, 5, "stage 2 (test_writer) has no 'id'"));
  EXPECT_TRUE(has_error(load, 7, 9, "duplicate stage id 'src' (first used at line 3)"));
}

TEST(Pipeline, UnknownInputWithHint) {
  const PipelineLoad load = parse(std::string(kValid) +
                                  "  - id: slow\n"
                                  "    type: test_slow\n"
                                  "    inputs: [wirte]\n");
  EXPECT_TRUE(has_error(load, 10, 13, "stage 'slow': input 'wirte' is not a stage id (did you mean 'write'?)"));
}

TEST(Pipeline, SlotReadButNeverWritten) {
  std::string text = kValid;
  text += "    options: {slot: relevance}\n";
  EXPECT_TRUE(has_error(parse(text), 6, 5, "stage 'write' reads slot 'relevance' (text) but no stage before it writes it"));
}

TEST(Pipeline, SlotTypeMismatch) {
  const PipelineLoad load = parse(std::string(kValid) +
                                  "  - id: tensors\n"
                                  "    type: test_tensor_reader\n");
  EXPECT_TRUE(has_error(load, 8, 5, "stage 'tensors' reads slot 'value' as tensor but stage 'src' writes it as text"));
}

TEST(Pipeline, OptionalSlotReadsAreFine) {
  // test_slow reads 'value' optionally: fine after a source that writes it, and never an error.
  const PipelineLoad load = parse(std::string(kValid) + "  - id: slow\n    type: test_slow\n");
  EXPECT_TRUE(load.ok()) << testing::all_messages(load);
}

TEST(Pipeline, CycleInInputs) {
  const PipelineLoad load = parse(
      "version: 1\n"
      "stages:\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: 1}\n"
      "  - id: a\n"
      "    type: test_slow\n"
      "    inputs: [src, b]\n"
      "  - id: b\n"
      "    type: test_slow\n"
      "    inputs: [a]\n");
  EXPECT_TRUE(has_error(load, 11, 13, "cycle in 'inputs': a -> b -> a (each stage runs after its inputs)"));
}

TEST(Pipeline, InputsOrderStagesTopologically) {
  const PipelineLoad load = parse(
      "version: 1\n"
      "stages:\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: 1}\n"
      "  - id: write\n"
      "    type: test_writer\n"
      "    inputs: [slow]\n"
      "  - id: slow\n"
      "    type: test_slow\n"
      "    inputs: [src]\n");
  ASSERT_TRUE(load.ok()) << testing::all_messages(load);
  ASSERT_EQ(load.pipeline->stages.size(), 3u);
  EXPECT_EQ(load.pipeline->stages[1].id, "slow");
  EXPECT_EQ(load.pipeline->stages[2].id, "write");
}

// Concurrent branches each work on their own overlay of the item: writing a slot the other
// writes or reads would make the result depend on timing, so validation refuses it.
TEST(Pipeline, ConcurrentStagesMayNotWriteWhatTheOtherWritesOrReads) {
  auto load_with = [](const std::string& left, const std::string& right) {
    return parse("version: 1\n"
                 "stages:\n"
                 "  - {id: src, type: test_source, options: {count: 1}}\n"
                 "  - {id: left, type: test_tag, inputs: [src], options: " + left + "}\n"
                 "  - {id: right, type: test_tag, inputs: [src], options: " + right + "}\n");
  };
  const PipelineLoad both_write = load_with("{write: x}", "{write: x}");
  EXPECT_TRUE(has_error(both_write, 5, 5,
                        "stages 'left' and 'right' run concurrently (neither is among the other's inputs), and 'left' "
                        "writes slot 'x', which 'right' writes too: add one to the other's 'inputs'"))
      << testing::all_messages(both_write);
  const PipelineLoad overwrites_read = load_with("{read: [value], write: a}", "{write: value}");
  EXPECT_TRUE(has_error(overwrites_read, 5, 5,
                        "stages 'right' and 'left' run concurrently (neither is among the other's inputs), and 'right' "
                        "writes slot 'value', which 'left' reads: add one to the other's 'inputs'"))
      << testing::all_messages(overwrites_read);
  EXPECT_TRUE(load_with("{read: [value], write: a}", "{read: [value], write: b}").ok());  // disjoint writes, shared reads
}

TEST(Pipeline, ExactlyOneSourceAndItComesFirst) {
  const PipelineLoad none = parse("version: 1\nstages:\n  - id: w\n    type: test_writer\n");
  EXPECT_TRUE(has_error(none, 3, 5, "no source stage: the first stage must read the inputs (source types: test_source)"));
  const PipelineLoad late = parse(
      "version: 1\n"
      "stages:\n"
      "  - id: slow\n"
      "    type: test_slow\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: 1}\n");
  EXPECT_TRUE(has_error(late, 5, 5, "stage 'src' is a source stage (test_source) and must be the first stage"));
  const PipelineLoad two = parse(std::string(kValid) + "  - id: src2\n    type: test_source\n    options: {count: 1}\n");
  EXPECT_TRUE(has_error(two, 8, 5, "stage 'src2' is a second source stage; a pipeline has exactly one"));
}

TEST(Pipeline, ResourcesAreChecked) {
  const PipelineLoad load = parse(
      "version: 1\n"
      "resources:\n"
      "  k: {type: test_constnat, options: {value: 1}}\n"
      "  c: {type: test_constant, options: {valeu: 1}}\n"
      "  d: {type: test_constant}\n"
      "stages:\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: 1}\n");
  EXPECT_TRUE(has_error(load, 3, 13, "resource 'k': unknown resource type 'test_constnat' (did you mean 'test_constant'?)"));
  EXPECT_TRUE(has_error(load, 4, 38, "resource 'c': unknown option 'valeu' (did you mean 'value'?)"));
  EXPECT_TRUE(has_error(load, 4, 3, "resource 'c': missing required option 'value'"));
  EXPECT_TRUE(has_error(load, 5, 3, "resource 'd': missing required option 'value'"));
  EXPECT_EQ(load.diagnostics.size(), 4u) << testing::all_messages(load);
}

// A stage option that names a resource (OptionSpec::names_resource): a name written in the file
// must be declared and of the type; a default naming nothing is the stage's business.
TEST(Pipeline, StageOptionsThatNameAResourceAreChecked) {
  const std::string head =
      "version: 1\n"
      "resources:\n"
      "  k: {type: test_constant, options: {value: 1}}\n"
      "  l: {type: test_label}\n"
      "stages:\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: 1}\n";
  const PipelineLoad load = parse(head +
                                  "  - id: a\n"
                                  "    type: test_writer\n"
                                  "    options: {resource: kk}\n"
                                  "  - id: b\n"
                                  "    type: test_writer\n"
                                  "    options: {resource: l}\n");
  EXPECT_TRUE(has_error(load, 11, 25, "stage 'a': option 'resource' names resource 'kk', which is not declared "
                                      "(declare a test_constant resource of that name under 'resources')"))
      << testing::all_messages(load);
  EXPECT_TRUE(has_error(load, 14, 25, "stage 'b': option 'resource' names resource 'l', a test_label, not a test_constant"))
      << testing::all_messages(load);
  EXPECT_EQ(load.diagnostics.size(), 2u) << testing::all_messages(load);
  EXPECT_TRUE(parse(head + "  - id: a\n    type: test_writer\n    options: {resource: k}\n").ok());
  // A wrong resource name does not hide the slot checks: slots do not depend on resources.
  const PipelineLoad both = parse(head + "  - id: a\n    type: test_writer\n    options: {resource: kk, slot: valeu}\n");
  EXPECT_TRUE(has_error(both, 11, 25, "stage 'a': option 'resource' names resource 'kk'")) << testing::all_messages(both);
  EXPECT_TRUE(has_error(both, 9, 5, "stage 'a' reads slot 'valeu' (text) but no stage before it writes it"))
      << testing::all_messages(both);
  EXPECT_TRUE(parse(head + "  - id: a\n    type: test_writer\n").ok()) << "the default names no resource";
}

TEST(Pipeline, RuntimeAndOutputAreChecked) {
  const PipelineLoad load = parse(std::string(kValid) +
                                  "runtime: {threads: 0, on_error: abort, max_in_flihgt: 3}\n"
                                  "output: {dir: [a]}\n");
  EXPECT_TRUE(has_error(load, 8, 20, "runtime: 'threads' must be between 1 and 4096, got 0"));
  EXPECT_TRUE(has_error(load, 8, 33, "runtime: option 'on_error' (string): 'abort' is not one of: skip, fail"));
  EXPECT_TRUE(has_error(load, 8, 40, "runtime: unknown option 'max_in_flihgt' (did you mean 'max_in_flight'?)"));
  EXPECT_TRUE(has_error(load, 9, 15, "output: 'dir' must be a directory path, got a list"));
  const PipelineLoad good = parse(std::string(kValid) +
                                  "runtime: {threads: 3, on_error: fail, intra_op_threads: 2}\noutput: {dir: somewhere}\n");
  ASSERT_TRUE(good.ok()) << testing::all_messages(good);
  EXPECT_EQ(good.pipeline->runtime.threads, 3);
  EXPECT_EQ(good.pipeline->runtime.max_in_flight, 6);
  EXPECT_EQ(good.pipeline->runtime.on_error, OnError::Fail);
  EXPECT_EQ(good.pipeline->runtime.intra_op_threads, 2);
  EXPECT_EQ(good.pipeline->output_dir, "somewhere");
}

TEST(Pipeline, OutputLayoutIsPerItemUnlessFlatIsAsked) {
  const PipelineLoad by_default = parse(kValid);
  ASSERT_TRUE(by_default.ok()) << testing::all_messages(by_default);
  EXPECT_EQ(by_default.pipeline->output_layout, OutputLayout::PerItem);
  const PipelineLoad flat = parse(std::string(kValid) + "output: {layout: flat}\n");
  ASSERT_TRUE(flat.ok()) << testing::all_messages(flat);
  EXPECT_EQ(flat.pipeline->output_layout, OutputLayout::Flat);
  const PipelineLoad bad = parse(std::string(kValid) + "output: {layout: nested}\n");
  EXPECT_TRUE(has_error(bad, 8, 18, "output: 'layout' must be per_item or flat, got 'nested'")) << testing::all_messages(bad);
}

TEST(Pipeline, UnknownStageKeyWithHint) {
  std::string text = kValid;
  text.replace(text.find("options"), 7, "optinos");
  const PipelineLoad load = parse(text);
  EXPECT_TRUE(has_error(load, 5, 5, "unknown key 'optinos' in stage 'src' (did you mean 'options'?)"));
}

TEST(Pipeline, EveryErrorIsReportedAtOnce) {
  const PipelineLoad load = parse(
      "version: 3\n"
      "stages:\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: x, extra: 1}\n"
      "  - id: w\n"
      "    type: nope\n"
      "  - id: w\n"
      "    type: test_slow\n"
      "    inputs: [missing]\n"
      "runtime: {threads: -1}\n");
  EXPECT_TRUE(has_error(load, 1, 10, "unsupported version"));
  EXPECT_TRUE(has_error(load, 5, 22, "option 'count' (int): expected an int, got 'x'"));
  EXPECT_TRUE(has_error(load, 5, 25, "unknown option 'extra'"));
  EXPECT_TRUE(has_error(load, 7, 11, "unknown stage type 'nope'"));
  EXPECT_TRUE(has_error(load, 8, 9, "duplicate stage id 'w'"));
  EXPECT_TRUE(has_error(load, 10, 13, "input 'missing' is not a stage id"));
  EXPECT_TRUE(has_error(load, 11, 20, "'threads' must be between 1 and 4096"));
  EXPECT_EQ(load.diagnostics.size(), 7u) << testing::all_messages(load);
  EXPECT_FALSE(load.pipeline.has_value());
}

TEST(Pipeline, DiagnosticFormat) {
  EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "bad"}).to_string(), "a.yaml:3:7: error: bad");
  EXPECT_EQ((Diagnostic{"--set x=1", 0, 0, "bad"}).to_string(), "--set x=1: error: bad");
}

TEST(PipelineOverrides, SetValuesBeforeValidation) {
  const PipelineLoad load = parse(kValid, {set("runtime.threads=4"), set("output.dir=elsewhere/run"),
                                           set("stages.src.options.count=7"), set("stages.src.options.fail_load=[item-001, item-002]"),
                                           set("stages.1.options.resource=''")});
  ASSERT_TRUE(load.ok()) << testing::all_messages(load);
  EXPECT_EQ(load.pipeline->runtime.threads, 4);
  EXPECT_EQ(load.pipeline->runtime.max_in_flight, 8);
  EXPECT_EQ(load.pipeline->output_dir, "elsewhere/run");
  EXPECT_EQ(load.pipeline->source().options.get_int("count"), 7);
  EXPECT_EQ(load.pipeline->source().options.get_string_list("fail_load"),
            (std::vector<std::string>{"item-001", "item-002"}));
  EXPECT_EQ(load.pipeline->overrides.size(), 5u);
}

TEST(PipelineOverrides, ProblemsPointAtTheOverride) {
  const PipelineLoad load = parse(kValid, {set("stages.src.options.count=lots"), set("stages.nope.options.x=1"),
                                           set("version.x=1")});
  EXPECT_TRUE(has_error(load, 0, 0, "stage 'src': option 'count' (int): expected an int, got 'lots'",
                        "--set stages.src.options.count=lots"));
  EXPECT_TRUE(has_error(load, 0, 0, "'stages' has no element with id 'nope'", "--set stages.nope.options.x=1"));
  EXPECT_TRUE(has_error(load, 0, 0, "'version' is '1', not a map", "--set version.x=1"));
}

TEST(PipelineOverrides, AnOverriddenOptionCanBreakTheSlotChain) {
  // The problem is reported at the stage in the file whose option the override changed.
  const PipelineLoad load = parse(kValid, {set("stages.write.options.slot=other")});
  EXPECT_TRUE(has_error(load, 6, 5, "stage 'write' reads slot 'other' (text) but no stage before it writes it"));
}

TEST(PipelineOverrides, MissingMapsAreCreated) {
  // The writer has no `options:` and the file no `runtime:`: both are created.
  const PipelineLoad load = parse(kValid, {set("stages.write.options.resource=k"), set("runtime.on_error=fail"),
                                           set("resources.k.type=test_constant"), set("resources.k.options.value=3")});
  ASSERT_TRUE(load.ok()) << testing::all_messages(load);
  EXPECT_EQ(load.pipeline->stages[1].options.get_string("resource"), "k");
  EXPECT_EQ(load.pipeline->runtime.on_error, OnError::Fail);
  ASSERT_EQ(load.pipeline->resources.size(), 1u);
  EXPECT_EQ(load.pipeline->resources[0].options.get_int("value"), 3);
}

TEST(PipelineOverrides, MalformedAssignments) {
  EXPECT_FALSE(parse_override("threads").is_ok());
  EXPECT_EQ(parse_override("threads").status().message(), "--set 'threads': expected key=value, e.g. runtime.threads=4");
  EXPECT_FALSE(parse_override("a..b=1").is_ok());
  EXPECT_FALSE(parse_override("=1").is_ok());
  const PipelineLoad load = parse(kValid, {set("runtime.threads=[1")});
  EXPECT_TRUE(has_error(load, 0, 0, "the value is not valid YAML", "--set runtime.threads=[1"));
}

TEST(Pipeline, SyntaxErrorsPointAtTheConstructLeftOpen) {
  // Line 4 opens a flow list that is never closed; yaml-cpp notices only at line 5.
  const std::string unclosed_list =
      "version: 1\n"
      "stages:\n"
      "  - id: src\n"
      "    type: [unclosed\n"
      "  - id: write\n";
  const PipelineLoad list = parse(unclosed_list);
  ASSERT_EQ(list.diagnostics.size(), 1u) << testing::all_messages(list);
  const std::size_t bracket = std::string("    type: [unclosed").find('[') + 1;
  EXPECT_TRUE(has_error(list, 4, static_cast<int>(bracket), "YAML syntax error: the '[' here is never closed"));
  EXPECT_NE(list.diagnostics[0].message.find("(the parser stopped at line 5"), std::string::npos)
      << list.diagnostics[0].message;

  // Brackets and quotes in comments, block scalars and plain words do not count.
  const PipelineLoad ignored = parse(
      "version: 1   # a [comment\n"
      "note: |\n"
      "  text with [ and { and \"\n"
      "it's: plain's\n"
      "stages:\n"
      "  - {id: src, type: test_source, options: {count: [3}}\n");
  ASSERT_FALSE(ignored.diagnostics.empty());
  const std::size_t inner = std::string("  - {id: src, type: test_source, options: {count: [3}}").find('[') + 1;
  EXPECT_TRUE(has_error(ignored, 6, static_cast<int>(inner), "the '[' here is closed by '}' at line 6"))
      << testing::all_messages(ignored);

  // The quote swallows the '}' that would have closed the map: the quote is the cause.
  const std::string unclosed_quote = std::string(kValid).replace(std::string(kValid).find("{count: 3}"), 10, "{prefix: \"abc}");
  const PipelineLoad quote = parse(unclosed_quote);
  const std::size_t quote_column = std::string("    options: {prefix: \"abc}").find('"') + 1;
  EXPECT_TRUE(has_error(quote, 5, static_cast<int>(quote_column), "the quote \" here is never closed"));

  // Nothing left open: yaml-cpp's own position stands (see YamlSyntaxError).
  const PipelineLoad plain = parse("version: 1\nstages: b: c\n");
  EXPECT_TRUE(has_error(plain, 2, 10, "YAML syntax error: illegal map value"));
}

TEST(PipelineOverrides, KeysAddedBySetAreReportedAtTheSet) {
  // A misspelt option or section exists only on the command line: the error names the --set.
  const PipelineLoad load = parse(kValid, {set("stages.src.options.cuont=3"), set("runtimee.threads=2")});
  EXPECT_TRUE(has_error(load, 0, 0, "stage 'src': unknown option 'cuont' (did you mean 'count'?)",
                        "--set stages.src.options.cuont=3"));
  EXPECT_TRUE(has_error(load, 0, 0, "unknown key 'runtimee' in the pipeline", "--set runtimee.threads=2"));
  for (const Diagnostic& d : load.diagnostics) {
    EXPECT_EQ(d.to_string().rfind("--set ", 0), 0u) << d.to_string();  // "--set KEY=VALUE: error: ..."
  }
  // A key that is in the file stays at its line even when --set changes its value.
  const PipelineLoad in_file = parse(std::string(kValid) + "    options: {bogus: 1}\n", {set("stages.write.options.bogus=2")});
  EXPECT_TRUE(has_error(in_file, 8, 15, "stage 'write': unknown option 'bogus'")) << testing::all_messages(in_file);
}


// "Billion laughs": nine levels of nine aliases, 339 bytes that expand to 9^9 strings.
std::string alias_bomb() {
  std::string text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char level = 'b'; level <= 'i'; ++level) {
    text += std::string(1, level) + ": &" + level + " [";
    for (int k = 0; k < 9; ++k) text += std::string(k ? "," : "") + "*" + static_cast<char>(level - 1);
    text += "]\n";
  }
  return text;
}

TEST(PipelineOverrides, AnchorsAndAliasesInSetValuesAreRefused) {
  // `&a [*a]` is a list that contains itself: walking it used to overflow the stack (SIGSEGV).
  const PipelineLoad cycle = parse(kValid, {set("runtime.x=&a [*a]")});
  EXPECT_TRUE(has_error(cycle, 0, 0, "anchors and aliases (&a, *a) are not allowed here", "--set runtime.x=&a [*a]"))
      << testing::all_messages(cycle);
  const PipelineLoad plain_anchor = parse(kValid, {set("stages.src.options.prefix=&p x")});
  EXPECT_TRUE(has_error(plain_anchor, 0, 0, "values given with --set are scalars or plain lists and maps",
                        "--set stages.src.options.prefix=&p x"));
  std::string flow_bomb = alias_bomb();
  for (char& c : flow_bomb) if (c == '\n') c = ',';
  const PipelineLoad bombed = parse(kValid, {set("runtime.x={" + flow_bomb + "}")});
  ASSERT_EQ(bombed.diagnostics.size(), 1u) << testing::all_messages(bombed);
  EXPECT_NE(bombed.diagnostics[0].message.find("not allowed here"), std::string::npos);
}

TEST(Pipeline, AliasesInTheFileMayNotNestTheirOwnCollectionOrExplode) {
  const PipelineLoad cycle = parse(std::string(kValid) + "runtime: &r {threads: 1, again: *r}\n");
  EXPECT_TRUE(has_error(cycle, 8, 33, "the alias *r is inside the collection &r it names")) << testing::all_messages(cycle);
  const std::string bomb = alias_bomb();
  EXPECT_LT(bomb.size(), 400u);
  const PipelineLoad bombed = parse(std::string(kValid) + "output:\n  dir: x\n" + "runtime: {}\n" + bomb);
  ASSERT_EQ(bombed.diagnostics.size(), 1u) << testing::all_messages(bombed);
  EXPECT_NE(bombed.diagnostics[0].message.find("aliases expand the document by more than 100000 nodes"), std::string::npos)
      << testing::all_messages(bombed);
  EXPECT_GT(bombed.diagnostics[0].line, 10);
  // Aliases of modest size stay allowed: a list written once, used twice.
  const PipelineLoad reuse = parse(
      "version: 1\nstages:\n  - id: src\n    type: test_source\n    options: {count: 3, fail_load: &ids [a, b]}\n"
      "  - id: fail\n    type: test_fail\n    options: {ids: *ids}\n");
  ASSERT_TRUE(reuse.ok()) << testing::all_messages(reuse);
  EXPECT_EQ(reuse.pipeline->stages[1].options.get_string_list("ids"), (std::vector<std::string>{"a", "b"}));
}

TEST(Pipeline, DuplicateKeysAreErrorsAtTheSecondKey) {
  const PipelineLoad version = parse("version: 1\n" + std::string(kValid));
  EXPECT_TRUE(has_error(version, 2, 1, "duplicate key 'version' (first given at line 1, column 1)"))
      << testing::all_messages(version);
  const PipelineLoad option = parse(
      "version: 1\nstages:\n  - id: src\n    type: test_source\n    options: {count: 3, count: 4}\n");
  EXPECT_TRUE(has_error(option, 5, 25, "duplicate key 'count' (first given at line 5, column 15)"))
      << testing::all_messages(option);
}

TEST(Pipeline, IntOptionsOutsideTheirRangeAreErrorsNotWrappedNumbers) {
  std::string text = kValid;
  text.replace(text.find("count: 3"), 8, "count: 2147483648");
  const PipelineLoad load = parse(text);
  EXPECT_TRUE(has_error(load, 5, 22,
                        "stage 'src': option 'count' (int): 2147483648 is out of range (-2147483648 to 2147483647)"))
      << testing::all_messages(load);
  text.replace(text.find("2147483648"), 10, "99999999999999999999");
  EXPECT_TRUE(has_error(parse(text), 5, 22, "'99999999999999999999' is out of range (more than 64 bits)"));
}

TEST(PipelineOverrides, HugeValuesAreAbbreviatedInMessages) {
  const std::string huge(5'000'000, 'x');
  const PipelineLoad load = parse(kValid, {set("stages.src.options.count=" + huge)});
  ASSERT_EQ(load.diagnostics.size(), 1u);
  const std::string message = load.diagnostics[0].to_string();
  EXPECT_LT(message.size(), 1000u) << message.substr(0, 1000);
  EXPECT_NE(message.find("expected an int, got 'xxxx"), std::string::npos) << message;
  EXPECT_NE(message.find("\u2026 (5000000 bytes)'"), std::string::npos) << message;
  EXPECT_NE(message.find("--set stages.src.options.count=xxx"), std::string::npos) << message;
}

}  // namespace
}  // namespace lrpflow
