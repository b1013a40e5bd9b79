#include "storage/mvcc/key_index.h"

#include <algorithm>

#include "raft/check.h"
#include "storage/strings.h"

namespace kvd::mvcc {

KeyIndex::Head KeyIndex::HeadOf(const History& h) {
  Head head;
  const Entry& last = h.entries.back();
  head.latest = Revision{last.main, last.sub};
  head.live = !last.tombstone;
  head.create_revision = h.create_revision;
  head.version = h.version;
  head.lease = h.lease;
  return head;
}

const KeyIndex::Entry* KeyIndex::At(const History& h, int64_t rev) {
  auto it = std::upper_bound(h.entries.begin(), h.entries.end(), rev,
                             [](int64_t r, const Entry& e) { return r < e.main; });
  if (it == h.entries.begin()) return nullptr;
  return &*(it - 1);
}

std::optional<KeyIndex::Head> KeyIndex::GetHead(std::string_view key) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return std::nullopt;
  return HeadOf(it->second);
}

std::optional<Revision> KeyIndex::Get(std::string_view key, int64_t rev) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return std::nullopt;
  const Entry* e = At(it->second, rev);
  if (e == nullptr || e->tombstone) return std::nullopt;
  return Revision{e->main, e->sub};
}

void KeyIndex::Range(const KeyRange& range, int64_t rev, std::vector<Revision>* revs,
                     std::vector<std::string>* keys) const {
  auto visit = [&](const std::string& key, const History& h) {
    const Entry* e = At(h, rev);
    if (e == nullptr || e->tombstone) return;
    revs->push_back(Revision{e->main, e->sub});
    if (keys != nullptr) keys->push_back(key);
  };
  if (range.kind == KeyRange::Kind::kSingle) {
    auto it = keys_.find(range.key);
    if (it != keys_.end()) visit(it->first, it->second);
    return;
  }
  for (auto it = keys_.lower_bound(range.key); it != keys_.end(); ++it) {
    if (range.kind == KeyRange::Kind::kBounded && it->first >= range.end) break;
    visit(it->first, it->second);
  }
}

void KeyIndex::RangeHeads(const KeyRange& range, std::vector<Head>* heads) const {
  auto visit = [&](const History& h) {
    if (!h.entries.back().tombstone) heads->push_back(HeadOf(h));
  };
  if (range.kind == KeyRange::Kind::kSingle) {
    auto it = keys_.find(range.key);
    if (it != keys_.end()) visit(it->second);
    return;
  }
  for (auto it = keys_.lower_bound(range.key); it != keys_.end(); ++it) {
    if (range.kind == KeyRange::Kind::kBounded && it->first >= range.end) break;
    visit(it->second);
  }
}

void KeyIndex::MoveLease(const std::string& key, int64_t from, int64_t to) {
  if (from == to) return;
  if (from != 0) {
    auto it = lease_keys_.find(from);
    KVD_CHECK(it != lease_keys_.end() && it->second.erase(key) == 1,
              storage::Cat("lease ", from, " does not hold key ", key));
    if (it->second.empty()) lease_keys_.erase(it);
  }
  if (to != 0) lease_keys_[to].insert(key);
}

KeyIndex::Undo KeyIndex::Put(std::string_view key, Revision rev, int64_t create_revision,
                             int64_t version, int64_t lease) {
  KVD_CHECK(rev.sub >= 0 && rev.main > 0, "bad revision ", rev.main, ".", rev.sub);
  auto [it, inserted] = keys_.try_emplace(key);
  History& h = it->second;
  Undo undo{std::string(key), rev, Head{}, !inserted};
  if (!inserted) {
    undo.before = HeadOf(h);
    KVD_CHECK(undo.before.latest < rev,
              storage::Cat("put of ", key, " at ", rev.main, ".", rev.sub, " is not after ",
                           undo.before.latest.main, ".", undo.before.latest.sub));
  }
  h.entries.push_back(Entry{rev.main, rev.sub, false});
  h.create_revision = create_revision;
  h.version = version;
  MoveLease(undo.key, h.lease, lease);
  h.lease = lease;
  return undo;
}

KeyIndex::Undo KeyIndex::Tombstone(std::string_view key, Revision rev) {
  auto it = keys_.find(key);
  KVD_CHECK(it != keys_.end() && !it->second.entries.back().tombstone,
            storage::Cat("delete of absent key ", key));
  History& h = it->second;
  Undo undo{std::string(key), rev, HeadOf(h), true};
  KVD_CHECK(undo.before.latest < rev,
            storage::Cat("delete of ", key, " is not after its last change"));
  h.entries.push_back(Entry{rev.main, rev.sub, true});
  MoveLease(undo.key, h.lease, 0);
  h.create_revision = 0;
  h.version = 0;
  h.lease = 0;
  return undo;
}

