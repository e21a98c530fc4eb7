// End-to-end tests of the `lrpflow` binary with the test plugins (--plugin-path).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <functional>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lrpflow/files.h"
#include "lrpflow/manifest.h"
#include "test_support.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CliResult lrpflow_cli(const std::vector<std::string>& args) {
  std::string command = quote(LRPFLOW_TEST_CLI) + " --plugin-path " + quote(LRPFLOW_TEST_PLUGIN_DIR);
  for (const std::string& arg : args) command += " " + quote(arg);
  command += " 2>&1";
  CliResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The id of a manifest's first item.
std::string first_item_id(const std::string& manifest_json) {
  return nlohmann::json::parse(manifest_json).at("items").at(0).at("id").get<std::string>();
}

// `lrpflow run FILE --out OUT` in a child process (output discarded); its pid, or -1.
pid_t start_run(const fs::path& file, const fs::path& out) {
  std::fflush(nullptr);  // or the child would flush the parent's buffered output a second time
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stderr);
    std::freopen("/dev/null", "w", stdout);
    ::execl(LRPFLOW_TEST_CLI, LRPFLOW_TEST_CLI, "--plugin-path", LRPFLOW_TEST_PLUGIN_DIR, "run", file.c_str(), "--out",
            out.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

void wait_for_file(const fs::path& path, std::chrono::seconds at_most) {
  const auto deadline = std::chrono::steady_clock::now() + at_most;
  while (!fs::exists(path) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

fs::path write_pipeline(const fs::path& dir, const std::string& body) {
  const fs::path file = dir / "pipeline.yaml";
  EXPECT_TRUE(write_file_atomic(file, body).is_ok());
  return file;
}

const char* kPipeline =
    "version: 1\n"
    "stages:\n"
    "  - id: src\n"
    "    type: test_source\n"
    "    options: {count: 25}\n"
    "  - id: write\n"
    "    type: test_writer\n"
    "runtime: {threads: 2}\n"
    "output: {dir: unused}\n";

TEST(Cli, RunWritesOutputsAndManifest) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  const fs::path out = dir.path() / "out";
  const CliResult r = lrpflow_cli({"run", file.string(), "--out", out.string(), "--threads", "2", "--max-in-flight", "4"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "25 ok, 0 failed of 25 items")) << r.output;
  EXPECT_TRUE(fs::exists(out / "items/item-024.txt"));
  auto manifest = read_manifest(out / "manifest.json");
  ASSERT_TRUE(manifest.is_ok()) << manifest.status().message();
  EXPECT_EQ(manifest.value().items.size(), 25u);
  EXPECT_EQ(manifest.value().run.max_in_flight, 4);
  EXPECT_EQ(manifest.value().run.pipeline_file, file.string());
  EXPECT_FALSE(fs::exists(dir.path() / "unused"));  // --out replaced output.dir
}

TEST(Cli, FailedItemsGiveExitCodeOneAndAreListed) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  const CliResult r = lrpflow_cli({"run", file.string(), "--out", (dir.path() / "out").string(), "-q", "--set",
                                   "stages.src.options.fail_load=[item-003, item-011]"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: item 'item-003' (count#3), stage 'src': cannot load count#3")) << r.output;
  EXPECT_TRUE(contains(r.output, "error: item 'item-011'")) << r.output;
  EXPECT_FALSE(contains(r.output, "mean ms")) << "-q hides the summary table:\n" << r.output;
}

TEST(Cli, ResumeSkipsCompletedItems) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  const std::string out = (dir.path() / "out").string();
  ASSERT_EQ(lrpflow_cli({"run", file.string(), "--out", out}).exit_code, 0);
  fs::remove(fs::path(out) / "items/item-010.txt");
  const CliResult r = lrpflow_cli({"run", file.string(), "--out", out, "--resume"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "1 ok, 0 failed, 24 already done (--resume) of 25 items")) << r.output;
  EXPECT_TRUE(fs::exists(fs::path(out) / "items/item-010.txt"));
}

TEST(Cli, ResumeWithChangedOverridesNeedsAllowChangedPipeline) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  const std::string out = (dir.path() / "out").string();
  ASSERT_EQ(lrpflow_cli({"run", file.string(), "--out", out, "-q"}).exit_code, 0);
  fs::remove(fs::path(out) / "items/item-010.txt");
  const std::string changed = "stages.write.options.slot=value";

  const CliResult refused = lrpflow_cli({"run", file.string(), "--out", out, "--resume", "--set", changed});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "cannot resume: 25 items in " + out + "/manifest.json were done with another "
                                       "pipeline or other --set values")) << refused.output;
  EXPECT_FALSE(fs::exists(fs::path(out) / "items/item-010.txt"));

  const CliResult without_resume = lrpflow_cli({"run", file.string(), "--out", out, "--allow-changed-pipeline"});
  EXPECT_EQ(without_resume.exit_code, 2) << without_resume.output;
  EXPECT_TRUE(contains(without_resume.output, "--allow-changed-pipeline: only meaningful with --resume")) << without_resume.output;

  const CliResult allowed =
      lrpflow_cli({"run", file.string(), "--out", out, "--resume", "--allow-changed-pipeline", "--set", changed});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_TRUE(contains(allowed.output, "1 ok, 0 failed, 24 already done (--resume) of 25 items")) << allowed.output;
  auto manifest = read_manifest(fs::path(out) / "manifest.json");
  ASSERT_TRUE(manifest.is_ok()) << manifest.status().message();
  EXPECT_EQ(manifest.value().configurations.size(), 2u);
  // The report says it too.
  std::ifstream index(fs::path(out) / "report/index.html");
  const std::string html((std::istreambuf_iterator<char>(index)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(html, "come from 2 configurations")) << html.substr(0, 2000);
}

TEST(Cli, InvalidPipelineGivesExitCodeTwoWithPositions) {
  testing::TempDir dir;
  std::string text = kPipeline;
  text.replace(text.find("count: 25"), 9, "cuont: 25");
  const fs::path file = write_pipeline(dir.path(), text);
  const CliResult r = lrpflow_cli({"run", file.string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, file.string() + ":5:15: error: stage 'src': unknown option 'cuont' (did you mean 'count'?)"))
      << r.output;
}

TEST(Cli, DedicatedFlagsAreCheckedLikeOverrides) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  // Options may also come before FILE; --threads 0 is reported as coming from the flag.
  const CliResult r = lrpflow_cli({"run", "--set", "runtime.on_error=fail", file.string(), "--threads", "0"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--threads 0: error: runtime: 'threads' must be between 1 and 4096, got 0")) << r.output;
}

TEST(Cli, ValidateReportsEveryProblemOrOk) {
  testing::TempDir dir;
  const fs::path good = write_pipeline(dir.path(), kPipeline);
  const CliResult ok = lrpflow_cli({"validate", good.string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(contains(ok.output, good.string() + ": ok")) << ok.output;

  const CliResult bad = lrpflow_cli({"validate", good.string(), "--set", "stages.write.type=test_wrtier", "--set",
                                     "runtime.on_error=explode"});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_TRUE(contains(bad.output, "--set stages.write.type=test_wrtier: error: stage 'write': unknown stage type "
                                   "'test_wrtier' (did you mean 'test_writer'?)"))
      << bad.output;
  EXPECT_TRUE(contains(bad.output, "--set runtime.on_error=explode: error: runtime: option 'on_error'")) << bad.output;

  const CliResult missing = lrpflow_cli({"validate", (dir.path() / "nope.yaml").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.output, (dir.path() / "nope.yaml").string() +
                                           ": error: cannot read the pipeline: no such file"))
      << missing.output;
}

// One pass finds problems of every kind: a failing resource, a stage option, a stage whose open()
// fails; each at its line, in file order. A stage that needs the failed resource says nothing more,
// and the stages validate opened are closed with nothing_ran, writing nothing.
TEST(Cli, ValidateOpensResourcesAndStagesAndReportsEverythingInOnePass) {
  testing::TempDir dir;
  const fs::path marker = dir.path() / "closed.txt";
  const fs::path file = write_pipeline(dir.path(),
                                       "version: 1\n"                                                       // 1
                                       "resources:\n"                                                       // 2
                                       "  k: {type: test_constant, options: {value: 1, fail: true}}\n"      // 3
                                       "stages:\n"                                                          // 4
                                       "  - id: src\n"                                                      // 5
                                       "    type: test_source\n"                                            // 6
                                       "    options: {count: 2, prefx: a}\n"                                // 7
                                       "  - id: broken\n"                                                   // 8
                                       "    type: test_open_fails\n"                                        // 9
                                       "  - id: uses_k\n"                                                   // 10
                                       "    type: test_writer\n"                                            // 11
                                       "    options: {resource: k}\n"                                       // 12
                                       "  - id: probe\n"                                                    // 13
                                       "    type: test_close_probe\n"                                       // 14
                                       "    options: {marker: " + marker.string() + "}\n"                  // 15
                                       "output: {dir: " + (dir.path() / "out").string() + "}\n");
  const CliResult r = lrpflow_cli({"validate", file.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string resource = file.string() + ":3:3: error: resource 'k' (test_constant): deliberately failing resource";
  const std::string option = file.string() + ":7:";
  const std::string open = file.string() + ":8:5: error: stage 'broken' (test_open_fails): deliberately failing open";
  ASSERT_TRUE(contains(r.output, resource)) << r.output;
  ASSERT_TRUE(contains(r.output, option + "25: error: stage 'src': unknown option 'prefx'")) << r.output;
  ASSERT_TRUE(contains(r.output, open)) << r.output;
  EXPECT_LT(r.output.find(resource), r.output.find(option)) << r.output;
  EXPECT_LT(r.output.find(option), r.output.find(open)) << r.output;
  EXPECT_FALSE(contains(r.output, "uses_k")) << r.output;
  auto closed = read_file(marker);
  ASSERT_TRUE(closed) << closed.status().message();
  EXPECT_EQ(closed.value(), "closed nothing_ran=1\n");
  EXPECT_FALSE(fs::exists(dir.path() / "out"));
}

// Resources that could not even be parsed (not a map, an unknown type) count as failed: one that
// needs them says so, and stages that use them are not opened; a wrong resource name in a stage
// does not hide the slot checks.
TEST(Cli, ValidateReportsResourcesThatFailedToParseWithoutCascading) {
  testing::TempDir dir;
  const std::string stages =
      "stages:\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: 2}\n"
      "  - id: write\n"
      "    type: test_writer\n"
      "    options: {resource: b}\n";
  for (const std::string& broken : {std::string("a: not-a-map"), std::string("a: {type: test_constnat}")}) {
    const fs::path file = write_pipeline(dir.path(), "version: 1\nresources:\n  " + broken +
                                                         "\n  b: {type: test_constant, options: {value: 1, depends_on: a}}\n" +
                                                         stages);
    const CliResult r = lrpflow_cli({"validate", file.string()});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, file.string() + ":3:")) << r.output;
    EXPECT_TRUE(contains(r.output, file.string() + ":4:3: error: resource 'b' (test_constant): needs resource 'a', which "
                                                   "could not be opened"))
        << r.output;
    EXPECT_FALSE(contains(r.output, "not declared")) << r.output;
    EXPECT_FALSE(contains(r.output, "stage 'write'")) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 2) << r.output;
  }
}

TEST(Cli, PluginsAndInspect) {
  const CliResult plugins = lrpflow_cli({"plugins"});
  EXPECT_EQ(plugins.exit_code, 0) << plugins.output;
  EXPECT_TRUE(contains(plugins.output, "test_source")) << plugins.output;
  EXPECT_TRUE(contains(plugins.output, "framework_test")) << plugins.output;
  EXPECT_TRUE(contains(plugins.output, "Counts from 0 to count-1")) << plugins.output;
  EXPECT_TRUE(contains(plugins.output, "test_constant")) << plugins.output;

  const CliResult inspect = lrpflow_cli({"inspect", "test_writer"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "stage type test_writer")) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "slot ")) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "value (text)")) << inspect.output;  // the slot it reads by default

  const CliResult resource = lrpflow_cli({"inspect", "test_constant"});
  EXPECT_TRUE(contains(resource.output, "(required)")) << resource.output;

  const CliResult unknown = lrpflow_cli({"inspect", "test_sourse"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.output, "did you mean 'test_source'?")) << unknown.output;
}

