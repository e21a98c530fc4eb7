// Writing files: no half-written file under a real name, durability paid once per batch, and a
// run that flushes the batch before each manifest that lists it.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "lrpflow/files.h"
#include "lrpflow/manifest.h"
#include "lrpflow/runtime.h"
#include "lrpflow/image/png.h"
#include "test_support.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

std::vector<fs::path> temporaries_in(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) found.push_back(entry.path());
  }
  return found;
}

// What a library writer (cv::imwrite and the like) does with the temporary path it is given.
Status put(const fs::path& tmp, const char* text) {
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::error("cannot open the temporary");
  std::fputs(text, f);
  std::fclose(f);
  return Status::ok();
}

TEST(Files, AWriteIsWholeUnderItsNameAndAwaitsOneFlush) {
  testing::TempDir dir;
  const fs::path a = dir.path() / "sub/a.txt";
  const fs::path b = dir.path() / "b.txt";
  ASSERT_TRUE(write_file_atomic(a, "alpha").is_ok());
  ASSERT_TRUE(write_file_atomic(b, "beta").is_ok());
  EXPECT_EQ(read_file(a).value(), "alpha");
  EXPECT_EQ(read_file(b).value(), "beta");
  EXPECT_TRUE(temporaries_in(dir.path()).empty());
  // Complete, but durable only after the batch's flush.
  EXPECT_TRUE(awaiting_flush(a));
  EXPECT_TRUE(awaiting_flush(b));
  ASSERT_TRUE(flush_written_files().is_ok());
  EXPECT_FALSE(awaiting_flush(a));
  EXPECT_FALSE(awaiting_flush(b));
}

TEST(Files, WritersGetATemporaryBesideTheFileAndTheNameAppearsOnlyWhenDone) {
  testing::TempDir dir;
  const fs::path path = dir.path() / "picture.png";
  fs::path seen_tmp;
  bool name_existed_during_write = true;
  const Status written = write_file_atomic_with(path, [&](const fs::path& tmp) -> Status {
    seen_tmp = tmp;
    name_existed_during_write = fs::exists(path);
    return put(tmp, "png bytes");
  });
  ASSERT_TRUE(written.is_ok()) << written.message();
  EXPECT_NE(seen_tmp, path);
  EXPECT_EQ(seen_tmp.parent_path(), path.parent_path());  // same filesystem: rename is atomic
  EXPECT_EQ(seen_tmp.extension(), ".png");                // extension-driven writers still work
  EXPECT_FALSE(name_existed_during_write);
  EXPECT_EQ(read_file(path).value(), "png bytes");
  EXPECT_FALSE(fs::exists(seen_tmp));
  EXPECT_TRUE(awaiting_flush(path));
  ASSERT_TRUE(flush_written_files().is_ok());
}

TEST(Files, AFailedWriteLeavesNoFileUnderTheRealNameAndKeepsTheOldOne) {
  testing::TempDir dir;
  const fs::path fresh = dir.path() / "fresh.bin";
  const fs::path existing = dir.path() / "existing.bin";
  ASSERT_TRUE(write_file_atomic(existing, "old content").is_ok());
  // An injected failure halfway through: part of the bytes are in the temporary.
  auto half_then_fail = [](const fs::path& tmp) -> Status {
    LRPFLOW_RETURN_IF_ERROR(put(tmp, "half"));
    return Status::error("injected write failure");
  };
  const Status failed = write_file_atomic_with(fresh, half_then_fail);
  EXPECT_FALSE(failed.is_ok());
  EXPECT_NE(failed.message().find("injected write failure"), std::string::npos) << failed.message();
  EXPECT_FALSE(fs::exists(fresh));
  EXPECT_FALSE(awaiting_flush(fresh));
  EXPECT_FALSE(write_file_atomic_with(existing, half_then_fail).is_ok());
  EXPECT_EQ(read_file(existing).value(), "old content");
  // A writer that throws is a failed write too.
  EXPECT_FALSE(write_file_atomic_with(fresh, [](const fs::path& tmp) -> Status {
                 (void)put(tmp, "partial");
                 throw std::runtime_error("encoder crashed");
               }).is_ok());
  EXPECT_FALSE(fs::exists(fresh));
  EXPECT_TRUE(temporaries_in(dir.path()).empty());
  ASSERT_TRUE(flush_written_files().is_ok());
}

