// mvcc_bench: throughput of the MVCC store's operations as the server's apply thread and gRPC
// threads would drive them, and its size on disk.
//
//   mvcc_bench [--keys N] [--dir DIR] [--delete-range-only]
//
// Loads N keys (default 1,000,000; 64-byte keys, 256-byte random values, so values do not
// compress) with puts batched 100 per ApplyBatch, then measures puts, single-key ranges, ranges
// over a 1,000-key prefix, and txns (compare + put), each batched 100 per ApplyBatch and
// unbatched (one per batch) where it writes. Size: bytes of live SST files after a full RocksDB
// compaction, divided by N; memory: resident set growth while loading, divided by N.
//
// Delete-range: in a fresh store, puts 100,000 and then 240,000 keys under one prefix (the
// shape `etcdctl check perf` leaves behind, 1,000 puts per ApplyBatch) and times the one
// DeleteRange of that prefix: the request applied in its batch, then the batch's Commit. With
// --delete-range-only only this part runs.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "storage/mvcc/store.h"

namespace {

using kvd::mvcc::ApplyBatch;
using kvd::mvcc::Store;
using kvd::mvcc::StoreOptions;
using Clock = std::chrono::steady_clock;

constexpr int kKeysPerPrefix = 1000;

// 64 bytes: "bench/" + 4-digit prefix + "/" + zero-padded id.
std::string Key(uint64_t id) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "bench/%04llu/%052llu",
                static_cast<unsigned long long>(id / kKeysPerPrefix),
                static_cast<unsigned long long>(id));
  return std::string(buf, 64);
}

std::string Value(std::mt19937_64& rng) {
  std::string v(256, '\0');
  for (size_t i = 0; i < v.size(); i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8; ++j) v[i + j] = static_cast<char>(r >> (8 * j));
  }
  return v;
}

etcdserverpb::PutRequest PutReq(uint64_t id, std::mt19937_64& rng) {
  etcdserverpb::PutRequest p;
  p.set_key(Key(id));
  p.set_value(Value(rng));
  return p;
}

