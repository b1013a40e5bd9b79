// The rules of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm", extended version), one test per rule, named after its section: §5.1 terms, §5.2
// leader election, §5.3 log replication, §5.4 safety, §5.5 follower crashes, §8 client
// interaction. Membership (§6) and the thesis extensions (pre-vote, check-quorum, leader
// transfer, ReadIndex) have files of their own.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/rawnode.h"
#include "raft/testing/cluster.h"
#include "raft/testing/helpers.h"

namespace kvd::raft {
namespace {

using testing::Cluster;
using testing::CommitOf;
using testing::Drain;
using testing::LogTerms;
using testing::NodeWithLog;
using testing::OfType;
using testing::RoleOf;
using testing::StorageWithLog;
using testing::TermOf;
using testing::TestConfig;
using testing::TestNode;

// ---------------------------------------------------------------------------------------------
// §5.1 Terms

// "If one server's current term is smaller than the other's, then it updates its current term to
// the larger value. If a candidate or leader discovers that its term is out of date, it
// immediately reverts to follower state."
TEST(RaftPaper_5_1, FollowerCandidateAndLeaderAdoptHigherTermAsFollowers) {
  for (Role start : {Role::kFollower, Role::kCandidate, Role::kLeader}) {
    Cluster c({1, 2, 3});
    if (start == Role::kCandidate) {
      c.raw(1).Campaign();
      c.ProcessReady(1);
      c.inbox(2).clear();
      c.inbox(3).clear();
    } else if (start == Role::kLeader) {
      c.Elect(1);
    }
    ASSERT_EQ(RoleOf(c.raw(1)), start);
    const Term higher = TermOf(c.raw(1)) + 5;
    ASSERT_TRUE(
        c.raw(1).Step(Message{.type = MessageType::kApp, .to = 1, .from = 2, .term = higher}).ok());
    EXPECT_EQ(RoleOf(c.raw(1)), Role::kFollower) << RoleName(start);
    EXPECT_EQ(TermOf(c.raw(1)), higher);
    EXPECT_EQ(c.LeaderOf(1), 2u);
  }
}

// "If a server receives a request with a stale term number, it rejects the request."
TEST(RaftPaper_5_1, StaleTermRequestIsRejected) {
  auto n = NodeWithLog(1, {1, 2, 3}, {1, 2}, HardState{.term = 3});
  // A vote request from term 2: not granted, term and vote unchanged.
  ASSERT_TRUE(
      n->node()
          .Step(Message{
              .type = MessageType::kVote, .to = 1, .from = 2, .term = 2, .log_term = 5, .index = 9})
          .ok());
  // An append from term 2: not applied to the log.
  ASSERT_TRUE(n->node()
                  .Step(Message{.type = MessageType::kApp,
                                .to = 1,
                                .from = 2,
                                .term = 2,
                                .log_term = 2,
                                .index = 2,
                                .entries = {Entry{.term = 2, .index = 3}}})
                  .ok());
  Drain(*n);
  EXPECT_EQ(n->node().GetStatus().hard_state, (HardState{.term = 3, .vote = 0, .commit = 0}));
  EXPECT_EQ(n->node().GetStatus().last_index, 2u);
}

// A leader of an older term learns the newer term from the answer to its append, heartbeat or
// snapshot, and the answer is a rejection: nothing was accepted, so nothing may pass for an
// acknowledgement should that node be leader again when it arrives. With or without pre-vote and
// check-quorum.
TEST(RaftPaper_5_1, StaleLeaderIsAnsweredWithARejectionAtTheNewerTerm) {
  for (bool extensions : {false, true}) {
    for (MessageType type : {MessageType::kApp, MessageType::kHeartbeat, MessageType::kSnap}) {
      SCOPED_TRACE(std::string(extensions ? "pre-vote+check-quorum " : "plain ") +
                   std::to_string(static_cast<int>(type)));
      auto n = NodeWithLog(1, {1, 2, 3}, {1, 2}, HardState{.term = 3}, [&](Config& c) {
        c.pre_vote = extensions;
        c.check_quorum = extensions;
      });
      Message m{.type = type,
                .to = 1,
                .from = 2,
                .term = 2,
                .log_term = 2,
                .index = 2,
                .entries = {Entry{.term = 2, .index = 3}},
                .commit = 3};
      if (type == MessageType::kSnap) {
        m.entries.clear();
        m.snapshot.metadata = {
            .conf_state = {.voters = {1, 2, 3}, .learners = {}}, .index = 5, .term = 2};
      } else if (type == MessageType::kHeartbeat) {
        m.entries.clear();
      }
      ASSERT_TRUE(n->node().Step(m).ok());
      std::vector<Message> out = Drain(*n);
      ASSERT_EQ(out.size(), 1u);
      EXPECT_EQ(out[0].type, MessageType::kAppResp);
      EXPECT_EQ(out[0].to, 2u);
      EXPECT_EQ(out[0].term, 3u);
      EXPECT_TRUE(out[0].reject);
      EXPECT_EQ(out[0].index, 0u);
      EXPECT_EQ(n->node().GetStatus().hard_state, (HardState{.term = 3, .vote = 0, .commit = 0}));
      EXPECT_EQ(n->node().GetStatus().last_index, 2u);
      EXPECT_EQ(n->storage().FirstIndex(), 1u);
    }
  }
}

// A leader deposed while cut off keeps appending when it returns; the first answer tells it the
// newer term and it steps down, its proposal never committed.
TEST(RaftPaper_5_1, DeposedLeaderStepsDownOnTheAnswerToItsAppend) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(1);
  c.Elect(2);
  ASSERT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  const Term newer = TermOf(c.raw(2));
  ASSERT_GT(newer, TermOf(c.raw(1)));
  c.Heal();
  const Index commit = CommitOf(c.raw(1));
  ASSERT_TRUE(c.raw(1).Propose("lost").ok());
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kFollower);
  EXPECT_EQ(TermOf(c.raw(1)), newer);
  EXPECT_EQ(RoleOf(c.raw(2)), Role::kLeader);
  for (NodeId id : {1, 2, 3}) {
    for (const auto& [index, data] : c.node(id).applied()) EXPECT_NE(data, "lost") << id;
  }
  EXPECT_GE(CommitOf(c.raw(2)), commit);
}

