// The fixture data in tests/fixtures/lrp are copies of ../shared/fixtures/lrp (the Zennit reference
// every developer and CI has beside the checkout): they must stay byte-identical, so that the
// agreement tests compare against the shared reference. A missing file on either side fails.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fixture_support.h"

namespace lrpflow::lrp {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(FixtureCopies, AreIdenticalToTheSharedReference) {
  const std::filesystem::path shared = LRPFLOW_SHARED_FIXTURE_DIR;
  ASSERT_TRUE(std::filesystem::is_directory(shared)) << "missing the shared fixtures at " << shared;
  for (const std::string case_name : {"tiny_cnn", "vgg16_narrow", "resnet_tiny"}) {
    for (const std::string file : {"model_scripted.pt", "model_traced.pt", "case.pt"}) {
      const auto ours = std::filesystem::path(testing::fixture_dir()) / case_name / file;
      const auto theirs = shared / case_name / file;
      const std::string a = read_all(ours), b = read_all(theirs);
      ASSERT_FALSE(a.empty()) << "missing or empty " << ours;
      ASSERT_FALSE(b.empty()) << "missing or empty " << theirs;
      EXPECT_TRUE(a == b) << ours << " differs from " << theirs << " (copy it again)";
    }
  }
}

}  // namespace
}  // namespace lrpflow::lrp
