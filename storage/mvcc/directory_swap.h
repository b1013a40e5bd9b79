// DirectorySwap: puts one directory in the place of another so that a crash at any point leaves
// exactly one of them there, and the store finds which at its next open. InstallSnapshot uses
// it to put a received snapshot in place of the store's database.
//
// STEPS (each rename made durable by an fsync of the directories it changed before the next):
//   1. rename(target, target.replaced), fsync of target's parent
//   2. rename(incoming, target), fsync of target's parent and of incoming's
//   (Commit) remove target.replaced, fsync of target's parent
//   (Undo, instead of Commit) rename(target, incoming), fsync of both parents;
//                             rename(target.replaced, target), fsync of target's parent
// If step 1's fsync or step 2 fails, step 1 is undone before Begin returns the error; if the
// fsyncs after step 2 fail, Undo runs (whether the renames reached the disk is unknown, and the
// caller must find at `target` what it is told is there).
//
// One-step exchanges (renameat2 RENAME_EXCHANGE) are not used: after one, the replaced state
// sits at the incoming directory's path, where a crash would leave it for the caller to tell
// from the snapshot that was there. With the steps above, the incoming directory is either
// still in place, untouched (the swap did not happen) or gone (it did).
//
// AFTER A CRASH (RecoverInterruptedSwap, which Store::Open runs before anything else, under the
// data directory's lock), by what is on disk:
//   - no "<target>.replaced": no swap was under way (or it completed); nothing to do.
//   - "<target>.replaced" without "<target>": the crash came between steps 1 and 2, or inside an
//     Undo. The replaced state is moved back to target: the swap did not happen.
//   - both: the crash came after step 2 (or inside Commit's removal). The new state stays;
//     "<target>.replaced" is removed: the swap happened.
// After a power loss the directories are in one of those states too, since every rename is
// durable before the next step runs.
//
// Thread-safety: one thread per swap; nothing else may touch the two directories meanwhile.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvd::mvcc {

struct SwapOptions {
  // Called before each step that changes the disk (a rename, an fsync, a removal), with a
  // description such as "rename /d/db -> /d/db.replaced". A non-OK result makes that step fail
  // with it, as if the system call had. For tests: fail a chosen step, or kill the process
  // there. Null: no hook.
  std::function<absl::Status(std::string_view step)> before_step;
};

// "<target>.replaced": where the state being replaced is parked.
std::string ReplacedPath(const std::string& target);

// Finishes or undoes a swap a crash interrupted (see AFTER A CRASH). OK when there was none.
absl::Status RecoverInterruptedSwap(const std::string& target, const SwapOptions& options = {});

class DirectorySwap {
 public:
  // Puts `incoming` in place of `target`; both must exist, on one file system. First recovers
  // what an earlier interrupted swap of `target` left (RecoverInterruptedSwap). On error
  // nothing changed (target holds what it held before, incoming is in place), unless the error
  // says the undo failed too: then the process must stop, and RecoverInterruptedSwap at the
  // next start puts the replaced state back.
  static absl::StatusOr<DirectorySwap> Begin(std::string target, std::string incoming,
                                             SwapOptions options = {});

  // Where the replaced state is until Commit or Undo.
  const std::string& replaced_path() const { return replaced_; }

  // Removes the replaced state, durably. Once it has started, the swap can no longer be undone.
  absl::Status Commit();
  // Puts the replaced state back at target and the incoming state back at its own path.
  absl::Status Undo();

 private:
  DirectorySwap(std::string target, std::string incoming, SwapOptions options);

  absl::Status SyncParents() const;

  std::string target_;
  std::string incoming_;
  std::string replaced_;
  SwapOptions options_;
};

}  // namespace kvd::mvcc
