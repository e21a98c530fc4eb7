#include "lrpflow/shard.h"

#include <cctype>
#include <cstdlib>

namespace lrpflow {

namespace {

std::optional<std::int64_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  return std::stoll(text);
}

Result<Shard> make_shard(std::int64_t index, std::int64_t count, std::string source) {
  if (count < 1) return Status::error(source + ": the shard count must be at least 1");
  if (index < 0 || index >= count)
    return Status::error(source + ": shard index " + std::to_string(index) + " is outside 0.." + std::to_string(count - 1));
  return Shard{index, count, std::move(source)};
}

// I and N from the first scheduler whose variables are set.
Result<Shard> from_environment(const EnvLookup& env, std::optional<std::int64_t> given_count) {
  auto number = [&](const char* name) -> Result<std::optional<std::int64_t>> {
    auto value = env(name);
    if (!value) return std::optional<std::int64_t>{};
    auto parsed = parse_count(*value);
    if (!parsed) return Status::error(std::string(name) + "='" + *value + "' is not a whole number");
    return std::optional<std::int64_t>(*parsed);
  };
  struct Scheme {
    const char* index;
    const char* count;
  };
  // Slurm array job, Open MPI, PMI (MPICH, Slurm's srun).
  for (const Scheme& s : {Scheme{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"}, Scheme{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                          Scheme{"PMI_RANK", "PMI_SIZE"}}) {
    auto index = number(s.index);
    if (!index) return index.status();
    if (!index.value()) continue;
    std::int64_t i = *index.value();
    std::optional<std::int64_t> n = given_count;
    std::string source = std::string(s.index);
    if (!n) {
      auto count = number(s.count);
      if (!count) return count.status();
      n = count.value();
      source += "/" + std::string(s.count);
    }
    if (!n && std::string(s.index) == "SLURM_ARRAY_TASK_ID") {
      // Older Slurm has no TASK_COUNT: the array's min and max give it (for an array without steps).
      auto min = number("SLURM_ARRAY_TASK_MIN");
      auto max = number("SLURM_ARRAY_TASK_MAX");
      if (!min) return min.status();
      if (!max) return max.status();
      if (min.value() && max.value()) {
        n = *max.value() - *min.value() + 1;
        i -= *min.value();
        source = "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_MIN..MAX";
      }
    }
    if (!n) return Status::error(std::string(s.index) + " is set but " + s.count + " is not: pass --shard auto/N");
    return make_shard(i, *n, source);
  }
  // Kubernetes Indexed Job: the index only; the count comes from the user.
  auto k8s = number("JOB_COMPLETION_INDEX");
  if (!k8s) return k8s.status();
  if (k8s.value()) {
    std::optional<std::int64_t> n = given_count;
    if (!n) {
      auto count = number("LRPFLOW_SHARD_COUNT");
      if (!count) return count.status();
      n = count.value();
    }
    if (!n)
      return Status::error("JOB_COMPLETION_INDEX is set but not the number of shards: pass --shard auto/N (the Job's completions) "
                           "or set LRPFLOW_SHARD_COUNT");
    return make_shard(*k8s.value(), *n, "JOB_COMPLETION_INDEX");
  }
  return Status::error("--shard auto: no scheduler variables are set (looked for SLURM_ARRAY_TASK_ID, OMPI_COMM_WORLD_RANK, "
                       "PMI_RANK, JOB_COMPLETION_INDEX); pass --shard I/N instead");
}

}  // namespace

std::string Shard::suffix() const {
  if (is_whole()) return "";
  return ".shard-" + std::to_string(index) + "-of-" + std::to_string(count);
}

std::string Shard::manifest_name() const { return "manifest" + suffix() + ".json"; }

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value || !*value) return std::nullopt;
    return std::string(value);
  };
}

Result<Shard> parse_shard(const std::string& text, const EnvLookup& env) {
  if (text == "auto") return from_environment(env, std::nullopt);
  if (text.rfind("auto/", 0) == 0) {
    auto count = parse_count(text.substr(5));
    if (!count) return Status::error("--shard " + text + ": expected auto/N with N a whole number");
    return from_environment(env, *count);
  }
  const auto slash = text.find('/');
  if (slash == std::string::npos) return Status::error("--shard " + text + ": expected I/N (e.g. 0/4), auto or auto/N");
  auto index = parse_count(text.substr(0, slash));
  auto count = parse_count(text.substr(slash + 1));
  if (!index || !count)
    return Status::error("--shard " + text + ": expected I/N with whole numbers 0 <= I < N (e.g. 0/4)");
  return make_shard(*index, *count, "--shard " + text);
}

}  // namespace lrpflow