void KeyIndex::Rollback(const Undo& undo) {
  auto it = keys_.find(undo.key);
  KVD_CHECK(it != keys_.end(), "rollback of unknown key ", undo.key);
  History& h = it->second;
  KVD_CHECK(!h.entries.empty() && h.entries.back().main == undo.rev.main &&
                h.entries.back().sub == undo.rev.sub,
            "rollback of ", undo.key, " out of order");
  h.entries.pop_back();
  MoveLease(undo.key, h.lease, undo.before.lease);
  if (h.entries.empty()) {
    // The key had no earlier entry, or compaction dropped the earlier ones meanwhile (they were
    // a deleted life of the key): either way nothing of it remains.
    KVD_CHECK(!undo.existed || !undo.before.live, "rollback lost live key ", undo.key);
    keys_.erase(it);
    return;
  }
  h.create_revision = undo.before.create_revision;
  h.version = undo.before.version;
  h.lease = undo.before.lease;
}

KeyIndex::RangeUndo KeyIndex::TombstoneRange(const KeyRange& range, Revision first, size_t max_keys,
                                             std::vector<std::string>* keys,
                                             std::vector<Revision>* deleted) {
  KVD_CHECK(first.sub >= 0 && first.main > 0, "bad revision ", first.main, ".", first.sub);
  RangeUndo undo;
  undo.first = first;
  auto it =
      range.kind == KeyRange::Kind::kSingle ? keys_.find(range.key) : keys_.lower_bound(range.key);
  for (; it != keys_.end() && undo.before.size() < max_keys; ++it) {
    if (range.kind == KeyRange::Kind::kBounded && it->first >= range.end) break;
    History& h = it->second;
    const Entry& last = h.entries.back();
    if (!last.tombstone) {
      const Revision rev{first.main, first.sub + static_cast<int64_t>(undo.before.size())};
      const Revision prev{last.main, last.sub};
      KVD_CHECK(prev < rev, "delete of ", it->first, " at ", rev.main, ".", rev.sub,
                " is not after ", prev.main, ".", prev.sub);
      if (undo.before.empty()) undo.first_key = it->first;
      undo.last_key = it->first;
      undo.before.push_back(RangeUndo::LiveState{h.create_revision, h.version, h.lease});
      keys->push_back(it->first);
      deleted->push_back(prev);
      h.entries.push_back(Entry{rev.main, rev.sub, true});
      MoveLease(it->first, h.lease, 0);
      h.create_revision = 0;
      h.version = 0;
      h.lease = 0;
    }
    if (range.kind == KeyRange::Kind::kSingle) break;
  }
  return undo;
}

void KeyIndex::Rollback(const RangeUndo& undo) {
  if (undo.before.empty()) return;
  size_t i = 0;
  for (auto it = keys_.lower_bound(undo.first_key);
       it != keys_.end() && it->first <= undo.last_key && i < undo.before.size(); ++it) {
    History& h = it->second;
    const Entry& last = h.entries.back();
    if (!last.tombstone || last.main != undo.first.main ||
        last.sub != undo.first.sub + static_cast<int64_t>(i)) {
      continue;
    }
    h.entries.pop_back();
    KVD_CHECK(!h.entries.empty() && !h.entries.back().tombstone, "rollback of the delete of ",
              it->first, " finds no live version under it");
    const RangeUndo::LiveState& s = undo.before[i++];
    h.create_revision = s.create_revision;
    h.version = s.version;
    MoveLease(it->first, 0, s.lease);
    h.lease = s.lease;
  }
  KVD_CHECK(i == undo.before.size(), "rollback of a range delete found ", i, " of its ",
            undo.before.size(), " tombstones");
}

void KeyIndex::Compact(std::string_view key, int64_t compact, std::vector<Revision>* dropped) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  History& h = it->second;
  auto end = std::upper_bound(h.entries.begin(), h.entries.end(), compact,
                              [](int64_t r, const Entry& e) { return r < e.main; });
  if (end == h.entries.begin()) return;
  auto keep_from = end - 1;  // the last entry <= compact survives unless it is a tombstone
  if (keep_from->tombstone) keep_from = end;
  for (auto e = h.entries.begin(); e != keep_from; ++e)
    dropped->push_back(Revision{e->main, e->sub});
  h.entries.erase(h.entries.begin(), keep_from);
  if (h.entries.empty()) {
    KVD_CHECK(h.lease == 0 && h.version == 0, storage::Cat("compaction emptied live key ", key));
    keys_.erase(it);
  }
}

std::vector<std::string> KeyIndex::KeysWithLease(int64_t lease) const {
  auto it = lease_keys_.find(lease);
  if (it == lease_keys_.end()) return {};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

}  // namespace kvd::mvcc
