// PluginRegistry: loading plugins, refusing a wrong API version and non-plugins, search path.
#include <cstdlib>
#include <fstream>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "lrpflow/registry.h"
#include "test_support.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Registry, LoadsTheTestPluginAndIndexesItsTypes) {
  PluginRegistry registry;
  registry.load_directories({LRPFLOW_TEST_PLUGIN_DIR});
  EXPECT_TRUE(registry.problems().empty()) << registry.problems().front();
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].name, "framework_test");
  EXPECT_EQ(registry.plugins()[0].version, "1.0.0");
  EXPECT_EQ(registry.plugins()[0].file.filename(), "framework_test_stages.so");
  const StageTypeInfo* source = registry.find_stage("test_source");
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->role, StageRole::Source);
  EXPECT_TRUE(registry.find_stage("test_slow")->reentrant);
  EXPECT_TRUE(registry.find_stage("test_ordered")->ordered);
  EXPECT_EQ(registry.find_stage("nope"), nullptr);
  EXPECT_NE(registry.find_resource("test_constant"), nullptr);
  EXPECT_EQ(registry.provider_of_stage("test_writer")->name, "framework_test");
  const auto names = registry.stage_type_names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.size(), registry.stages().size());
}

TEST(Registry, RefusesWrongVersionsAndNonPluginsNamingTheFile) {
  PluginRegistry registry;
  registry.load_directories({LRPFLOW_TEST_BAD_PLUGIN_DIR, LRPFLOW_TEST_PLUGIN_DIR});
  // The good plugin still loads after four bad libraries.
  EXPECT_NE(registry.find_stage("test_source"), nullptr);
  ASSERT_EQ(registry.problems().size(), 4u);
  std::string all;
  for (const auto& p : registry.problems()) all += p + "\n";
  const std::string bad = LRPFLOW_TEST_BAD_PLUGIN_DIR;
  // Sorted by file name: missing_symbol, not_a_plugin, null_entry, wrong_version.
  EXPECT_TRUE(contains(registry.problems()[0], bad + "/framework_test_missing_symbol.so: cannot load plugin library"))
      << all;
  EXPECT_TRUE(contains(registry.problems()[0], "lrpflow_test_symbol_that_does_not_exist")) << all;
  EXPECT_EQ(registry.problems()[1],
            bad + "/framework_test_not_a_plugin.so is not an lrpflow plugin (no lrpflow_plugin_info entry)");
  EXPECT_EQ(registry.problems()[2], bad + "/framework_test_null_entry.so: the plugin entry lrpflow_plugin_info is null");
  EXPECT_EQ(registry.problems()[3], bad + "/framework_test_wrong_version.so: plugin built for lrpflow plugin API "
                                          "version 999, this lrpflow has version " +
                                          std::to_string(LRPFLOW_PLUGIN_API_VERSION) + "; rebuild the plugin");
  EXPECT_EQ(registry.plugins().size(), 1u);
}

// A FIFO (or any other non-regular file) named *.so would block dlopen()'s read forever.
TEST(Registry, SkipsFilesThatAreNotRegular) {
  testing::TempDir dir;
  ASSERT_EQ(::mkfifo((dir.path() / "fifo.so").c_str(), 0600), 0);
  fs::create_directory(dir.path() / "folder.so");
  PluginRegistry registry;
  registry.load_directories({dir.path()});
  EXPECT_TRUE(registry.problems().empty()) << registry.problems()[0];
  EXPECT_TRUE(registry.plugins().empty());
  const Status direct = registry.load_library(dir.path() / "fifo.so");
  EXPECT_EQ(direct.message(), (dir.path() / "fifo.so").string() + ": cannot load plugin: not a regular file");
}

TEST(Registry, ReportsFilesThatAreNotElfAndMissingDirectories) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "garbage.so") << "this is not a shared library";
  PluginRegistry registry;
  registry.load_directories({dir.path(), dir.path() / "missing"});
  ASSERT_EQ(registry.problems().size(), 2u);
  EXPECT_TRUE(contains(registry.problems()[0], (dir.path() / "garbage.so").string() + ": cannot load plugin library"))
      << registry.problems()[0];
  EXPECT_EQ(registry.problems()[1], (dir.path() / "missing").string() + ": plugin directory does not exist");
}