long RssBytes() {
  std::ifstream f("/proc/self/statm");
  long pages_total = 0, pages_rss = 0;
  f >> pages_total >> pages_rss;
  return pages_rss * sysconf(_SC_PAGESIZE);
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// CPU seconds used by the whole process (every thread, RocksDB's background work included).
double ProcessCpu() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Throughput by wall clock and by process CPU time (the machine may be shared).
struct Rate {
  double wall = 0;
  double cpu = 0;
};

void Row(const char* what, Rate r) { std::printf("%-48s %12.0f %14.0f\n", what, r.wall, r.cpu); }

void Die(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

struct Bench {
  Store& store;
  uint64_t index;
  std::mt19937_64 rng{42};

  // Runs `ops` operations `per_batch` to an ApplyBatch; returns operations per second.
  template <typename Op>
  Rate Writes(uint64_t ops, uint64_t per_batch, Op op, kvd::mvcc::BatchOptions bo = {}) {
    auto t0 = Clock::now();
    double c0 = ProcessCpu();
    for (uint64_t done = 0; done < ops;) {
      ApplyBatch b = store.BeginBatch(bo);
      for (uint64_t i = 0; i < per_batch && done < ops; ++i, ++done) op(b, done);
      Die(b.Commit(++index, 1), "commit");
    }
    double n = static_cast<double>(ops);
    return Rate{n / Seconds(t0, Clock::now()), n / (ProcessCpu() - c0)};
  }

  template <typename Op>
  Rate Reads(uint64_t ops, Op op) {
    auto t0 = Clock::now();
    double c0 = ProcessCpu();
    for (uint64_t i = 0; i < ops; ++i) op(i);
    double n = static_cast<double>(ops);
    return Rate{n / Seconds(t0, Clock::now()), n / (ProcessCpu() - c0)};
  }
};

// Puts `count` keys under one prefix, then deletes the prefix in one request; prints the times.
void DeleteRangeCase(const std::string& dir, uint64_t count, const kvd::mvcc::BatchOptions& bo,
                     const char* label) {
  std::filesystem::remove_all(dir);
  auto opened = Store::Open(dir, StoreOptions{});
  Die(opened.status(), "open");
  Store& store = **opened;
  Bench bench{store, 0};
  const std::string prefix = "/etcdctl-check-perf/";
  bench.Writes(count, 1000, [&](ApplyBatch& b, uint64_t i) {
    etcdserverpb::PutRequest p;
    char id[24];
    std::snprintf(id, sizeof(id), "%016llx",
                  static_cast<unsigned long long>(i * 0x9e3779b97f4a7c15ULL));
    p.set_key(prefix + id);
    p.set_value(Value(bench.rng));
    if (!b.Put(p).ok()) std::exit(1);
  });
  etcdserverpb::DeleteRangeRequest del;
  del.set_key(prefix);
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  del.set_range_end(end);
  auto t0 = Clock::now();
  double c0 = ProcessCpu();
  ApplyBatch b = store.BeginBatch(bo);
  auto resp = b.DeleteRange(del);
  if (!resp.ok() || resp->deleted() != static_cast<int64_t>(count)) {
    std::fprintf(stderr, "delete-range: %s\n",
                 resp.ok() ? "wrong count" : resp.status().ToString().c_str());
    std::exit(1);
  }
  auto t1 = Clock::now();
  Die(b.Commit(++bench.index, 1), "commit");
  auto t2 = Clock::now();
  double cpu = ProcessCpu() - c0;
  std::printf(
      "delete-range of a %7llu-key prefix, %-22s %8.3f s (apply %.3f s, commit %.3f s; "
      "%.3f CPU-s)\n",
      static_cast<unsigned long long>(count), label, Seconds(t0, t2), Seconds(t0, t1),
      Seconds(t1, t2), cpu);
  opened->reset();
  std::filesystem::remove_all(dir);
}

void DeleteRangeCases(const std::string& dir) {
  kvd::mvcc::BatchOptions with_prev;
  kvd::mvcc::BatchOptions without_prev;
  without_prev.record.prev_kv = false;
  for (uint64_t count : {uint64_t{100000}, uint64_t{240000}}) {
    DeleteRangeCase(dir + "/delete-range", count, with_prev, "events with prev_kv:");
    DeleteRangeCase(dir + "/delete-range", count, without_prev, "events without prev_kv:");
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t keys = 1000000;
  std::string dir;
  bool delete_range_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--delete-range-only") delete_range_only = true;
    if (i + 1 >= argc) continue;
    if (flag == "--keys") keys = std::strtoull(argv[++i], nullptr, 10);
    if (flag == "--dir") dir = argv[++i];
  }
  keys = std::max<uint64_t>(keys / kKeysPerPrefix * kKeysPerPrefix, kKeysPerPrefix);
  bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = "/tmp/kvd-mvcc-bench-XXXXXX";
    dir = mkdtemp(tmpl.data());
  }
  if (delete_range_only) {
    DeleteRangeCases(dir);
    if (own_dir) std::filesystem::remove_all(dir);
    return 0;
  }
  StoreOptions options;  // the defaults the server uses: RocksDB WAL off, 64 MiB memtables/cache
  long rss0 = RssBytes();
  auto opened = Store::Open(dir + "/db", options);
  Die(opened.status(), "open");
  Store& store = **opened;
  Bench bench{store, 0};

  std::printf("kvd MVCC store benchmark: %llu keys of 64 B, values of 256 random bytes\n",
              static_cast<unsigned long long>(keys));
  std::printf(
      "RocksDB: WAL off, one column family, LZ4 (ZSTD bottommost), 64 MiB memtables, "
      "64 MiB block cache, 4 KiB blocks, no Bloom filter\n\n");

  auto t0 = Clock::now();
  Rate load = bench.Writes(keys, 100, [&](ApplyBatch& b, uint64_t i) {
    if (!b.Put(PutReq(i, bench.rng)).ok()) std::exit(1);
  });
  double load_s = Seconds(t0, Clock::now());
  long rss1 = RssBytes();
  Die(store.Flush().status(), "flush");

  std::printf("%-48s %12s %14s\n", "operation", "ops/s (wall)", "ops/CPU-second");
  Row("load: put, 100 per ApplyBatch (new keys)", load);
  std::uniform_int_distribution<uint64_t> any(0, keys - 1);
  const uint64_t n = std::min<uint64_t>(keys, 200000);
  Row("put, 100 per ApplyBatch (overwrite)", bench.Writes(n, 100, [&](ApplyBatch& b, uint64_t) {
    if (!b.Put(PutReq(any(bench.rng), bench.rng)).ok()) std::exit(1);
  }));
  Row("put, 1 per ApplyBatch (overwrite)", bench.Writes(n / 4, 1, [&](ApplyBatch& b, uint64_t) {
    if (!b.Put(PutReq(any(bench.rng), bench.rng)).ok()) std::exit(1);
  }));
  kvd::mvcc::BatchOptions no_prev;
  no_prev.record.prev_kv = false;
  Row("put, 100 per ApplyBatch, events without prev_kv",
      bench.Writes(
          n, 100,
          [&](ApplyBatch& b, uint64_t) {
            if (!b.Put(PutReq(any(bench.rng), bench.rng)).ok()) std::exit(1);
          },
          no_prev));
  auto txn = [&](ApplyBatch& b, uint64_t) {
    uint64_t id = any(bench.rng);
    etcdserverpb::TxnRequest t;
    auto* c = t.add_compare();
    c->set_key(Key(id));
    c->set_target(etcdserverpb::Compare::MOD);
    c->set_result(etcdserverpb::Compare::GREATER);
    c->set_mod_revision(0);
    *t.add_success()->mutable_request_put() = PutReq(id, bench.rng);
    auto r = b.Txn(t);
    if (!r.ok() || !r->succeeded()) std::exit(1);
  };
  Row("txn (compare mod + put), 100 per ApplyBatch", bench.Writes(n, 100, txn));
  Row("txn (compare mod + put), 1 per ApplyBatch", bench.Writes(n / 4, 1, txn));
  Row("range: one key (committed state)", bench.Reads(n, [&](uint64_t) {
    etcdserverpb::RangeRequest r;
    r.set_key(Key(any(bench.rng)));
    auto resp = store.Range(r);
    if (!resp.ok() || resp->count() != 1) std::exit(1);
  }));
  Row("range: 1,000-key prefix", bench.Reads(2000, [&](uint64_t) {
    etcdserverpb::RangeRequest r;
    uint64_t prefix = any(bench.rng) / kKeysPerPrefix;
    std::string key = Key(prefix * kKeysPerPrefix).substr(0, 11);
    std::string end = key;
    end.back() = static_cast<char>(end.back() + 1);
    r.set_key(key);
    r.set_range_end(end);
    auto resp = store.Range(r);
    if (!resp.ok() || resp->count() != kKeysPerPrefix) std::exit(1);
  }));
  Row("range: 1,000-key prefix, count_only", bench.Reads(2000, [&](uint64_t) {
    etcdserverpb::RangeRequest r;
    uint64_t prefix = any(bench.rng) / kKeysPerPrefix;
    std::string key = Key(prefix * kKeysPerPrefix).substr(0, 11);
    std::string end = key;
    end.back() = static_cast<char>(end.back() + 1);
    r.set_key(key);
    r.set_range_end(end);
    r.set_count_only(true);
    auto resp = store.Range(r);
    if (!resp.ok() || resp->count() != kKeysPerPrefix) std::exit(1);
  }));

  // Size: drop the history the overwrites made, then compact RocksDB fully.
  {
    ApplyBatch b = store.BeginBatch();
    etcdserverpb::CompactionRequest c;
    c.set_revision(b.CurrentRevision());
    Die(b.Compact(c).status(), "compact");
    Die(b.Commit(++bench.index, 1), "commit");
  }
  store.WaitForCompaction();
  Die(store.CompactStorage(), "compact storage");
  uint64_t bytes = store.LiveDataBytes();
  std::printf("\nload of %llu keys took %.1f s\n", static_cast<unsigned long long>(keys), load_s);
  std::printf("on disk after compaction: %.1f MiB, %.1f bytes per key (key+value = 320 B)\n",
              static_cast<double>(bytes) / (1 << 20), static_cast<double>(bytes) / keys);
  std::printf(
      "resident memory growth while loading: %.1f bytes per key (index + memtables + "
      "cache)\n",
      static_cast<double>(rss1 - rss0) / keys);
  opened->reset();
  std::printf("\n");
  DeleteRangeCases(dir);
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
