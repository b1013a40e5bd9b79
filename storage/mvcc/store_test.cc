// Compaction, HashKV, history replay, apply batches, metadata, leases, snapshots, opening bad
// directories, and readers concurrent with the apply thread.
#include <atomic>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/mvcc/errors.h"
#include "storage/mvcc/snapshot.h"
#include "storage/mvcc/testing.h"

namespace kvd::mvcc {
namespace {

using namespace kvd::mvcc::testing;  // NOLINT
namespace fs = std::filesystem;

using StoreTest = StoreFixture;

TEST_F(StoreTest, CompactionBoundaries) {
  MustPut("a", "1");                  // 2
  MustPut("a", "2");                  // 3
  MustPut("b", "1");                  // 4
  ASSERT_TRUE(DoDel(Del("b")).ok());  // 5
  MustPut("c", "1");                  // 6
  auto c = DoCompact(7);
  EXPECT_TRUE(IsFutureRevision(c.status()));
  c = DoCompact(4);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->header().revision(), 6);
  EXPECT_EQ(store_->CompactRevision(), 4);
  // At the compact revision itself reads still work; below it they fail.
  auto at = MustRange(Get("a", "z", 4));
  EXPECT_EQ(Keys(at), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(at.kvs(0).value(), "2");
  auto below = store_->Range(Get("a", "", 3));
  EXPECT_TRUE(IsCompacted(below.status()));
  EXPECT_EQ(below.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(below.status().message(), "etcdserver: mvcc: required revision has been compacted");
  // Compacting at or below the compact revision is the compacted error.
  EXPECT_TRUE(IsCompacted(DoCompact(4).status()));
  EXPECT_TRUE(IsCompacted(DoCompact(2).status()));
  store_->WaitForCompaction();
  at = MustRange(Get("a", "z", 4));
  EXPECT_EQ(Keys(at), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(MustRange(Get("a", "z", 5)).count(), 1);
  // Compacting past the delete drops b entirely; its history stays readable from 5 on.
  ASSERT_TRUE(DoCompact(5).ok());
  store_->WaitForCompaction();
  EXPECT_EQ(Keys(MustRange(Get("a", "z", 5))), (std::vector<std::string>{"a"}));
  EXPECT_EQ(MustRange(Get("a", "", 5)).kvs(0).version(), 2);
  // The compact revision survives a reopen.
  Reopen();
  EXPECT_EQ(store_->CompactRevision(), 5);
  EXPECT_TRUE(IsCompacted(store_->Range(Get("a", "", 4)).status()));
  EXPECT_EQ(Keys(MustRange(Get("a", "z"))), (std::vector<std::string>{"a", "c"}));
}

TEST_F(StoreTest, CompactionRemovesHistoryPhysicallyInChunks) {
  StoreOptions small = SmallStoreOptions();
  small.compaction_batch_records = 7;
  Reopen(small);
  for (int i = 0; i < 200; ++i) MustPut("k" + std::to_string(i % 10), std::to_string(i));
  ASSERT_TRUE(DoDel(Del("k0")).ok());
  int64_t rev = store_->CurrentRevision();
  auto before = MustRange(Get("k", "l", rev));
  ASSERT_TRUE(DoCompact(rev).ok());
  store_->WaitForCompaction();
  auto after = MustRange(Get("k", "l", rev));
  EXPECT_EQ(before.SerializeAsString(), after.SerializeAsString());
  EXPECT_EQ(after.count(), 9);
  // Only the 9 live versions remain on disk: history replay from the compact revision finds
  // exactly those that survive compaction at it (none at rev, which was a delete).
  EventQuery q;
  q.key = "k";
  q.range_end = "l";
  q.start_revision = rev;
  auto page = store_->ReadEvents(q);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->events.empty());
  auto h1 = store_->HashKV(0);
  Reopen();
  auto h2 = store_->HashKV(0);
  ASSERT_TRUE(h1.ok() && h2.ok());
  EXPECT_EQ(h1->hash, h2->hash);
  EXPECT_EQ(h2->compact_revision, rev);
}

TEST_F(StoreTest, HashKVEqualAcrossStoresWithTheSameHistoryAndReadErrors) {
  TempDir other_dir;
  auto other = Store::Open(other_dir.Sub("db"));
  ASSERT_TRUE(other.ok());
  auto apply_both = [&](auto f) {
    Apply(f);
    ApplyBatch b = (*other)->BeginBatch();
    f(b);
    ASSERT_TRUE(b.Commit(index_, 1).ok());
  };
  for (int i = 0; i < 30; ++i) {
    apply_both([&](ApplyBatch& b) { return b.Put(Put("k" + std::to_string(i % 7), "v")).ok(); });
  }
  apply_both([&](ApplyBatch& b) { return b.DeleteRange(Del("k1", "k4")).ok(); });
  // Compact only one of them for now: hashes above the compact revision still agree.
  etcdserverpb::CompactionRequest cr;
  cr.set_revision(20);
  ASSERT_TRUE(Apply([&](ApplyBatch& b) { return b.Compact(cr); }).ok());
  {
    ApplyBatch b = (*other)->BeginBatch();
    ASSERT_TRUE(b.Compact(cr).ok());
    ASSERT_TRUE(b.Commit(index_, 1).ok());
  }
  store_->WaitForCompaction();  // one side compacted physically, the other maybe not yet
  for (int64_t rev : {0, 21, 25, 32}) {
    auto a = store_->HashKV(rev);
    auto b = (*other)->HashKV(rev);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
    EXPECT_EQ(a->hash, b->hash) << rev;
    EXPECT_EQ(a->compact_revision, 20);
    EXPECT_EQ(a->current_revision, 32);
  }
  EXPECT_NE(store_->HashKV(25)->hash, store_->HashKV(26)->hash);
  EXPECT_TRUE(IsCompacted(store_->HashKV(20).status()));
  EXPECT_TRUE(IsFutureRevision(store_->HashKV(33).status()));
  MustPut("extra", "v");
  EXPECT_NE(store_->HashKV(0)->hash, (*other)->HashKV(0)->hash);
  EXPECT_EQ(store_->HashKV(32)->hash, (*other)->HashKV(32)->hash);
}

TEST_F(StoreTest, ReadEventsReplaysHistoryInPagesWithPrevKv) {
  MustPut("a", "1");                       // 2
  MustPut("b", "1");                       // 3
  MustPut("a", "2");                       // 4
  ASSERT_TRUE(DoDel(Del("a", "c")).ok());  // 5: two deletes in one revision
  MustPut("x", "1");                       // 6
  EventQuery q;
  q.key = "a";
  q.range_end = "c";
  q.start_revision = 2;
  q.prev_kv = true;
  auto page = store_->ReadEvents(q);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->events.size(), 5u);
  EXPECT_EQ(page->next_revision, 7);
  EXPECT_EQ(page->events[2].kv().value(), "2");
  EXPECT_EQ(page->events[2].prev_kv().value(), "1");
  EXPECT_FALSE(page->events[0].has_prev_kv());
  EXPECT_EQ(page->events[3].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(page->events[3].kv().key(), "a");
  EXPECT_EQ(page->events[3].kv().mod_revision(), 5);
  EXPECT_EQ(page->events[3].prev_kv().value(), "2");
  // A limit never splits a revision.
  q.limit = 4;
  page = store_->ReadEvents(q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->events.size(), 5u);
  EXPECT_EQ(page->next_revision, 6);
  q.limit = 2;
  page = store_->ReadEvents(q);
  EXPECT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->next_revision, 4);
  q.start_revision = page->next_revision;
  q.end_revision = 4;
  page = store_->ReadEvents(q);
  EXPECT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->next_revision, 5);
  // Compacted below the compact revision.
  ASSERT_TRUE(DoCompact(4).ok());
  q.start_revision = 3;
  q.end_revision = 0;
  EXPECT_TRUE(IsCompacted(store_->ReadEvents(q).status()));
  q.start_revision = 4;
  q.limit = 0;
  page = store_->ReadEvents(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 3u);
  EXPECT_FALSE(page->events[0].has_prev_kv());  // its previous version is compacted
  // The events a batch produces are the ones history replays.
  MustPut("b", "9");
  ASSERT_TRUE(DoDel(Del("b")).ok());
  q.start_revision = store_->CurrentRevision() - 1;
  page = store_->ReadEvents(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  ASSERT_EQ(last_events_.size(), 1u);
  EXPECT_EQ(page->events[1].SerializeAsString(), last_events_[0].events[0].SerializeAsString());
}

TEST_F(StoreTest, BatchReadsSeeEarlierWritesAndNothingIsVisibleBeforeCommit) {
  ApplyBatch b = store_->BeginBatch();
  ASSERT_TRUE(b.Put(Put("a", "1")).ok());
  ASSERT_TRUE(b.Put(Put("b", "1")).ok());
  auto in_batch = b.Range(Get("a", "z"));
  ASSERT_TRUE(in_batch.ok());
  EXPECT_EQ(in_batch->count(), 2);
  EXPECT_EQ(in_batch->header().revision(), 3);
  EXPECT_EQ(MustRange(Get("a", "z")).count(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 1);
  b.PutMeta("member/1", "alice");
  EXPECT_EQ(*b.GetMeta("member/1").value(), "alice");
  EXPECT_FALSE(store_->GetMeta("member/1")->has_value());
  ASSERT_TRUE(b.Commit(7, 2).ok());
  auto events = b.TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].revision, 3);
  EXPECT_EQ(MustRange(Get("a", "z")).count(), 2);
  EXPECT_EQ(store_->Applied(), (AppliedPosition{7, 2}));
  EXPECT_EQ(*store_->GetMeta("member/1").value(), "alice");
  // A commit must move the applied index forward.
  ApplyBatch stale = store_->BeginBatch();
  EXPECT_EQ(stale.Commit(7, 2).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(stale.Commit(8, 2).ok());
}

TEST_F(StoreTest, DroppedBatchChangesNothing) {
  MustPut("a", "0");
  {
    ApplyBatch b = store_->BeginBatch();
    ASSERT_TRUE(b.Put(Put("a", "1", 5)).ok());
    ASSERT_TRUE(b.Put(Put("new", "1", 5)).ok());
    ASSERT_TRUE(b.DeleteRange(Del("a")).ok());
    EXPECT_EQ(b.KeysWithLease(5), (std::vector<std::string>{"new"}));
    b.PutMeta("m", "x");
  }
  EXPECT_EQ(store_->CurrentRevision(), 2);
  EXPECT_EQ(MustRange(Get("a")).kvs(0).value(), "0");
  EXPECT_EQ(MustRange(Get("new")).count(), 0);
  EXPECT_TRUE(store_->KeysWithLease(5).empty());
  EXPECT_EQ(MustPut("a", "2"), 3);
  EXPECT_EQ(MustRange(Get("a")).kvs(0).version(), 2);
  Reopen();
  EXPECT_FALSE(store_->GetMeta("m")->has_value());
  EXPECT_EQ(store_->CurrentRevision(), 3);
}

TEST_F(StoreTest, LeaseKeysAreDeletedInOneRevision) {
  MustPut("a", "1", 9);
  MustPut("b", "1", 9);
  MustPut("c", "1", 8);
  MustPut("b", "2", 8);  // moves b to lease 8
  MustPut("d", "1", 9);
  EXPECT_EQ(store_->KeysWithLease(9), (std::vector<std::string>{"a", "d"}));
  auto r = Apply([&](ApplyBatch& b) {
    b.DeleteMeta("lease/9");
    return b.DeleteLeaseKeys(9);
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deleted(), 2);
  ASSERT_EQ(last_events_.size(), 1u);
  EXPECT_EQ(last_events_[0].events.size(), 2u);
  EXPECT_TRUE(store_->KeysWithLease(9).empty());
  Reopen();
  EXPECT_EQ(store_->KeysWithLease(8), (std::vector<std::string>{"b", "c"}));
  auto none = Apply([&](ApplyBatch& b) { return b.DeleteKeys({"zz", "a"}); });
  EXPECT_EQ(none->deleted(), 0);
  EXPECT_TRUE(last_events_.empty());
}

TEST_F(StoreTest, MetaScan) {
  Apply([](ApplyBatch& b) {
    b.PutMeta("lease/1", "a");
    b.PutMeta("lease/2", "b");
    b.PutMeta("member/1", "c");
    return 0;
  });
  auto leases = store_->ScanMeta("lease/");
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 2u);
  EXPECT_EQ((*leases)[1].first, "lease/2");
  EXPECT_EQ((*leases)[1].second, "b");
}

TEST_F(StoreTest, SnapshotRestoreOntoAnotherStoreEqualsTheSource) {
  for (int i = 0; i < 50; ++i) MustPut("k" + std::to_string(i % 13), std::to_string(i), i % 3);
  ASSERT_TRUE(DoDel(Del("k1", "k3")).ok());
  ASSERT_TRUE(DoCompact(30).ok());
  Apply([](ApplyBatch& b) {
    b.PutMeta("member/1", "x");
    return 0;
  });
  auto info = store_->CreateSnapshot(dir_.Sub("snap"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->applied, store_->Applied());
  EXPECT_EQ(info->revision, store_->CurrentRevision());
  EXPECT_EQ(info->compact_revision, 30);

  // Stream it in chunks into another member's staging directory.
  TempDir other;
  std::string staging = other.Sub("incoming");
  auto read_info = ReadSnapshotManifest(dir_.Sub("snap"));
  ASSERT_TRUE(read_info.ok()) << read_info.status();
  for (const std::string& name : SnapshotTransferList(*read_info)) {
    uint64_t off = 0;
    while (true) {
      auto chunk = ReadSnapshotChunk(dir_.Sub("snap"), name, off, 4096);
      ASSERT_TRUE(chunk.ok());
      ASSERT_TRUE(WriteSnapshotChunk(staging, name, off, *chunk).ok());
      if (chunk->empty()) break;
      off += chunk->size();
    }
  }
  auto target = Store::Open(other.Sub("db"));
  ASSERT_TRUE(target.ok());
  {
    ApplyBatch b = (*target)->BeginBatch();
    ASSERT_TRUE(b.Put(Put("stale", "x")).ok());
    ASSERT_TRUE(b.Commit(1, 1).ok());
  }
  ASSERT_TRUE((*target)->InstallSnapshot(staging).ok());
  EXPECT_FALSE(fs::exists(staging));
  Store& t = **target;
  EXPECT_EQ(t.Applied(), store_->Applied());
  EXPECT_EQ(t.CurrentRevision(), store_->CurrentRevision());
  EXPECT_EQ(t.CompactRevision(), 30);
  EXPECT_EQ(t.HashKV(0)->hash, store_->HashKV(0)->hash);
  for (int64_t rev : {30L, 40L, 0L}) {
    auto a = t.Range(Get("\x01", std::string(1, '\0'), rev));
    auto b = store_->Range(Get("\x01", std::string(1, '\0'), rev));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->SerializeAsString(), b->SerializeAsString());
  }
  EXPECT_EQ(t.KeysWithLease(1), store_->KeysWithLease(1));
  EXPECT_EQ(*t.GetMeta("member/1").value(), "x");
  EXPECT_EQ(t.Range(Get("stale"))->count(), 0);
  // It keeps working: the next write gets the next revision.
  ApplyBatch b = t.BeginBatch();
  auto put = b.Put(Put("after", "1"));
  EXPECT_EQ(put->header().revision(), store_->CurrentRevision() + 1);
  ASSERT_TRUE(b.Commit(t.Applied().index + 1, 1).ok());
}

TEST_F(StoreTest, DamagedSnapshotIsRefusedAndTheStoreIsUnchanged) {
  MustPut("a", "1");
  ASSERT_TRUE(store_->CreateSnapshot(dir_.Sub("snap")).ok());
  auto info = ReadSnapshotManifest(dir_.Sub("snap"));
  ASSERT_TRUE(info.ok());
  // Copy, then flip one byte of the largest file.
  TempDir other;
  fs::copy(dir_.Sub("snap"), other.Sub("bad"));
  std::string victim;
  uint64_t largest = 0;
  for (const auto& f : info->files) {
    if (f.size > largest) largest = f.size, victim = f.name;
  }
  {
    std::fstream f(other.Sub("bad") + "/" + victim,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(largest / 2));
    f.put('\x5a' ^ static_cast<char>(f.peek()));
  }
  auto target = Store::Open(other.Sub("db"));
  ASSERT_TRUE(target.ok());
  auto s = (*target)->InstallSnapshot(other.Sub("bad"));
  EXPECT_TRUE(IsError(s, ErrorKind::kBadSnapshot)) << s;
  EXPECT_EQ((*target)->CurrentRevision(), 1);
  // A manifest edited by hand fails its own checksum.
  fs::copy(dir_.Sub("snap"), other.Sub("bad2"));
  {
    std::ofstream f(other.Sub("bad2") + "/SNAPSHOT", std::ios::app);
    f << "file extra 1 00000000\n";
  }
  EXPECT_TRUE(IsError((*target)->InstallSnapshot(other.Sub("bad2")), ErrorKind::kBadSnapshot));
}

TEST(StoreOpenTest, ForeignCorruptAndMissingDirectoriesAreClearErrors) {
  TempDir dir;
  // A directory of unrelated files.
  fs::create_directories(dir.Sub("foreign"));
  std::ofstream(dir.Sub("foreign") + "/notes.txt") << "hello";
  auto s = Store::Open(dir.Sub("foreign"));
  EXPECT_TRUE(IsError(s.status(), ErrorKind::kNotAStore)) << s.status();
  // Missing with create_if_missing off.
  s = Store::Open(dir.Sub("absent"), StoreOptions{.create_if_missing = false});
  EXPECT_TRUE(IsError(s.status(), ErrorKind::kNotAStore));
  // A regular file.
  std::ofstream(dir.Sub("file")) << "x";
  EXPECT_TRUE(IsError(Store::Open(dir.Sub("file")).status(), ErrorKind::kNotAStore));
  {
    auto st = Store::Open(dir.Sub("db"));
    ASSERT_TRUE(st.ok());
  }
  // Corrupt: garbage in the CURRENT file's target manifest.
  for (const auto& e : fs::directory_iterator(dir.Sub("db"))) {
    if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) {
      std::ofstream(e.path(), std::ios::trunc) << "garbage garbage garbage garbage";
    }
  }
  s = Store::Open(dir.Sub("db"));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsError(s.status(), ErrorKind::kCorrupt) || IsError(s.status(), ErrorKind::kIo))
      << s.status();
  EXPECT_NE(s.status().message().find(dir.Sub("db")), std::string::npos) << s.status();
}

