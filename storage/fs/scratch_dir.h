// ScratchDir: a fresh directory on the real disk for a test, removed with everything in it when
// the ScratchDir goes. Under $KVD_TEST_TMPDIR if set, else the system's temp directory (which
// must be a real disk, not tmpfs, for tests of fsync). For tests only.
#pragma once

#include <string>
#include <string_view>

namespace kvd::fs {

class ScratchDir {
 public:
  ScratchDir();  // aborts with a message if the directory cannot be made
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name
  std::string Sub(std::string_view name) const;

 private:
  std::string path_;
};

}  // namespace kvd::fs
