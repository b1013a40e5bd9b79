#include "tests/sim/simulation.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raft/confchange.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "tests/linearizability/checker.h"
#include "tests/sim/fault_profile.h"
#include "tests/sim/kv_state_machine.h"
#include "tests/sim/safety_monitor.h"
#include "tests/sim/sim_network.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/sim_random.h"
#include "tests/sim/trace_format.h"
#include "tests/sim/workload.h"

namespace kvd::sim {
namespace {

using raft::NodeId;

constexpr int kElectionTick = 10;
constexpr int kHeartbeatTick = 2;
// A client waits this long for an answer before retrying elsewhere, and gives up on an
// operation after op_deadline.
constexpr SimTime kClientTimeout = 8 * kTickUnits;
constexpr SimTime kClientDeadline = 40 * kTickUnits;

enum class EventKind : uint8_t {
  kTick,
  kDeliver,
  kDiskDone,
  kRaftReport,
  kClientStart,
  kClientRequest,
  kClientReply,
  kClientTimer,
  kNemesis,
  kFaultEnd,
  kRestart,
  kLivenessCheck,
  kApply,
  kCrash,
};

// When a Ready's committed entries are applied (all allowed by the contract).
enum class ApplyMode : uint8_t { kEarly, kOnPersist, kLate };

// One thing for a node's state machine to do, in order.
struct ApplyTask {
  bool is_snapshot = false;
  raft::Entry entry;
  raft::Snapshot snapshot;
};

struct Event {
  SimTime time = 0;
  uint64_t order = 0;
  EventKind kind = EventKind::kTick;
  NodeId node = raft::kNoNode;
  uint64_t incarnation = 0;
  raft::Message msg;              // kDeliver
  NodeId sender = raft::kNoNode;  // kDeliver: whose Ready it came from
  ClientRequest request;          // kClientRequest, kClientTimer
  ClientReply reply;              // kClientReply
  uint64_t client = 0;            // kClientStart
  uint64_t fault = 0;             // kFaultEnd
  NodeId peer = raft::kNoNode;    // kRaftReport
  bool snapshot_report = false;   // kRaftReport: ReportSnapshot (else ReportUnreachable)
  bool failed = false;            // kRaftReport: the snapshot failed
  bool new_leader_crash = false;  // kCrash: a new leader's early death (spares a majority)
};

struct EventLater {
  bool operator()(const Event& a, const Event& b) const {
    return a.time != b.time ? a.time > b.time : a.order > b.order;
  }
};

struct Fault {
  NemesisAction kind = NemesisAction::kCrash;
  std::vector<SimNetwork::Link> links;
  NodeId node = raft::kNoNode;
};

enum class Phase : uint8_t { kChaos, kHeal, kDrain, kDone };

class Simulation {
 public:
  Simulation(const SimOptions& options, uint64_t seed, std::ostream* trace)
      : options_(options),
        seed_(seed),
        trace_(trace),
        rng_(seed),
        profile_(ChooseProfile(rng_, options.nodes)),
        monitor_(&nodes_),
        clients_(options.nodes + 1, profile_.keys, kClientDeadline) {
    outcome_.seed = seed;
  }

  SeedOutcome Run();

 private:
  // --- events ---
  void Schedule(SimTime at, Event e) {
    e.time = at;
    e.order = next_order_++;
    queue_.push_back(std::move(e));
    std::push_heap(queue_.begin(), queue_.end(), EventLater());
  }
  Event PopEvent() {
    std::pop_heap(queue_.begin(), queue_.end(), EventLater());
    Event e = std::move(queue_.back());
    queue_.pop_back();
    return e;
  }
  void Dispatch(Event& e);
  bool DeferIfPaused(Event& e);

  // --- trace ---
  template <typename... Parts>
  void Trace(const Parts&... parts) {
    if (trace_ == nullptr) return;
    *trace_ << "#" << step_ << " t=" << now_ << " " << absl::StrCat(parts...) << "\n";
  }

  // --- nodes ---
  SimNode* Node(NodeId id) {
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : it->second.get();
  }
  SimNode& CreateNode(NodeId id, bool bootstrap);
  void BootNode(SimNode& n);
  void CrashNode(SimNode& n, const char* why);
  void ScheduleTick(const SimNode& n, SimTime delay);
  void ObserveStatus(SimNode& n);
  void NoteLeader(const SimNode& n, const raft::Status& status);
  bool MayCrash(NodeId victim) const;
  std::optional<NodeId> CurrentLeader();
  std::vector<NodeId> LiveIds() const;  // existing, not retired

  // --- the Ready pipeline ---
  void Pump(SimNode& n);
  void FinishDiskWrite(SimNode& n);
  void Enqueue(SimNode& n, const std::vector<raft::Entry>& entries);
  void DrainApplyQueue(SimNode& n);
  void InstallSnapshot(SimNode& n, const raft::Snapshot& snap);
  void ApplyEntry(SimNode& n, const raft::Entry& e);
  void MaybeRetire(SimNode& n);
  // Sends m, which came out of `sender`'s Ready. The sender is the Ready's owner, not m.from: a
  // forwarded MsgTransferLeader names the transferee in `from`.
  void Send(const SimNode& sender, const raft::Message& m);
  void ScheduleReport(NodeId to_node, NodeId peer, bool snapshot, bool failed);
  void MaybeAutoSnapshot(SimNode& n);
  void ServeReads(SimNode& n);

  // --- clients ---
  void StartClientOp(uint64_t client);
  void SendRequest(const ClientRequest& req, bool retry);
  void HandleRequest(SimNode& n, const ClientRequest& req);
  void SendReply(const ClientReply& reply);
  void HandleReply(const ClientReply& reply);
  void RetryClient(uint64_t client, const char* why);
  void ClientIdle(uint64_t client);

  // --- nemesis ---
  void Nemesis();
  void NemesisCrash();
  void NemesisPartition();
  void NemesisPause();
  void NemesisLossBurst();
  void NemesisTransferLeader();
  void NemesisConfChange();
  void NemesisSnapshot();
  void EndFault(uint64_t id);
  // Records a fault and schedules its end after `duration` (default: the profile's range).
  uint64_t AddFault(Fault f, std::optional<SimTime> duration = std::nullopt);

  // --- phases ---
  void Heal();
  void CheckLiveness();
  void Finish();
  void Fail(const std::string& property, const std::string& detail);
  void JudgeHistory();

  const SimOptions options_;
  const uint64_t seed_;
  std::ostream* trace_;
  SimRandom rng_;
  FaultProfile profile_;

