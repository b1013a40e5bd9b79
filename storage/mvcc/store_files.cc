#include "storage/mvcc/store_files.h"

#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "rocksdb/db.h"
#include "storage/mvcc/errors.h"
#include "storage/mvcc/fsync.h"
#include "storage/mvcc/rocks_options.h"
#include "storage/strings.h"

namespace kvd::mvcc {

namespace stdfs = std::filesystem;

namespace {

absl::Status Step(const StoreOptions& options, std::string_view step) {
  if (!options.before_step) return absl::OkStatus();
  return options.before_step(step);
}

}  // namespace

std::string CreatingPath(const std::string& dir) { return dir + ".creating"; }

absl::Status CreateDatabase(const std::string& dir, const StoreOptions& options) {
  const std::string creating = CreatingPath(dir);
  const std::string parent = ParentDir(dir);
  std::error_code ec;
  stdfs::create_directories(parent, ec);
  if (ec) return ErrIo(storage::Cat("create ", parent), ec.message());

  rocksdb::Options o = MakeRocksOptions(options, nullptr);
  o.create_if_missing = true;
  o.error_if_exists = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status rs = rocksdb::DB::Open(o, creating, &raw);
  if (!rs.ok()) return ErrIo(storage::Cat("create ", creating), rs.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rs = db->Close();
  if (!rs.ok()) return ErrIo(storage::Cat("close ", creating), rs.ToString());
  db.reset();

  if (absl::Status s = Step(options, storage::Cat("fsync ", creating)); !s.ok()) return s;
  if (absl::Status s = SyncDir(creating); !s.ok()) return s;
  // rename(2) replaces an empty directory: the one the data directory made, if any.
  const std::string rename = storage::Cat("rename ", creating, " -> ", dir);
  if (absl::Status s = Step(options, rename); !s.ok()) return s;
  if (::rename(creating.c_str(), dir.c_str()) != 0) return ErrIo(rename, std::strerror(errno));
  if (absl::Status s = Step(options, storage::Cat("fsync ", parent)); !s.ok()) return s;
  return SyncDir(parent);
}

absl::Status RemoveInterruptedCreation(const std::string& dir, const StoreOptions& options) {
  const std::string creating = CreatingPath(dir);
  absl::StatusOr<bool> exists = PathExists(creating);
  if (!exists.ok()) return exists.status();
  if (!*exists) return absl::OkStatus();
  const std::string remove = storage::Cat("remove ", creating);
  std::error_code ec;
  if (absl::Status s = Step(options, remove); !s.ok()) return s;
  stdfs::remove_all(creating, ec);
  if (ec) return ErrIo(remove, ec.message());
  const std::string parent = ParentDir(dir);
  if (absl::Status s = Step(options, storage::Cat("fsync ", parent)); !s.ok()) return s;
  return SyncDir(parent);
}

SwapOptions SwapOptionsOf(const StoreOptions& options) {
  return SwapOptions{.before_step = options.before_step};
}

}  // namespace kvd::mvcc
