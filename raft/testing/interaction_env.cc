#include "raft/testing/interaction_env.h"

#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "raft/confchange.h"
#include "raft/describe.h"
#include "raft/errors.h"
#include "raft/progress.h"

namespace kvd::raft::testing {
namespace {

uint64_t ToUint(const std::string& s) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) return 0;
  return v;
}

std::vector<NodeId> ToIds(const std::vector<std::string>& vals) {
  std::vector<NodeId> out;
  for (const std::string& v : vals) out.push_back(ToUint(v));
  return out;
}

bool IsTrue(const CmdArg* a) { return a != nullptr && !a->vals.empty() && a->vals[0] == "true"; }

}  // namespace

InteractionEnv::InteractionEnv() {
  cluster_.SetLogSink([this](const std::string& line) {
    if (show_log_) out_ += log_indent_ + "INFO " + line + "\n";
  });
}

NodeId InteractionEnv::IdArg(const TestCase& tc, size_t pos) const {
  if (pos >= tc.args.size()) return kNoNode;
  return ToUint(tc.args[pos].key);
}

std::vector<NodeId> InteractionEnv::Ids(const TestCase& tc, size_t from) const {
  std::vector<NodeId> ids;
  for (size_t k = from; k < tc.args.size(); ++k) {
    if (tc.args[k].vals.empty()) ids.push_back(ToUint(tc.args[k].key));
  }
  if (ids.empty()) ids = cluster_.ids();
  return ids;
}

std::string InteractionEnv::Handle(const TestCase& tc) {
  out_.clear();
  log_indent_.clear();
  const std::string& cmd = tc.name;
  auto need_node = [&](NodeId id) {
    if (cluster_.Has(id)) return true;
    Print(absl::StrCat("error: no node ", id));
    return false;
  };
  if (cmd == "add-nodes") {
    AddNodes(tc);
  } else if (cmd == "campaign") {
    if (need_node(IdArg(tc, 0))) cluster_.raw(IdArg(tc, 0)).Campaign();
  } else if (cmd == "tick") {
    const NodeId id = IdArg(tc, 0);
    if (need_node(id)) cluster_.Tick(id, tc.args.size() > 1 ? ToUint(tc.args[1].key) : 1);
  } else if (cmd == "tick-election") {
    const NodeId id = IdArg(tc, 0);
    if (need_node(id)) cluster_.TickElection(id);
  } else if (cmd == "tick-heartbeat") {
    const NodeId id = IdArg(tc, 0);
    if (need_node(id)) cluster_.Tick(id, cluster_.node(id).config().heartbeat_tick);
  } else if (cmd == "propose") {
    const NodeId id = IdArg(tc, 0);
    if (need_node(id)) {
      absl::Status s = cluster_.raw(id).Propose(tc.args.size() > 1 ? tc.args[1].key : "");
      if (!s.ok()) Print(absl::StrCat("error: ", s.message()));
    }
  } else if (cmd == "propose-conf-change") {
    ProposeConfChange(tc);
  } else if (cmd == "read-index") {
    const NodeId id = IdArg(tc, 0);
    if (need_node(id)) cluster_.raw(id).ReadIndex(tc.args.size() > 1 ? tc.args[1].key : "");
  } else if (cmd == "transfer-leadership") {
    const CmdArg* from = tc.Find("from");
    const CmdArg* to = tc.Find("to");
    if (from == nullptr || to == nullptr || from->vals.empty() || to->vals.empty()) {
      Print("error: usage: transfer-leadership from=<id> to=<id>");
    } else if (need_node(ToUint(from->vals[0]))) {
      cluster_.raw(ToUint(from->vals[0])).TransferLeader(ToUint(to->vals[0]));
    }
  } else if (cmd == "report-unreachable") {
    const NodeId id = IdArg(tc, 0);
    if (need_node(id)) cluster_.raw(id).ReportUnreachable(IdArg(tc, 1));
  } else if (cmd == "process-ready") {
    for (NodeId id : Ids(tc, 0)) {
      if (need_node(id) && !ProcessReady(id)) Print(absl::StrCat("> ", id, ": no Ready"));
    }
  } else if (cmd == "deliver-msgs") {
    for (NodeId id : Ids(tc, 0)) {
      if (need_node(id) && !DeliverMsgs(id)) Print(absl::StrCat("> ", id, ": no messages"));
    }
  } else if (cmd == "drop-msgs") {
    for (NodeId id : Ids(tc, 0)) {
      if (need_node(id)) DropMsgs(id);
    }
  } else if (cmd == "stabilize") {
    Stabilize(Ids(tc, 0));
  } else if (cmd == "partition") {
    Partition(tc);
  } else if (cmd == "isolate") {
    if (need_node(IdArg(tc, 0))) cluster_.Isolate(IdArg(tc, 0));
  } else if (cmd == "heal") {
    cluster_.Heal();
  } else if (cmd == "compact") {
    const NodeId id = IdArg(tc, 0);
    if (need_node(id)) {
      absl::Status s =
          cluster_.node(id).CompactTo(ToUint(tc.args.size() > 1 ? tc.args[1].key : ""));
      if (!s.ok()) Print(absl::StrCat("error: ", s.message()));
      RaftLog(id);
    }
  } else if (cmd == "restart") {
    const NodeId id = IdArg(tc, 0);
    if (need_node(id)) cluster_.node(id).Restart();
  } else if (cmd == "status") {
    if (need_node(IdArg(tc, 0))) Status(IdArg(tc, 0));
  } else if (cmd == "raft-log") {
    if (need_node(IdArg(tc, 0))) RaftLog(IdArg(tc, 0));
  } else if (cmd == "raft-state") {
    RaftState();
  } else if (cmd == "applied") {
    if (need_node(IdArg(tc, 0))) Applied(IdArg(tc, 0));
  } else if (cmd == "log-level") {
    show_log_ = !(tc.args.size() > 0 && tc.args[0].key == "none");
  } else {
    Print(absl::StrCat("error: unknown command '", cmd, "'"));
  }
  return out_;
}

