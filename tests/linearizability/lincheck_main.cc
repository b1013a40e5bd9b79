// kvd-lincheck: judges a history file (history.h's text format) for linearizability.
//
//   kvd-lincheck [--max-steps N] FILE      (FILE '-' reads standard input)
//
// Prints the verdict and, for a violation, the report of checker.h. Exit status: 0 linearizable,
// 1 not linearizable, 2 unknown (search budget exhausted) or bad input / usage.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "tests/linearizability/checker.h"
#include "tests/linearizability/history.h"

namespace {

constexpr int kExitLinearizable = 0;
constexpr int kExitViolation = 1;
constexpr int kExitUnknown = 2;

int Usage() {
  std::cerr << "usage: kvd-lincheck [--max-steps N] FILE   (FILE '-' reads stdin)\n"
               "exit: 0 linearizable, 1 not linearizable, 2 unknown or bad input\n";
  return kExitUnknown;
}

}  // namespace

int main(int argc, char** argv) {
  namespace lin = kvd::linearizability;
  lin::CheckOptions options;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--max-steps" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &options.max_steps_per_key)) return Usage();
    } else if (arg == "-h" || arg == "--help") {
      return Usage();
    } else if (path.empty()) {
      path = arg;
    } else {
      return Usage();
    }
  }
  if (path.empty()) return Usage();

  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cerr << "kvd-lincheck: cannot open " << path << "\n";
      return kExitUnknown;
    }
    text << in.rdbuf();
  }
  absl::StatusOr<std::vector<lin::Operation>> history = lin::ParseHistory(text.str());
  if (!history.ok()) {
    std::cerr << "kvd-lincheck: " << path << ": " << history.status().message() << "\n";
    return kExitUnknown;
  }
  absl::StatusOr<lin::CheckResult> result = lin::CheckHistory(*history, options);
  if (!result.ok()) {
    std::cerr << "kvd-lincheck: " << path << ": " << result.status().message() << "\n";
    return kExitUnknown;
  }
  std::cout << result->Report();
  switch (result->verdict) {
    case lin::Verdict::kLinearizable:
      return kExitLinearizable;
    case lin::Verdict::kNotLinearizable:
      return kExitViolation;
    case lin::Verdict::kUnknown:
      return kExitUnknown;
  }
  return kExitUnknown;
}