  std::map<NodeId, std::unique_ptr<SimNode>> nodes_;
  SafetyMonitor monitor_;
  SimNetwork network_;
  ClientPool clients_;
  std::map<NodeId, KvFrontend> frontends_;
  std::map<NodeId, int> tick_skew_;
  std::map<NodeId, SimTime> paused_until_;
  std::set<NodeId> crash_on_write_;  // crash during the node's next disk write
  std::set<std::pair<NodeId, raft::Term>> leaders_seen_;
  std::map<NodeId, int> disk_factor_;  // a node's disk is this many times slower
  std::set<NodeId> retired_;           // applied their own removal and shut down for good
  std::set<NodeId> retire_after_ready_;
  std::map<NodeId, ApplyMode> apply_mode_;
  std::map<NodeId, std::deque<ApplyTask>> apply_queue_;
  std::map<uint64_t, NodeId> preferred_node_;  // per client: the node that answered last
  NodeId next_node_id_ = 0;

  // The membership after the highest conf change applied anywhere.
  raft::ConfState latest_conf_;
  raft::Index latest_conf_index_ = 0;

  std::map<uint64_t, Fault> faults_;
  uint64_t next_fault_ = 1;
  int loss_bursts_ = 0;

  std::vector<Event> queue_;
  uint64_t next_order_ = 0;
  SimTime now_ = 0;
  uint64_t step_ = 0;
  Phase phase_ = Phase::kChaos;

  SimTime heal_time_ = 0;
  SimTime liveness_deadline_ = 0;
  SimTime drain_deadline_ = 0;
  uint64_t probes_proposed_ = 0;
  SimTime last_probe_at_ = -1;
  std::map<NodeId, uint64_t> probe_applied_;