// Writes raw keys into a closed store's RocksDB database, as damage or another program would.
void RawPut(const std::string& dir, const std::string& key, const std::string& value) {
  rocksdb::DB* db = nullptr;
  rocksdb::Options o;
  o.create_if_missing = true;
  ASSERT_TRUE(rocksdb::DB::Open(o, dir, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
  delete db;
}

TEST(StoreOpenTest, DamagedRecordsForeignDataAndOtherVersionsAreRefused) {
  TempDir dir;
  {
    auto st = Store::Open(dir.Sub("db"));
    ASSERT_TRUE(st.ok());
    ApplyBatch b = (*st)->BeginBatch();
    ASSERT_TRUE(b.Put(Put("a", "1")).ok());
    ASSERT_TRUE(b.Commit(1, 1).ok());
  }
  RawPut(dir.Sub("db"), RecordKey(Revision{2, 0}), "\x7f garbage");
  auto s = Store::Open(dir.Sub("db"));
  EXPECT_TRUE(IsError(s.status(), ErrorKind::kCorrupt)) << s.status();
  EXPECT_NE(s.status().message().find("2.0"), std::string::npos) << s.status();

  RawPut(dir.Sub("other"), "some-app-key", "v");
  s = Store::Open(dir.Sub("other"));
  EXPECT_TRUE(IsError(s.status(), ErrorKind::kNotAStore)) << s.status();

  RawPut(dir.Sub("v9"), std::string(kSysFormat), "kvd-mvcc/9");
  s = Store::Open(dir.Sub("v9"));
  EXPECT_TRUE(IsError(s.status(), ErrorKind::kNotAStore)) << s.status();
  EXPECT_NE(s.status().message().find("kvd-mvcc/9"), std::string::npos);
}

TEST(StoreOpenTest, InterruptedRenameFallbackOfAnInstallIsUndoneAtOpen) {
  // An install renames the store to "<dir>.replaced" first; a crash right then leaves no
  // "<dir>". Open puts it back.
  TempDir dir;
  {
    auto st = Store::Open(dir.Sub("db"));
    ASSERT_TRUE(st.ok());
    ApplyBatch b = (*st)->BeginBatch();
    ASSERT_TRUE(b.Put(Put("a", "1")).ok());
    ASSERT_TRUE(b.Commit(1, 1).ok());
  }
  fs::rename(dir.Sub("db"), dir.Sub("db.replaced"));
  auto st = Store::Open(dir.Sub("db"));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)->CurrentRevision(), 2);
  EXPECT_FALSE(fs::exists(dir.Sub("db.replaced")));
}

