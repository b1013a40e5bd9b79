// The lease expiry queue, and the Lessor over a real MVCC store with time driven by the test:
// grants and revocations persisted with the batch, expiry only on the primary, promotion grace,
// checkpoints that survive a change of leader, and keep-alives that never propose.
#include "server/lessor.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/errors.h"
#include "storage/mvcc/testing.h"

namespace kvd::server {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000000);

TEST(LeaseQueue, PopsDueIdsEarliestFirstAndReschedulingMoves) {
  LeaseQueue q;
  q.Schedule(1, kT0 + absl::Seconds(3));
  q.Schedule(2, kT0 + absl::Seconds(1));
  q.Schedule(3, kT0 + absl::Seconds(2));
  q.Schedule(2, kT0 + absl::Seconds(5));  // renewed: moves behind the others
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.NextDue(), kT0 + absl::Seconds(2));
  EXPECT_TRUE(q.PopDue(kT0 + absl::Seconds(1), 10).empty());
  EXPECT_EQ(q.PopDue(kT0 + absl::Seconds(4), 10), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(q.DueTime(2), kT0 + absl::Seconds(5));
  q.Remove(2);
  q.Remove(2);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.NextDue(), std::nullopt);
}

TEST(LeaseQueue, PopDueHonoursTheLimitAndTies) {
  LeaseQueue q;
  for (int64_t id = 10; id > 0; --id) q.Schedule(id, kT0);
  EXPECT_EQ(q.PopDue(kT0, 3), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(q.PopDue(kT0, 100).size(), 7u);
}

class LessorTest : public mvcc::testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    options_.checkpoint_interval = absl::Seconds(5);
    options_.promotion_grace = absl::Seconds(1);
    options_.revoke_retry = absl::Seconds(3);
    Make();
  }
  void Make() {
    lessor_ = std::make_unique<Lessor>(
        options_,
        LessorHooks{
            .propose_revoke = [this](int64_t id) { revokes_.push_back(id); },
            .propose_checkpoints =
                [this](serverpb::LeaseCheckpoints cps) { checkpoints_.push_back(std::move(cps)); },
        });
    ASSERT_TRUE(lessor_->Recover(*store_, kT0).ok());
  }
  void Lead(raft::Term term, absl::Time now) {
    lessor_->LeadershipChanged(true, term);
    lessor_->LeaderNoopApplied(term, now);
  }
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> Grant(int64_t id, int64_t ttl,
                                                         absl::Time now = kT0) {
    etcdserverpb::LeaseGrantRequest req;
    req.set_id(id);
    req.set_ttl(ttl);
    return Apply([&](mvcc::ApplyBatch& b) { return lessor_->Grant(b, req, now); });
  }
  absl::StatusOr<etcdserverpb::LeaseRevokeResponse> Revoke(int64_t id) {
    return Apply([&](mvcc::ApplyBatch& b) { return lessor_->Revoke(b, id); });
  }
  // Applies what the lessor proposed, as Raft would.
  void ApplyProposedCheckpoints() {
    for (const serverpb::LeaseCheckpoints& cps : checkpoints_) {
      Apply([&](mvcc::ApplyBatch& b) {
        lessor_->Checkpoint(b, cps);
        return 0;
      });
    }
    checkpoints_.clear();
  }

  LessorOptions options_;
  std::unique_ptr<Lessor> lessor_;
  std::vector<int64_t> revokes_;
  std::vector<serverpb::LeaseCheckpoints> checkpoints_;
};

