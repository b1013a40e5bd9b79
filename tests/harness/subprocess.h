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

// A command running in the background (e.g. `etcdctl watch`, `etcdctl elect`), its standard
// output and error collected as they come. Killed (SIGKILL) when destroyed if still running.
class BackgroundCommand {
 public:
  BackgroundCommand(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env = {});
  ~BackgroundCommand();
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;

  // Waits until the standard output contains `text` (true) or the timeout passes (false).
  bool WaitForOutput(const std::string& text, absl::Duration timeout = absl::Seconds(20));
  // What it wrote so far.
  std::string out();
  std::string err();
  // Sends a signal (SIGINT to end etcdctl gracefully, SIGKILL to crash it).
  void Signal(int sig);
  // Waits for it to exit; returns the exit code (128 + signal), -1 on timeout.
  int Wait(absl::Duration timeout = absl::Seconds(20));
  bool running();

 private:
  // Reads what is available without blocking longer than `wait`.
  void Pump(absl::Duration wait);

  int pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  int exit_code_ = -1;
  bool exited_ = false;
};

}  // namespace kvd::testing