// ---------------------------------------------------------------------------------------------
// §5.2 Leader election

// "When servers start up, they begin as followers."
TEST(RaftPaper_5_2, ServersStartAsFollowers) {
  Cluster c({1, 2, 3});
  for (NodeId id : c.ids()) {
    EXPECT_EQ(RoleOf(c.raw(id)), Role::kFollower);
    EXPECT_EQ(c.LeaderOf(id), kNoNode);
  }
}

// "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to all
// followers in order to maintain their authority."
TEST(RaftPaper_5_2, LeaderSendsHeartbeatsEveryHeartbeatTick) {
  Cluster c({1, 2, 3}, {}, [](Config& cfg) { cfg.heartbeat_tick = 2; });
  c.Elect(1);
  c.Tick(1);
  EXPECT_FALSE(c.raw(1).HasReady());
  c.Tick(1);
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  std::set<NodeId> to;
  for (const Message& m : rd->messages) {
    EXPECT_EQ(m.type, MessageType::kHeartbeat);
    EXPECT_TRUE(m.entries.empty());
    to.insert(m.to);
  }
  EXPECT_EQ(to, (std::set<NodeId>{2, 3}));
}

// "If a follower receives no communication over a period of time called the election timeout,
// then it ... begins an election ... increments its current term and transitions to candidate
// state. It then votes for itself and issues RequestVote RPCs in parallel to each of the other
// servers."
TEST(RaftPaper_5_2, FollowerStartsElectionAfterElectionTimeout) {
  Cluster c({1, 2, 3});
  c.TickElection(1);
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kCandidate);
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  ASSERT_TRUE(rd->hard_state.has_value());
  EXPECT_EQ(rd->hard_state->term, 1u);
  EXPECT_EQ(rd->hard_state->vote, 1u);
  std::set<NodeId> to;
  for (const Message& m : rd->messages_after_persist) {
    EXPECT_EQ(m.type, MessageType::kVote);
    EXPECT_EQ(m.term, 1u);
    to.insert(m.to);
  }
  EXPECT_EQ(to, (std::set<NodeId>{2, 3}));
}

// "The third possible outcome is that a candidate neither wins nor loses the election ... each
// candidate will time out and start a new election by incrementing its term."
TEST(RaftPaper_5_2, CandidateStartsNewElectionAfterTimeout) {
  Cluster c({1, 2, 3});
  c.Isolate(1);
  c.TickElection(1);
  c.Stabilize();
  ASSERT_EQ(RoleOf(c.raw(1)), Role::kCandidate);
  ASSERT_EQ(TermOf(c.raw(1)), 1u);
  c.TickElection(1);
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kCandidate);
  EXPECT_EQ(TermOf(c.raw(1)), 2u);
}

// "A candidate wins an election if it receives votes from a majority of the servers in the full
// cluster for the same term."
TEST(RaftPaper_5_2, CandidateWinsWithVotesFromAMajority) {
  struct Case {
    size_t size;
    std::set<NodeId> granting;  // besides the candidate itself
    Role want;
  } cases[] = {
      {1, {}, Role::kLeader},        {3, {2}, Role::kLeader},    {3, {2, 3}, Role::kLeader},
      {3, {}, Role::kCandidate},     {5, {2, 3}, Role::kLeader}, {5, {2}, Role::kCandidate},
      {5, {2, 3, 4}, Role::kLeader}, {4, {2}, Role::kCandidate}, {4, {2, 3}, Role::kLeader},
  };
  for (const Case& tc : cases) {
    std::vector<NodeId> voters;
    for (NodeId id = 1; id <= tc.size; ++id) voters.push_back(id);
    Cluster c(voters);
    c.SetDropFilter([&](const Message& m) {
      return m.type == MessageType::kVote && tc.granting.count(m.to) == 0;
    });
    c.raw(1).Campaign();
    // Deliver votes and answers, but stop before the new leader's appends spread.
    c.ProcessReady(1);
    for (NodeId id : voters) {
      if (id == 1) continue;
      c.DeliverMessages(id);
      c.ProcessReady(id);
    }
    c.DeliverMessages(1);
    EXPECT_EQ(RoleOf(c.raw(1)), tc.want)
        << tc.size << " voters, " << tc.granting.size() << " grants";
  }
}

