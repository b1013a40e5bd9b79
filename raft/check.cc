#include "raft/check.h"

#include <cstdlib>
#include <string>

#include "absl/base/internal/raw_logging.h"

namespace kvd::raft::internal {

void CheckFailed(const char* file, int line, const char* condition, std::string_view message) {
  std::string text(message);
  ABSL_RAW_LOG(ERROR, "%s:%d: check failed: %s: %s", file, line, condition, text.c_str());
  std::abort();
}

}  // namespace kvd::raft::internal
