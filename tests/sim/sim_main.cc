// kvd-sim: runs deterministic simulations of a kvd Raft cluster (see simulation.h).
//
//   kvd-sim --seeds N --start S [--nodes 3|5] [--steps K] [--verbose]
//
// Runs seeds S .. S+N-1. For each violation prints the seed, the step, what was violated and the
// command line that replays it. The last line is always "N seeds, V violations" (unless the
// process itself dies, in which case it prints the seed it was running and its replay command).
// Exit status: 0 when no seed found a violation, 1 otherwise, 2 on a usage error.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/sim/simulation.h"

#if defined(__SANITIZE_ADDRESS__)
extern "C" void __sanitizer_set_death_callback(void (*callback)(void));
#endif

namespace {

// Written by the signal handler / sanitizer death callback, so prepared in advance.
char g_dying_message[512] = "";

void PrintDyingMessage() {
  ssize_t ignored = write(STDERR_FILENO, g_dying_message, std::strlen(g_dying_message));
  (void)ignored;
}

void OnFatalSignal(int sig) {
  PrintDyingMessage();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

int Usage() {
  std::cerr << "usage: kvd-sim --seeds N --start S [--nodes 3|5] [--steps K] [--verbose]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  kvd::sim::SimOptions options;
  uint64_t seeds = 0;
  uint64_t start = 0;
  bool have_seeds = false;
  bool have_start = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](auto* out) { return i + 1 < argc && absl::SimpleAtoi(argv[++i], out); };
    if (arg == "--seeds") {
      if (!value(&seeds)) return Usage();
      have_seeds = true;
    } else if (arg == "--start") {
      if (!value(&start)) return Usage();
      have_start = true;
    } else if (arg == "--nodes") {
      if (!value(&options.nodes) || (options.nodes != 3 && options.nodes != 5)) return Usage();
    } else if (arg == "--steps") {
      if (!value(&options.steps)) return Usage();
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else {
      return Usage();
    }
  }
  if (!have_seeds || !have_start) return Usage();

  std::signal(SIGABRT, OnFatalSignal);
  std::signal(SIGSEGV, OnFatalSignal);
  std::signal(SIGFPE, OnFatalSignal);
  std::signal(SIGBUS, OnFatalSignal);
  std::signal(SIGILL, OnFatalSignal);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(PrintDyingMessage);
#endif

  uint64_t violations = 0;
  uint64_t ops = 0;
  uint64_t indeterminate = 0;
  uint64_t steps = 0;
  uint64_t crashes = 0;
  uint64_t snapshots = 0;
  uint64_t conf_changes = 0;
  int64_t worst_liveness = 0;
  for (uint64_t seed = start; seed < start + seeds; ++seed) {
    std::string replay = kvd::sim::ReplayCommand(options, seed);
    std::snprintf(g_dying_message, sizeof(g_dying_message),
                  "\nkvd-sim: the process died while running seed %llu; replay: %s\n",
                  static_cast<unsigned long long>(seed), replay.c_str());
    kvd::sim::SeedOutcome out =
        kvd::sim::RunSeed(options, seed, options.verbose ? &std::cout : nullptr);
    steps += out.steps_run;
    ops += out.ops_completed;
    indeterminate += out.ops_indeterminate;
    crashes += out.crashes;
    snapshots += out.snapshots_installed;
    conf_changes += out.conf_changes_applied;
    worst_liveness = std::max(worst_liveness, out.liveness_ticks_used);
    if (!out.ok) {
      ++violations;
      std::cout << "seed " << seed << ": VIOLATION of " << out.property << " at step " << out.step
                << ": " << out.detail << "\n  replay: " << replay << std::endl;
    }
  }
  std::cout << "totals: " << steps << " steps, " << ops << " operations completed, "
            << indeterminate << " indeterminate, " << crashes << " crashes, " << snapshots
            << " snapshots installed, " << conf_changes
            << " conf changes applied, slowest recovery " << worst_liveness << " ticks\n";
  std::cout << seeds << " seeds, " << violations << " violations" << std::endl;
  return violations == 0 ? 0 : 1;
}
