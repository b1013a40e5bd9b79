// Runs a command to completion with a deadline, feeding it standard input and collecting its
// standard output and error: how tests drive etcdctl and python clients.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace kvd::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when it did not finish before the deadline (it was killed)
  std::string out;
  std::string err;
};

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input = "",
                         absl::Duration timeout = absl::Seconds(30),
                         const std::map<std::string, std::string>& env = {});

}  // namespace kvd::testing