// "Each server will vote for at most one candidate in a given term, on a first-come-first-served
// basis."
TEST(RaftPaper_5_2, VoterGrantsAtMostOneVotePerTerm) {
  auto n = NodeWithLog(1, {1, 2, 3}, {});
  Message req{.type = MessageType::kVote, .to = 1, .from = 2, .term = 1};
  ASSERT_TRUE(n->node().Step(req).ok());
  req.from = 3;
  ASSERT_TRUE(n->node().Step(req).ok());
  req.from = 2;  // a repeated request from the node already voted for is granted again
  ASSERT_TRUE(n->node().Step(req).ok());
  std::vector<Message> resp = OfType(Drain(*n), MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 3u);
  EXPECT_EQ(resp[0].to, 2u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(resp[1].to, 3u);
  EXPECT_TRUE(resp[1].reject);
  EXPECT_EQ(resp[2].to, 2u);
  EXPECT_FALSE(resp[2].reject);
  EXPECT_EQ(n->storage().hard_state().vote, 2u);
}

// "While waiting for votes, a candidate may receive an AppendEntries RPC from another server
// claiming to be leader. If the leader's term ... is at least as large as the candidate's
// current term, then the candidate recognizes the leader as legitimate and returns to follower
// state."
TEST(RaftPaper_5_2, CandidateReturnsToFollowerOnAppendFromLeaderOfItsTerm) {
  Cluster c({1, 2, 3});
  c.raw(1).Campaign();
  ASSERT_EQ(RoleOf(c.raw(1)), Role::kCandidate);
  ASSERT_TRUE(
      c.raw(1).Step(Message{.type = MessageType::kApp, .to = 1, .from = 2, .term = 1}).ok());
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kFollower);
  EXPECT_EQ(TermOf(c.raw(1)), 1u);
  EXPECT_EQ(c.LeaderOf(1), 2u);
}

// A candidate whose election a majority refused gives up instead of waiting for its timeout.
TEST(RaftPaper_5_2, CandidateRejectedByAMajorityReturnsToFollower) {
  Cluster c({1, 2, 3});
  c.raw(1).Campaign();
  for (NodeId from : {2, 3}) {
    ASSERT_TRUE(
        c.raw(1)
            .Step(Message{
                .type = MessageType::kVoteResp, .to = 1, .from = from, .term = 1, .reject = true})
            .ok());
  }
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kFollower);
  EXPECT_EQ(TermOf(c.raw(1)), 1u);
}

// "Raft uses randomized election timeouts ... chosen randomly from a fixed interval": here
// [election_tick, 2 * election_tick), different from node to node.
TEST(RaftPaper_5_2, ElectionTimeoutsAreRandomizedWithinOneToTwoTimeouts) {
  std::set<int> seen;
  for (NodeId id = 1; id <= 40; ++id) {
    auto n = NodeWithLog(id, {id, id + 100}, {});
    int ticks = 0;
    while (RoleOf(n->node()) == Role::kFollower) {
      n->node().Tick();
      ++ticks;
      ASSERT_LT(ticks, 100);
    }
    EXPECT_GE(ticks, 10);
    EXPECT_LT(ticks, 20);
    seen.insert(ticks);
  }
  EXPECT_GT(seen.size(), 5u);  // not all alike
}

// Same seed, same inputs: the same timeouts (determinism); another seed: others.
TEST(RaftPaper_5_2, ElectionTimeoutsFollowTheSeed) {
  auto timeouts = [](uint64_t seed) {
    std::vector<int> out;
    auto n = NodeWithLog(1, {1, 2}, {}, {}, [seed](Config& c) { c.seed = seed; });
    for (int round = 0; round < 8; ++round) {
      const Term before = TermOf(n->node());
      int ticks = 0;
      while (TermOf(n->node()) == before) {
        n->node().Tick();
        ++ticks;
      }
      out.push_back(ticks);
    }
    return out;
  };
  EXPECT_EQ(timeouts(7), timeouts(7));
  EXPECT_NE(timeouts(7), timeouts(8));
}

