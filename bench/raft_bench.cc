// raft_bench: committed entries per second through an in-memory 3-node Raft cluster.
//
// Three RawNodes, each with a MemoryStorage for a disk, pass messages to each other directly (no
// network, no fsync): what is measured is the Raft core itself — proposal handling, log
// bookkeeping, replication messages, commitment and the Ready hand-off. Every Ready is handled
// as the contract says (persist, then send, apply, Advance). Storage is compacted as it goes so
// that memory stays flat.
//
//   BM_CommitOneProposalPerReady     one proposal, then run the cluster until it is committed
//                                    and applied on the leader (latency-bound: ~4 Ready rounds)
//   BM_CommitBatch/64, /256          that many proposals before the leader's next Ready, so
//                                    they travel and commit together
//
// Items per second = entries committed (and applied on the leader) per second. Payload: 128
// bytes per entry.
//
//   cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build build/release --target raft_bench -j2
//   build/release/bench/raft_bench
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "raft/config.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"

namespace kvd::raft {
namespace {

constexpr int kNodes = 3;
constexpr Index kCompactEvery = 4096;

class InMemoryCluster {
 public:
  InMemoryCluster() {
    const ConfState cs{.voters = {1, 2, 3}, .learners = {}};
    for (NodeId id = 1; id <= kNodes; ++id) {
      Member& m = members_[id - 1];
      m.storage = std::make_unique<MemoryStorage>(cs);
      Config c;
      c.id = id;
      c.storage = m.storage.get();
      c.max_inflight_msgs = 1024;
      c.pre_vote = true;
      c.check_quorum = true;
      c.seed = 42;
      m.node = *RawNode::Create(c);
    }
    members_[0].node->Campaign();
    Run();
  }

  RawNode& leader() { return *members_[0].node; }
  Index leader_applied() const { return members_[0].applied; }

  // Handles Readys and delivers messages until nothing is left.
  void Run() {
    for (bool busy = true; busy;) {
      busy = false;
      for (Member& m : members_) {
        while (m.node->HasReady()) {
          busy = true;
          Handle(m);
        }
      }
      for (Member& m : members_) {
        while (!m.inbox.empty()) {
          busy = true;
          Message msg = std::move(m.inbox.front());
          m.inbox.pop_front();
          (void)m.node->Step(std::move(msg));
        }
      }
    }
  }

 private:
  struct Member {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<RawNode> node;
    std::deque<Message> inbox;
    Index applied = 0;
    Index compacted = 0;
  };

  void Handle(Member& m) {
    Ready rd = m.node->GetReady();
    for (Message& msg : rd.messages) members_[msg.to - 1].inbox.push_back(std::move(msg));
    if (!rd.snapshot.IsEmpty()) (void)m.storage->ApplySnapshot(rd.snapshot);
    if (!rd.entries.empty()) (void)m.storage->Append(rd.entries);
    if (rd.hard_state) m.storage->SetHardState(*rd.hard_state);
    for (Message& msg : rd.messages_after_persist) {
      members_[msg.to - 1].inbox.push_back(std::move(msg));
    }
    if (!rd.committed_entries.empty()) m.applied = rd.committed_entries.back().index;
    m.node->Advance();
    if (m.applied >= m.compacted + kCompactEvery) {
      (void)m.storage->CreateSnapshot(m.applied, ConfState{.voters = {1, 2, 3}, .learners = {}},
                                      "");
      (void)m.storage->Compact(m.applied);
      m.compacted = m.applied;
    }
  }

  Member members_[kNodes];
};

void BM_CommitOneProposalPerReady(benchmark::State& state) {
  InMemoryCluster c;
  const std::string payload(128, 'x');
  for (auto _ : state) {
    const Index target = c.leader_applied() + 1;
    if (!c.leader().Propose(payload).ok()) state.SkipWithError("proposal dropped");
    c.Run();
    if (c.leader_applied() < target) state.SkipWithError("not committed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CommitOneProposalPerReady);

void BM_CommitBatch(benchmark::State& state) {
  InMemoryCluster c;
  const std::string payload(128, 'x');
  const int64_t batch = state.range(0);
  for (auto _ : state) {
    const Index target = c.leader_applied() + static_cast<Index>(batch);
    for (int64_t k = 0; k < batch; ++k) {
      if (!c.leader().Propose(payload).ok()) state.SkipWithError("proposal dropped");
    }
    c.Run();
    if (c.leader_applied() < target) state.SkipWithError("not committed");
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_CommitBatch)->Arg(64)->Arg(256);

}  // namespace
}  // namespace kvd::raft

BENCHMARK_MAIN();
