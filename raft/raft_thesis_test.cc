// The extensions of Ongaro's thesis ("Consensus: Bridging Theory and Practice", 2014) that kvd
// implements, one test per rule: pre-vote (§9.6), check-quorum and the leader lease (§6.2,
// §4.2.3), leader transfer (§3.10) and ReadIndex (§6.4).
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/raft.h"
#include "raft/rawnode.h"
#include "raft/testing/cluster.h"
#include "raft/testing/helpers.h"

namespace kvd::raft {
namespace {

using testing::Cluster;
using testing::CommitOf;
using testing::Drain;
using testing::NodeWithLog;
using testing::OfType;
using testing::RoleOf;
using testing::StorageWithLog;
using testing::TermOf;
using testing::TestConfig;

void PreVote(Config& c) { c.pre_vote = true; }
void CheckQuorum(Config& c) { c.check_quorum = true; }
void PreVoteAndCheckQuorum(Config& c) {
  c.pre_vote = true;
  c.check_quorum = true;
}

// ---------------------------------------------------------------------------------------------
// Pre-vote (thesis §9.6)

// A pre-candidate asks whether it could win at term + 1 without moving there: its term and vote
// stay as they were until a quorum says yes.
TEST(Thesis_9_6_PreVote, PreCandidateAsksForNextTermWithoutRaisingItsOwn) {
  Cluster c({1, 2, 3}, {}, PreVote);
  c.raw(1).Campaign();
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kPreCandidate);
  EXPECT_EQ(TermOf(c.raw(1)), 0u);
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  EXPECT_FALSE(rd->hard_state.has_value());
  ASSERT_EQ(rd->messages_after_persist.size(), 2u);
  for (const Message& m : rd->messages_after_persist) {
    EXPECT_EQ(m.type, MessageType::kPreVote);
    EXPECT_EQ(m.term, 1u);
  }
}

// Granting a pre-vote commits the voter to nothing: neither its term nor its vote changes.
TEST(Thesis_9_6_PreVote, GrantingAPreVoteChangesNothingOnTheVoter) {
  auto n = NodeWithLog(2, {1, 2, 3}, {1}, HardState{.term = 1}, PreVote);
  ASSERT_TRUE(n->node()
                  .Step(Message{.type = MessageType::kPreVote,
                                .to = 2,
                                .from = 1,
                                .term = 2,
                                .log_term = 1,
                                .index = 1})
                  .ok());
  std::vector<Message> resp = OfType(Drain(*n), MessageType::kPreVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(resp[0].term, 2u);  // the term asked about
  EXPECT_EQ(n->node().GetStatus().hard_state, (HardState{.term = 1, .vote = 0, .commit = 0}));
}

// A quorum of pre-votes is followed by a real election at term + 1.
TEST(Thesis_9_6_PreVote, QuorumOfPreVotesStartsTheRealElection) {
  Cluster c({1, 2, 3}, {}, PreVote);
  c.Elect(1);
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  EXPECT_EQ(TermOf(c.raw(1)), 1u);
  for (NodeId id : {2, 3}) EXPECT_EQ(c.LeaderOf(id), 1u);
}

// The election restriction applies to pre-votes: a node with a stale log is told no, and no one's
// term moves.
TEST(Thesis_9_6_PreVote, PreVoteRefusedToStaleLogAndNoTermMoves) {
  Cluster c({1, 2, 3}, {}, PreVote);
  c.Elect(1);
  c.Isolate(3);
  ASSERT_TRUE(c.raw(1).Propose("x").ok());
  c.Stabilize();
  c.Heal();
  c.Isolate(1);
  const Term term = TermOf(c.raw(2));
  c.raw(3).Campaign();
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(3)), Role::kPreCandidate);  // refused by 2; 1 cannot answer
  EXPECT_EQ(TermOf(c.raw(3)), term);
  EXPECT_EQ(TermOf(c.raw(2)), term);
}

// The point of pre-vote: a node partitioned away keeps failing pre-votes instead of raising its
// term, so when it returns it does not depose the working leader.
TEST(Thesis_9_6_PreVote, PartitionedNodeRejoinsWithoutDisruptingTheLeader) {
  Cluster c({1, 2, 3}, {}, PreVote);
  c.Elect(1);
  const Term term = TermOf(c.raw(1));
  c.Isolate(3);
  for (int k = 0; k < 5; ++k) {
    c.TickElection(3);
    c.Stabilize();
  }
  EXPECT_EQ(RoleOf(c.raw(3)), Role::kPreCandidate);
  EXPECT_EQ(TermOf(c.raw(3)), term);
  c.Heal();
  c.Tick(1);  // a heartbeat
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  EXPECT_EQ(TermOf(c.raw(1)), term);
  EXPECT_EQ(c.LeaderOf(3), 1u);
}