// "Randomized election timeouts ensure that split votes are rare and that they are resolved
// quickly": five nodes that all time out eventually agree on one leader.
TEST(RaftPaper_5_2, RandomizedTimeoutsResolveSplitVotes) {
  Cluster c({1, 2, 3, 4, 5});
  for (int tick = 0; tick < 200; ++tick) {
    for (NodeId id : c.ids()) c.Tick(id);
    c.Stabilize();
  }
  std::set<NodeId> leaders;
  for (NodeId id : c.ids()) {
    if (RoleOf(c.raw(id)) == Role::kLeader) leaders.insert(id);
  }
  ASSERT_EQ(leaders.size(), 1u);
  for (NodeId id : c.ids()) EXPECT_EQ(c.LeaderOf(id), *leaders.begin());
}

// ---------------------------------------------------------------------------------------------
// §5.3 Log replication

// "The leader appends the command to its log as a new entry, then issues AppendEntries RPCs in
// parallel to each of the other servers to replicate the entry."
TEST(RaftPaper_5_3, LeaderAppendsProposalAndSendsItToEveryFollower) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.raw(1).Propose("x").ok());
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  ASSERT_EQ(rd->entries.size(), 1u);
  EXPECT_EQ(rd->entries[0].data, "x");
  EXPECT_EQ(rd->entries[0].term, 1u);
  std::set<NodeId> to;
  for (const Message& m : rd->messages) {
    EXPECT_EQ(m.type, MessageType::kApp);
    ASSERT_EQ(m.entries.size(), 1u);
    EXPECT_EQ(m.entries[0].data, "x");
    to.insert(m.to);
  }
  EXPECT_EQ(to, (std::set<NodeId>{2, 3}));
}

// "A log entry is committed once the leader that created the entry has replicated it on a
// majority of the servers ... This also commits all preceding entries in the leader's log."
TEST(RaftPaper_5_3, LeaderCommitsEntryOnceStoredOnAMajority) {
  Cluster c({1, 2, 3, 4, 5});
  c.Elect(1);
  const Index before = CommitOf(c.raw(1));
  // Only nodes 2 and 3 get the entry: 1, 2, 3 are a majority of five.
  c.Isolate(4);
  c.Isolate(5);
  ASSERT_TRUE(c.raw(1).Propose("a").ok());
  ASSERT_TRUE(c.raw(1).Propose("b").ok());
  c.Stabilize();
  EXPECT_EQ(CommitOf(c.raw(1)), before + 2);
  EXPECT_EQ(c.node(1).applied().size(), 2u);
  // With only one follower reachable, a further entry is not committed.
  c.Isolate(3);
  ASSERT_TRUE(c.raw(1).Propose("c").ok());
  c.Stabilize();
  EXPECT_EQ(CommitOf(c.raw(1)), before + 2);
}

// "The leader keeps track of the highest index it knows to be committed, and it includes that
// index in future AppendEntries RPCs (including heartbeats) so that the other servers eventually
// find out. Once a follower learns that a log entry is committed, it applies the entry."
TEST(RaftPaper_5_3, FollowersLearnCommitIndexFromLeaderAndApply) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.raw(1).Propose("a").ok());
  c.Stabilize();
  for (NodeId id : c.ids()) {
    EXPECT_EQ(CommitOf(c.raw(id)), CommitOf(c.raw(1))) << id;
    ASSERT_EQ(c.node(id).applied().size(), 1u) << id;
    EXPECT_EQ(c.node(id).applied()[0].second, "a");
  }
}

// "When sending an AppendEntries RPC, the leader includes the index and term of the entry in its
// log that immediately precedes the new entries. If the follower does not find an entry in its
// log with the same index and term, then it refuses the new entries."
TEST(RaftPaper_5_3, FollowerRefusesAppendWhosePreviousEntryItLacks) {
  struct Case {
    Term prev_term;
    Index prev_index;
    bool reject;
  } cases[] = {
      {2, 2, false},  // matches
      {1, 1, false},  // matches, earlier
      {3, 2, true},   // term differs
      {2, 3, true},   // index beyond the log
      {0, 0, false},  // the empty prefix always matches
  };
  for (const Case& tc : cases) {
    auto n = NodeWithLog(1, {1, 2}, {1, 2}, HardState{.term = 2});
    ASSERT_TRUE(n->node()
                    .Step(Message{.type = MessageType::kApp,
                                  .to = 1,
                                  .from = 2,
                                  .term = 2,
                                  .log_term = tc.prev_term,
                                  .index = tc.prev_index,
                                  .entries = {Entry{.term = 2, .index = tc.prev_index + 1}}})
                    .ok());
    std::vector<Message> resp = OfType(Drain(*n), MessageType::kAppResp);
    ASSERT_EQ(resp.size(), 1u);
    EXPECT_EQ(resp[0].reject, tc.reject) << tc.prev_term << "/" << tc.prev_index;
    if (!tc.reject) {
      EXPECT_EQ(resp[0].index, tc.prev_index + 1);
    }
  }
}

