#include "storage/fs/scratch_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace kvd::fs {

ScratchDir::ScratchDir() {
  std::string base;
  if (const char* v = std::getenv("KVD_TEST_TMPDIR"); v != nullptr && *v != '\0') {
    base = v;
  } else {
    base = std::filesystem::temp_directory_path().string();
  }
  std::string pattern = base + "/kvd-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "ScratchDir: mkdtemp %s: %s\n", pattern.c_str(), std::strerror(errno));
    std::abort();
  }
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ScratchDir::Sub(std::string_view name) const { return path_ + "/" + std::string(name); }

}  // namespace kvd::fs
