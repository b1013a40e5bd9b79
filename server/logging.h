// Logging: one line per event on standard error, leveled, with the member's name.
#pragma once

#include <string>

namespace kvd::server {

// Sets up the process-wide logger: "2026-11-27T10:00:00.123 info [infra1] leader is now ...".
// level is one of debug, info, warn, error.
void SetUpLogging(const std::string& member_name, const std::string& level);

}  // namespace kvd::server
