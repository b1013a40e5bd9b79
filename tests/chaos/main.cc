// kvd-chaos: the fault-injection suite of the real cluster (docs/chaos.md).
//
//   kvd-chaos --runs N --duration SECONDS [--seed S] [--nemesis kill,pause,restart,partition]
//             [--workloads register,ledger,watch,lease] [--keep DIR] [--netns-prefix P]
//             [--stale-reads 1]
//
// --stale-reads 1 makes the register's reads serializable (answered from one member's state, not
// linearizable): a check of the checks, which must then report anomalies under partitions.
//
// Run r (0-based) uses seed S + r; `--runs 1 --seed S+r` replays its choices (the operations'
// timing is the machine's and differs between replays). The last line printed is
// "N runs, M ops, A anomalies"; the exit status is 1 when any anomaly was found, 2 on bad usage.
// SIGINT or SIGTERM ends the campaign after the run in progress (N counts the runs completed).
// Expects $KVD_BUILD_DIR/server/kvd. tests/chaos/run is the front door.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/chaos/nemesis.h"
#include "tests/chaos/network.h"
#include "tests/chaos/run_once.h"

namespace {

std::atomic<bool> stop_requested{false};
void RequestStop(int) { stop_requested = true; }

int Usage(const std::string& problem) {
  fprintf(stderr,
          "kvd-chaos: %s\nusage: kvd-chaos --runs N --duration SECONDS [--seed S] "
          "[--nemesis kill,pause,restart,partition] [--workloads register,ledger,watch,lease] "
          "[--keep DIR] "
          "[--netns-prefix P] [--stale-reads 1]\n",
          problem.c_str());
  return 2;
}

std::set<std::string> SplitSet(const std::string& s) {
  std::set<std::string> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    out.insert(std::string(part));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kvd::chaos;
  int runs = 1;
  int duration_s = 20;
  uint64_t seed = std::random_device()() % 1000000;
  std::string nemesis = "kill,pause,restart,partition";
  std::string workloads = "register,ledger,watch,lease";
  std::string keep = "/tmp/kvd-chaos-failures";
  std::string prefix = absl::StrCat("kvdchaos", getpid());
  bool stale_reads = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage("missing value for " + arg);
    const std::string value = argv[++i];
    bool ok = true;
    if (arg == "--runs") {
      ok = absl::SimpleAtoi(value, &runs) && runs > 0;
    } else if (arg == "--duration") {
      ok = absl::SimpleAtoi(value, &duration_s) && duration_s > 0;
    } else if (arg == "--seed") {
      ok = absl::SimpleAtoi(value, &seed);
    } else if (arg == "--nemesis") {
      nemesis = value;
    } else if (arg == "--workloads") {
      workloads = value;
    } else if (arg == "--keep") {
      keep = value;
    } else if (arg == "--stale-reads") {
      ok = value == "0" || value == "1";
      stale_reads = value == "1";
    } else if (arg == "--netns-prefix") {
      prefix = value;
    } else {
      return Usage("unknown option " + arg);
    }
    if (!ok) return Usage("bad value for " + arg);
  }
  RunConfig config;
  config.duration = absl::Seconds(duration_s);
  config.nemesis = SplitSet(nemesis);
  config.workloads = SplitSet(workloads);
  config.stale_reads = stale_reads;
  for (const std::string& family : config.nemesis) {
    bool known = family == "none";
    for (const auto& [kind, f] : FaultKinds()) known = known || f == family;
    if (!known) return Usage("unknown nemesis " + family);
  }
  for (const std::string& w : config.workloads) {
    if (w != "register" && w != "ledger" && w != "watch" && w != "lease") {
      return Usage("unknown workload " + w);
    }
  }
  const char* build = std::getenv("KVD_BUILD_DIR");
  if (build == nullptr) return Usage("KVD_BUILD_DIR is not set");
  config.kvd_binary = absl::StrCat(build, "/server/kvd");
  config.keep_dir = keep;
  config.replay_base =
      absl::StrCat("tests/chaos/run --duration ", duration_s, " --nemesis ", nemesis,
                   " --workloads ", workloads, stale_reads ? " --stale-reads 1" : "");

  // Before any other thread exists: the network lab moves this thread into its hub namespace.
  std::unique_ptr<NetworkLab> network;
  if (config.nemesis.contains("partition")) {
    absl::StatusOr<std::unique_ptr<NetworkLab>> lab = NetworkLab::Create(prefix, config.members);
    if (lab.ok()) {
      network = std::move(*lab);
    } else {
      printf("partition nemesis skipped: %s\n", std::string(lab.status().message()).c_str());
      RemoveNamespaces(prefix);
    }
  }

  printf("kvd-chaos: %d runs of %d s, seed %lu, nemesis %s, workloads %s, kvd %s\n", runs,
         duration_s, static_cast<unsigned long>(seed), nemesis.c_str(), workloads.c_str(),
         config.kvd_binary.c_str());
  fflush(stdout);
  uint64_t total_ops = 0;
  uint64_t total_anomalies = 0;
  std::map<std::string, int> faults;
  signal(SIGINT, RequestStop);
  signal(SIGTERM, RequestStop);
  int completed = 0;
  for (int r = 0; r < runs && !stop_requested; ++r) {
    const uint64_t run_seed = seed + static_cast<uint64_t>(r);
    RunResult result = RunOnce(config, network.get(), r, run_seed);
    ++completed;
    total_ops += result.ops;
    total_anomalies += result.anomalies.size();
    for (const auto& [kind, n] : result.faults) faults[kind] += n;
    printf("run %d/%d seed %lu: %s: %s\n", r + 1, runs, static_cast<unsigned long>(run_seed),
           result.anomalies.empty() ? "ok" : "ANOMALIES", result.summary.c_str());
    for (const std::string& a : result.anomalies) printf("  anomaly: %s\n", a.c_str());
    if (!result.kept_in.empty()) {
      printf("  evidence kept in %s\n  replay: %s --runs 1 --seed %lu\n", result.kept_in.c_str(),
             config.replay_base.c_str(), static_cast<unsigned long>(run_seed));
    }
    fflush(stdout);
  }
  std::string fault_line;
  for (const auto& [kind, n] : faults) absl::StrAppend(&fault_line, " ", kind, "=", n);
  printf("faults injected:%s\n", fault_line.empty() ? " none" : fault_line.c_str());
  network.reset();
  if (completed < runs) printf("stopped by a signal after %d of %d runs\n", completed, runs);
  printf("%d runs, %lu ops, %lu anomalies\n", completed, static_cast<unsigned long>(total_ops),
         static_cast<unsigned long>(total_anomalies));
  return total_anomalies == 0 ? 0 : 1;
}