TEST(Cli, PluginsListsSkippedLibrariesAsWarnings) {
  const CliResult r = lrpflow_cli({"--plugin-path", LRPFLOW_TEST_BAD_PLUGIN_DIR, "plugins"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "warning: skipped: ")) << r.output;
  EXPECT_TRUE(contains(r.output, "framework_test_wrong_version.so: plugin built for lrpflow plugin API version 999"))
      << r.output;
}

// exit(0) from a plugin's static constructor must not pass for success.
TEST(Cli, PluginThatExitsWhileLoadingFailsTheCommand) {
  const CliResult r = lrpflow_cli({"--plugin-path", LRPFLOW_TEST_EXIT_PLUGIN_DIR, "plugins"});
  EXPECT_EQ(r.exit_code, 70) << r.output;
  EXPECT_TRUE(contains(r.output, std::string("plugin ") + LRPFLOW_TEST_EXIT_PLUGIN_DIR +
                                     "/framework_test_exits_on_load.so called exit() while it was being loaded"))
      << r.output;
}

TEST(Cli, RulesetsListsWhatANameFindsWithItsFile) {
  testing::TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir / "epsilon.yaml", "description: my own epsilon\nrules: []\n").is_ok());
  ASSERT_TRUE(write_file_atomic(dir / "broken.yaml", "rules: [unclosed\n").is_ok());
  ::setenv("LRPFLOW_RULESET_PATH", dir.path().c_str(), 1);
  const CliResult r = lrpflow_cli({"rulesets"});
  ::unsetenv("LRPFLOW_RULESET_PATH");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // The user's folder is searched first, so its epsilon.yaml wins over the shipped one, which it hides.
  const std::string mine = (dir / "epsilon.yaml").string();
  EXPECT_TRUE(contains(r.output, "  epsilon ")) << r.output;
  EXPECT_TRUE(contains(r.output, mine + "\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "my own epsilon")) << r.output;
  EXPECT_TRUE(contains(r.output, "hides ")) << r.output;
  EXPECT_TRUE(contains(r.output, "configs/rulesets/epsilon.yaml")) << r.output;
  EXPECT_LT(r.output.find(dir.path().string() + "\n"), r.output.find("configs/rulesets\n")) << r.output;
  // A file that would fail when named says so; the shipped sets are listed too.
  EXPECT_TRUE(contains(r.output, (dir / "broken.yaml").string())) << r.output;
  EXPECT_TRUE(contains(r.output, "invalid: ")) << r.output;
  EXPECT_TRUE(contains(r.output, "  epsilon_plus_flat ")) << r.output;
}

// An empty value must not pass for "not given": `--out ''` would write into output.dir instead.
TEST(Cli, EmptyOutAndShardValuesAreUsageErrors) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", file.string(), "--out", ""}, {"run", file.string(), "--shard", ""},
        {"explain", "model.pt", "in.npy", "--rules", "epsilon", "--out", ""}, {"merge", ""}, {"report", ""}}) {
    const CliResult r = lrpflow_cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "the value is empty")) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "out")) << "nothing ran";
}

