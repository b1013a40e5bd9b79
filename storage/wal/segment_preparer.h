// SegmentPreparer: makes the WAL's next segment ready before the WAL needs it, so starting a
// segment costs the append path no file creation, no preallocation and no directory sync.
//
// Preparing segment seq: write <seq>.wal.tmp with the segment header, preallocate it to the
// segment size (and overwrite it with zeros if asked: on ext4 a later write into allocated but
// never-written blocks must also commit the extent conversion to the journal at every
// fdatasync; into zeroed blocks it is a plain overwrite), fdatasync it, rename it to <seq>.wal,
// fsync the directory. A segment under its final name therefore always has a durable header and
// reads as empty; a crash midway leaves only a *.wal.tmp, which the next Open removes.
//
// Thread-safety: Start and Wait are called by the WAL's thread; in background mode the work runs
// on a thread the preparer owns. The destructor waits for work in progress.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "storage/fs/file_system.h"

namespace kvd::wal {

struct SegmentSpec {
  uint64_t wal_id = 0;
  uint64_t segment_bytes = 0;
  bool zero_fill = true;
};

// Prepares one segment now, on the caller's thread (see above).
absl::Status PrepareSegment(fs::FileSystem& fs, const std::string& dir, const SegmentSpec& spec,
                            uint64_t seq);

class SegmentPreparer {
 public:
  SegmentPreparer(fs::FileSystem* fs, std::string dir, SegmentSpec spec, bool background);
  ~SegmentPreparer();
  SegmentPreparer(const SegmentPreparer&) = delete;
  SegmentPreparer& operator=(const SegmentPreparer&) = delete;

  // Begins preparing segment seq: on the preparer's thread in background mode, at once
  // otherwise (the outcome is kept for Wait). At most one segment is in preparation: call Wait
  // for it before the next Start.
  void Start(uint64_t seq);
  // Returns once segment seq, the one last Started, is ready, or with the error that stopped it.
  absl::Status Wait(uint64_t seq);

 private:
  void Run();

  fs::FileSystem* const fs_;
  const std::string dir_;
  const SegmentSpec spec_;
  const bool background_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<uint64_t> requested_;   // started, not yet waited for
  std::optional<absl::Status> result_;  // of requested_, once done
  bool stopping_ = false;
  std::thread thread_;  // only in background mode
};

}  // namespace kvd::wal
