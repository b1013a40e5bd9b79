#include "server/logging.h"

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace kvd::server {

void SetUpLogging(const std::string& member_name, const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("kvd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [" + member_name + "] %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

}  // namespace kvd::server
