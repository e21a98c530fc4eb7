// StageRunner (lrpflow/stage_runner.h): one stage alone, as the host runs it.
#include <gtest/gtest.h>

#include "lrpflow/files.h"
#include "lrpflow/stage_runner.h"
#include "test_support.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

TEST(StageRunner, RunsOneStageAndShowsItsSlotsOutputsAndRunFiles) {
  testing::TempDir out;
  StageRunnerSetup setup;
  setup.output_dir = out.path();
  auto runner = StageRunner::create(testing::test_registry(), "id: tagger\ntype: test_tag\noptions: {read: [value], write: t}\n", setup);
  ASSERT_TRUE(runner) << runner.status().message();
  StageRunner& stage = *runner.value();
  EXPECT_EQ(stage.options().get_string("write"), "t");
  ASSERT_EQ(stage.slots().reads.size(), 1u);
  EXPECT_EQ(stage.slots().reads[0].name, "value");
  ASSERT_TRUE(stage.open().is_ok());
  Item item(0, "a", "a.src");
  item.set("value", std::string("7"));
  ASSERT_TRUE(stage.process(item).is_ok());
  EXPECT_EQ(*item.get<std::string>("t").value(), "tagger(7)");
  ASSERT_EQ(item.outputs().size(), 1u);
  auto text = read_file(out.path() / item.outputs()[0].path);
  ASSERT_TRUE(text);
  EXPECT_EQ(text.value(), "tagger(7)");

  // A failure fails the item with the stage's id, as the host does.
  Item empty(1, "b", "b.src");
  EXPECT_FALSE(stage.process(empty).is_ok());
  ASSERT_TRUE(empty.failed());
  EXPECT_EQ(empty.error()->stage, "tagger");
  EXPECT_NE(empty.error()->message.find("slot 'value' is empty"), std::string::npos) << empty.error()->message;
  EXPECT_TRUE(stage.close().is_ok());
  EXPECT_FALSE(stage.close().is_ok());  // once
}

TEST(StageRunner, OptionsAreCheckedAsInAPipeline) {
  auto unknown = StageRunner::create(testing::test_registry(), "type: test_tag\noptions: {write: t, raed: [value]}\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.status().message().find("test_tag.yaml:2:21: error: stage 'test_tag' (test_tag): unknown option 'raed' (did you mean 'read'?)"),
            std::string::npos)
      << unknown.status().message();
  auto missing = StageRunner::create(testing::test_registry(), "type: test_tag\n");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("missing required option 'write'"), std::string::npos) << missing.status().message();
  auto range = StageRunner::create(testing::test_registry(), "type: test_source\noptions: {count: 99999999999}\n");
  ASSERT_FALSE(range);
  EXPECT_NE(range.status().message().find("option 'count' (int)"), std::string::npos) << range.status().message();
  auto type = StageRunner::create(testing::test_registry(), "type: test_tga\n");
  ASSERT_FALSE(type);
  EXPECT_EQ(type.status().message(), "unknown stage type 'test_tga' (did you mean 'test_tag'?)");
  auto key = StageRunner::create(testing::test_registry(), "type: test_tag\ninputs: [x]\n");
  ASSERT_FALSE(key);
  EXPECT_NE(key.status().message().find("unknown key 'inputs'"), std::string::npos);
  auto syntax = StageRunner::create(testing::test_registry(), "type: [test_tag\n");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.status().message().find("stage YAML"), std::string::npos) << syntax.status().message();
}

TEST(StageRunner, SourcesEnumerateAndCloseSeesTheProcessedItems) {
  auto runner = StageRunner::create(testing::test_registry(), "type: test_source\noptions: {count: 3, fail_load: [item-001]}\n");
  ASSERT_TRUE(runner) << runner.status().message();
  StageRunner& source = *runner.value();
  EXPECT_FALSE(source.enumerate());  // not opened yet
  ASSERT_TRUE(source.open().is_ok());
  auto refs = source.enumerate();
  ASSERT_TRUE(refs) << refs.status().message();
  ASSERT_EQ(refs.value().size(), 3u);
  int failed = 0;
  for (std::size_t i = 0; i < refs.value().size(); ++i) {
    Item item(static_cast<std::int64_t>(i), refs.value()[i].id, refs.value()[i].source);
    failed += !source.process(item).is_ok();
  }
  EXPECT_EQ(failed, 1);
  EXPECT_TRUE(source.close().is_ok());

  auto tag = StageRunner::create(testing::test_registry(), "type: test_tag\noptions: {write: t}\n");
  ASSERT_TRUE(tag);
  EXPECT_FALSE(tag.value()->enumerate());  // not a source (and not open)
}

}  // namespace
}  // namespace lrpflow
