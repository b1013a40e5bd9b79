// kvd: the server.
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "server/config.h"
#include "server/logging.h"
#include "server/server.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  absl::StatusOr<kvd::server::ParsedCommandLine> parsed = kvd::server::ParseCommandLine(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "kvd: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  if (!parsed->config) {
    std::fputs(parsed->exit_message.c_str(), stdout);
    return 0;
  }
  const kvd::server::ServerConfig& config = *parsed->config;

  // SIGTERM and SIGINT are taken by this thread alone, with sigwait: every thread started from
  // here on inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  kvd::server::SetUpLogging(config.name, config.log_level);
  spdlog::info("{}", kvd::server::VersionText());
  absl::StatusOr<std::unique_ptr<kvd::server::Server>> server = kvd::server::Server::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "kvd: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}, stopping", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Stop();
  spdlog::info("stopped");
  return 0;
}