TEST(Cli, UsageErrorsGiveExitCodeTwo) {
  EXPECT_EQ(lrpflow_cli({}).exit_code, 2);
  EXPECT_EQ(lrpflow_cli({"run"}).exit_code, 2);
  EXPECT_EQ(lrpflow_cli({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(lrpflow_cli({"--help"}).exit_code, 0);
  const CliResult bad_set = lrpflow_cli({"validate", "x.yaml", "--set", "no-equals-sign"});
  EXPECT_EQ(bad_set.exit_code, 2);
  EXPECT_TRUE(contains(bad_set.output, "expected key=value")) << bad_set.output;
}

TEST(Cli, SigintStopsCleanlyWithExitCode130) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(),
                                       "version: 1\n"
                                       "stages:\n"
                                       "  - id: src\n"
                                       "    type: test_source\n"
                                       "    options: {count: 2000}\n"
                                       "  - id: slow\n"
                                       "    type: test_slow\n"
                                       "    options: {sleep_ms: 5}\n"
                                       "  - id: write\n"
                                       "    type: test_writer\n"
                                       "runtime: {threads: 1, max_in_flight: 2}\n");
  const fs::path out = dir.path() / "out";
  const pid_t pid = start_run(file, out);
  ASSERT_GE(pid, 0);
  // Wait until items are being written, then interrupt.
  wait_for_file(out / "items/item-010.txt", std::chrono::seconds(20));
  ::kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto manifest = read_manifest(out / "manifest.json");
  ASSERT_TRUE(manifest.is_ok()) << manifest.status().message();
  EXPECT_EQ(manifest.value().run.state, "interrupted");
  EXPECT_GE(manifest.value().items.size(), 10u);
  EXPECT_LT(manifest.value().items.size(), 2000u);
  for (const ManifestItem& item : manifest.value().items) EXPECT_TRUE(outputs_exist(item, out)) << item.id;
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }
}