TEST(Registry, LoadingTheSameFileTwiceIsHarmless) {
  PluginRegistry registry;
  registry.load_directories({LRPFLOW_TEST_PLUGIN_DIR, LRPFLOW_TEST_PLUGIN_DIR});
  EXPECT_TRUE(registry.problems().empty());
  EXPECT_EQ(registry.plugins().size(), 1u);
}

TEST(Registry, SecondProviderOfATypeIsReported) {
  PluginRegistry registry;
  registry.load_directories({LRPFLOW_TEST_PLUGIN_DIR});
  PluginDescriptor other;
  other.name = "other";
  other.version = "2";
  other.stages.push_back(*registry.find_stage("test_fail"));
  other.stages.back().description = "impostor";
  registry.add_descriptor(other);
  ASSERT_EQ(registry.problems().size(), 1u);
  EXPECT_TRUE(contains(registry.problems()[0], "stage type 'test_fail' is already provided by")) << registry.problems()[0];
  EXPECT_EQ(registry.find_stage("test_fail")->description, "Fails on chosen item ids");  // the first one wins
}

// Extensions are kept by kind and name without the core knowing their type; the first of two
// with the same kind and name wins and the second is reported.
struct Flavour {
  std::string taste;
};
TEST(Registry, IndexesExtensionsByKindAndName) {
  PluginRegistry registry;
  PluginDescriptor d;
  d.name = "flavours";
  d.extensions = {{"test.flavour", "sweet", std::make_shared<Flavour>(Flavour{"sugar"})},
                  {"test.flavour", "bitter", std::make_shared<Flavour>(Flavour{"coffee"})},
                  {"test.colour", "sweet", std::make_shared<Flavour>(Flavour{"pink"})}};
  registry.add_descriptor(d);
  const void* sweet = registry.find_extension("test.flavour", "sweet");
  ASSERT_NE(sweet, nullptr);
  EXPECT_EQ(static_cast<const Flavour*>(sweet)->taste, "sugar");
  EXPECT_EQ(static_cast<const Flavour*>(registry.find_extension("test.colour", "sweet"))->taste, "pink");
  EXPECT_EQ(registry.find_extension("test.flavour", "sour"), nullptr);
  EXPECT_EQ(registry.find_extension("test.none", "sweet"), nullptr);
  std::vector<std::string> names;
  for (const ExtensionTypeInfo* e : registry.extensions("test.flavour")) names.push_back(e->name);
  EXPECT_EQ(names, (std::vector<std::string>{"bitter", "sweet"}));
  EXPECT_TRUE(registry.extensions("test.none").empty());

  PluginDescriptor again;
  again.name = "again";
  again.extensions = {{"test.flavour", "sweet", std::make_shared<Flavour>(Flavour{"honey"})}};
  registry.add_descriptor(again);
  ASSERT_EQ(registry.problems().size(), 1u);
  EXPECT_TRUE(contains(registry.problems()[0], "test.flavour type 'sweet' is already provided by")) << registry.problems()[0];
  EXPECT_EQ(static_cast<const Flavour*>(registry.find_extension("test.flavour", "sweet"))->taste, "sugar");
}

TEST(Registry, SearchPathPutsExtraDirsFirstThenTheEnvironment) {
  testing::TempDir a, b;
  ::setenv("LRPFLOW_PLUGIN_PATH", (b.path().string() + ":/nonexistent/dir").c_str(), 1);
  const auto dirs = PluginRegistry::search_path({a.path()});
  ::unsetenv("LRPFLOW_PLUGIN_PATH");
  ASSERT_GE(dirs.size(), 2u);
  EXPECT_EQ(dirs[0], a.path());
  EXPECT_EQ(dirs[1], b.path());
  for (const auto& dir : dirs) EXPECT_NE(dir, fs::path("/nonexistent/dir"));  // missing env dirs are skipped
}

TEST(Registry, DidYouMean) {
  const std::vector<std::string> names = {"image_loader", "lrp", "heatmap_writer", "npy_writer"};
  EXPECT_EQ(did_you_mean("image_loadr", names), "image_loader");
  EXPECT_EQ(did_you_mean("hetmap_writer", names), "heatmap_writer");
  EXPECT_EQ(did_you_mean("LRP", names), "lrp");
  EXPECT_EQ(did_you_mean("completely_different", names), "");
}

}  // namespace
}  // namespace lrpflow