// "If an existing entry conflicts with a new one (same index but different terms), delete the
// existing entry and all that follow it; append any new entries not already in the log."
TEST(RaftPaper_5_3, FollowerDeletesConflictingEntryAndAllThatFollow) {
  auto n = NodeWithLog(1, {1, 2}, {1, 1, 2, 2, 2}, HardState{.term = 3, .commit = 1});
  ASSERT_TRUE(n->node()
                  .Step(Message{.type = MessageType::kApp,
                                .to = 1,
                                .from = 2,
                                .term = 3,
                                .log_term = 1,
                                .index = 2,
                                .entries = {Entry{.term = 3, .index = 3}}})
                  .ok());
  Drain(*n);
  EXPECT_EQ(LogTerms(*n), (std::vector<Term>{1, 1, 3}));
}

// Entries the follower already has are not touched ("append any new entries NOT already in the
// log"): a delayed, shorter append does not truncate a longer matching log.
TEST(RaftPaper_5_3, FollowerKeepsMatchingEntriesBeyondAStaleAppend) {
  auto n = NodeWithLog(1, {1, 2}, {1, 2, 2, 2}, HardState{.term = 2});
  ASSERT_TRUE(n->node()
                  .Step(Message{.type = MessageType::kApp,
                                .to = 1,
                                .from = 2,
                                .term = 2,
                                .log_term = 1,
                                .index = 1,
                                .entries = {Entry{.term = 2, .index = 2}}})
                  .ok());
  std::vector<Message> resp = OfType(Drain(*n), MessageType::kAppResp);
  EXPECT_EQ(LogTerms(*n), (std::vector<Term>{1, 2, 2, 2}));
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].index, 2u);  // vouches only for what the message covered
}

// "When a leader first comes to power, it initializes all nextIndex values to the index just
// after the last one in its log."
TEST(RaftPaper_5_3, NewLeaderSetsNextIndexJustAfterItsLog) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.raw(1).Propose("a").ok());
  c.Stabilize();
  const Index last = c.raw(1).GetStatus().last_index;
  // Node 2 takes over: before any response arrives, next = its last index + 1.
  c.Isolate(1);
  c.raw(2).Campaign();
  c.ProcessReady(2);
  c.DeliverMessages(3);
  c.ProcessReady(3);
  c.DeliverMessages(2);
  ASSERT_EQ(RoleOf(c.raw(2)), Role::kLeader);
  const Status st = c.raw(2).GetStatus();
  EXPECT_EQ(testing::ProgressOf(st, 3)->next, last + 1);
  EXPECT_EQ(testing::ProgressOf(st, 1)->next, last + 1);
}

// Figure 7: "the leader must find the latest log entry where the two logs agree, delete any
// entries in the follower's log after that point, and send the follower all of the leader's
// entries after that point." Every follower log (a)-(f) of Figure 7 ends identical to the
// leader's.
TEST(RaftPaper_5_3, LeaderBringsEveryFigure7FollowerLogIntoAgreement) {
  const std::vector<Term> leader = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const std::vector<std::vector<Term>> followers = {
      {1, 1, 1, 4, 4, 5, 5, 6, 6},           // (a) missing entries
      {1, 1, 1, 4},                          // (b)
      {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},     // (c) extra uncommitted entry
      {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},  // (d) extra entries of a later term
      {1, 1, 1, 4, 4, 4, 4},                 // (e) missing and extra
      {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},     // (f) a leader of terms 2 and 3 that crashed
  };
  for (size_t k = 0; k < followers.size(); ++k) {
    Cluster c;
    const ConfState cs{.voters = {1, 2, 3}, .learners = {}};
    c.Add(TestConfig(1), StorageWithLog(cs, leader, HardState{.term = 7}));
    c.Add(TestConfig(2), StorageWithLog(cs, followers[k], HardState{.term = 7}));
    // Node 3 has the leader's log and gives it the deciding vote even when (d) refuses.
    c.Add(TestConfig(3), StorageWithLog(cs, leader, HardState{.term = 7}));
    c.Elect(1);
    ASSERT_EQ(RoleOf(c.raw(1)), Role::kLeader) << k;
    std::vector<Term> want = leader;
    want.push_back(8);  // the new leader's empty entry
    EXPECT_EQ(LogTerms(c.node(2)), want) << "follower (" << static_cast<char>('a' + k) << ")";
  }
}

// Fast backtracking (§5.3, "the protocol can be optimized to reduce the number of rejected
// AppendEntries RPCs"): the follower's rejection names the last index of its log whose term is
// not above the leader's, so the leader skips a whole term per round trip. Figure 7 (f), which
// diverges over 8 entries of two terms, is resolved with a single rejection.
TEST(RaftPaper_5_3, ConflictHintsSkipWholeTermsPerRoundTrip) {
  const std::vector<Term> leader = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const std::vector<Term> follower = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
  Cluster c;
  const ConfState cs{.voters = {1, 2, 3}, .learners = {}};
  c.Add(TestConfig(1), StorageWithLog(cs, leader, HardState{.term = 7}));
  c.Add(TestConfig(2), StorageWithLog(cs, follower, HardState{.term = 7}));
  c.Add(TestConfig(3), StorageWithLog(cs, leader, HardState{.term = 7}));
  int rejections = 0;
  c.SetDropFilter([&](const Message& m) {
    if (m.type == MessageType::kAppResp && m.from == 2 && m.reject) ++rejections;
    return false;
  });
  c.Elect(1);
  EXPECT_EQ(rejections, 1);
  EXPECT_EQ(LogTerms(c.node(2)).size(), leader.size() + 1);
}

