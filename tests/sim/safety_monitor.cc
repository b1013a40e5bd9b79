#include "tests/sim/safety_monitor.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kvd::sim {

uint64_t HashData(const std::string& data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void SafetyMonitor::Report(std::string property, std::string detail) {
  if (violation_.has_value()) return;  // the first one is the one to debug
  violation_ = Violation{std::move(property), std::move(detail)};
}

void SafetyMonitor::OnStatus(const SimNode& node, const raft::Status& status) {
  if (status.soft_state.role != raft::Role::kLeader) return;
  raft::Term term = status.hard_state.term;
  auto [it, inserted] = leader_of_term_.emplace(term, node.id());
  if (!inserted && it->second != node.id()) {
    Report("election safety", absl::StrCat("nodes ", it->second, " and ", node.id(),
                                           " were both leader in term ", term));
  }
}

void SafetyMonitor::OnCrash(const SimNode& node) { leadership_.erase(node.id()); }

void SafetyMonitor::OnConfChanged(const SimNode& node, const raft::ConfState& before) {
  previous_conf_[node.id()] = before;
}

void SafetyMonitor::OnReadIndexRequested(const std::string& context) {
  read_floor_[context] = max_known_commit_;
}

void SafetyMonitor::OnReadState(const SimNode& node, const raft::ReadState& rs) {
  auto it = read_floor_.find(rs.context);
  if (it == read_floor_.end() || rs.index >= it->second) return;
  Report("read index safety",
         absl::StrCat("node ", node.id(), " got read index ", rs.index, " for read ", rs.context,
                      ", but index ", it->second,
                      " was already reported committed when the read was requested"));
}

void SafetyMonitor::OnReady(const SimNode& node, const raft::Ready& rd, raft::Index prev_last_index,
                            const raft::Status& status) {
  CheckReadyContract(node, rd);
  if (rd.hard_state.has_value()) {
    max_known_commit_ = std::max(max_known_commit_, rd.hard_state->commit);
  }
  CheckLogMatching(node, rd);
  raft::Term term = status.hard_state.term;
  if (rd.soft_state.has_value()) {
    raft::Status with_soft = status;
    with_soft.soft_state = *rd.soft_state;
    OnStatus(node, with_soft);
  }
  if (status.soft_state.role == raft::Role::kLeader) {
    auto it = leadership_.find(node.id());
    bool continuing = it != leadership_.end() && it->second.term == term;
    if (!continuing) {
      Leadership fresh;
      fresh.term = term;
      fresh.commit =
          rd.hard_state.has_value() ? rd.hard_state->commit : node.disk().hard_state().commit;
      it = leadership_.insert_or_assign(node.id(), fresh).first;
    }
    Leadership& l = it->second;
    CheckLeaderAppendOnly(node, rd, prev_last_index, term, continuing);
    if (continuing && rd.hard_state.has_value() && rd.hard_state->commit > l.commit) {
      CheckCommitDurability(node, term, l.commit, rd.hard_state->commit, "committed");
      l.commit = rd.hard_state->commit;
    }
    CheckLeaderCompleteness(node, l);
  } else {
    leadership_.erase(node.id());
  }
  for (const raft::Entry& e : rd.committed_entries) RecordCommitted(node, e, term);
}

void SafetyMonitor::CheckReadyContract(const SimNode& node, const raft::Ready& rd) {
  const std::string who = absl::StrCat("node ", node.id(), "'s Ready");
  for (size_t i = 1; i < rd.entries.size(); ++i) {
    if (rd.entries[i].index != rd.entries[i - 1].index + 1) {
      Report("ready contract", absl::StrCat(who, " has non-consecutive entries at ",
                                            rd.entries[i - 1].index, " and ", rd.entries[i].index));
      return;
    }
  }
  const raft::HardState& durable = node.disk().hard_state();
  if (!rd.must_sync) {
    bool term_or_vote_moved = rd.hard_state.has_value() && (rd.hard_state->term != durable.term ||
                                                            rd.hard_state->vote != durable.vote);
    if (!rd.entries.empty() || !rd.snapshot.IsEmpty() || term_or_vote_moved) {
      Report("ready contract", absl::StrCat(who,
                                            " has must_sync=false but carries entries, a "
                                            "snapshot or a new term/vote"));
    }
  }
  // Step-1 messages may not vouch for anything this Ready makes durable: no vote grant, no
  // acknowledgement of appended entries, no term that is not durable yet.
  for (const raft::Message& m : rd.messages) {
    const char* vouches = nullptr;
    if (m.type == raft::MessageType::kVoteResp && !m.reject) vouches = "a vote grant";
    if (m.type == raft::MessageType::kAppResp && !m.reject && m.index > 0) {
      vouches = "an append acknowledgement";
    }
    // Forwarded requests (proposals, reads, transfers) promise nothing; a pre-vote asks about
    // the next term without taking it.
    bool termless = m.type == raft::MessageType::kProp || m.type == raft::MessageType::kReadIndex ||
                    m.type == raft::MessageType::kTransferLeader ||
                    m.type == raft::MessageType::kPreVote ||
                    m.type == raft::MessageType::kPreVoteResp;
    if (vouches == nullptr && !termless && m.term > durable.term)
      vouches = "a term not yet durable";
    if (vouches != nullptr) {
      Report("ready contract", absl::StrCat(who, " sends ", vouches,
                                            " in messages (before its write "
                                            "is durable): ",
                                            static_cast<int>(m.type), " to ", m.to, " term ",
                                            m.term, " index ", m.index));
    }
    // `from` is not always the sender: a forwarded MsgTransferLeader names the transferee, and a
    // proposal forwarded again keeps the node it came from.
    bool from_ok = m.from == node.id() || m.type == raft::MessageType::kTransferLeader ||
                   m.type == raft::MessageType::kProp;
    if (!from_ok || m.to == node.id() || m.to == raft::kNoNode) {
      Report("ready contract", absl::StrCat(who, " has a message from ", m.from, " to ", m.to));
    }
  }
  // Committed entries must already be durable here and continue what was handed out before.
  raft::Index expect = node.handed_out_before_ready() + 1;
  for (const raft::Entry& e : rd.committed_entries) {
    if (e.index != expect) {
      Report("ready contract",
             absl::StrCat(who, " hands out committed entry ", e.index,
                          " but it handed out entries up to ", expect - 1, " before"));
      return;
    }
    ++expect;
    absl::StatusOr<raft::Term> t = node.disk().GetTerm(e.index);
    if (!rd.snapshot.IsEmpty() || !t.ok() || *t != e.term) {
      Report("ready contract", absl::StrCat(who, " hands out committed entry ", e.index, "/",
                                            e.term, " that is not durable on the node"));
      return;
    }
  }
  if (rd.hard_state.has_value() && rd.hard_state->commit > node.ObservedLastIndex()) {
    Report("ready contract", absl::StrCat(who, " sets commit ", rd.hard_state->commit,
                                          " beyond its last index ", node.ObservedLastIndex()));
  }
}

void SafetyMonitor::CheckLogMatching(const SimNode& node, const raft::Ready& rd) {
  std::optional<raft::Term> prev;
  if (!rd.entries.empty()) {
    raft::Term t = 0;
    if (node.TermAt(rd.entries.front().index - 1, &t) == LogSlot::kPresent) prev = t;
  }
  for (const raft::Entry& e : rd.entries) {
    LogRecord rec{HashData(e.data), e.type, prev, node.id()};
    auto [it, inserted] = log_records_.emplace(std::make_pair(e.index, e.term), rec);
    if (!inserted) {
      const LogRecord& old = it->second;
      if (old.data_hash != rec.data_hash || old.type != rec.type) {
        Report("log matching",
               absl::StrCat("entry ", e.index, "/", e.term, " on node ", node.id(),
                            " differs from the entry with the same index and term on node ",
                            old.seen_on));
      } else if (old.prev_term.has_value() && prev.has_value() && *old.prev_term != *prev) {
        Report("log matching",
               absl::StrCat("entry ", e.index, "/", e.term, " follows an entry of term ", *prev,
                            " on node ", node.id(), " but one of term ", *old.prev_term,
                            " on node ", old.seen_on));
      }
    }
    prev = e.term;
  }
}

void SafetyMonitor::CheckLeaderAppendOnly(const SimNode& node, const raft::Ready& rd,
                                          raft::Index prev_last_index, raft::Term term,
                                          bool continuing) {
  const std::string who = absl::StrCat("leader ", node.id(), " of term ", term);
  if (!rd.snapshot.IsEmpty()) {
    Report("leader append-only", absl::StrCat(who, " installs a snapshot at index ",
                                              rd.snapshot.metadata.index, ", replacing its log"));
    return;
  }
  if (rd.entries.empty()) return;
  // Entries of the leader's own term are its appends; before them (first Ready of a leadership
  // only) may come entries it took as a follower.
  size_t first_own = 0;
  while (first_own < rd.entries.size() && rd.entries[first_own].term != term) ++first_own;
  if (continuing && first_own != 0) {
    Report("leader append-only", absl::StrCat(who, " appends entry ", rd.entries[0].index, "/",
                                              rd.entries[0].term, " of another term"));
    return;
  }
  for (size_t i = first_own; i < rd.entries.size(); ++i) {
    if (rd.entries[i].term != term) {
      Report("leader append-only", absl::StrCat(who, " appends entry ", rd.entries[i].index, "/",
                                                rd.entries[i].term, " of another term"));
      return;
    }
  }
  if (first_own == 0 && rd.entries[0].index <= prev_last_index) {
    Report("leader append-only",
           absl::StrCat(who, " rewrites its log from index ", rd.entries[0].index,
                        " (its last index was ", prev_last_index, ")"));
  }
}

bool SafetyMonitor::DurableOn(raft::NodeId voter, raft::Index i, raft::Term t) const {
  auto it = nodes_->find(voter);
  if (it == nodes_->end()) return false;
  const raft::MemoryStorage& disk = it->second->disk();
  if (i < disk.FirstIndex()) return true;  // inside the disk's snapshot
  absl::StatusOr<raft::Term> got = disk.GetTerm(i);
  return got.ok() && *got == t;
}

void SafetyMonitor::OnSend(const SimNode& node, const raft::Message& m) {
  if (m.type != raft::MessageType::kApp && m.type != raft::MessageType::kHeartbeat) return;
  max_known_commit_ = std::max(max_known_commit_, m.commit);
  auto [it, fresh] = commit_announced_.try_emplace(node.id(), m.term, m.commit);
  auto& [term, commit] = it->second;
  if (fresh || term != m.term) {
    // The first announcement of a leadership may repeat what earlier leaders committed; only
    // what it adds later is this leader's own doing.
    term = m.term;
    commit = m.commit;
    return;
  }
  if (m.commit <= commit) return;
  CheckCommitDurability(node, m.term, commit, m.commit, "announced commit of");
  commit = m.commit;
}

void SafetyMonitor::CheckCommitDurability(const SimNode& node, raft::Term term, raft::Index from,
                                          raft::Index to, const char* how) {
  std::vector<const raft::ConfState*> confs = {&node.conf()};
  auto prev = previous_conf_.find(node.id());
  if (prev != previous_conf_.end()) confs.push_back(&prev->second);
  for (raft::Index i = from + 1; i <= to; ++i) {
    raft::Term t = 0;
    if (node.TermAt(i, &t) != LogSlot::kPresent) continue;  // reported by the contract check
    bool durable_quorum = false;
    std::string counts;
    for (const raft::ConfState* cs : confs) {
      size_t copies = 0;
      for (raft::NodeId v : cs->voters) copies += DurableOn(v, i, t) ? 1 : 0;
      absl::StrAppend(&counts, counts.empty() ? "" : ", ", copies, " of ", cs->voters.size(),
                      " voters");
      if (!cs->voters.empty() && copies * 2 > cs->voters.size()) durable_quorum = true;
    }
    if (!durable_quorum) {
      Report("commitment",
             absl::StrCat("leader ", node.id(), " of term ", term, " ", how, " entry ", i, "/", t,
                          " while it was durable on only ", counts));
      return;
    }
  }
  // §5.4.2: the new commit index must be covered by an entry of the leader's own term that a
  // majority stores: the first one at or after it (logs agree on prefixes, so a later one is
  // stored by no more nodes).
  for (raft::Index j = to; j <= node.ObservedLastIndex(); ++j) {
    raft::Term t = 0;
    if (node.TermAt(j, &t) != LogSlot::kPresent) return;
    if (t < term) continue;
    if (t > term) return;  // not this leader's log any more; nothing to judge
    for (const raft::ConfState* cs : confs) {
      size_t copies = 0;
      for (raft::NodeId v : cs->voters) copies += DurableOn(v, j, t) ? 1 : 0;
      if (!cs->voters.empty() && copies * 2 > cs->voters.size()) return;
    }
    raft::Term at_commit = 0;
    (void)node.TermAt(to, &at_commit);
    Report("commitment", absl::StrCat("leader ", node.id(), " of term ", term, " ", how, " index ",
                                      to, " (an entry of term ", at_commit,
                                      ") while no entry of its own term at or "
                                      "after it was on a majority (first: ",
                                      j, "/", t, ")"));
    return;
  }
  raft::Term at_commit = 0;
  (void)node.TermAt(to, &at_commit);
  if (at_commit < term) {
    Report("commitment", absl::StrCat("leader ", node.id(), " of term ", term, " ", how, " index ",
                                      to, " (an entry of term ", at_commit,
                                      ") while its log has no entry of its "
                                      "own term at or after it"));
  }
}

std::optional<bool> SafetyMonitor::LogHas(const SimNode& node, const CommittedRecord& r) const {
  raft::Term t = 0;
  switch (node.TermAt(r.index, &t)) {
    case LogSlot::kPresent:
      return t == r.term;
    case LogSlot::kCompacted:
      return true;  // inside a snapshot; its image is checked against the applied entries
    case LogSlot::kMissing:
      return std::nullopt;
  }
  return std::nullopt;
}

void SafetyMonitor::CheckLeaderCompleteness(const SimNode& node, Leadership& l) {
  auto check = [&](size_t pos) -> bool {  // false: decide later
    const CommittedRecord& r = committed_[pos];
    if (r.bound >= l.term) return true;
    std::optional<bool> has = LogHas(node, r);
    if (!has.has_value()) {
      // Beyond the leader's log: it lacks the entry unless it is still on its way (a later Ready
      // of this leadership decides). A leader appends its own term only, so a missing committed
      // entry shows up as a wrong term at that index soon.
      return false;
    }
    if (!*has) {
      raft::Term t = 0;
      (void)node.TermAt(r.index, &t);
      Report("leader completeness",
             absl::StrCat("entry ", r.index, "/", r.term, " was committed by term ", r.bound,
                          " but leader ", node.id(), " of term ", l.term, " has ", r.index, "/", t,
                          " there"));
    }
    return true;
  };
  std::vector<size_t> still;
  for (size_t pos : l.deferred) {
    if (!check(pos)) still.push_back(pos);
  }
  for (; l.committed_cursor < committed_.size(); ++l.committed_cursor) {
    if (!check(l.committed_cursor)) still.push_back(l.committed_cursor);
  }
  l.deferred = std::move(still);
}

void SafetyMonitor::RecordCommitted(const SimNode& node, const raft::Entry& e,
                                    raft::Term observer_term) {
  auto it = committed_at_.find(e.index);
  if (it != committed_at_.end()) {
    CommittedRecord& r = committed_[it->second];
    if (r.term != e.term) {
      Report("state machine safety", absl::StrCat("node ", node.id(), " reports entry ", e.index,
                                                  "/", e.term, " committed, but entry ", e.index,
                                                  "/", r.term, " was reported committed before"));
    }
    r.bound = std::min(r.bound, observer_term);
    return;
  }
  committed_at_[e.index] = committed_.size();
  committed_.push_back(CommittedRecord{e.index, e.term, observer_term});
}

void SafetyMonitor::OnApply(const SimNode& node, const raft::Entry& e, uint64_t fingerprint) {
  EntryId id{e.term, HashData(e.data), e.type};
  auto [it, inserted] = applied_entries_.emplace(e.index, id);
  if (!inserted && (it->second.term != id.term || it->second.data_hash != id.data_hash ||
                    it->second.type != id.type)) {
    Report("state machine safety",
           absl::StrCat("node ", node.id(), " applied entry ", e.index, "/", e.term,
                        " but another node applied entry ", e.index, "/", it->second.term,
                        it->second.term == e.term ? " with other data" : ""));
    return;
  }
  auto [fit, finserted] = fingerprint_at_.emplace(e.index, std::make_pair(fingerprint, node.id()));
  if (!finserted && fit->second.first != fingerprint) {
    Report("state machine safety",
           absl::StrCat("after applying index ", e.index, " the state machine of node ", node.id(),
                        " differs from node ", fit->second.second, "'s"));
  }
}

void SafetyMonitor::OnSnapshotInstalled(const SimNode& node, raft::Index index, raft::Term term,
                                        uint64_t fingerprint) {
  auto ait = applied_entries_.find(index);
  if (ait != applied_entries_.end() && ait->second.term != term) {
    Report("state machine safety",
           absl::StrCat("node ", node.id(), " installed a snapshot at ", index, "/", term,
                        " but entry ", index, "/", ait->second.term, " was applied there"));
    return;
  }
  auto [fit, inserted] = fingerprint_at_.emplace(index, std::make_pair(fingerprint, node.id()));
  if (!inserted && fit->second.first != fingerprint) {
    Report("state machine safety",
           absl::StrCat("the snapshot node ", node.id(), " installed at index ", index,
                        " holds another state than node ", fit->second.second,
                        " had after applying it"));
  }
}

void SafetyMonitor::CheckAllDisks() {
  struct Log {
    raft::NodeId id;
    raft::Index first;
    std::vector<raft::Entry> entries;
  };
  std::vector<Log> logs;
  for (const auto& [id, node] : *nodes_) {
    const raft::MemoryStorage& disk = node->disk();
    Log log{id, disk.FirstIndex(), {}};
    if (disk.LastIndex() >= disk.FirstIndex()) {
      absl::StatusOr<std::vector<raft::Entry>> es = disk.Entries(
          disk.FirstIndex(), disk.LastIndex() + 1, std::numeric_limits<uint64_t>::max());
      if (es.ok()) log.entries = std::move(*es);
    }
    logs.push_back(std::move(log));
  }
  for (size_t a = 0; a < logs.size(); ++a) {
    for (size_t b = a + 1; b < logs.size(); ++b) {
      const Log& la = logs[a];
      const Log& lb = logs[b];
      raft::Index lo = std::max(la.first, lb.first);
      raft::Index hi = std::min(la.first + la.entries.size(), lb.first + lb.entries.size());
      // From the highest index where both hold an entry of the same term, everything below (in
      // the range both still hold) must be identical.
      bool matched = false;
      for (raft::Index i = hi; i-- > lo;) {
        const raft::Entry& ea = la.entries[i - la.first];
        const raft::Entry& eb = lb.entries[i - lb.first];
        if (!matched && ea.term == eb.term) matched = true;
        if (matched && !(ea == eb)) {
          Report("log matching", absl::StrCat("nodes ", la.id, " and ", lb.id,
                                              " agree on a later entry but "
                                              "differ at index ",
                                              i, " (", ea.term, " vs ", eb.term, ")"));
          return;
        }
      }
    }
  }
}

}  // namespace kvd::sim