TEST(Cli, SecondSigintQuitsWithAnInterruptedManifestOfWhatIsDone) {
  testing::TempDir dir;
  // Items are written, then sit 1.5 s in the slow stage: a clean stop would wait for them.
  const fs::path file = write_pipeline(dir.path(),
                                       "version: 1\n"
                                       "stages:\n"
                                       "  - id: src\n"
                                       "    type: test_source\n"
                                       "    options: {count: 50}\n"
                                       "  - id: write\n"
                                       "    type: test_writer\n"
                                       "  - id: slow\n"
                                       "    type: test_slow\n"
                                       "    options: {sleep_ms: 1500}\n"
                                       "runtime: {threads: 2, max_in_flight: 2}\n");
  const fs::path out = dir.path() / "out";
  const pid_t pid = start_run(file, out);
  ASSERT_GE(pid, 0);
  // Items 0-1 are recorded once item 4 is written (the first manifest after the start lists none).
  wait_for_file(out / "items/item-004.txt", std::chrono::seconds(30));
  ::kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGINT);  // do not wait for the items in flight
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto manifest = read_manifest(out / "manifest.json");
  ASSERT_TRUE(manifest.is_ok()) << manifest.status().message();
  EXPECT_EQ(manifest.value().run.state, "interrupted");
  EXPECT_GE(manifest.value().items.size(), 2u);  // items 0 and 1 had passed every stage
  EXPECT_LT(manifest.value().items.size(), 50u);
  for (const ManifestItem& item : manifest.value().items) EXPECT_TRUE(outputs_exist(item, out)) << item.id;
  EXPECT_FALSE(fs::exists(out / ".lock"));
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }
}