// Without pre-vote (and without check-quorum) the same partition raises the term and the
// rejoining node deposes the leader: what pre-vote prevents.
TEST(Thesis_9_6_PreVote, WithoutPreVoteARejoiningNodeDeposesTheLeader) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  const Term term = TermOf(c.raw(1));
  c.Isolate(3);
  c.TickElection(3);
  c.Stabilize();
  EXPECT_GT(TermOf(c.raw(3)), term);
  c.Heal();
  // Its next election timeout: its vote requests carry a later term, which the others adopt,
  // so the leader steps down, whoever wins the election that follows.
  c.TickElection(3);
  c.Stabilize();
  EXPECT_GT(TermOf(c.raw(1)), term);
  EXPECT_NE(RoleOf(c.raw(1)), Role::kLeader);
}

// ---------------------------------------------------------------------------------------------
// Check-quorum (thesis §6.2) and the leader lease (§4.2.3)

// A leader that hears from no quorum within an election timeout steps down.
TEST(Thesis_6_2_CheckQuorum, LeaderWithoutQuorumContactStepsDown) {
  Cluster c({1, 2, 3}, {}, CheckQuorum);
  c.Elect(1);
  c.Isolate(1);
  for (int k = 0; k < 2 * 10 + 1; ++k) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kFollower);
  EXPECT_EQ(c.LeaderOf(1), kNoNode);
}

TEST(Thesis_6_2_CheckQuorum, LeaderHearingFromAQuorumStaysLeader) {
  Cluster c({1, 2, 3}, {}, CheckQuorum);
  c.Elect(1);
  c.Isolate(3);  // 1 and 2 are a quorum
  for (int k = 0; k < 50; ++k) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kLeader);
}

// §4.2.3: a follower that heard from its leader within the election timeout ignores vote
// requests, even from a later term: the current leader is probably fine.
TEST(Thesis_4_2_3_Lease, FollowerWithinLeaseIgnoresVoteRequests) {
  Cluster c({1, 2, 3}, {}, CheckQuorum);
  c.Elect(1);
  const Term term = TermOf(c.raw(2));
  ASSERT_TRUE(c.raw(2)
                  .Step(Message{.type = MessageType::kVote,
                                .to = 2,
                                .from = 3,
                                .term = term + 1,
                                .log_term = 9,
                                .index = 99})
                  .ok());
  EXPECT_EQ(TermOf(c.raw(2)), term);
  std::optional<Ready> rd = c.ProcessReady(2);
  EXPECT_TRUE(!rd.has_value() ||
              OfType(rd->messages_after_persist, MessageType::kVoteResp).empty());
  EXPECT_EQ(c.LeaderOf(2), 1u);
}