  SeedOutcome outcome_;
};

// ---------------------------------------------------------------------------------------------
// Setup and the main loop.

SimNode& Simulation::CreateNode(NodeId id, bool bootstrap) {
  auto disk = std::make_unique<raft::MemoryStorage>();
  if (bootstrap) {
    // Every original member starts from the same snapshot at index 1 holding the membership, so
    // that members added later (with an empty disk) are caught up by snapshot.
    raft::Snapshot boot;
    boot.metadata.index = 1;
    boot.metadata.term = 1;
    for (int i = 1; i <= options_.nodes; ++i) boot.metadata.conf_state.voters.push_back(i);
    boot.data = KvStateMachine().Serialize();
    absl::Status s = disk->ApplySnapshot(boot);
    if (!s.ok()) Fail("simulator", absl::StrCat("bootstrap snapshot: ", s.message()));
    disk->SetHardState(raft::HardState{1, raft::kNoNode, 1});
  }
  auto node = std::make_unique<SimNode>(id, std::move(disk));
  SimNode& ref = *node;
  nodes_[id] = std::move(node);
  tick_skew_[id] = static_cast<int>(rng_.Range(-profile_.tick_skew, profile_.tick_skew));
  disk_factor_[id] = rng_.PerMille(profile_.slow_disk_per_mille) ? profile_.slow_disk_factor : 1;
  return ref;
}

void Simulation::BootNode(SimNode& n) {
  raft::Config c;
  c.election_tick = kElectionTick;
  c.heartbeat_tick = kHeartbeatTick;
  c.max_size_per_msg = profile_.max_size_per_msg;
  c.max_inflight_msgs = profile_.max_inflight_msgs;
  c.max_committed_size_per_ready = profile_.max_committed_size_per_ready;
  c.pre_vote = true;
  c.check_quorum = true;
  c.seed = DeriveSeed(seed_, n.id(), n.incarnation() + 1);
  if (trace_ != nullptr) {
    NodeId id = n.id();
    c.log = [this, id](std::string_view line) { Trace("n", id, " | ", std::string(line)); };
  }
  absl::Status s = n.Boot(c);
  if (!s.ok()) {
    Fail("restart", absl::StrCat("node ", n.id(), " cannot start from its disk: ", s.message()));
    return;
  }
  frontends_[n.id()].Clear();
  apply_queue_.erase(n.id());
  Trace("n", n.id(), " boots (incarnation ", n.incarnation(), ") from ", DescribeDisk(n.disk()),
        " applied=", n.applied());
  ScheduleTick(n, rng_.Range(1, kTickUnits));
}

void Simulation::ScheduleTick(const SimNode& n, SimTime delay) {
  Event e;
  e.kind = EventKind::kTick;
  e.node = n.id();
  e.incarnation = n.incarnation();
  Schedule(now_ + delay, std::move(e));
}

SeedOutcome Simulation::Run() {
  Trace("seed ", seed_, " nodes=", options_.nodes, " steps=", options_.steps,
        " profile: ", profile_.Describe());
  network_.set_rates(profile_.rates);
  for (int i = 1; i <= options_.nodes; ++i) CreateNode(i, true);
  next_node_id_ = options_.nodes + 1;
  for (int i = 1; i <= options_.nodes; ++i) latest_conf_.voters.push_back(i);
  latest_conf_index_ = 1;
  for (auto& [id, n] : nodes_) BootNode(*n);
  for (int c = 0; c < clients_.clients(); ++c) {
    Event e;
    e.kind = EventKind::kClientStart;
    e.client = static_cast<uint64_t>(c);
    Schedule(rng_.Range(0, 5 * kTickUnits), std::move(e));
  }
  Event nemesis;
  nemesis.kind = EventKind::kNemesis;
  Schedule(rng_.Range(profile_.nemesis_gap_min, profile_.nemesis_gap_max), std::move(nemesis));

  while (phase_ != Phase::kDone && !queue_.empty()) {
    if (phase_ == Phase::kChaos && step_ >= options_.steps) Heal();
    Event e = PopEvent();
    now_ = e.time;
    ++step_;
    Dispatch(e);
    if (phase_ != Phase::kDone && monitor_.violation().has_value()) {
      Fail(monitor_.violation()->property, monitor_.violation()->detail);
    }
    if (phase_ == Phase::kHeal && now_ > liveness_deadline_) CheckLiveness();
    if (phase_ == Phase::kDrain && (now_ > drain_deadline_ || !clients_.AnyBusy())) Finish();
  }
  outcome_.steps_run = step_;
  outcome_.ops_completed = clients_.stats().completed;
  outcome_.ops_indeterminate = clients_.stats().indeterminate;
  outcome_.elections = monitor_.leaders_elected();
  return outcome_;
}

void Simulation::Fail(const std::string& property, const std::string& detail) {
  if (phase_ == Phase::kDone) return;
  outcome_.ok = false;
  outcome_.property = property;
  outcome_.detail = detail;
  outcome_.step = step_;
  Trace("VIOLATION of ", property, ": ", detail);
  phase_ = Phase::kDone;
}

bool Simulation::DeferIfPaused(Event& e) {
  auto it = paused_until_.find(e.node);
  if (it == paused_until_.end() || it->second <= now_) return false;
  Schedule(it->second, std::move(e));
  return true;
}

void Simulation::Dispatch(Event& e) {
  switch (e.kind) {
    case EventKind::kTick: {
      SimNode* n = Node(e.node);
      if (n == nullptr || !n->up() || n->incarnation() != e.incarnation) return;
      if (DeferIfPaused(e)) return;
      Trace("n", n->id(), " tick");
      n->raw().Tick();
      ObserveStatus(*n);
      Pump(*n);
      ScheduleTick(*n, kTickUnits + tick_skew_[n->id()]);
      return;
    }
    case EventKind::kDeliver: {
      SimNode* n = Node(e.node);
      if (n == nullptr || !n->up()) {
        Trace("drop (", e.node, " down) ", DescribeMessage(e.msg));
        if (e.msg.type == raft::MessageType::kSnap) {
          ScheduleReport(e.sender, e.msg.to, true, true);
        }
        return;
      }
      if (DeferIfPaused(e)) return;
      if (network_.Blocked(e.sender, e.msg.to)) {
        Trace("drop (cut) ", DescribeMessage(e.msg));
        if (e.msg.type == raft::MessageType::kSnap) {
          ScheduleReport(e.sender, e.msg.to, true, true);
        }
        return;
      }
      Trace("deliver ", DescribeMessage(e.msg));
      bool snap = e.msg.type == raft::MessageType::kSnap;
      NodeId from = e.sender;
      absl::Status s = n->raw().Step(std::move(e.msg));
      if (!s.ok()) Trace("n", n->id(), " step: ", s.message());
      if (snap) ScheduleReport(from, n->id(), true, !s.ok());
      ObserveStatus(*n);
      Pump(*n);
      return;
    }
    case EventKind::kDiskDone: {
      SimNode* n = Node(e.node);
      if (n == nullptr || !n->up() || n->incarnation() != e.incarnation || !n->busy()) return;
      if (DeferIfPaused(e)) return;
      FinishDiskWrite(*n);
      return;
    }
    case EventKind::kRaftReport: {
      SimNode* n = Node(e.node);
      if (n == nullptr || !n->up()) return;
      if (DeferIfPaused(e)) return;
      if (e.snapshot_report) {
        Trace("n", n->id(), " report snapshot to ", e.peer, e.failed ? " failed" : " done");
        n->raw().ReportSnapshot(e.peer, e.failed);
      } else {
        Trace("n", n->id(), " report ", e.peer, " unreachable");
        n->raw().ReportUnreachable(e.peer);
      }
      Pump(*n);
      return;
    }
    case EventKind::kClientStart:
      StartClientOp(e.client);
      return;
    case EventKind::kClientRequest: {
      SimNode* n = Node(e.node);
      if (n == nullptr || !n->up()) {
        Trace("request lost (n", e.node, " down) ", DescribeRequest(e.request));
        return;
      }
      if (DeferIfPaused(e)) return;
      HandleRequest(*n, e.request);
      return;
    }
    case EventKind::kClientReply:
      HandleReply(e.reply);
      return;
    case EventKind::kClientTimer:
      if (!clients_.Current(e.request.client, e.request.seq, e.request.attempt)) return;
      RetryClient(e.request.client, "timeout");
      return;
    case EventKind::kNemesis:
      if (phase_ != Phase::kChaos) return;
      Nemesis();
      {
        Event next;
        next.kind = EventKind::kNemesis;
        Schedule(now_ + rng_.Range(profile_.nemesis_gap_min, profile_.nemesis_gap_max),
                 std::move(next));
      }
      return;
    case EventKind::kFaultEnd:
      if (phase_ != Phase::kChaos) return;
      EndFault(e.fault);
      return;
    case EventKind::kRestart: {
      SimNode* n = Node(e.node);
      if (n == nullptr || n->up() || retired_.count(n->id()) > 0) return;
      if (n->incarnation() != e.incarnation) return;
      BootNode(*n);
      return;
    }
    case EventKind::kApply: {
      SimNode* n = Node(e.node);
      if (n == nullptr || !n->up() || n->incarnation() != e.incarnation) return;
      if (DeferIfPaused(e)) return;
      DrainApplyQueue(*n);
      MaybeRetire(*n);
      if (n->up()) Pump(*n);
      return;
    }
    case EventKind::kCrash: {
      SimNode* n = Node(e.node);
      if (n == nullptr || !n->up() || n->incarnation() != e.incarnation) return;
      if (phase_ != Phase::kChaos) return;
      SimTime down = rng_.Range(profile_.fault_min, profile_.fault_max);
      if (e.new_leader_crash) {
        if (n->raw().GetStatus().soft_state.role != raft::Role::kLeader || !MayCrash(n->id())) {
          return;
        }
        CrashNode(*n, "a young leader");
        down = rng_.Range(1, 5 * kTickUnits);
      } else {
        CrashNode(*n, "during its disk write");
      }
      Event restart;
      restart.kind = EventKind::kRestart;
      restart.node = n->id();
      restart.incarnation = n->incarnation();
      Schedule(now_ + down, std::move(restart));
      return;
    }
    case EventKind::kLivenessCheck:
      if (phase_ != Phase::kHeal) return;
      CheckLiveness();
      if (phase_ == Phase::kHeal) {
        Event next;
        next.kind = EventKind::kLivenessCheck;
        Schedule(now_ + kTickUnits, std::move(next));
      }
      return;
  }
}

void Simulation::ObserveStatus(SimNode& n) {
  if (!n.up()) return;
  raft::Status status = n.raw().GetStatus();
  monitor_.OnStatus(n, status);
  NoteLeader(n, status);
}

void Simulation::NoteLeader(const SimNode& n, const raft::Status& status) {
  if (status.soft_state.role != raft::Role::kLeader) return;
  if (!leaders_seen_.insert({n.id(), status.hard_state.term}).second) return;
  if (phase_ != Phase::kChaos) return;
  // Some new leaders are cut off the moment they win, before their first append leaves, and
  // some die young: terms pile up with entries that reached few or no followers, the ground on
  // which commitment rules (Figure 8) and log repair are tested.
  if (rng_.PerMille(profile_.new_leader_isolate_per_mille)) {
    Fault f;
    f.kind = NemesisAction::kPartition;
    for (NodeId other : LiveIds()) {
      if (other == n.id()) continue;
      f.links.push_back({n.id(), other});
      f.links.push_back({other, n.id()});
    }
    for (const auto& [from, to] : f.links) network_.Block(from, to);
    AddFault(std::move(f), rng_.Range(2, 4 * kTickUnits));
    Trace("nemesis: new leader n", n.id(), " of term ", status.hard_state.term,
          " cut off, cut links now ", network_.DescribeBlocks());
  }
  if (!rng_.PerMille(profile_.new_leader_crash_per_mille)) return;
  Event crash;
  crash.kind = EventKind::kCrash;
  crash.node = n.id();
  crash.incarnation = n.incarnation();
  crash.new_leader_crash = true;
  Schedule(now_ + rng_.Range(1, 3 * kTickUnits), std::move(crash));
}

bool Simulation::MayCrash(NodeId victim) const {
  const std::vector<NodeId>& voters = latest_conf_.voters;
  if (profile_.allow_majority_down ||
      std::find(voters.begin(), voters.end(), victim) == voters.end()) {
    return true;
  }
  size_t up_voters = 0;
  for (NodeId v : voters) {
    auto it = nodes_.find(v);
    bool up = it != nodes_.end() && it->second->up() && crash_on_write_.count(v) == 0;
    up_voters += up ? 1 : 0;
  }
  return up_voters > 0 && (up_voters - 1) * 2 > voters.size();
}

std::optional<NodeId> Simulation::CurrentLeader() {
  std::optional<NodeId> leader;
  raft::Term best = 0;
  for (auto& [id, n] : nodes_) {
    if (!n->up()) continue;
    raft::Status st = n->raw().GetStatus();
    if (st.soft_state.role == raft::Role::kLeader && st.hard_state.term >= best) {
      best = st.hard_state.term;
      leader = id;
    }
  }
  return leader;
}

std::vector<NodeId> Simulation::LiveIds() const {
  std::vector<NodeId> ids;
  for (const auto& [id, n] : nodes_) {
    if (retired_.count(id) == 0) ids.push_back(id);
  }
  return ids;
}

void Simulation::CrashNode(SimNode& n, const char* why) {
  size_t cuts = n.InflightCutPoints();
  size_t cut = cuts == 0 ? 0 : static_cast<size_t>(rng_.Range(0, static_cast<int64_t>(cuts) - 1));
  bool power_loss = rng_.PerMille(profile_.power_loss_per_mille);
  Trace("n", n.id(), " CRASH (", why, ")",
        n.busy() ? absl::StrCat(" mid-write, cut ", cut, "/", cuts - 1) : std::string(),
        power_loss ? " with power loss" : "");
  n.Crash(cut, power_loss);
  monitor_.OnCrash(n);
  frontends_[n.id()].Clear();
  apply_queue_.erase(n.id());
  retire_after_ready_.erase(n.id());
  crash_on_write_.erase(n.id());
  paused_until_.erase(n.id());
  ++outcome_.crashes;
}

// ---------------------------------------------------------------------------------------------
// The Ready pipeline (THE READY CONTRACT, raft/rawnode.h).

void Simulation::Pump(SimNode& n) {
  if (phase_ == Phase::kDone || !n.up() || n.busy() || !n.raw().HasReady()) return;
  raft::Index prev_last = n.ObservedLastIndex();
  const raft::Ready& rd = n.TakeReady();
  raft::Status status = n.raw().GetStatus();
  Trace("n", n.id(), " ready ", DescribeReady(rd));
  monitor_.OnReady(n, rd, prev_last, status);
  NoteLeader(n, status);
  if (monitor_.violation().has_value()) return;
  // Step 1: these may leave before the write.
  for (const raft::Message& m : rd.messages) Send(n, m);
  for (const raft::ReadState& rs : rd.read_states) {
    monitor_.OnReadState(n, rs);
    frontends_[n.id()].OnReadState(rs);
  }
  // Step 4 may start before step 2 completes (the committed entries are durable already) or
  // finish after Advance.
  ApplyMode mode = ApplyMode::kOnPersist;
  if (rd.snapshot.IsEmpty() && rng_.PerMille(profile_.apply_early_per_mille)) {
    mode = ApplyMode::kEarly;
  } else if (rng_.PerMille(profile_.apply_late_per_mille)) {
    mode = ApplyMode::kLate;
  }
  apply_mode_[n.id()] = mode;
  if (mode == ApplyMode::kEarly) {
    Enqueue(n, rd.committed_entries);
    DrainApplyQueue(n);
  }
  bool writes = !rd.entries.empty() || rd.hard_state.has_value() || !rd.snapshot.IsEmpty();
  SimTime latency = rng_.Range(profile_.disk_min, profile_.disk_max) * disk_factor_[n.id()];
  if (rng_.PerMille(profile_.disk_stall_per_mille))
    latency += rng_.Range(1, profile_.disk_stall_max);
  Event done;
  done.kind = EventKind::kDiskDone;
  done.node = n.id();
  done.incarnation = n.incarnation();
  Schedule(now_ + latency, std::move(done));
  if (writes && crash_on_write_.count(n.id()) > 0 && phase_ == Phase::kChaos) {
    // The crash strikes at some moment of the write, before it completes: the messages sent
    // meanwhile (a leader's appends, say) are out; what depends on the write is not.
    crash_on_write_.erase(n.id());
    Event crash;
    crash.kind = EventKind::kCrash;
    crash.node = n.id();
    crash.incarnation = n.incarnation();
    Schedule(now_ + rng_.Range(0, latency - 1), std::move(crash));
  }
}

void Simulation::FinishDiskWrite(SimNode& n) {
  // Step 2 completes.
  if (absl::Status s = n.PersistReady(); !s.ok()) {
    monitor_.Report("ready contract", absl::StrCat("node ", n.id(), ": ", s.message()));
    return;
  }
  const raft::Ready& rd = n.inflight();
  Trace("n", n.id(), " persisted", rd.must_sync ? " (synced)" : "");
  ApplyMode mode = apply_mode_[n.id()];
  if (!rd.snapshot.IsEmpty()) {
    ApplyTask task;
    task.is_snapshot = true;
    task.snapshot = rd.snapshot;
    apply_queue_[n.id()].push_back(std::move(task));
  }
  if (mode != ApplyMode::kEarly) Enqueue(n, rd.committed_entries);
  // Step 3: what vouches for the persisted state leaves only now.
  for (const raft::Message& m : rd.messages_after_persist) Send(n, m);
  // Step 4 (unless early or late), then step 5.
  if (mode == ApplyMode::kOnPersist) DrainApplyQueue(n);
  if (!n.up() || phase_ == Phase::kDone || monitor_.violation().has_value()) return;
  n.FinishReady();
  ObserveStatus(n);
  if (mode == ApplyMode::kLate && !apply_queue_[n.id()].empty()) {
    Event apply;
    apply.kind = EventKind::kApply;
    apply.node = n.id();
    apply.incarnation = n.incarnation();
    Schedule(now_ + rng_.Range(1, profile_.disk_max + 1), std::move(apply));
  }
  MaybeRetire(n);
  if (!n.up()) return;
  MaybeAutoSnapshot(n);
  Pump(n);
}

void Simulation::Enqueue(SimNode& n, const std::vector<raft::Entry>& entries) {
  std::deque<ApplyTask>& q = apply_queue_[n.id()];
  for (const raft::Entry& e : entries) {
    ApplyTask task;
    task.entry = e;
    q.push_back(std::move(task));
  }
}

void Simulation::DrainApplyQueue(SimNode& n) {
  std::deque<ApplyTask>& q = apply_queue_[n.id()];
  while (!q.empty()) {
    if (phase_ == Phase::kDone || monitor_.violation().has_value()) return;
    ApplyTask task = std::move(q.front());
    q.pop_front();
    if (task.is_snapshot) {
      InstallSnapshot(n, task.snapshot);
    } else {
      ApplyEntry(n, task.entry);
    }
  }
  ServeReads(n);
}

void Simulation::MaybeRetire(SimNode& n) {
  if (retire_after_ready_.count(n.id()) == 0 || n.busy()) return;
  retire_after_ready_.erase(n.id());
  retired_.insert(n.id());
  Trace("n", n.id(), " applied its own removal and shuts down for good");
  n.Crash(0, false);
  monitor_.OnCrash(n);
  frontends_[n.id()].Clear();
  apply_queue_.erase(n.id());
}

void Simulation::InstallSnapshot(SimNode& n, const raft::Snapshot& snap) {
  raft::ConfState before = n.conf();
  if (absl::Status s = n.RestoreStateMachine(snap); !s.ok()) {
    monitor_.Report("snapshot", absl::StrCat("node ", n.id(), ": ", s.message()));
    return;
  }
  monitor_.OnConfChanged(n, before);
  monitor_.OnSnapshotInstalled(n, snap.metadata.index, snap.metadata.term, n.sm().Fingerprint());
  Trace("n", n.id(), " installs snapshot ", snap.metadata.index, "/", snap.metadata.term, " ",
        raft::DescribeConfState(n.conf()));
  ++outcome_.snapshots_installed;
  if (snap.metadata.index > latest_conf_index_) {
    latest_conf_ = snap.metadata.conf_state;
    latest_conf_index_ = snap.metadata.index;
  }
}

void Simulation::ApplyEntry(SimNode& n, const raft::Entry& e) {
  if (e.index != n.applied() + 1) {
    monitor_.Report("ready contract", absl::StrCat("node ", n.id(), " got committed entry ",
                                                   e.index, " after applying ", n.applied()));
    return;
  }
  if (e.type == raft::EntryType::kConfChange) {
    absl::StatusOr<raft::ConfChange> cc = raft::DecodeConfChange(e.data);
    if (!cc.ok()) {
      monitor_.Report("ready contract", absl::StrCat("node ", n.id(), " entry ", e.index,
                                                     ": bad conf change: ", cc.status().message()));
      return;
    }
    raft::ConfState before = n.conf();
    n.set_conf(n.raw().ApplyConfChange(*cc));
    monitor_.OnConfChanged(n, before);
    Trace("n", n.id(), " applies ", e.index, "/", e.term, " conf change ",
          raft::DescribeConfChange(*cc), " -> ", raft::DescribeConfState(n.conf()));
    if (e.index > latest_conf_index_) {
      latest_conf_ = n.conf();
      latest_conf_index_ = e.index;
      ++outcome_.conf_changes_applied;
    }
    if (cc->type == raft::ConfChangeType::kRemoveNode && cc->node_id == n.id()) {
      retire_after_ready_.insert(n.id());
    }
  } else if (!e.data.empty()) {
    absl::StatusOr<KvCommand> cmd = DecodeCommand(e.data);
    if (!cmd.ok()) {
      monitor_.Report("ready contract", absl::StrCat("node ", n.id(), " entry ", e.index, ": ",
                                                     cmd.status().message()));
      return;
    }
    KvAnswer answer = n.sm().Apply(*cmd);
    if (cmd->kind == KvCommandKind::kProbe) {
      probe_applied_[n.id()] = std::max(probe_applied_[n.id()], cmd->seq);
    }
    if (trace_ != nullptr) {
      Trace("n", n.id(), " applies ", e.index, "/", e.term, " ", e.data.substr(4), " -> ",
            answer.stale       ? "stale"
            : answer.duplicate ? "duplicate"
                               : "",
            answer.succeeded ? "ok" : "fail");
    }
    if (std::optional<ClientReply> r = frontends_[n.id()].OnApplied(n.id(), *cmd, answer)) {
      SendReply(*r);
    }
  }
  n.set_applied(e.index);
  monitor_.OnApply(n, e, n.sm().Fingerprint());
}

void Simulation::ServeReads(SimNode& n) {
  for (const ClientReply& r : frontends_[n.id()].ServeReads(n.id(), n.applied(), n.sm())) {
    SendReply(r);
  }
}

void Simulation::MaybeAutoSnapshot(SimNode& n) {
  if (profile_.snapshot_every == 0 || n.busy()) return;
  if (n.applied() < n.SnapshotIndex() + profile_.snapshot_every) return;
  bool made = false;
  if (absl::Status s = n.SnapshotAndCompact(profile_.compaction_keep, &made); !s.ok()) {
    monitor_.Report("snapshot", absl::StrCat("node ", n.id(), ": ", s.message()));
    return;
  }
  if (made) Trace("n", n.id(), " snapshot at ", n.applied(), ", log now ", DescribeDisk(n.disk()));
}

void Simulation::Send(const SimNode& sender, const raft::Message& m) {
  const NodeId from = sender.id();
  monitor_.OnSend(sender, m);
  std::vector<SimTime> delays = network_.Route(from, m.to, rng_);
  if (delays.empty()) {
    Trace("lost ", DescribeMessage(m));
    if (network_.Blocked(from, m.to) && rng_.Coin()) ScheduleReport(from, m.to, false, false);
    if (m.type == raft::MessageType::kSnap) ScheduleReport(from, m.to, true, true);
    return;
  }
  if (trace_ != nullptr) {
    Trace("send ", DescribeMessage(m), delays.size() > 1 ? " (duplicated)" : "");
  }
  for (SimTime d : delays) {
    Event e;
    e.kind = EventKind::kDeliver;
    e.node = m.to;
    e.msg = m;
    e.sender = from;
    Schedule(now_ + d, std::move(e));
  }
}

void Simulation::ScheduleReport(NodeId to_node, NodeId peer, bool snapshot, bool failed) {
  Event e;
  e.kind = EventKind::kRaftReport;
  e.node = to_node;
  e.peer = peer;
  e.snapshot_report = snapshot;
  e.failed = failed;
  Schedule(now_ + 1, std::move(e));
}

// ---------------------------------------------------------------------------------------------
// Clients.

void Simulation::StartClientOp(uint64_t client) {
  if (phase_ == Phase::kDrain || phase_ == Phase::kDone || clients_.Busy(client)) return;
  ClientRequest req = clients_.Start(client, now_, rng_);
  Trace("client ", DescribeRequest(req), " starts");
  SendRequest(req, false);
}

void Simulation::SendRequest(const ClientRequest& req, bool retry) {
  std::vector<NodeId> ids = LiveIds();
  NodeId target = rng_.Pick(ids);
  auto pref = preferred_node_.find(req.client);
  if (!retry && pref != preferred_node_.end() && retired_.count(pref->second) == 0 &&
      rng_.PerMille(700)) {
    target = pref->second;
  }
  Event e;
  e.kind = EventKind::kClientRequest;
  e.node = target;
  e.request = req;
  Schedule(now_ + rng_.Range(1, 3), std::move(e));
  Event timer;
  timer.kind = EventKind::kClientTimer;
  timer.request = req;
  Schedule(now_ + kClientTimeout, std::move(timer));
}

void Simulation::HandleRequest(SimNode& n, const ClientRequest& req) {
  bool proposed = false;
  std::string read_context;
  // The floor is taken before the request reaches the core.
  if (req.is_read) {
    monitor_.OnReadIndexRequested(
        absl::StrCat("r", req.client, ".", req.seq, ".", req.attempt, "@", n.id()));
  }
  std::optional<ClientReply> rejection =
      frontends_[n.id()].Receive(n.id(), req, n.raw(), &proposed, &read_context);
  Trace("n", n.id(), " <- client ", DescribeRequest(req),
        rejection.has_value() ? " rejected"
        : proposed            ? " proposed"
                              : " read-index");
  if (proposed) clients_.MarkProposed(req.client, req.seq);
  if (rejection.has_value()) SendReply(*rejection);
  Pump(n);
}

void Simulation::SendReply(const ClientReply& reply) {
  Event e;
  e.kind = EventKind::kClientReply;
  e.reply = reply;
  Schedule(now_ + rng_.Range(1, 3), std::move(e));
}

void Simulation::HandleReply(const ClientReply& reply) {
  if (reply.rejected) {
    if (!clients_.Current(reply.client, reply.seq, reply.attempt)) return;
    Trace("client ", DescribeReply(reply));
    RetryClient(reply.client, "rejected");
    return;
  }
  if (!clients_.Complete(reply, now_)) return;
  Trace("client ", DescribeReply(reply), " completes");
  preferred_node_[reply.client] = reply.from;
  ClientIdle(reply.client);
}

void Simulation::RetryClient(uint64_t client, const char* why) {
  std::optional<ClientRequest> next = clients_.Retry(client, now_);
  if (!next.has_value()) {
    Trace("client ", client, " gives up (", why, ")");
    ClientIdle(client);
    return;
  }
  Trace("client ", DescribeRequest(*next), " retries (", why, ")");
  // A short back-off before trying another node.
  Event e;
  e.kind = EventKind::kClientRequest;
  std::vector<NodeId> ids = LiveIds();
  e.node = rng_.Pick(ids);
  e.request = *next;
  Schedule(now_ + rng_.Range(1, kTickUnits), std::move(e));
  Event timer;
  timer.kind = EventKind::kClientTimer;
  timer.request = *next;
  Schedule(now_ + kClientTimeout, std::move(timer));
}

void Simulation::ClientIdle(uint64_t client) {
  if (phase_ == Phase::kDrain || phase_ == Phase::kDone) return;
  Event e;
  e.kind = EventKind::kClientStart;
  e.client = client;
  SimTime think =
      clients_.WantsReadBack(client) && rng_.Coin() ? 0 : rng_.Range(0, profile_.client_think_max);
  Schedule(now_ + think, std::move(e));
}

// ---------------------------------------------------------------------------------------------
// The nemesis.

uint64_t Simulation::AddFault(Fault f, std::optional<SimTime> duration) {
  uint64_t id = next_fault_++;
  faults_[id] = std::move(f);
  Event e;
  e.kind = EventKind::kFaultEnd;
  e.fault = id;
  Schedule(now_ + duration.value_or(rng_.Range(profile_.fault_min, profile_.fault_max)),
           std::move(e));
  return id;
}

void Simulation::EndFault(uint64_t id) {
  auto it = faults_.find(id);
  if (it == faults_.end()) return;
  Fault& f = it->second;
  switch (f.kind) {
    case NemesisAction::kPartition:
      for (const auto& [from, to] : f.links) network_.Unblock(from, to);
      Trace("nemesis: partition heals, cut links now ", network_.DescribeBlocks());
      break;
    case NemesisAction::kLossBurst:
      if (--loss_bursts_ == 0) network_.set_rates(profile_.rates);
      Trace("nemesis: loss burst ends");
      break;
    default:
      break;
  }
  faults_.erase(it);
}

void Simulation::Nemesis() {
  NemesisAction a = PickAction(profile_, rng_);
  switch (a) {
    case NemesisAction::kCrash:
      NemesisCrash();
      break;
    case NemesisAction::kPartition:
      NemesisPartition();
      break;
    case NemesisAction::kPause:
      NemesisPause();
      break;
    case NemesisAction::kLossBurst:
      NemesisLossBurst();
      break;
    case NemesisAction::kTransferLeader:
      NemesisTransferLeader();
      break;
    case NemesisAction::kConfChange:
      NemesisConfChange();
      break;
    case NemesisAction::kSnapshot:
      NemesisSnapshot();
      break;
  }
}

void Simulation::NemesisCrash() {
  std::vector<NodeId> up;
  for (NodeId id : LiveIds()) {
    if (Node(id)->up()) up.push_back(id);
  }
  if (up.empty()) return;
  NodeId victim = rng_.Pick(up);
  // Leaders half of the time: a leader dying with unreplicated or unannounced entries is where
  // elections, log repair and commitment rules are tested hardest.
  if (std::optional<NodeId> leader = CurrentLeader(); leader.has_value() && rng_.Coin()) {
    victim = *leader;
  }
  if (!MayCrash(victim)) {
    Trace("nemesis: no crash of n", victim, " (a majority must stay up)");
    return;
  }
  SimNode& n = *Node(victim);
  if (!n.busy() && rng_.PerMille(profile_.crash_mid_write_per_mille)) {
    Trace("nemesis: n", victim, " will crash during its next disk write");
    crash_on_write_.insert(victim);
    return;
  }
  CrashNode(n, "nemesis");
  Event restart;
  restart.kind = EventKind::kRestart;
  restart.node = victim;
  restart.incarnation = n.incarnation();
  Schedule(now_ + rng_.Range(profile_.fault_min, profile_.fault_max), std::move(restart));
}

void Simulation::NemesisPartition() {
  std::vector<NodeId> ids = LiveIds();
  if (ids.size() < 2) return;
  Fault f;
  f.kind = NemesisAction::kPartition;
  auto cut_both = [&](const std::vector<NodeId>& a, const std::vector<NodeId>& b) {
    for (NodeId x : a) {
      for (NodeId y : b) {
        f.links.push_back({x, y});
        f.links.push_back({y, x});
      }
    }
  };
  // Shuffle deterministically to draw random groups.
  std::vector<NodeId> shuffled = ids;
  for (size_t i = shuffled.size(); i > 1; --i) {
    std::swap(shuffled[i - 1], shuffled[static_cast<size_t>(rng_.Range(0, i - 1))]);
  }
  std::string shape;
  int64_t kind = rng_.Range(0, 3);
  if (kind == 0) {
    // Isolate the leader (or anyone, when there is none).
    std::optional<NodeId> leader = CurrentLeader();
    NodeId lone = leader.value_or(shuffled[0]);
    std::vector<NodeId> rest;
    for (NodeId id : ids) {
      if (id != lone) rest.push_back(id);
    }
    cut_both({lone}, rest);
    shape = absl::StrCat("isolate n", lone);
  } else if (kind == 1) {
    // Majority / minority.
    size_t minority = static_cast<size_t>(rng_.Range(1, static_cast<int64_t>(ids.size()) / 2));
    std::vector<NodeId> a(shuffled.begin(), shuffled.begin() + minority);
    std::vector<NodeId> b(shuffled.begin() + minority, shuffled.end());
    cut_both(a, b);
    shape = "split";
  } else if (kind == 2) {
    // One-way loss on a few links.
    int links = static_cast<int>(rng_.Range(1, 3));
    for (int i = 0; i < links; ++i) {
      NodeId from = rng_.Pick(ids);
      NodeId to = rng_.Pick(ids);
      if (from != to) f.links.push_back({from, to});
    }
    shape = "one-way";
  } else {
    // A bridge: two sides that only one node connects.
    if (ids.size() < 3) return;
    NodeId bridge = shuffled[0];
    size_t half = static_cast<size_t>(rng_.Range(1, static_cast<int64_t>(ids.size()) - 2));
    std::vector<NodeId> a(shuffled.begin() + 1, shuffled.begin() + 1 + half);
    std::vector<NodeId> b(shuffled.begin() + 1 + half, shuffled.end());
    cut_both(a, b);
    shape = absl::StrCat("bridge via n", bridge);
  }
  for (const auto& [from, to] : f.links) network_.Block(from, to);
  AddFault(std::move(f));
  Trace("nemesis: partition (", shape, "), cut links now ", network_.DescribeBlocks());
}

void Simulation::NemesisPause() {
  std::vector<NodeId> up;
  for (NodeId id : LiveIds()) {
    if (Node(id)->up()) up.push_back(id);
  }
  if (up.empty()) return;
  NodeId victim = rng_.Pick(up);
  SimTime until = now_ + rng_.Range(profile_.fault_min, profile_.fault_max);
  paused_until_[victim] = std::max(paused_until_[victim], until);
  Trace("nemesis: n", victim, " pauses until t=", paused_until_[victim]);
}

void Simulation::NemesisLossBurst() {
  ++loss_bursts_;
  network_.set_rates(profile_.burst_rates);
  Fault f;
  f.kind = NemesisAction::kLossBurst;
  AddFault(std::move(f));
  Trace("nemesis: loss burst");
}

void Simulation::NemesisTransferLeader() {
  if (latest_conf_.voters.empty()) return;
  NodeId target = rng_.Pick(latest_conf_.voters);
  std::optional<NodeId> leader = CurrentLeader();
  NodeId via = leader.value_or(target);
  if (!leader.has_value() || rng_.PerMille(300)) via = rng_.Pick(LiveIds());
  SimNode* n = Node(via);
  if (n == nullptr || !n->up()) return;
  Trace("nemesis: n", via, " asked to transfer leadership to n", target);
  n->raw().TransferLeader(target);
  ObserveStatus(*n);
  Pump(*n);
}

void Simulation::NemesisConfChange() {
  const std::vector<NodeId>& voters = latest_conf_.voters;
  const std::vector<NodeId>& learners = latest_conf_.learners;
  auto original = [&](NodeId id) { return id <= static_cast<NodeId>(options_.nodes); };
  size_t originals = 0;
  for (NodeId v : voters) originals += original(v) ? 1 : 0;
  const size_t n = static_cast<size_t>(options_.nodes);
  std::vector<raft::ConfChange> options;
  if (learners.size() < 2 && voters.size() + learners.size() < n + 2) {
    options.push_back({raft::ConfChangeType::kAddLearnerNode, next_node_id_, ""});
  }
  if (voters.size() < n + 1) {
    for (NodeId l : learners) options.push_back({raft::ConfChangeType::kAddNode, l, ""});
    if (voters.size() + learners.size() < n + 2) {
      options.push_back({raft::ConfChangeType::kAddNode, next_node_id_, ""});
    }
  }
  for (NodeId l : learners) options.push_back({raft::ConfChangeType::kRemoveNode, l, ""});
  if (voters.size() >= n) {
    // Keep a majority of the original members in the configuration.
    for (NodeId v : voters) {
      if (!original(v) || (originals - 1) * 2 > n) {
        options.push_back({raft::ConfChangeType::kRemoveNode, v, ""});
      }
    }
  }
  if (options.empty()) return;
  // Sometimes an operator fires several changes at once, judged against the same (soon stale)
  // membership: all but one must be refused while a change is pending.
  int burst = rng_.PerMille(300) ? static_cast<int>(rng_.Range(2, 3)) : 1;
  std::optional<NodeId> leader = CurrentLeader();
  NodeId via = leader.has_value() && rng_.PerMille(800) ? *leader : rng_.Pick(LiveIds());
  for (int i = 0; i < burst; ++i) {
    raft::ConfChange cc = rng_.Pick(options);
    if (cc.node_id == next_node_id_) {
      SimNode& fresh = CreateNode(next_node_id_++, false);
      BootNode(fresh);
    }
    SimNode* proposer = Node(via);
    if (proposer == nullptr || !proposer->up()) return;
    absl::Status s = proposer->raw().ProposeConfChange(cc);
    Trace("nemesis: n", via, " proposes ", raft::DescribeConfChange(cc), ": ",
          s.ok() ? "accepted" : std::string(s.message()));
    Pump(*proposer);
  }
}

void Simulation::NemesisSnapshot() {
  std::vector<NodeId> up;
  for (NodeId id : LiveIds()) {
    SimNode* n = Node(id);
    if (n->up() && !n->busy()) up.push_back(id);
  }
  if (up.empty()) return;
  SimNode& n = *Node(rng_.Pick(up));
  bool made = false;
  uint64_t keep = static_cast<uint64_t>(rng_.Range(0, 3));
  if (absl::Status s = n.SnapshotAndCompact(keep, &made); !s.ok()) {
    monitor_.Report("snapshot", absl::StrCat("node ", n.id(), ": ", s.message()));
    return;
  }
  if (made) {
    Trace("nemesis: n", n.id(), " snapshot at ", n.applied(), ", log now ", DescribeDisk(n.disk()));
  }
}

// ---------------------------------------------------------------------------------------------
// Healing, liveness, the end.

void Simulation::Heal() {
  phase_ = Phase::kHeal;
  heal_time_ = now_;
  liveness_deadline_ = now_ + options_.liveness_ticks * kTickUnits;
  network_.UnblockAll();
  LinkRates clean = profile_.rates;
  clean.drop_per_mille = 0;
  clean.duplicate_per_mille = 0;
  clean.slow_per_mille = 0;
  network_.set_rates(clean);
  faults_.clear();
  crash_on_write_.clear();
  paused_until_.clear();
  for (auto& [id, factor] : disk_factor_) factor = 1;  // slow disks and stalls are faults too
  profile_.disk_stall_per_mille = 0;
  Trace("heal: every fault lifted, every member restarted; liveness due by t=", liveness_deadline_);
  for (auto& [id, n] : nodes_) {
    if (!n->up() && retired_.count(id) == 0) BootNode(*n);
  }
  Event check;
  check.kind = EventKind::kLivenessCheck;
  Schedule(now_ + kTickUnits, std::move(check));
}

void Simulation::CheckLiveness() {
  std::optional<NodeId> leader = CurrentLeader();
  std::string missing;
  if (!leader.has_value()) {
    missing = "no leader";
  } else {
    SimNode& l = *Node(*leader);
    std::vector<NodeId> members = l.conf().voters;
    members.insert(members.end(), l.conf().learners.begin(), l.conf().learners.end());
    for (NodeId m : members) {
      SimNode* node = Node(m);
      if (node != nullptr && node->up() && probe_applied_[m] > 0) continue;
      absl::StrAppend(&missing, missing.empty() ? "" : ", ", "n", m,
                      node == nullptr ? " does not exist"
                      : !node->up()   ? " is down"
                                      : " has not applied a probe");
    }
    if (probes_proposed_ == 0) missing = "no probe proposed yet";
    bool probe_due = last_probe_at_ < 0 || now_ - last_probe_at_ >= 3 * kElectionTick * kTickUnits;
    if (!missing.empty() && now_ <= liveness_deadline_ && probe_due) {
      KvCommand probe;
      probe.kind = KvCommandKind::kProbe;
      probe.seq = ++probes_proposed_;
      absl::Status s = l.raw().Propose(EncodeCommand(probe));
      Trace("liveness: leader n", *leader, " proposes probe ", probe.seq, ": ",
            s.ok() ? "accepted" : std::string(s.message()));
      if (s.ok()) last_probe_at_ = now_;
      Pump(l);
    }
  }
  if (missing.empty()) {
    outcome_.liveness_ticks_used = (now_ - heal_time_ + kTickUnits - 1) / kTickUnits;
    Trace("liveness: leader n", *leader, ", probe applied on every member after ",
          outcome_.liveness_ticks_used, " ticks");
    phase_ = Phase::kDrain;
    drain_deadline_ = now_ + options_.drain_ticks * kTickUnits;
    return;
  }
  if (now_ > liveness_deadline_) {
    Fail("liveness", absl::StrCat("faults healed at t=", heal_time_, " but ",
                                  options_.liveness_ticks, " ticks later: ", missing));
  }
}

void Simulation::Finish() {
  clients_.AbandonAll();
  monitor_.CheckAllDisks();
  if (monitor_.violation().has_value()) {
    Fail(monitor_.violation()->property, monitor_.violation()->detail);
    return;
  }
  JudgeHistory();
  if (phase_ != Phase::kDone) phase_ = Phase::kDone;
}

void Simulation::JudgeHistory() {
  std::vector<linearizability::Operation> history = clients_.History();
  absl::StatusOr<linearizability::CheckResult> r = linearizability::CheckHistory(history);
  if (!r.ok()) {
    Fail("simulator", absl::StrCat("invalid history: ", r.status().message()));
    return;
  }
  Trace("history: ", history.size(), " operations, ", r->Report());
  if (r->verdict == linearizability::Verdict::kNotLinearizable) {
    Fail("linearizability",
         absl::StrCat(r->Report(), "history:\n", linearizability::FormatHistory(history)));
  } else if (r->verdict == linearizability::Verdict::kUnknown) {
    Fail("linearizability (undecided)", r->Report());
  }
}

}  // namespace

SeedOutcome RunSeed(const SimOptions& options, uint64_t seed, std::ostream* trace) {
  Simulation sim(options, seed, trace);
  return sim.Run();
}

std::string ReplayCommand(const SimOptions& options, uint64_t seed) {
  return absl::StrCat("kvd-sim --seeds 1 --start ", seed, " --nodes ", options.nodes, " --steps ",
                      options.steps, " --verbose");
}

}  // namespace kvd::sim