void InteractionEnv::AddNodes(const TestCase& tc) {
  const uint64_t n = ToUint(tc.args.empty() ? "" : tc.args[0].key);
  ConfState cs;
  if (const CmdArg* a = tc.Find("voters")) cs.voters = ToIds(a->vals);
  if (const CmdArg* a = tc.Find("learners")) cs.learners = ToIds(a->vals);
  const Index index = tc.Find("index") ? ToUint(tc.Find("index")->vals[0]) : 0;
  NodeId next = 1;
  for (NodeId id : cluster_.ids()) next = std::max(next, id + 1);
  for (uint64_t k = 0; k < n; ++k) {
    Config c = TestConfig(next + k);
    c.pre_vote = IsTrue(tc.Find("pre-vote"));
    c.check_quorum = IsTrue(tc.Find("check-quorum"));
    c.disable_proposal_forwarding = IsTrue(tc.Find("disable-forwarding"));
    if (const CmdArg* a = tc.Find("max-inflight")) c.max_inflight_msgs = ToUint(a->vals[0]);
    if (const CmdArg* a = tc.Find("max-size-per-msg")) c.max_size_per_msg = ToUint(a->vals[0]);
    std::unique_ptr<MemoryStorage> storage;
    if (index > 0) {
      storage = std::make_unique<MemoryStorage>();
      absl::Status s = storage->ApplySnapshot(
          Snapshot{.metadata = {.conf_state = cs, .index = index, .term = 1}, .data = ""});
      if (!s.ok()) Print(absl::StrCat("error: ", s.message()));
      storage->SetHardState(HardState{.term = 1, .vote = kNoNode, .commit = index});
    } else {
      storage = std::make_unique<MemoryStorage>(cs);
    }
    cluster_.Add(c, std::move(storage));
  }
}

bool InteractionEnv::ProcessReady(NodeId id) {
  if (!cluster_.raw(id).HasReady()) return false;
  Print(absl::StrCat("> ", id, " handling Ready"));
  log_indent_ = "  ";
  std::optional<Ready> rd = cluster_.ProcessReady(id);
  out_ += DescribeReady(*rd, "  ");
  log_indent_.clear();
  return true;
}

bool InteractionEnv::DeliverMsgs(NodeId id) {
  std::vector<Message> msgs = std::exchange(cluster_.inbox(id), {});
  if (msgs.empty()) return false;
  Print(absl::StrCat("> ", id, " receiving messages"));
  log_indent_ = "  ";
  for (Message& m : msgs) {
    Print(absl::StrCat("  ", DescribeMessage(m)));
    absl::Status s = cluster_.raw(id).Step(std::move(m));
    if (!s.ok()) Print(absl::StrCat("  error: ", s.message()));
  }
  log_indent_.clear();
  return true;
}

