#include <gtest/gtest.h>

#include <map>
#include <set>

#include "lrpflow/shard.h"

namespace lrpflow {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Shard, EveryItemInExactlyOneShard) {
  for (std::int64_t items : {0, 1, 7, 100}) {
    for (std::int64_t n : {1, 2, 3, 8, 150}) {
      std::map<std::int64_t, int> owners;
      for (std::int64_t i = 0; i < n; ++i) {
        auto shard = parse_shard(std::to_string(i) + "/" + std::to_string(n), env_of({}));
        ASSERT_TRUE(shard) << shard.status().message();
        for (std::int64_t k = 0; k < items; ++k)
          if (shard.value().contains(k)) ++owners[k];
      }
      EXPECT_EQ(static_cast<std::int64_t>(owners.size()), items);
      for (const auto& [k, count] : owners) EXPECT_EQ(count, 1) << "item " << k << " with N=" << n;
    }
  }
}

TEST(Shard, SizesDifferByAtMostOne) {
  std::set<std::int64_t> sizes;
  for (int i = 0; i < 3; ++i) {
    auto shard = parse_shard(std::to_string(i) + "/3", env_of({}));
    std::int64_t size = 0;
    for (int k = 0; k < 10; ++k) size += shard.value().contains(k) ? 1 : 0;
    sizes.insert(size);
  }
  EXPECT_EQ(sizes, (std::set<std::int64_t>{3, 4}));
}

TEST(Shard, MalformedValuesAreErrors) {
  for (const char* bad : {"3/2", "2/2", "-1/4", "x/y", "1", "1/0", "/4", "1/", "auto/x", ""}) {
    auto shard = parse_shard(bad, env_of({}));
    EXPECT_FALSE(shard) << bad;
  }
  EXPECT_NE(parse_shard("3/2", env_of({})).status().message().find("outside 0..1"), std::string::npos);
}

TEST(Shard, ManifestNames) {
  EXPECT_EQ(parse_shard("0/1", env_of({})).value().manifest_name(), "manifest.json");
  EXPECT_EQ(parse_shard("2/8", env_of({})).value().manifest_name(), "manifest.shard-2-of-8.json");
}

TEST(Shard, AutoFromSlurm) {
  auto s = parse_shard("auto", env_of({{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}));
  ASSERT_TRUE(s) << s.status().message();
  EXPECT_EQ(s.value().index, 3);
  EXPECT_EQ(s.value().count, 4);
  EXPECT_NE(s.value().source.find("SLURM"), std::string::npos);
  // Without TASK_COUNT, the array's min and max (an array 1-4 gives shards 0..3).
  auto minmax = parse_shard("auto", env_of({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_MAX", "4"}}));
  ASSERT_TRUE(minmax) << minmax.status().message();
  EXPECT_EQ(minmax.value().index, 0);
  EXPECT_EQ(minmax.value().count, 4);
}

TEST(Shard, AutoFromMpiAndKubernetes) {
  auto mpi = parse_shard("auto", env_of({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}}));
  ASSERT_TRUE(mpi);
  EXPECT_EQ(mpi.value().index, 1);
  auto pmi = parse_shard("auto", env_of({{"PMI_RANK", "0"}, {"PMI_SIZE", "3"}}));
  ASSERT_TRUE(pmi);
  EXPECT_EQ(pmi.value().count, 3);
  auto k8s = parse_shard("auto/5", env_of({{"JOB_COMPLETION_INDEX", "4"}}));
  ASSERT_TRUE(k8s) << k8s.status().message();
  EXPECT_EQ(k8s.value().index, 4);
  EXPECT_EQ(k8s.value().count, 5);
  EXPECT_FALSE(parse_shard("auto", env_of({{"JOB_COMPLETION_INDEX", "4"}})));  // count missing
  EXPECT_FALSE(parse_shard("auto/5", env_of({{"JOB_COMPLETION_INDEX", "5"}}))); // index out of range
}

TEST(Shard, AutoWithoutSchedulerIsAClearError) {
  auto none = parse_shard("auto", env_of({}));
  ASSERT_FALSE(none);
  EXPECT_NE(none.status().message().find("SLURM_ARRAY_TASK_ID"), std::string::npos);
  EXPECT_FALSE(parse_shard("auto", env_of({{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "4"}})));
}

}  // namespace
}  // namespace lrpflow
