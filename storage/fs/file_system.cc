#include "storage/fs/file_system.h"

#include "absl/strings/str_cat.h"
#include "storage/strings.h"

namespace kvd::fs {

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return storage::Cat(dir, name);
  return storage::Cat(dir, "/", name);
}

std::string DirName(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

absl::Status WriteFileAtomically(FileSystem& fs, const std::string& dir, const std::string& name,
                                 std::string_view contents) {
  const std::string tmp = JoinPath(dir, absl::StrCat(name, ".tmp"));
  // A temp file left by an earlier interrupted attempt is garbage; start over.
  if (absl::Status s = fs.Remove(tmp); !s.ok() && !absl::IsNotFound(s)) return s;
  {
    absl::StatusOr<std::unique_ptr<WritableFile>> f = fs.OpenWritable(tmp, OpenMode::kCreateNew);
    if (!f.ok()) return f.status();
    if (absl::Status s = (*f)->WriteAt(0, contents); !s.ok()) return s;
    if (absl::Status s = (*f)->Sync(); !s.ok()) return s;
  }
  if (absl::Status s = fs.Rename(tmp, JoinPath(dir, name)); !s.ok()) return s;
  return fs.SyncDir(dir);
}

}  // namespace kvd::fs