void InteractionEnv::DropMsgs(NodeId id) {
  std::vector<Message> msgs = std::exchange(cluster_.inbox(id), {});
  for (const Message& m : msgs) Print(absl::StrCat("dropped: ", DescribeMessage(m)));
}

void InteractionEnv::Stabilize(const std::vector<NodeId>& ids) {
  for (int rounds = 0; rounds < 1000; ++rounds) {
    bool busy = false;
    for (NodeId id : ids) {
      while (ProcessReady(id)) busy = true;
    }
    for (NodeId id : ids) {
      if (DeliverMsgs(id)) busy = true;
    }
    if (!busy) return;
  }
  Print("error: not stable after 1000 rounds");
}

void InteractionEnv::ProposeConfChange(const TestCase& tc) {
  const NodeId id = IdArg(tc, 0);
  if (!cluster_.Has(id) || tc.args.size() < 3) {
    Print("error: usage: propose-conf-change <id> add-voter|add-learner|remove <node>");
    return;
  }
  ConfChange cc{.node_id = ToUint(tc.args[2].key)};
  const std::string& verb = tc.args[1].key;
  if (verb == "add-voter") {
    cc.type = ConfChangeType::kAddNode;
  } else if (verb == "add-learner") {
    cc.type = ConfChangeType::kAddLearnerNode;
  } else if (verb == "remove") {
    cc.type = ConfChangeType::kRemoveNode;
  } else {
    Print(absl::StrCat("error: unknown conf change '", verb, "'"));
    return;
  }
  absl::Status s = cluster_.raw(id).ProposeConfChange(cc);
  if (!s.ok()) Print(absl::StrCat("error: ", s.message()));
}

void InteractionEnv::Status(NodeId id) {
  const raft::Status st = cluster_.raw(id).GetStatus();
  Print(absl::StrCat(
      id, ": ", RoleName(st.soft_state.role), " ", DescribeHardState(st.hard_state),
      " Lead:", st.soft_state.leader, " Applied:", st.applied, " LastIndex:", st.last_index, " ",
      DescribeConfState(st.conf_state),
      st.lead_transferee == kNoNode ? "" : absl::StrCat(" Transferee:", st.lead_transferee)));
  for (const auto& [peer, pr] : st.progress) {
    Print(absl::StrCat("  ", peer, ": ", ProgressStateName(pr.state), " match=", pr.match,
                       " next=", pr.next, pr.is_learner ? " learner" : "",
                       pr.recent_active ? "" : " inactive"));
  }
}

void InteractionEnv::RaftLog(NodeId id) {
  MemoryStorage& s = cluster_.node(id).storage();
  if (s.LastIndex() < s.FirstIndex()) {
    Print(
        absl::StrCat("log is empty: first index=", s.FirstIndex(), ", last index=", s.LastIndex()));
    return;
  }
  absl::StatusOr<std::vector<Entry>> ents =
      s.Entries(s.FirstIndex(), s.LastIndex() + 1, UINT64_MAX);
  for (const Entry& e : *ents) Print(DescribeEntry(e));
}

void InteractionEnv::RaftState() {
  for (NodeId id : cluster_.ids()) {
    const raft::Status st = cluster_.raw(id).GetStatus();
    const bool voter = std::find(st.conf_state.voters.begin(), st.conf_state.voters.end(), id) !=
                       st.conf_state.voters.end();
    const bool learner = std::find(st.conf_state.learners.begin(), st.conf_state.learners.end(),
                                   id) != st.conf_state.learners.end();
    Print(absl::StrCat(id, ": ", RoleName(st.soft_state.role), " (",
                       voter ? "Voter" : (learner ? "Learner" : "Non-member"),
                       ") Term:", st.hard_state.term, " Lead:", st.soft_state.leader));
  }
}

void InteractionEnv::Applied(NodeId id) {
  const TestNode& n = cluster_.node(id);
  std::vector<std::string> items;
  for (const auto& [index, data] : n.applied()) items.push_back(absl::StrCat(index, ":", data));
  Print(absl::StrCat(id, ": applied=", n.applied_index(), " [", absl::StrJoin(items, " "), "]"));
}

void InteractionEnv::Partition(const TestCase& tc) {
  std::vector<std::vector<NodeId>> groups(1);
  for (const CmdArg& a : tc.args) {
    if (a.key == "/") {
      groups.emplace_back();
    } else {
      groups.back().push_back(ToUint(a.key));
    }
  }
  cluster_.Partition(groups);
}

}  // namespace kvd::raft::testing
