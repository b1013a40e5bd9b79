#include "tests/chaos/run_once.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/chaos/convergence.h"
#include "tests/chaos/lease_workload.h"
#include "tests/chaos/ledger_workload.h"
#include "tests/chaos/nemesis.h"
#include "tests/chaos/register_workload.h"
#include "tests/chaos/watch_workload.h"
#include "tests/chaos/workload.h"
#include "tests/harness/cluster.h"
#include "tests/harness/subprocess.h"

namespace kvd::chaos {
namespace {

namespace fs = std::filesystem;

std::vector<std::unique_ptr<Workload>> MakeWorkloads(const RunConfig& config) {
  std::vector<std::unique_ptr<Workload>> out;
  if (config.workloads.contains("register")) {
    out.push_back(std::make_unique<RegisterWorkload>(
        RegisterOptions{.serializable_reads = config.stale_reads}));
  }
  if (config.workloads.contains("ledger")) {
    out.push_back(std::make_unique<LedgerWorkload>(config.members));
  }
  if (config.workloads.contains("lease")) {
    out.push_back(std::make_unique<LeaseWorkload>(config.members));
  }
  if (config.workloads.contains("watch")) out.push_back(std::make_unique<WatchWorkload>());
  return out;
}

// Every thread's stack of each running member, taken with gdb (empty without it): the evidence
// for a member that is stuck, taken while it is.
std::vector<std::string> CaptureStacks(testing::Cluster* cluster) {
  std::vector<std::string> stacks(cluster->size());
  for (int i = 0; i < cluster->size(); ++i) {
    if (!cluster->IsRunning(i)) continue;
    testing::CommandResult r = testing::RunCommand(
        {"gdb", "-p", absl::StrCat(cluster->member(i).pid), "-batch", "-ex", "thread apply all bt"},
        "", absl::Seconds(60));
    stacks[i] = r.out + r.err;
  }
  return stacks;
}

void KeepEvidence(const RunConfig& config, int index, uint64_t seed, testing::Cluster* cluster,
                  const Nemesis& nemesis, const std::vector<std::unique_ptr<Workload>>& workloads,
                  const std::vector<std::string>& stacks, RunResult* result) {
  const std::string dir = absl::StrCat(config.keep_dir, "/run-", index, "-seed-", seed);
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::ofstream(dir + "/anomalies.txt") << absl::StrJoin(result->anomalies, "\n") << "\n";
  std::ofstream(dir + "/timeline.txt") << absl::StrJoin(nemesis.timeline(), "\n") << "\n";
  for (const auto& w : workloads) w->WriteArtifacts(dir);
  for (int i = 0; i < cluster->size(); ++i) {
    fs::copy_file(cluster->member(i).log_path, absl::StrCat(dir, "/m", i + 1, ".log"),
                  fs::copy_options::overwrite_existing, ec);
    if (i < static_cast<int>(stacks.size()) && !stacks[i].empty()) {
      std::ofstream(absl::StrCat(dir, "/m", i + 1, "-stacks.txt")) << stacks[i];
    }
  }
  std::ofstream(dir + "/replay.txt") << "seed " << seed << "\n"
                                     << config.replay_base << " --runs 1 --seed " << seed << "\n";
  result->kept_in = dir;
}

}  // namespace

RunResult RunOnce(const RunConfig& config, NetworkLab* network, int index, uint64_t seed) {
  RunResult result;
  if (network != nullptr) {
    if (absl::Status st = network->HealAll(); !st.ok()) {
      result.anomalies.push_back(absl::StrCat("setup: cannot reset the network: ", st.message()));
      return result;
    }
  }
  testing::ClusterOptions options;
  options.size = config.members;
  options.kvd_binary = config.kvd_binary;
  options.election_timeout_ms = config.election_timeout_ms;
  options.heartbeat_interval_ms = config.heartbeat_interval_ms;
  options.token = absl::StrCat("kvd-chaos-", seed);
  if (network != nullptr) {
    for (int i = 0; i < config.members; ++i) {
      options.member_hosts.push_back(network->Host(i));
      options.member_netns.push_back(network->NetnsPath(i));
    }
  }
  absl::StatusOr<std::unique_ptr<testing::Cluster>> started = testing::Cluster::Start(options);
  if (!started.ok()) {
    result.anomalies.push_back(
        absl::StrCat("setup: the cluster did not start: ", started.status().message()));
    return result;
  }
  testing::Cluster* cluster = started->get();

  RunClock clock;
  RunContext ctx;
  ctx.endpoints = cluster->ClientEndpoints();
  ctx.seed = seed;
  ctx.clock = &clock;
  ctx.election_timeout_ms = config.election_timeout_ms;

  std::vector<std::unique_ptr<Workload>> workloads = MakeWorkloads(config);
  NemesisOptions nemesis_options;
  nemesis_options.families = config.nemesis;
  nemesis_options.seed = seed;
  nemesis_options.election_timeout_ms = config.election_timeout_ms;
  Nemesis nemesis(cluster, network, &clock, nemesis_options);

  for (auto& w : workloads) w->Start(ctx);
  nemesis.Run(absl::Now() + config.duration);
  for (std::string& a : nemesis.HealAll()) result.anomalies.push_back(std::move(a));
  for (auto& w : workloads) w->Stop();

  std::string convergence;
  std::vector<std::string> stacks;
  std::vector<std::string> not_converged = CheckConvergence(cluster, ctx, &convergence);
  if (!not_converged.empty()) stacks = CaptureStacks(cluster);
  for (std::string& a : not_converged) result.anomalies.push_back(std::move(a));
  for (auto& w : workloads) {
    for (std::string& a : w->Check(ctx)) result.anomalies.push_back(std::move(a));
    result.ops += w->ops();
  }
  for (std::string& a : nemesis.ReapUnexpectedExits()) result.anomalies.push_back(std::move(a));
  result.faults = nemesis.counts();

  std::string faults;
  for (const auto& [kind, n] : result.faults) absl::StrAppend(&faults, " ", kind, "=", n);
  std::string figures;
  for (const auto& w : workloads) absl::StrAppend(&figures, "; ", w->Summary());
  result.summary = absl::StrCat(result.ops, " ops; faults:", faults.empty() ? " none" : faults,
                                "; ", convergence, figures);
  if (!result.anomalies.empty()) {
    KeepEvidence(config, index, seed, cluster, nemesis, workloads, stacks, &result);
  }
  return result;
}

}  // namespace kvd::chaos