// A file-size limit (RLIMIT_FSIZE) cuts writes short the way a full disk does: write(2) fails
// part-way (EFBIG here, ENOSPC on a full disk; tests/framework/full_disk_test.sh has the real one).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_signal_ = std::signal(SIGXFSZ, SIG_IGN);  // an error from write(2) instead of a killed process
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit limit = old_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_signal_);
  }

 private:
  rlimit old_{};
  void (*old_signal_)(int) = nullptr;
};

TEST(Files, AShortWriteIsAnErrorNamingTheFileAndNothingIsRenamed) {
  testing::TempDir dir;
  const fs::path text = dir.path() / "big.txt";
  const fs::path png = dir.path() / "big.png";
  // Incompressible, so its PNG has far more than 200 bytes, but less than a stdio buffer (4 KiB):
  // cv::imwrite's fwrite() calls then all "succeed" and the failure at fclose() goes unnoticed.
  cv::Mat noise(20, 20, CV_8UC3);
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(255));
  Status text_written, png_written;
  {
    FileSizeLimit limit(200);
    text_written = write_file_atomic(text, std::string(1000, 'x'));
    png_written = write_png_atomic(png, noise);
  }
  ASSERT_FALSE(text_written.is_ok());
  EXPECT_NE(text_written.message().find(text.string()), std::string::npos) << text_written.message();
  EXPECT_NE(text_written.message().find(std::strerror(EFBIG)), std::string::npos) << text_written.message();
  ASSERT_FALSE(png_written.is_ok()) << "cv::imwrite reports success on a short write";
  EXPECT_NE(png_written.message().find(png.string()), std::string::npos) << png_written.message();
  EXPECT_FALSE(fs::exists(text));
  EXPECT_FALSE(fs::exists(png));
  EXPECT_TRUE(temporaries_in(dir.path()).empty());
  // Without the limit the same writes succeed, whole.
  ASSERT_TRUE(write_file_atomic(text, std::string(1000, 'x')).is_ok());
  ASSERT_TRUE(write_png_atomic(png, noise).is_ok());
  EXPECT_EQ(fs::file_size(text), 1000u);
  EXPECT_GT(fs::file_size(png), 200u);
  EXPECT_LT(fs::file_size(png), 4096u);
  ASSERT_TRUE(flush_written_files().is_ok());
}

TEST(Files, TemporaryNamesAreRecognisedWithTheirWriter) {
  EXPECT_EQ(temporary_writer_pid("items/a/a.heatmap.tmp-123-4.png"), 123);
  EXPECT_EQ(temporary_writer_pid("manifest.tmp-9-0.json"), 9);
  EXPECT_EQ(temporary_writer_pid("noext.tmp-77-1"), 77);
  // Look-alikes are someone else's files.
  EXPECT_FALSE(temporary_writer_pid("a.tmp-123.png"));
  EXPECT_FALSE(temporary_writer_pid("a.tmp-x-1.png"));
  EXPECT_FALSE(temporary_writer_pid("a.tmp-1-2.png.bak"));
  EXPECT_FALSE(temporary_writer_pid(".tmp-1-2.png"));
  EXPECT_FALSE(temporary_writer_pid("a.png"));
  // What write_file_atomic actually names its temporary is recognised.
  testing::TempDir dir;
  fs::path seen;
  ASSERT_TRUE(write_file_atomic_with(dir.path() / "x.heatmap.png", [&](const fs::path& tmp) {
                seen = tmp;
                return put(tmp, "x");
              }).is_ok());
  EXPECT_EQ(temporary_writer_pid(seen), static_cast<long>(::getpid())) << seen;
  ASSERT_TRUE(flush_written_files().is_ok());
}

