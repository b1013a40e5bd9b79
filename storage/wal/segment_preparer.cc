#include "storage/wal/segment_preparer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/wal/wal_format.h"

namespace kvd::wal {

absl::Status PrepareSegment(fs::FileSystem& fs, const std::string& dir, const SegmentSpec& spec,
                            uint64_t seq) {
  const std::string final_path = fs::JoinPath(dir, SegmentFileName(seq));
  const std::string tmp_path = absl::StrCat(final_path, ".tmp");
  if (absl::Status s = fs.Remove(tmp_path); !s.ok() && !absl::IsNotFound(s)) return s;
  {
    absl::StatusOr<std::unique_ptr<fs::WritableFile>> f =
        fs.OpenWritable(tmp_path, fs::OpenMode::kCreateNew);
    if (!f.ok()) return f.status();
    if (absl::Status s = (*f)->WriteAt(0, EncodeSegmentHeader({.seq = seq, .wal_id = spec.wal_id}));
        !s.ok()) {
      return s;
    }
    const uint64_t size = std::max(spec.segment_bytes, kSegmentHeaderBytes);
    if (absl::Status s = (*f)->Preallocate(size); !s.ok()) return s;
    if (spec.zero_fill) {
      static const std::string kZeros(1 << 20, '\0');
      for (uint64_t off = kSegmentHeaderBytes; off < size;) {
        const uint64_t n = std::min<uint64_t>(kZeros.size(), size - off);
        if (absl::Status s = (*f)->WriteAt(off, std::string_view(kZeros.data(), n)); !s.ok()) {
          return s;
        }
        off += n;
      }
    }
    if (absl::Status s = (*f)->Sync(); !s.ok()) return s;
  }
  if (absl::Status s = fs.Rename(tmp_path, final_path); !s.ok()) return s;
  return fs.SyncDir(dir);
}

SegmentPreparer::SegmentPreparer(fs::FileSystem* fs, std::string dir, SegmentSpec spec,
                                 bool background)
    : fs_(fs), dir_(std::move(dir)), spec_(spec), background_(background) {
  if (background_) thread_ = std::thread([this] { Run(); });
}

SegmentPreparer::~SegmentPreparer() {
  if (!background_) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SegmentPreparer::Start(uint64_t seq) {
  if (!background_) {
    requested_ = seq;
    result_ = PrepareSegment(*fs_, dir_, spec_, seq);
    return;
  }
  {
    std::lock_guard lock(mu_);
    requested_ = seq;
    result_.reset();
  }
  cv_.notify_all();
}

absl::Status SegmentPreparer::Wait(uint64_t seq) {
  std::unique_lock lock(mu_);
  if (requested_ != seq) {
    return absl::InternalError(absl::StrCat("wal: segment ", seq, " was never asked for"));
  }
  cv_.wait(lock, [&] { return result_.has_value(); });
  absl::Status s = *std::move(result_);
  result_.reset();
  requested_.reset();
  return s;
}

void SegmentPreparer::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || (requested_ && !result_); });
    if (stopping_) return;
    const uint64_t seq = *requested_;
    lock.unlock();
    absl::Status s = PrepareSegment(*fs_, dir_, spec_, seq);
    lock.lock();
    result_ = std::move(s);
    cv_.notify_all();
  }
}

}  // namespace kvd::wal
