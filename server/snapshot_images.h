// StoreSnapshotImages: snapshot images of the MVCC store, for the peer transport.
//
// Sending: OpenForSend takes a fresh snapshot of the store on the apply thread (its applied index
// is at or above the index Raft announces, which is safe: the receiver skips entries its store
// already holds) into <data-dir>/snap/send-N and streams it as one image; the directory is
// removed when the reader is destroyed.
//
// IMAGE FORMAT (version 1), the bytes the transport streams in chunks: the files of the snapshot
// directory in SnapshotTransferList order, each as
//     u32 little-endian name length | name | u64 little-endian size | size bytes of content
// The receiver writes each file into <data-dir>/snap/recv-N.tmp as it arrives; Commit checks
// every file against the snapshot's manifest (sizes and CRC32C), makes the files durable and
// renames the directory to <data-dir>/snap/recv-<raft index>-N. Only then does the transport hand
// the MsgSnap to Raft.
//
// INSTALL ORDER. When a Ready carries the snapshot, the Raft loop first records it in the WAL and
// only then has the store installed from the image: a crash in between leaves a WAL whose
// snapshot is ahead of the store, and the next start installs the image still in snap/ before
// anything else (FindImage / InstallAtStart). The store is never ahead of what the WAL says.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "raft/types.h"
#include "server/applier.h"
#include "server/transport.h"
#include "storage/mvcc/store.h"

namespace kvd::server {

class StoreSnapshotImages final : public SnapshotImages {
 public:
  // snap_dir: <data-dir>/snap. Partial receives and images being sent by an earlier run are
  // removed; received images are kept (the start may have installed one already, see above).
  StoreSnapshotImages(std::string snap_dir, mvcc::Store* store, Applier* applier);

  absl::StatusOr<std::unique_ptr<SnapshotImageReader>> OpenForSend(
      const raft::Snapshot& snapshot) override;
  absl::StatusOr<std::unique_ptr<SnapshotImageWriter>> BeginReceive(
      const raft::Snapshot& snapshot) override;

  // Replaces the store's state with the image received for snapshot, on the apply thread, unless
  // the store already holds at least as much. Refuses an image older than the snapshot.
  absl::Status Install(const raft::Snapshot& snapshot);

  // The newest complete image received for the snapshot at index, if any.
  static std::optional<std::string> FindImage(const std::string& snap_dir, uint64_t index);
  // Removes received images for snapshots at or below index.
  static void RemoveImagesUpTo(const std::string& snap_dir, uint64_t index);

 private:
  std::string NextDir(const std::string& prefix);

  const std::string snap_dir_;
  mvcc::Store* const store_;
  Applier* const applier_;
  std::atomic<uint64_t> seq_{0};
};

}  // namespace kvd::server
