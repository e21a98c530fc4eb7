// Log levels, the status line, and the run summary.
#include <gtest/gtest.h>

#include "lrpflow/log.h"
#include "lrpflow/progress.h"

namespace lrpflow {
namespace {

class Log : public ::testing::Test {
 protected:
  void TearDown() override { set_log_level(LogLevel::Info); }
};

TEST_F(Log, LevelsFilterAndPrefixMessages) {
  set_log_level(LogLevel::Warn);  // -q
  ::testing::internal::CaptureStderr();
  log_error("e");
  log_warn("w");
  log_info("i");
  log_debug("d");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "error: e\nwarning: w\n");
  set_log_level(LogLevel::Debug);  // -v
  ::testing::internal::CaptureStderr();
  log_info("i");
  log_debug("d");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "i\ndebug: d\n");
}

TEST_F(Log, MessagesEraseAndRedrawTheStatusLine) {
  ::testing::internal::CaptureStderr();
  set_status_line("[1/2]");
  log_info("hello");
  clear_status_line();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "[1/2]\r\033[Khello\n[1/2]\r\033[K");
}

TEST_F(Log, DurationsAreReadable) {
  EXPECT_EQ(format_duration(3.24), "3.2 s");
  EXPECT_EQ(format_duration(245), "4 min 05 s");
  EXPECT_EQ(format_duration(3720), "1 h 02 min");
  EXPECT_EQ(format_duration(-1), "0.0 s");
}

TEST_F(Log, SummaryListsTwentyErrorsThenCounts) {
  RunReport report;
  report.items_total = 30;
  report.items_ok = 5;
  report.items_failed = 25;
  report.manifest_path = "out/manifest.json";
  report.stages = {{"load", "image_loader", 30, 1.5, 2.25}};  // columns: id (min width 5), then 10 wide
  for (int i = 0; i < 25; ++i) report.errors.push_back({"item" + std::to_string(i), "src" + std::to_string(i), "load", "bad"});
  ::testing::internal::CaptureStderr();
  print_run_summary(report);
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("load          30       1.50       2.25"), std::string::npos) << out;
  EXPECT_NE(out.find("error: item 'item19' (src19), stage 'load': bad"), std::string::npos) << out;
  EXPECT_EQ(out.find("item 'item20'"), std::string::npos) << out;
  EXPECT_NE(out.find("error: ... and 5 more (see out/manifest.json)"), std::string::npos) << out;
  EXPECT_NE(out.find("5 ok, 25 failed of 30 items"), std::string::npos) << out;
}

}  // namespace
}  // namespace lrpflow