TEST_F(LessorTest, GrantChecksAndPersistsAndRevokeDeletesKeysInOneRevision) {
  auto g = Grant(7, 10);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->id(), 7);
  EXPECT_EQ(g->ttl(), 10);
  EXPECT_TRUE(IsErr(Grant(7, 10).status(), ErrLeaseExist()));
  EXPECT_TRUE(IsErr(Grant(0, 10).status(), ErrLeaseNotFound()));
  EXPECT_TRUE(IsErr(Grant(8, kMaxLeaseTtlSeconds + 1).status(), ErrLeaseTTLTooLarge()));
  EXPECT_TRUE(lessor_->Exists(7));
  EXPECT_FALSE(lessor_->Exists(8));

  MustPut("a", "1", 7);
  MustPut("b", "1", 7);
  MustPut("c", "1");
  auto r = Revoke(7);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(last_events_.size(), 1u) << "one revision for every key of the lease";
  EXPECT_EQ(last_events_[0].events.size(), 2u);
  EXPECT_EQ(r->header().revision(), last_events_[0].revision);
  EXPECT_FALSE(lessor_->Exists(7));
  EXPECT_TRUE(IsErr(Revoke(7).status(), ErrLeaseNotFound()));
  EXPECT_EQ(MustRange(mvcc::testing::Get("a", "z")).kvs_size(), 1);
}

TEST_F(LessorTest, LeasesSurviveARestartFromTheStore) {
  ASSERT_TRUE(Grant(1, 30).ok());
  ASSERT_TRUE(Grant(2, 60).ok());
  ASSERT_TRUE(Revoke(1).ok());
  serverpb::LeaseCheckpoints cps;
  auto* cp = cps.add_checkpoints();
  cp->set_id(2);
  cp->set_remaining_ttl(17);
  Apply([&](mvcc::ApplyBatch& b) {
    lessor_->Checkpoint(b, cps);
    return 0;
  });
  Reopen();
  Make();
  EXPECT_EQ(lessor_->Leases(), (std::vector<int64_t>{2}));
  EXPECT_EQ(lessor_->RecordedRemaining(2), 17);
}

TEST_F(LessorTest, OnlyAPromotedLeaderExpiresAndFollowersNever) {
  ASSERT_TRUE(Grant(1, 10).ok());
  // A follower never proposes anything, however late.
  lessor_->Tick(kT0 + absl::Hours(1));
  EXPECT_TRUE(revokes_.empty());
  EXPECT_TRUE(IsNotPrimary(lessor_->Renew(1, kT0).status()));
  // Leading, but its term's first entry not yet applied: still not primary.
  lessor_->LeadershipChanged(true, 3);
  EXPECT_FALSE(lessor_->primary());
  lessor_->LeaderNoopApplied(2, kT0);  // an older term's entry
  EXPECT_FALSE(lessor_->primary());
  lessor_->LeaderNoopApplied(3, kT0);
  EXPECT_TRUE(lessor_->primary());
  // Full TTL plus one election timeout of grace.
  lessor_->Tick(kT0 + absl::Seconds(10.5));
  EXPECT_TRUE(revokes_.empty());
  lessor_->Tick(kT0 + absl::Seconds(11));
  EXPECT_EQ(revokes_, (std::vector<int64_t>{1}));
  // Not applied: proposed again after revoke_retry, not before.
  lessor_->Tick(kT0 + absl::Seconds(13));
  EXPECT_EQ(revokes_.size(), 1u);
  lessor_->Tick(kT0 + absl::Seconds(14));
  EXPECT_EQ(revokes_.size(), 2u);
  // An expired lease cannot be renewed back to life.
  EXPECT_TRUE(IsErr(lessor_->Renew(1, kT0 + absl::Seconds(14)).status(), ErrLeaseNotFound()));
  // Stepping down stops expiry at once.
  lessor_->LeadershipChanged(false, 4);
  EXPECT_FALSE(lessor_->primary());
  lessor_->Tick(kT0 + absl::Hours(2));
  EXPECT_EQ(revokes_.size(), 2u);
}

TEST_F(LessorTest, RenewPostponesExpiryWithoutProposing) {
  Lead(2, kT0);
  ASSERT_TRUE(Grant(1, 10, kT0).ok());
  for (int s = 5; s <= 60; s += 5) {
    auto ttl = lessor_->Renew(1, kT0 + absl::Seconds(s));
    ASSERT_TRUE(ttl.ok());
    EXPECT_EQ(*ttl, 10);
    lessor_->Tick(kT0 + absl::Seconds(s) + absl::Milliseconds(1));
  }
  EXPECT_TRUE(revokes_.empty());
  auto t = lessor_->TimeToLive(1, kT0 + absl::Seconds(62));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->remaining_seconds, 8);
  EXPECT_EQ(t->granted_seconds, 10);
  lessor_->Tick(kT0 + absl::Seconds(70));
  EXPECT_EQ(revokes_, (std::vector<int64_t>{1}));
}

