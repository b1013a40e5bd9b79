// Test support for the WAL: a plain model of the log to compare recoveries against, and a
// generator of random but valid workloads (what a Raft node could ask the WAL to do).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "raft/types.h"
#include "storage/wal/wal.h"

namespace kvd::wal::testing {

// The data of entry (index, term): deterministic, so a recovered entry can be checked knowing
// only its index and term. 0 to max_bytes bytes.
std::string EntryData(raft::Index index, raft::Term term, uint32_t max_bytes = 600);
raft::Entry MakeEntry(raft::Index index, raft::Term term, uint32_t max_bytes = 600);
std::vector<raft::Entry> MakeEntries(raft::Index first, size_t count, raft::Term term,
                                     uint32_t max_bytes = 600);

// The log as the WAL's contract describes it, kept the obvious way.
struct LogModel {
  raft::HardState hard_state;
  raft::SnapshotMetadata snapshot;
  std::vector<raft::Entry> entries;  // snapshot.index + 1, ...

  raft::Index last_index() const { return snapshot.index + entries.size(); }
  raft::Term TermAt(raft::Index i) const;
  bool operator==(const LogModel&) const = default;
};

LogModel ModelOf(const RecoveredLog& log);
std::string Describe(const LogModel& m);
inline void PrintTo(const LogModel& m, std::ostream* os) { *os << Describe(m); }

// One call on the WAL. Entries are MakeEntries(first, count, entry_term, max_bytes).
struct WalOp {
  enum class Kind : uint8_t { kSave, kSaveSnapshot, kReleaseTo };
  Kind kind = Kind::kSave;
  bool sync = true;
  bool install = false;             // kSave: carries an installed snapshot
  raft::SnapshotMetadata snapshot;  // kSave with install, kSaveSnapshot
  raft::Index first = 0;            // kSave: entries
  uint32_t count = 0;
  raft::Term entry_term = 0;
  uint32_t max_bytes = 600;
  bool has_hard_state = false;  // kSave
  raft::HardState hard_state;
  raft::Index release_to = 0;  // kReleaseTo

  // A fixed-size form for sending over a pipe.
  static constexpr size_t kWireBytes = 96;
  std::string ToWire() const;
  static WalOp FromWire(std::string_view wire);
  std::string ToString() const;
};

absl::Status ApplyToWal(Wal& wal, const WalOp& op);
void ApplyToModel(LogModel& model, const WalOp& op);

struct WorkloadShape {
  uint32_t max_entries_per_batch = 40;
  uint32_t max_entry_bytes = 600;
  double truncate_probability = 0.1;
  double new_term_probability = 0.1;
  double install_probability = 0.02;
  double compaction_probability = 0.05;
  double release_probability = 0.05;
  double unsynced_probability = 0.1;
};

// A random operation that is valid for a WAL holding `model`.
WalOp NextOp(std::mt19937_64& rng, const LogModel& model, const WorkloadShape& shape);

// A seed from the environment variable `env` if set, else a random one; printed either way, with
// how to replay it.
uint64_t SeedFromEnv(const char* env);
// A count from the environment variable `env` if set, else `fallback`.
int CountFromEnv(const char* env, int fallback);

}  // namespace kvd::wal::testing