TEST(Files, ResolveInsideKeepsManifestPathsInTheFolder) {
  testing::TempDir dir;
  const fs::path run = dir.path() / "run";
  fs::create_directories(run / "items");
  fs::create_directories(dir.path() / "elsewhere");
  fs::create_directory_symlink(dir.path() / "elsewhere", run / "escape");
  fs::create_directory_symlink("items", run / "alias");  // a symlink that stays inside is fine

  EXPECT_EQ(resolve_inside(run, "items/a.png").value(), run / "items/a.png");
  EXPECT_EQ(resolve_inside(run, "items/../b.png").value(), run / "b.png");
  EXPECT_TRUE(resolve_inside(run, "alias/a.png").is_ok());
  EXPECT_TRUE(resolve_inside(run, "not/yet/written.png").is_ok());

  const auto refused = [&](const std::string& path, const std::string& why) {
    const Result<fs::path> r = resolve_inside(run, path);
    ASSERT_FALSE(r.is_ok()) << path;
    EXPECT_NE(r.status().message().find("'" + path + "'"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
  };
  refused("/etc/passwd", "absolute");
  refused("../x", "leads out of");
  refused("../../x", "leads out of");
  refused("items/../../x", "leads out of");
  refused("escape/x.png", "through a symlink");
  refused("escape", "through a symlink");
  EXPECT_FALSE(resolve_inside(run, "").is_ok());
  EXPECT_FALSE(resolve_inside(run, ".").is_ok());
}

TEST(Files, AQuittingProcessRemovesTheTemporariesOfUnfinishedWrites) {
  testing::TempDir dir;
  const fs::path path = dir.path() / "slow.png";
  const Status written = write_file_atomic_with(path, [&](const fs::path& tmp) -> Status {
    LRPFLOW_RETURN_IF_ERROR(put(tmp, "half"));
    remove_unfinished_temporaries();  // what a second Ctrl-C does while this write is under way
    EXPECT_FALSE(fs::exists(tmp));
    return Status::ok();
  });
  EXPECT_FALSE(written.is_ok());
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(temporaries_in(dir.path()).empty());
  // Finished writes are not touched.
  ASSERT_TRUE(write_file_atomic(path, "whole").is_ok());
  remove_unfinished_temporaries();
  EXPECT_EQ(read_file(path).value(), "whole");
  ASSERT_TRUE(flush_written_files().is_ok());
}

TEST(Files, FlushingAfterTheFolderWasRemovedIsNotAnError) {
  fs::path gone;
  {
    testing::TempDir dir;
    gone = dir.path() / "x/y.txt";
    ASSERT_TRUE(write_file_atomic(gone, "y").is_ok());
  }
  ASSERT_FALSE(fs::exists(gone));
  EXPECT_TRUE(flush_written_files().is_ok());
  EXPECT_FALSE(awaiting_flush(gone));
}

// The runtime's guarantee: every file a manifest on disk lists was flushed before that manifest
// was written. A probe stage reads the manifest while the run goes on (rewritten after every item).
TEST(Durability, EveryFileAManifestListsWasFlushedBeforeIt) {
  testing::TempDir out;
  const std::string yaml =
      "version: 1\n"
      "stages:\n"
      "  - id: src\n"
      "    type: test_source\n"
      "    options: {count: 30}\n"
      "  - id: write\n"
      "    type: test_writer\n"
      "  - id: probe\n"
      "    type: test_manifest_probe\n"
      "runtime: {threads: 2, max_in_flight: 4}\n";
  PipelineLoad load = testing::parse(yaml, {{"output.dir", out.path().string(), "--out", true}});
  ASSERT_TRUE(load.ok()) << testing::all_messages(load);
  RunOptions options;
  options.manifest_interval_s = 0;  // a checkpoint after every item
  auto report = run_pipeline(*load.pipeline, testing::test_registry(), options);
  ASSERT_TRUE(report.is_ok()) << report.status().message();
  ASSERT_EQ(report.value().items_ok, 30);
  auto manifest = read_manifest(out.path() / "manifest.json");
  ASSERT_TRUE(manifest.is_ok()) << manifest.status().message();
  double listed_seen = 0;
  for (const ManifestItem& item : manifest.value().items) {
    EXPECT_EQ(item.metrics.at("unflushed_listed"), 0.0) << item.id;
    listed_seen += item.metrics.at("listed_items");
    EXPECT_TRUE(outputs_exist(item, out.path())) << item.id;
    for (const OutputFile& output : item.outputs) EXPECT_FALSE(awaiting_flush(out.path() / output.path)) << output.path;
  }
  EXPECT_GT(listed_seen, 0.0) << "the probe never saw a manifest with items: the test tested nothing";
  EXPECT_FALSE(awaiting_flush(out.path() / "manifest.json"));  // the final manifest is durable too
}

}  // namespace
}  // namespace lrpflow