TEST(Cli, AliasesInSetValuesAreAnErrorNotACrash) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  for (const std::string command : {"validate", "run"}) {
    std::vector<std::string> args = {command, file.string(), "--set", "runtime.x=&a [*a]"};
    if (command == "run") args.insert(args.end(), {"--out", (dir.path() / "out").string()});
    const CliResult r = lrpflow_cli(args);
    EXPECT_EQ(r.exit_code, command == "run" ? 2 : 1) << command << ": " << r.output;  // an invalid pipeline
    EXPECT_TRUE(contains(r.output, "--set runtime.x=&a [*a]: error: the value is refused: anchors and aliases"))
        << command << ": " << r.output;
  }
}

TEST(Cli, ShardsRunWithOtherThreadCountsMergeAndAWrongCountSaysWhatIsThere) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  const fs::path out = dir.path() / "out";
  // Thread counts do not change outputs: the shards are one run, whatever each was given.
  const CliResult first = lrpflow_cli({"run", file.string(), "--out", out.string(), "--shard", "0/2", "--threads", "1", "-q"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const CliResult second = lrpflow_cli({"run", file.string(), "--out", out.string(), "--shard", "1/2", "--threads", "3",
                                        "--max-in-flight", "5", "--set", "runtime.intra_op_threads=2", "-q"});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const CliResult wrong = lrpflow_cli({"merge", out.string(), "--count", "1234567890", "--no-report"});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_TRUE(contains(wrong.output, "--count 1234567890: " + out.string() + " holds no manifest of a run with 1234567890 "
                                     "shards (its shard manifests are of a run with 2 shards)"))
      << wrong.output;
  const CliResult merged = lrpflow_cli({"merge", out.string(), "--no-report"});
  EXPECT_EQ(merged.exit_code, 0) << merged.output;
  EXPECT_TRUE(contains(merged.output, "merged 25 items (0 failed)")) << merged.output;
}

TEST(Cli, MergeRefusesShardManifestPathsOutsideTheFolderAndWritesNothing) {
  testing::TempDir dir;
  const fs::path file = write_pipeline(dir.path(), kPipeline);
  const fs::path out = dir.path() / "a/b";  // out/../.. is dir
  for (const char* shard : {"0/2", "1/2"}) {
    ASSERT_EQ(lrpflow_cli({"run", file.string(), "--out", out.string(), "--shard", shard, "-q"}).exit_code, 0);
  }
  const fs::path shard0 = out / "manifest.shard-0-of-2.json";
  const std::string original = read_file(shard0).value();
  // A per-shard CSV that merge would read and combine into dir/x.csv, outside the folder.
  ASSERT_TRUE(write_file_atomic(dir.path() / "x.shard-0-of-2.csv", "layer,selector,k,n,items,mse\nL,s,1,1,2,0.5\n").is_ok());

  const auto edited = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(original);
    edit(j);
    ASSERT_TRUE(write_file_atomic(shard0, j.dump(2)).is_ok());
  };
  const auto refused = [&](const std::string& entry) {
    const CliResult r = lrpflow_cli({"merge", out.string(), "--no-report"});
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, shard0.string() + ": " + entry)) << r.output;
    EXPECT_FALSE(fs::exists(out / "manifest.json"));
    EXPECT_FALSE(fs::exists(dir.path() / "x.csv"));
  };
  edited([](nlohmann::json& j) { j["run_outputs"]["fidelity_csv"] = {"../../x.shard-0-of-2.csv"}; });
  refused("run output fidelity_csv: '../../x.shard-0-of-2.csv' leads out of");
  edited([](nlohmann::json& j) { j["items"][0]["outputs"]["text"] = {"/etc/passwd"}; });
  refused("item '" + first_item_id(original) + "', output text: '/etc/passwd' is an absolute path");
  // As the shards wrote them, they merge.
  ASSERT_TRUE(write_file_atomic(shard0, original).is_ok());
  const CliResult merged = lrpflow_cli({"merge", out.string(), "--no-report"});
  EXPECT_EQ(merged.exit_code, 0) << merged.output;
  EXPECT_TRUE(fs::exists(out / "manifest.json"));
}

TEST(Cli, MergeHelpShowsNoReportAsAPlainFlag) {
  const CliResult help = lrpflow_cli({"merge", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(contains(help.output, "--no-report")) << help.output;
  EXPECT_FALSE(contains(help.output, "{false}")) << help.output;
}

}  // namespace
}  // namespace lrpflow