TEST(Thesis_4_2_3_Lease, FollowerWhoseLeaseExpiredGrantsVotes) {
  Cluster c({1, 2, 3}, {}, CheckQuorum);
  c.Elect(1);
  const Term term = TermOf(c.raw(2));
  c.Tick(2, 10);  // an election timeout without hearing from the leader
  ASSERT_TRUE(c.raw(2)
                  .Step(Message{.type = MessageType::kVote,
                                .to = 2,
                                .from = 3,
                                .term = term + 1,
                                .log_term = 9,
                                .index = 99})
                  .ok());
  EXPECT_EQ(TermOf(c.raw(2)), term + 1);
  std::optional<Ready> rd = c.ProcessReady(2);
  ASSERT_TRUE(rd.has_value());
  std::vector<Message> resp = OfType(rd->messages_after_persist, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
}

// A leader transfer's campaign was asked for by the leader: the lease does not hold it up.
TEST(Thesis_4_2_3_Lease, LeaderTransferCampaignBypassesTheLease) {
  Cluster c({1, 2, 3}, {}, CheckQuorum);
  c.Elect(1);
  const Term term = TermOf(c.raw(2));
  ASSERT_TRUE(c.raw(2)
                  .Step(Message{.type = MessageType::kVote,
                                .to = 2,
                                .from = 3,
                                .term = term + 1,
                                .log_term = 9,
                                .index = 99,
                                .context = kCampaignTransferContext})
                  .ok());
  EXPECT_EQ(TermOf(c.raw(2)), term + 1);
}

// With check-quorum and pre-vote, a node that was partitioned away cannot even win pre-votes
// while the others hear from the leader; it rejoins as a follower.
TEST(Thesis_4_2_3_Lease, PartitionedNodeCannotWinPreVotesWhileOthersHearTheLeader) {
  Cluster c({1, 2, 3}, {}, PreVoteAndCheckQuorum);
  c.Elect(1);
  const Term term = TermOf(c.raw(1));
  // Node 3 only misses the leader's messages; it can still reach node 2.
  c.Cut(1, 3);
  for (int k = 0; k < 40; ++k) {
    c.Tick(1);
    c.Tick(2);
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  EXPECT_EQ(TermOf(c.raw(1)), term);
  EXPECT_EQ(TermOf(c.raw(3)), term);
  c.Heal();
  c.Tick(1);
  c.Stabilize();
  EXPECT_EQ(c.LeaderOf(3), 1u);
}

// ---------------------------------------------------------------------------------------------
// Leader transfer (thesis §3.10)

TEST(Thesis_3_10_LeaderTransfer, UpToDateTransfereeIsToldToCampaignAndWins) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.raw(1).TransferLeader(3);
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  std::vector<Message> timeout = OfType(rd->messages, MessageType::kTimeoutNow);
  ASSERT_EQ(timeout.size(), 1u);
  EXPECT_EQ(timeout[0].to, 3u);
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(3)), Role::kLeader);
  EXPECT_EQ(c.LeaderOf(1), 3u);
}

TEST(Thesis_3_10_LeaderTransfer, LaggingTransfereeIsCaughtUpFirst) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(c.raw(1).Propose("x").ok());
  c.Stabilize();
  c.Heal();
  c.raw(1).TransferLeader(3);
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  EXPECT_TRUE(OfType(rd->messages, MessageType::kTimeoutNow).empty());
  EXPECT_FALSE(OfType(rd->messages, MessageType::kApp).empty());
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(3)), Role::kLeader);
  EXPECT_EQ(c.node(3).applied().size(), 3u);
}

TEST(Thesis_3_10_LeaderTransfer, LeaderRefusesProposalsWhileTransferring) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  c.raw(1).TransferLeader(3);
  absl::Status s = c.raw(1).Propose("x");
  EXPECT_TRUE(IsProposalDropped(s)) << s;
  EXPECT_NE(s.message().find("transfer"), std::string::npos) << s;
  EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, 3u);
}

TEST(Thesis_3_10_LeaderTransfer, TransferIsAbandonedAfterAnElectionTimeout) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  c.raw(1).TransferLeader(3);
  c.Tick(1, 9);
  EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, 3u);
  c.Tick(1);
  EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, kNoNode);
  EXPECT_TRUE(c.raw(1).Propose("x").ok());
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kLeader);
}

// The transfer has a clock of its own: one started late in a quorum-check period still gets a
// whole election timeout, and is not cut short by that check.
TEST(Thesis_3_10_LeaderTransfer, TransferGetsAWholeElectionTimeoutWheneverItStarts) {
  Cluster c({1, 2, 3}, {}, CheckQuorum);
  c.Elect(1);
  c.Isolate(3);  // 1 and 2 are a quorum; 3 never catches up
  for (int k = 0; k < 9; ++k) {
    c.Tick(1);
    c.Stabilize();
  }
  c.raw(1).TransferLeader(3);
  for (int k = 0; k < 9; ++k) {  // the quorum check falls on the first of these ticks
    c.Tick(1);
    c.Stabilize();
    ASSERT_EQ(RoleOf(c.raw(1)), Role::kLeader) << k;
    EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, 3u) << k;
  }
  c.Tick(1);
  EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, kNoNode);
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kLeader);
}

// Starting a transfer does not postpone the quorum check: a leader cut off from everyone steps
// down on schedule however many transfers it is asked for.
TEST(Thesis_3_10_LeaderTransfer, TransferDoesNotPostponeTheQuorumCheck) {
  Cluster c({1, 2, 3}, {}, CheckQuorum);
  c.Elect(1);
  c.Isolate(1);
  // The check at tick 10 still counts the followers heard from during the election; the one at
  // tick 20 finds no one.
  for (int k = 0; k < 19; ++k) {
    c.Tick(1);
    if (k % 5 == 4) c.raw(1).TransferLeader(k % 2 == 0 ? 2 : 3);
    c.Stabilize();
  }
  ASSERT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  c.raw(1).TransferLeader(2);
  c.Tick(1);
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kFollower);
  EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, kNoNode);
}