TEST_F(StoreTest, ConcurrentReadersSeeWholeBatchesOnly) {
  // Each batch writes the same value to "x" and "y" in separate requests; a reader must never
  // see them differ, and revisions it sees never go backwards.
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      int64_t last = 0;
      while (!stop.load()) {
        auto r = store_->Range(Get("x", "z"));
        ASSERT_TRUE(r.ok());
        ASSERT_GE(r->header().revision(), last);
        last = r->header().revision();
        if (r->count() == 2) {
          ASSERT_EQ(r->kvs(0).value(), r->kvs(1).value());
        } else {
          ASSERT_EQ(r->count(), 0);
        }
        auto h = store_->HashKV(0);
        ASSERT_TRUE(h.ok());
        reads.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    ApplyBatch b = store_->BeginBatch();
    ASSERT_TRUE(b.Put(Put("x", std::to_string(i))).ok());
    ASSERT_TRUE(b.Put(Put("y", std::to_string(i))).ok());
    ASSERT_TRUE(b.Commit(++index_, 1).ok());
    if (i % 50 == 49) {
      etcdserverpb::CompactionRequest c;
      c.set_revision(store_->CurrentRevision() - 10);
      ApplyBatch cb = store_->BeginBatch();
      ASSERT_TRUE(cb.Compact(c).ok());
      ASSERT_TRUE(cb.Commit(++index_, 1).ok());
    }
  }
  // Readers wait while a snapshot (of the same state) replaces the database under them.
  ASSERT_TRUE(store_->CreateSnapshot(dir_.Sub("snap")).ok());
  int before = reads.load();
  ASSERT_TRUE(store_->InstallSnapshot(dir_.Sub("snap")).ok());
  for (int i = 0; i < 20; ++i) {
    ApplyBatch b = store_->BeginBatch();
    ASSERT_TRUE(b.Put(Put("x", "after" + std::to_string(i))).ok());
    ASSERT_TRUE(b.Put(Put("y", "after" + std::to_string(i))).ok());
    ASSERT_TRUE(b.Commit(++index_, 1).ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(reads.load(), before);
}

}  // namespace
}  // namespace kvd::mvcc