// Log Matching (Figure 3): "if two logs contain an entry with the same index and term, then the
// logs are identical in all entries up through the given index" — after a history of partitions
// and leader changes, every pair of logs agrees on every common (index, term) prefix.
TEST(RaftPaper_5_3, LogMatchingHoldsAfterLeaderChangesAndPartitions) {
  Cluster c({1, 2, 3, 4, 5});
  int n = 0;
  auto propose_some = [&](NodeId leader) {
    for (int k = 0; k < 3; ++k) (void)c.raw(leader).Propose("v" + std::to_string(n++));
  };
  c.Elect(1);
  propose_some(1);
  c.Stabilize();
  c.Partition({{1, 2}, {3, 4, 5}});
  propose_some(1);  // stays uncommitted in the minority
  c.Stabilize();
  c.Elect(3);
  propose_some(3);
  c.Stabilize();
  c.Heal();
  c.Partition({{3}, {1, 2, 4, 5}});
  c.Elect(4);
  propose_some(4);
  c.Stabilize();
  c.Heal();
  for (NodeId id : c.ids()) c.Tick(id);
  c.Stabilize();
  for (NodeId a : c.ids()) {
    for (NodeId b : c.ids()) {
      const std::vector<Term> la = LogTerms(c.node(a));
      const std::vector<Term> lb = LogTerms(c.node(b));
      for (size_t i = std::min(la.size(), lb.size()); i-- > 0;) {
        if (la[i] != lb[i]) continue;
        // Same index and term: identical prefix (terms and data).
        for (size_t j = 0; j <= i; ++j) {
          EXPECT_EQ(la[j], lb[j]);
          EXPECT_EQ(c.node(a).storage().Entries(j + 1, j + 2, 1)->at(0),
                    c.node(b).storage().Entries(j + 1, j + 2, 1)->at(0));
        }
        break;
      }
    }
  }
  // And they converged to one log.
  for (NodeId id : c.ids()) EXPECT_EQ(LogTerms(c.node(id)), LogTerms(c.node(4))) << id;
}

// ---------------------------------------------------------------------------------------------
// §5.4 Safety

// §5.4.1 "The voter denies its vote if its own log is more up-to-date than that of the
// candidate": a later last term wins; with equal last terms, the longer log.
TEST(RaftPaper_5_4_1, VoterRejectsCandidateWithShorterLog) {
  auto n = NodeWithLog(1, {1, 2}, {1, 2, 2}, HardState{.term = 2});
  ASSERT_TRUE(
      n->node()
          .Step(Message{
              .type = MessageType::kVote, .to = 1, .from = 2, .term = 3, .log_term = 2, .index = 2})
          .ok());
  std::vector<Message> resp = OfType(Drain(*n), MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject);
  EXPECT_EQ(n->storage().hard_state().vote, 0u);
}

TEST(RaftPaper_5_4_1, VoterRejectsCandidateWithOlderLastTerm) {
  auto n = NodeWithLog(1, {1, 2}, {1, 2, 2}, HardState{.term = 2});
  ASSERT_TRUE(n->node()
                  .Step(Message{.type = MessageType::kVote,
                                .to = 1,
                                .from = 2,
                                .term = 3,
                                .log_term = 1,
                                .index = 10})
                  .ok());
  std::vector<Message> resp = OfType(Drain(*n), MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject);
}

TEST(RaftPaper_5_4_1, VoterGrantsCandidateWithAtLeastAsUpToDateLog) {
  struct Case {
    Term last_term;
    Index last_index;
  } cases[] = {{2, 3}, {2, 4}, {3, 1}};
  for (const Case& tc : cases) {
    auto n = NodeWithLog(1, {1, 2}, {1, 2, 2}, HardState{.term = 2});
    ASSERT_TRUE(n->node()
                    .Step(Message{.type = MessageType::kVote,
                                  .to = 1,
                                  .from = 2,
                                  .term = 3,
                                  .log_term = tc.last_term,
                                  .index = tc.last_index})
                    .ok());
    std::vector<Message> resp = OfType(Drain(*n), MessageType::kVoteResp);
    ASSERT_EQ(resp.size(), 1u);
    EXPECT_FALSE(resp[0].reject) << tc.last_term << "/" << tc.last_index;
    EXPECT_EQ(n->storage().hard_state().vote, 2u);
  }
}