// A lost MsgTimeoutNow is sent again when the caught-up transferee answers a heartbeat, so the
// transfer still completes well within its election timeout.
TEST(Thesis_3_10_LeaderTransfer, LostTimeoutNowIsResentOnTheTransfereesHeartbeatAnswer) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  int dropped = 0;
  c.SetDropFilter([&](const Message& m) {
    if (m.type != MessageType::kTimeoutNow || dropped > 0) return false;
    ++dropped;
    return true;
  });
  c.raw(1).TransferLeader(3);
  c.Stabilize();
  ASSERT_EQ(dropped, 1);
  ASSERT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  ASSERT_EQ(c.raw(1).GetStatus().lead_transferee, 3u);
  c.Tick(1);  // a heartbeat (heartbeat_tick 1)
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(3)), Role::kLeader);
  EXPECT_EQ(c.LeaderOf(1), 3u);
}

TEST(Thesis_3_10_LeaderTransfer, TransferToSelfIsIgnored) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.raw(1).TransferLeader(1);
  EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, kNoNode);
  EXPECT_TRUE(c.raw(1).Propose("x").ok());
}

TEST(Thesis_3_10_LeaderTransfer, TransferToLearnerOrNonMemberIsIgnored) {
  Cluster c({1, 2, 3}, {4});
  c.Elect(1);
  c.raw(1).TransferLeader(4);
  EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, kNoNode);
  c.raw(1).TransferLeader(9);
  EXPECT_EQ(c.raw(1).GetStatus().lead_transferee, kNoNode);
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kLeader);
}

TEST(Thesis_3_10_LeaderTransfer, FollowerForwardsTransferRequestToTheLeader) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.raw(2).TransferLeader(3);
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(3)), Role::kLeader);
}

TEST(Thesis_3_10_LeaderTransfer, NewTransferReplacesTheOneInProgress) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  c.raw(1).TransferLeader(3);
  c.Heal();
  c.raw(1).TransferLeader(2);
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(2)), Role::kLeader);
}

// The transferee's campaign skips pre-vote: it goes straight to a real election.
TEST(Thesis_3_10_LeaderTransfer, TransfereeCampaignSkipsPreVote) {
  Cluster c({1, 2, 3}, {}, PreVoteAndCheckQuorum);
  c.Elect(1);
  const Term term = TermOf(c.raw(1));
  c.raw(1).TransferLeader(2);
  c.ProcessReady(1);
  c.DeliverMessages(2);  // MsgTimeoutNow
  EXPECT_EQ(RoleOf(c.raw(2)), Role::kCandidate);
  EXPECT_EQ(TermOf(c.raw(2)), term + 1);
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(2)), Role::kLeader);
}

// ---------------------------------------------------------------------------------------------
// ReadIndex (thesis §6.4)

// Counts the heartbeat broadcasts a leader makes that carry a read round.
int ReadRounds(const std::vector<Message>& msgs) {
  std::set<std::string> rounds;
  for (const Message& m : msgs) {
    if (m.type == MessageType::kHeartbeat && !m.context.empty()) rounds.insert(m.context);
  }
  return static_cast<int>(rounds.size());
}

// "If the leader has not yet marked an entry from its current term committed, it waits until it
// has done so."
TEST(Thesis_6_4_ReadIndex, LeaderAnswersOnlyAfterCommittingAnEntryOfItsTerm) {
  Cluster c({1, 2, 3});
  c.raw(1).Campaign();
  // Elected, but its empty entry is not committed yet.
  c.ProcessReady(1);
  for (NodeId id : {2, 3}) {
    c.DeliverMessages(id);
    c.ProcessReady(id);
  }
  c.DeliverMessages(1);
  ASSERT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  ASSERT_EQ(CommitOf(c.raw(1)), 0u);
  c.raw(1).ReadIndex("early");
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  EXPECT_TRUE(rd->read_states.empty());
  EXPECT_EQ(ReadRounds(rd->messages), 0);  // no round before the term's first commit
  c.Stabilize();
  ASSERT_EQ(c.node(1).read_states().size(), 1u);
  EXPECT_EQ(c.node(1).read_states()[0].context, "early");
  EXPECT_EQ(c.node(1).read_states()[0].index, 1u);
}

