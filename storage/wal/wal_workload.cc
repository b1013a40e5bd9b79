#include "storage/wal/wal_workload.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"

namespace kvd::wal::testing {
namespace {

uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

template <typename T>
void PutRaw(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <typename T>
T TakeRaw(std::string_view& in) {
  T v;
  std::memcpy(&v, in.data(), sizeof(v));
  in.remove_prefix(sizeof(v));
  return v;
}

raft::ConfState TestConfState() { return raft::ConfState{.voters = {1, 2, 3}, .learners = {}}; }

}  // namespace

std::string EntryData(raft::Index index, raft::Term term, uint32_t max_bytes) {
  uint64_t x = index * 0x100000001B3ULL ^ (term << 40) ^ 0xC0FFEE;
  const size_t n = max_bytes == 0 ? 0 : SplitMix(x) % (max_bytes + 1);
  std::string data(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t r = SplitMix(x);
    std::memcpy(data.data() + i, &r, std::min<size_t>(8, n - i));
  }
  return data;
}

raft::Entry MakeEntry(raft::Index index, raft::Term term, uint32_t max_bytes) {
  return raft::Entry{
      .term = term,
      .index = index,
      .type = index % 17 == 0 ? raft::EntryType::kConfChange : raft::EntryType::kNormal,
      .data = EntryData(index, term, max_bytes)};
}

std::vector<raft::Entry> MakeEntries(raft::Index first, size_t count, raft::Term term,
                                     uint32_t max_bytes) {
  std::vector<raft::Entry> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back(MakeEntry(first + i, term, max_bytes));
  return out;
}

raft::Term LogModel::TermAt(raft::Index i) const {
  if (i == snapshot.index) return snapshot.term;
  if (i > snapshot.index && i <= last_index()) return entries[i - snapshot.index - 1].term;
  return 0;
}

LogModel ModelOf(const RecoveredLog& log) {
  return LogModel{.hard_state = log.hard_state, .snapshot = log.snapshot, .entries = log.entries};
}

std::string Describe(const LogModel& m) {
  std::string s = absl::StrCat("snapshot (", m.snapshot.index, ", term ", m.snapshot.term,
                               "), hard state (term ", m.hard_state.term, ", vote ",
                               m.hard_state.vote, ", commit ", m.hard_state.commit, "), entries ");
  if (m.entries.empty()) return s + "none";
  absl::StrAppend(&s, m.entries.front().index, "..", m.entries.back().index, " terms");
  raft::Term last = 0;
  for (const raft::Entry& e : m.entries) {
    if (e.term != last) absl::StrAppend(&s, " ", e.index, ":", e.term);
    last = e.term;
  }
  return s;
}

std::string WalOp::ToWire() const {
  std::string out;
  PutRaw<uint8_t>(out, static_cast<uint8_t>(kind));
  PutRaw<uint8_t>(out, sync);
  PutRaw<uint8_t>(out, install);
  PutRaw<uint8_t>(out, has_hard_state);
  PutRaw<uint32_t>(out, count);
  PutRaw<uint64_t>(out, first);
  PutRaw<uint64_t>(out, entry_term);
  PutRaw<uint64_t>(out, snapshot.index);
  PutRaw<uint64_t>(out, snapshot.term);
  PutRaw<uint64_t>(out, hard_state.term);
  PutRaw<uint64_t>(out, hard_state.vote);
  PutRaw<uint64_t>(out, hard_state.commit);
  PutRaw<uint64_t>(out, release_to);
  PutRaw<uint32_t>(out, max_bytes);
  out.resize(kWireBytes, '\0');
  return out;
}

WalOp WalOp::FromWire(std::string_view in) {
  WalOp op;
  op.kind = static_cast<Kind>(TakeRaw<uint8_t>(in));
  op.sync = TakeRaw<uint8_t>(in) != 0;
  op.install = TakeRaw<uint8_t>(in) != 0;
  op.has_hard_state = TakeRaw<uint8_t>(in) != 0;
  op.count = TakeRaw<uint32_t>(in);
  op.first = TakeRaw<uint64_t>(in);
  op.entry_term = TakeRaw<uint64_t>(in);
  op.snapshot.index = TakeRaw<uint64_t>(in);
  op.snapshot.term = TakeRaw<uint64_t>(in);
  op.hard_state.term = TakeRaw<uint64_t>(in);
  op.hard_state.vote = TakeRaw<uint64_t>(in);
  op.hard_state.commit = TakeRaw<uint64_t>(in);
  op.release_to = TakeRaw<uint64_t>(in);
  op.max_bytes = TakeRaw<uint32_t>(in);
  if (op.kind == Kind::kSaveSnapshot || op.install) op.snapshot.conf_state = TestConfState();
  return op;
}

std::string WalOp::ToString() const {
  switch (kind) {
    case Kind::kReleaseTo:
      return absl::StrCat("ReleaseTo(", release_to, ")");
    case Kind::kSaveSnapshot:
      return absl::StrCat("SaveSnapshot(", snapshot.index, ", term ", snapshot.term, ")");
    case Kind::kSave:
      break;
  }
  std::string s = "Save(";
  if (install) absl::StrAppend(&s, "install ", snapshot.index, "/", snapshot.term, "; ");
  if (count > 0)
    absl::StrAppend(&s, "entries ", first, "..", first + count - 1, " term ", entry_term, "; ");
  if (has_hard_state) {
    absl::StrAppend(&s, "hs ", hard_state.term, "/", hard_state.vote, "/", hard_state.commit, "; ");
  }
  absl::StrAppend(&s, sync ? "sync)" : "no sync)");
  return s;
}

absl::Status ApplyToWal(Wal& wal, const WalOp& op) {
  switch (op.kind) {
    case WalOp::Kind::kReleaseTo:
      return wal.ReleaseTo(op.release_to);
    case WalOp::Kind::kSaveSnapshot:
      return wal.SaveSnapshot(op.snapshot);
    case WalOp::Kind::kSave:
      break;
  }
  const std::vector<raft::Entry> entries =
      MakeEntries(op.first, op.count, op.entry_term, op.max_bytes);
  return wal.Save(WalBatch{.snapshot = op.install ? &op.snapshot : nullptr,
                           .entries = entries,
                           .hard_state = op.has_hard_state ? &op.hard_state : nullptr,
                           .sync = op.sync});
}

void ApplyToModel(LogModel& m, const WalOp& op) {
  switch (op.kind) {
    case WalOp::Kind::kReleaseTo:
      return;
    case WalOp::Kind::kSaveSnapshot:
      if (op.snapshot.index > m.snapshot.index) {
        m.entries.erase(
            m.entries.begin(),
            m.entries.begin() + static_cast<ptrdiff_t>(op.snapshot.index - m.snapshot.index));
        m.snapshot = op.snapshot;
      }
      return;
    case WalOp::Kind::kSave:
      break;
  }
  if (op.install) {
    m.snapshot = op.snapshot;
    m.entries.clear();
  }
  if (op.count > 0) {
    m.entries.resize(op.first - m.snapshot.index - 1);
    for (raft::Entry& e : MakeEntries(op.first, op.count, op.entry_term, op.max_bytes)) {
      m.entries.push_back(std::move(e));
    }
  }
  if (op.has_hard_state) m.hard_state = op.hard_state;
}

WalOp NextOp(std::mt19937_64& rng, const LogModel& m, const WorkloadShape& shape) {
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto between = [&](uint64_t lo, uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  const raft::Index last = m.last_index();
  const raft::Index commit = m.hard_state.commit;
  WalOp op;
  op.max_bytes = shape.max_entry_bytes;

  if (commit > m.snapshot.index && chance(shape.compaction_probability)) {
    op.kind = WalOp::Kind::kSaveSnapshot;
    op.snapshot.index = between(m.snapshot.index + 1, commit);
    op.snapshot.term = m.TermAt(op.snapshot.index);
    op.snapshot.conf_state = TestConfState();
    return op;
  }
  if (chance(shape.release_probability)) {
    op.kind = WalOp::Kind::kReleaseTo;
    op.release_to = m.snapshot.index + between(0, 3);
    return op;
  }

  op.kind = WalOp::Kind::kSave;
  op.sync = !chance(shape.unsynced_probability);
  const bool new_term = m.hard_state.term == 0 || chance(shape.new_term_probability);
  op.hard_state = m.hard_state;
  if (new_term) {
    op.hard_state.term = m.hard_state.term + 1;
    op.hard_state.vote = between(0, 3);
  } else if (op.hard_state.vote == raft::kNoNode) {
    op.hard_state.vote = between(0, 3);
  }
  raft::Index base_last = last;
  if (chance(shape.install_probability)) {
    op.install = true;
    op.snapshot.index = std::max(last, commit) + between(1, 20);
    op.snapshot.term = op.hard_state.term;
    op.snapshot.conf_state = TestConfState();
    op.first = op.snapshot.index + 1;
    op.hard_state.commit = op.snapshot.index;
    base_last = op.snapshot.index;
  } else {
    op.first = last + 1;
    const raft::Index floor = std::max(commit, m.snapshot.index);
    if (last > floor && chance(shape.truncate_probability)) op.first = between(floor + 1, last);
  }
  op.count = static_cast<uint32_t>(between(0, shape.max_entries_per_batch));
  if (op.count == 0 && !op.install && !new_term) op.count = 1;
  op.entry_term = op.hard_state.term;
  const raft::Index new_last = op.count > 0 ? op.first + op.count - 1 : base_last;
  op.has_hard_state = new_term || op.install || chance(0.7);
  if (op.has_hard_state && !op.install) {
    op.hard_state.commit = between(commit, new_last);  // new_last > commit: see op.first
  }
  if (!op.has_hard_state) op.hard_state = m.hard_state;
  return op;
}

uint64_t SeedFromEnv(const char* env) {
  uint64_t seed;
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') {
    seed = std::strtoull(v, nullptr, 0);
  } else {
    std::random_device rd;
    seed = (uint64_t{rd()} << 32) | rd();
  }
  std::cout << "[ seed     ] " << env << "=" << seed << " (set it to replay this run)" << std::endl;
  return seed;
}

int CountFromEnv(const char* env, int fallback) {
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return std::atoi(v);
  return fallback;
}

}  // namespace kvd::wal::testing