TEST_F(LessorTest, ANewLeaderResumesFromTheCheckpointNotTheFullTtl) {
  Lead(2, kT0);
  ASSERT_TRUE(Grant(1, 60, kT0).ok());
  // Checkpoints every 5 s: after 20 s the record says 40 s remain.
  for (int s = 5; s <= 20; s += 5) lessor_->Tick(kT0 + absl::Seconds(s));
  ApplyProposedCheckpoints();
  EXPECT_EQ(lessor_->RecordedRemaining(1), 40);
  // Leadership moves (here: to the same member in a later term, which reads the same record
  // another member would).
  lessor_->LeadershipChanged(false, 3);
  const absl::Time later = kT0 + absl::Seconds(22);
  Lead(4, later);
  auto t = lessor_->TimeToLive(1, later);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->remaining_seconds, 41) << "40 s recorded + 1 s grace, not 60";
  lessor_->Tick(later + absl::Seconds(40));
  EXPECT_TRUE(revokes_.empty()) << "not early";
  lessor_->Tick(later + absl::Seconds(41));
  EXPECT_EQ(revokes_, (std::vector<int64_t>{1}));
}

TEST_F(LessorTest, ARenewalAfterACheckpointIsRecordedSoANewLeaderIsNotEarly) {
  Lead(2, kT0);
  ASSERT_TRUE(Grant(1, 60, kT0).ok());
  lessor_->Tick(kT0 + absl::Seconds(30));  // due checkpoint: 30 s remain
  ApplyProposedCheckpoints();
  ASSERT_EQ(lessor_->RecordedRemaining(1), 30);
  // Many keep-alives: one "full TTL" checkpoint, however many there are.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(lessor_->Renew(1, kT0 + absl::Seconds(31)).ok());
  lessor_->Tick(kT0 + absl::Seconds(31));
  ASSERT_EQ(checkpoints_.size(), 1u);
  ASSERT_EQ(checkpoints_[0].checkpoints_size(), 1);
  EXPECT_EQ(checkpoints_[0].checkpoints(0).remaining_ttl(), 0);
  ApplyProposedCheckpoints();
  EXPECT_EQ(lessor_->RecordedRemaining(1), 0);
  lessor_->Tick(kT0 + absl::Seconds(32));
  EXPECT_TRUE(checkpoints_.empty());
  // A new leader now gives it the full TTL (+ grace): the client renewed 60 s at 31 s.
  lessor_->LeadershipChanged(false, 3);
  Lead(4, kT0 + absl::Seconds(33));
  lessor_->Tick(kT0 + absl::Seconds(33 + 60));
  EXPECT_TRUE(revokes_.empty());
  lessor_->Tick(kT0 + absl::Seconds(33 + 61));
  EXPECT_EQ(revokes_, (std::vector<int64_t>{1}));
}

TEST_F(LessorTest, CheckpointsAreBatched) {
  options_.max_checkpoints_per_entry = 3;
  Make();
  Lead(2, kT0);
  for (int64_t id = 1; id <= 7; ++id) ASSERT_TRUE(Grant(id, 60, kT0).ok());
  lessor_->Tick(kT0 + absl::Seconds(5));
  ASSERT_EQ(checkpoints_.size(), 3u);
  EXPECT_EQ(checkpoints_[0].checkpoints_size(), 3);
  EXPECT_EQ(checkpoints_[2].checkpoints_size(), 1);
  for (const auto& e : checkpoints_) {
    for (const auto& cp : e.checkpoints()) EXPECT_EQ(cp.remaining_ttl(), 55);
  }
}

}  // namespace
}  // namespace kvd::server
