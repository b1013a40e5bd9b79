#include "storage/mvcc/directory_swap.h"

#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "storage/mvcc/errors.h"
#include "storage/mvcc/fsync.h"
#include "storage/strings.h"

namespace kvd::mvcc {

namespace stdfs = std::filesystem;

namespace {

absl::Status CallHook(const SwapOptions& options, std::string_view step) {
  if (!options.before_step) return absl::OkStatus();
  return options.before_step(step);
}

absl::Status RenameStep(const SwapOptions& options, const std::string& from,
                        const std::string& to) {
  const std::string step = storage::Cat("rename ", from, " -> ", to);
  if (absl::Status s = CallHook(options, step); !s.ok()) return s;
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrIo(step, std::strerror(errno));
  return absl::OkStatus();
}

absl::Status SyncDirStep(const SwapOptions& options, const std::string& dir) {
  if (absl::Status s = CallHook(options, storage::Cat("fsync ", dir)); !s.ok()) return s;
  return SyncDir(dir);
}

absl::Status RemoveAllStep(const SwapOptions& options, const std::string& dir) {
  const std::string step = storage::Cat("remove ", dir);
  if (absl::Status s = CallHook(options, step); !s.ok()) return s;
  std::error_code ec;
  stdfs::remove_all(dir, ec);
  if (ec) return ErrIo(step, ec.message());
  return absl::OkStatus();
}

}  // namespace

std::string ReplacedPath(const std::string& target) { return target + ".replaced"; }

absl::Status RecoverInterruptedSwap(const std::string& target, const SwapOptions& options) {
  const std::string replaced = ReplacedPath(target);
  absl::StatusOr<bool> have_replaced = PathExists(replaced);
  if (!have_replaced.ok()) return have_replaced.status();
  if (!*have_replaced) return absl::OkStatus();
  absl::StatusOr<bool> have_target = PathExists(target);
  if (!have_target.ok()) return have_target.status();
  if (*have_target) {
    // The new state reached target: the swap happened; drop what it replaced.
    if (absl::Status s = RemoveAllStep(options, replaced); !s.ok()) return s;
  } else {
    // Between the two renames, or inside an Undo: the swap did not happen.
    if (absl::Status s = RenameStep(options, replaced, target); !s.ok()) return s;
  }
  return SyncDirStep(options, ParentDir(target));
}

DirectorySwap::DirectorySwap(std::string target, std::string incoming, SwapOptions options)
    : target_(std::move(target)),
      incoming_(std::move(incoming)),
      replaced_(ReplacedPath(target_)),
      options_(std::move(options)) {}

absl::Status DirectorySwap::SyncParents() const {
  const std::string pt = ParentDir(target_), pi = ParentDir(incoming_);
  if (absl::Status s = SyncDirStep(options_, pt); !s.ok()) return s;
  if (pi == pt) return absl::OkStatus();
  return SyncDirStep(options_, pi);
}

absl::StatusOr<DirectorySwap> DirectorySwap::Begin(std::string target, std::string incoming,
                                                   SwapOptions options) {
  DirectorySwap swap(std::move(target), std::move(incoming), std::move(options));
  // What a failed Commit of an earlier swap left (a crash's leftovers were recovered at open).
  if (absl::Status s = RecoverInterruptedSwap(swap.target_, swap.options_); !s.ok()) return s;

  // Step 1: park target.
  if (absl::Status s = RenameStep(swap.options_, swap.target_, swap.replaced_); !s.ok()) {
    return s;
  }
  absl::Status s = SyncDirStep(swap.options_, ParentDir(swap.target_));
  // Step 2: incoming into target's place.
  if (s.ok()) s = RenameStep(swap.options_, swap.incoming_, swap.target_);
  if (!s.ok()) {
    // Put target back before reporting: a caller that reopens target must find its own state.
    absl::Status back = RenameStep(swap.options_, swap.replaced_, swap.target_);
    if (back.ok()) back = SyncDirStep(swap.options_, ParentDir(swap.target_));
    if (!back.ok()) {
      return ErrIo(
          storage::Cat("swap ", swap.target_),
          storage::Cat(s.message(), "; moving ", swap.replaced_, " back failed too (",
                       back.message(), "): stop the process; opening the store moves it back"));
    }
    return s;
  }
  if (absl::Status synced = swap.SyncParents(); !synced.ok()) {
    if (absl::Status u = swap.Undo(); !u.ok()) {
      return ErrIo(storage::Cat("swap ", swap.target_),
                   storage::Cat(synced.message(), "; undoing the swap failed too (", u.message(),
                                "): stop the process; opening the store recovers it"));
    }
    return synced;
  }
  return swap;
}

absl::Status DirectorySwap::Commit() {
  if (absl::Status s = RemoveAllStep(options_, replaced_); !s.ok()) return s;
  return SyncDirStep(options_, ParentDir(replaced_));
}

absl::Status DirectorySwap::Undo() {
  // Incoming out of target's place first, durably: a crash between the two renames leaves
  // "<target>.replaced" without target, which recovery moves back.
  if (absl::Status s = RenameStep(options_, target_, incoming_); !s.ok()) return s;
  if (absl::Status s = SyncParents(); !s.ok()) return s;
  if (absl::Status s = RenameStep(options_, replaced_, target_); !s.ok()) return s;
  return SyncDirStep(options_, ParentDir(target_));
}

}  // namespace kvd::mvcc