// Leader Completeness through the election restriction: a node that misses a committed entry
// cannot be elected, so a committed entry is in every later leader's log.
TEST(RaftPaper_5_4_1, NodeMissingACommittedEntryCannotBeElected) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  ASSERT_TRUE(c.raw(1).Propose("committed").ok());
  c.Stabilize();
  ASSERT_EQ(c.node(2).applied().size(), 1u);
  // Node 1 goes away; node 3 (without the entry) campaigns first.
  c.Heal();
  c.Isolate(1);
  c.raw(3).Campaign();
  c.Stabilize();
  EXPECT_NE(RoleOf(c.raw(3)), Role::kLeader);
  c.raw(2).Campaign();
  c.Stabilize();
  ASSERT_EQ(RoleOf(c.raw(2)), Role::kLeader);
  ASSERT_EQ(c.node(3).applied().size(), 1u);
  EXPECT_EQ(c.node(3).applied()[0].second, "committed");
}

// The setting of Figure 8: five nodes; S1 led term 2 and stored entry 2 ("old") on S1 and S2;
// S5 led term 3 and stored its own entry 2 only locally. Now S1 leads term 4 (with S2, S3).
std::unique_ptr<Cluster> Figure8() {
  auto c = std::make_unique<Cluster>();
  const ConfState cs{.voters = {1, 2, 3, 4, 5}, .learners = {}};
  auto storage = [&](std::vector<std::pair<Term, std::string>> ents) {
    auto s = std::make_unique<MemoryStorage>(cs);
    std::vector<Entry> es;
    for (size_t k = 0; k < ents.size(); ++k) {
      es.push_back(Entry{.term = ents[k].first, .index = k + 1, .data = ents[k].second});
    }
    (void)s->Append(es);
    s->SetHardState(HardState{.term = 3, .vote = 0, .commit = 1});
    return s;
  };
  for (NodeId id : {1, 2}) c->Add(TestConfig(id), storage({{1, "a"}, {2, "old"}}));
  for (NodeId id : {3, 4}) c->Add(TestConfig(id), storage({{1, "a"}}));
  c->Add(TestConfig(5), storage({{1, "a"}, {3, "s5"}}));
  return c;
}

// §5.4.2 "Raft never commits log entries from previous terms by counting replicas": in Figure 8
// (c), S1 (leader of term 4) gets its term-2 entry onto a majority (S1, S2, S3) but must not
// commit it, because S5 can still be elected and overwrite it (d).
TEST(RaftPaper_5_4_2, LeaderDoesNotCommitPreviousTermEntryByCounting) {
  std::unique_ptr<Cluster> c = Figure8();
  c->Isolate(4);
  c->Isolate(5);
  // S1's own term-4 entry never reaches anyone (only entry 2 does), as in Figure 8 (c).
  c->SetRewrite([](Message& m) {
    if (m.type != MessageType::kApp) return;
    std::erase_if(m.entries, [](const Entry& e) { return e.term == 4; });
  });
  c->raw(1).Campaign();
  c->Stabilize();
  ASSERT_EQ(RoleOf(c->raw(1)), Role::kLeader);
  ASSERT_EQ(TermOf(c->raw(1)), 4u);
  // Entry 2 of term 2 is on a majority ...
  for (NodeId id : {1, 2, 3}) ASSERT_EQ(*c->node(id).storage().GetTerm(2), 2u) << id;
  // ... yet not committed, nor applied anywhere.
  EXPECT_EQ(CommitOf(c->raw(1)), 1u);
  for (NodeId id : {1, 2, 3}) EXPECT_EQ(c->node(id).applied().size(), 1u) << id;

  // Figure 8 (d): S1 crashes; S5 is elected with votes from S2, S3, S4 (its last term, 3, is
  // later than theirs) and overwrites entry 2 everywhere. Had it been committed, this would lose
  // it.
  c->SetRewrite(nullptr);
  c->Heal();
  c->Isolate(1);
  c->raw(5).Campaign();  // term 4: S2 and S3 already voted for S1 in it
  c->Stabilize();
  c->raw(5).Campaign();  // term 5
  c->Stabilize();
  ASSERT_EQ(RoleOf(c->raw(5)), Role::kLeader);
  for (NodeId id : {2, 3, 4, 5}) {
    EXPECT_EQ(*c->node(id).storage().GetTerm(2), 3u) << id;
    ASSERT_GE(c->node(id).applied().size(), 2u) << id;
    EXPECT_EQ(c->node(id).applied()[1].second, "s5") << id;
  }
}