// The read index is the commit index when the round starts, and it is released only once a
// quorum acknowledged the round's heartbeat.
TEST(Thesis_6_4_ReadIndex, AnsweredWithCommitIndexAfterQuorumAcknowledgesHeartbeat) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.raw(1).Propose("a").ok());
  c.Stabilize();
  const Index commit = CommitOf(c.raw(1));
  c.raw(1).ReadIndex("r");
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  EXPECT_TRUE(rd->read_states.empty());
  EXPECT_EQ(ReadRounds(rd->messages), 1);
  // One follower's acknowledgement makes a quorum with the leader.
  c.DeliverMessages(2);
  c.ProcessReady(2);
  c.DeliverMessages(1);
  rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  ASSERT_EQ(rd->read_states.size(), 1u);
  EXPECT_EQ(rd->read_states[0].index, commit);
  EXPECT_EQ(rd->read_states[0].context, "r");
}

// A leader cut off from the majority (perhaps already replaced) never answers.
TEST(Thesis_6_4_ReadIndex, LeaderWithoutQuorumNeverAnswers) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(1);
  c.raw(1).ReadIndex("r");
  for (int k = 0; k < 30; ++k) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_TRUE(c.node(1).read_states().empty());
}

// Requests arriving while a round is in flight share the next round: one heartbeat broadcast
// for all of them.
TEST(Thesis_6_4_ReadIndex, ReadsArrivingDuringARoundShareTheNextRound) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  std::vector<Message> sent;
  c.SetDropFilter([&](const Message& m) {
    sent.push_back(m);
    return false;
  });
  c.raw(1).ReadIndex("first");
  c.ProcessReady(1);  // round 1 goes out
  for (int k = 0; k < 10; ++k) c.raw(1).ReadIndex("later-" + std::to_string(k));
  c.Stabilize();
  EXPECT_EQ(ReadRounds(sent), 2);
  ASSERT_EQ(c.node(1).read_states().size(), 11u);
  EXPECT_EQ(c.node(1).read_states()[0].context, "first");
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(c.node(1).read_states()[k + 1].context, "later-" + std::to_string(k));
  }
}

// A follower's read goes to the leader, which answers it after its round.
TEST(Thesis_6_4_ReadIndex, FollowerReadIsForwardedAndAnsweredByTheLeader) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.raw(1).Propose("a").ok());
  c.Stabilize();
  c.raw(2).ReadIndex("from-2");
  std::optional<Ready> rd = c.ProcessReady(2);
  ASSERT_TRUE(rd.has_value());
  ASSERT_EQ(OfType(rd->messages, MessageType::kReadIndex).size(), 1u);
  c.Stabilize();
  ASSERT_EQ(c.node(2).read_states().size(), 1u);
  EXPECT_EQ(c.node(2).read_states()[0].index, CommitOf(c.raw(1)));
  EXPECT_EQ(c.node(2).read_states()[0].context, "from-2");
  EXPECT_TRUE(c.node(1).read_states().empty());
}

TEST(Thesis_6_4_ReadIndex, SingleVoterAnswersAtOnceAfterItsTermCommit) {
  Cluster c({1});
  c.Elect(1);
  c.raw(1).ReadIndex("solo");
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  ASSERT_EQ(rd->read_states.size(), 1u);
  EXPECT_EQ(rd->read_states[0].index, 1u);
  EXPECT_TRUE(rd->messages.empty());
}

TEST(Thesis_6_4_ReadIndex, ReadWithoutAKnownLeaderIsDropped) {
  Cluster c({1, 2, 3});
  c.raw(2).ReadIndex("nobody");
  c.Stabilize();
  c.Elect(1);
  c.Stabilize();
  EXPECT_TRUE(c.node(2).read_states().empty());
  EXPECT_TRUE(c.node(1).read_states().empty());
}

// Reads waiting on a leader that steps down are dropped (the client retries elsewhere); the new
// leader does not answer them with its own index.
TEST(Thesis_6_4_ReadIndex, ReadsPendingOnADeposedLeaderAreDropped) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(1);
  c.raw(1).ReadIndex("lost");
  c.ProcessReady(1);
  c.Heal();
  c.Elect(2);
  c.Tick(1);
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kFollower);
  EXPECT_TRUE(c.node(1).read_states().empty());
}

}  // namespace
}  // namespace kvd::raft