// §5.4.2 "once an entry from the current term has been committed in this way, then all prior
// entries are committed indirectly": Figure 8 (e).
TEST(RaftPaper_5_4_2, PreviousTermEntryCommitsThroughACurrentTermEntry) {
  std::unique_ptr<Cluster> c = Figure8();
  c->Isolate(4);
  c->Isolate(5);
  c->raw(1).Campaign();
  c->Stabilize();
  ASSERT_EQ(RoleOf(c->raw(1)), Role::kLeader);
  EXPECT_EQ(CommitOf(c->raw(1)), 3u);  // the term-4 empty entry at 3, and "old" at 2 with it
  for (NodeId id : {1, 2, 3}) {
    ASSERT_EQ(c->node(id).applied().size(), 2u) << id;
    EXPECT_EQ(c->node(id).applied()[1].second, "old") << id;
  }
  // S5 can no longer win: a majority has a term-4 entry.
  c->Heal();
  c->Isolate(1);
  c->raw(5).Campaign();
  c->Stabilize();
  EXPECT_NE(RoleOf(c->raw(5)), Role::kLeader);
}

// ---------------------------------------------------------------------------------------------
// §5.5 Follower and candidate crashes

// "If a follower or candidate crashes, then future RequestVote and AppendEntries RPCs sent to it
// will fail. Raft handles these failures by retrying indefinitely; if the crashed server
// restarts, then the RPC will complete successfully." A follower that lost what was sent while
// it was down is caught up by the leader's retries.
TEST(RaftPaper_5_5, CrashedFollowerIsCaughtUpAfterRestart) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(c.raw(1).Propose("e" + std::to_string(k)).ok());
  c.Stabilize();
  c.node(3).Restart();
  c.Heal();
  c.Tick(1);  // a heartbeat, answered, makes the leader resend
  c.Stabilize();
  EXPECT_EQ(c.node(3).applied().size(), 5u);
  EXPECT_EQ(LogTerms(c.node(3)), LogTerms(c.node(1)));
}

// "Raft RPCs are idempotent": an append delivered twice changes nothing the second time.
TEST(RaftPaper_5_5, DuplicateAppendIsHarmless) {
  auto n = NodeWithLog(1, {1, 2}, {1}, HardState{.term = 1});
  Message app{.type = MessageType::kApp,
              .to = 1,
              .from = 2,
              .term = 1,
              .log_term = 1,
              .index = 1,
              .entries = {Entry{.term = 1, .index = 2, .data = "x"}},
              .commit = 2};
  ASSERT_TRUE(n->node().Step(app).ok());
  Drain(*n);
  ASSERT_TRUE(n->node().Step(app).ok());
  Drain(*n);
  EXPECT_EQ(LogTerms(*n), (std::vector<Term>{1, 1}));
  ASSERT_EQ(n->applied().size(), 1u);
  EXPECT_EQ(n->applied()[0].second, "x");
}

// ---------------------------------------------------------------------------------------------
// §8 Client interaction

// "a leader must have the latest information on which entries are committed ... each leader
// commit a blank no-op entry into the log at the start of its term."
TEST(RaftPaper_8, LeaderCommitsAnEmptyEntryAtTheStartOfItsTerm) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  const Status st = c.raw(1).GetStatus();
  EXPECT_EQ(st.last_index, 1u);
  EXPECT_EQ(st.hard_state.commit, 1u);
  absl::StatusOr<std::vector<Entry>> ents = c.node(2).storage().Entries(1, 2, UINT64_MAX);
  ASSERT_TRUE(ents.ok());
  EXPECT_EQ((*ents)[0].term, 1u);
  EXPECT_TRUE((*ents)[0].data.empty());
}

// "If the client's first choice is not the leader, that server will reject the client's request
// and supply information about the most recent leader it has heard from": kvd forwards by
// default, and otherwise names the leader.
TEST(RaftPaper_8, FollowerForwardsProposalsToTheLeader) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.raw(2).Propose("via-2").ok());
  std::optional<Ready> rd = c.ProcessReady(2);
  ASSERT_TRUE(rd.has_value());
  ASSERT_EQ(rd->messages.size(), 1u);
  EXPECT_EQ(rd->messages[0].type, MessageType::kProp);
  EXPECT_EQ(rd->messages[0].to, 1u);
  c.Stabilize();
  ASSERT_EQ(c.node(3).applied().size(), 1u);
  EXPECT_EQ(c.node(3).applied()[0].second, "via-2");
}

TEST(RaftPaper_8, FollowerWithForwardingDisabledNamesTheLeader) {
  Cluster c({1, 2, 3}, {}, [](Config& cfg) { cfg.disable_proposal_forwarding = true; });
  c.Elect(1);
  absl::Status s = c.raw(2).Propose("x");
  EXPECT_TRUE(IsProposalDropped(s)) << s;
  EXPECT_NE(s.message().find("the leader is 1"), std::string::npos) << s;
}

TEST(RaftPaper_8, ProposalWithoutAKnownLeaderIsDropped) {
  Cluster c({1, 2, 3});
  absl::Status s = c.raw(2).Propose("x");
  EXPECT_TRUE(IsProposalDropped(s)) << s;
  EXPECT_NE(s.message().find("no leader"), std::string::npos) << s;
  c.raw(1).Campaign();
  s = c.raw(1).Propose("x");  // a candidate has no leader either
  EXPECT_TRUE(IsProposalDropped(s)) << s;
}

}  // namespace
}  // namespace kvd::raft
