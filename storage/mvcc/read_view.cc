#include "storage/mvcc/read_view.h"

#include <algorithm>

#include "storage/mvcc/errors.h"

namespace kvd::mvcc {
namespace {

using etcdserverpb::RangeRequest;

int Compare3(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

}  // namespace

absl::StatusOr<int64_t> ResolveReadRevision(int64_t requested, int64_t current, int64_t compact) {
  if (requested > current) return ErrFutureRevision();
  int64_t rev = requested <= 0 ? current : requested;
  if (rev < compact) return ErrCompacted();
  return rev;
}

absl::StatusOr<etcdserverpb::RangeResponse> ExecuteRange(ReadView& view, const RangeRequest& req) {
  absl::StatusOr<int64_t> rev = ResolveReadRevision(req.revision(), view.current(), view.compact());
  if (!rev.ok()) return rev.status();

  etcdserverpb::RangeResponse resp;
  resp.mutable_header()->set_revision(view.current());

  std::vector<Revision> revs;
  view.Lookup(KeyRange::FromRequest(req.key(), req.range_end()), *rev, &revs, nullptr);
  resp.set_count(static_cast<int64_t>(revs.size()));
  if (req.count_only() || revs.empty()) return resp;

  const bool filtered = req.min_mod_revision() != 0 || req.max_mod_revision() != 0 ||
                        req.min_create_revision() != 0 || req.max_create_revision() != 0;
  // etcd reads everything when an order or a filter is given, and otherwise only the first
  // limit+1 keys in key order. A non-KEY target with order NONE is sorted ASCEND, but (as in
  // etcd) only among those limit+1 keys.
  if (req.limit() > 0 && !filtered && req.sort_order() == RangeRequest::NONE &&
      revs.size() > static_cast<size_t>(req.limit()) + 1) {
    revs.resize(static_cast<size_t>(req.limit()) + 1);
  }
  absl::StatusOr<std::vector<Record>> records = view.Fetch(revs);
  if (!records.ok()) return records.status();

  std::vector<mvccpb::KeyValue> kvs;
  kvs.reserve(records->size());
  for (size_t i = 0; i < records->size(); ++i) {
    mvccpb::KeyValue kv = ToKeyValue(std::move((*records)[i]), revs[i]);
    if (req.max_mod_revision() != 0 && kv.mod_revision() > req.max_mod_revision()) continue;
    if (req.min_mod_revision() != 0 && kv.mod_revision() < req.min_mod_revision()) continue;
    if (req.max_create_revision() != 0 && kv.create_revision() > req.max_create_revision()) {
      continue;
    }
    if (req.min_create_revision() != 0 && kv.create_revision() < req.min_create_revision()) {
      continue;
    }
    kvs.push_back(std::move(kv));
  }

  RangeRequest::SortOrder order = req.sort_order();
  if (req.sort_target() != RangeRequest::KEY && order == RangeRequest::NONE) {
    order = RangeRequest::ASCEND;
  }
  if (order != RangeRequest::NONE) {
    auto cmp = [target = req.sort_target()](const mvccpb::KeyValue& a,
                                            const mvccpb::KeyValue& b) -> int {
      switch (target) {
        case RangeRequest::KEY:
          return a.key().compare(b.key());
        case RangeRequest::VERSION:
          return Compare3(a.version(), b.version());
        case RangeRequest::CREATE:
          return Compare3(a.create_revision(), b.create_revision());
        case RangeRequest::MOD:
          return Compare3(a.mod_revision(), b.mod_revision());
        case RangeRequest::VALUE:
          return a.value().compare(b.value());
        default:
          return 0;
      }
    };
    if (order == RangeRequest::DESCEND) {
      std::stable_sort(kvs.begin(), kvs.end(),
                       [&](const auto& a, const auto& b) { return cmp(a, b) > 0; });
    } else {
      std::stable_sort(kvs.begin(), kvs.end(),
                       [&](const auto& a, const auto& b) { return cmp(a, b) < 0; });
    }
  }

  if (req.limit() > 0 && kvs.size() > static_cast<size_t>(req.limit())) {
    kvs.resize(static_cast<size_t>(req.limit()));
    resp.set_more(true);
  }
  for (auto& kv : kvs) {
    if (req.keys_only()) kv.clear_value();
    *resp.add_kvs() = std::move(kv);
  }
  return resp;
}

absl::StatusOr<bool> EvaluateCompare(ReadView& view, const etcdserverpb::Compare& c) {
  const KeyRange range = KeyRange::FromRequest(c.key(), c.range_end());
  std::vector<mvccpb::KeyValue> kvs;
  std::vector<KeyIndex::Head> heads;
  std::vector<Revision> revs;
  if (c.target() != etcdserverpb::Compare::VALUE && view.LookupHeads(range, &heads)) {
    // Everything but the value is in the index: no record read.
    for (const KeyIndex::Head& h : heads) {
      mvccpb::KeyValue& kv = kvs.emplace_back();
      kv.set_create_revision(h.create_revision);
      kv.set_mod_revision(h.latest.main);
      kv.set_version(h.version);
      kv.set_lease(h.lease);
    }
    if (kvs.empty()) kvs.emplace_back();
  } else if (view.Lookup(range, view.current(), &revs, nullptr); revs.empty()) {
    if (c.target() == etcdserverpb::Compare::VALUE) return false;
    kvs.emplace_back();
  } else {
    absl::StatusOr<std::vector<Record>> records = view.Fetch(revs);
    if (!records.ok()) return records.status();
    for (size_t i = 0; i < records->size(); ++i) {
      kvs.push_back(ToKeyValue(std::move((*records)[i]), revs[i]));
    }
  }
  for (const mvccpb::KeyValue& kv : kvs) {
    int result = 0;
    switch (c.target()) {
      case etcdserverpb::Compare::VALUE: {
        std::string_view want;
        if (c.target_union_case() == etcdserverpb::Compare::kValue) want = c.value();
        result = kv.value().compare(want) < 0 ? -1 : (kv.value() == want ? 0 : 1);
        break;
      }
      case etcdserverpb::Compare::CREATE:
        result = Compare3(kv.create_revision(),
                          c.target_union_case() == etcdserverpb::Compare::kCreateRevision
                              ? c.create_revision()
                              : 0);
        break;
      case etcdserverpb::Compare::MOD:
        result = Compare3(
            kv.mod_revision(),
            c.target_union_case() == etcdserverpb::Compare::kModRevision ? c.mod_revision() : 0);
        break;
      case etcdserverpb::Compare::VERSION:
        result =
            Compare3(kv.version(),
                     c.target_union_case() == etcdserverpb::Compare::kVersion ? c.version() : 0);
        break;
      case etcdserverpb::Compare::LEASE:
        result = Compare3(kv.lease(),
                          c.target_union_case() == etcdserverpb::Compare::kLease ? c.lease() : 0);
        break;
      default:
        break;
    }
    bool ok = true;
    switch (c.result()) {
      case etcdserverpb::Compare::EQUAL:
        ok = result == 0;
        break;
      case etcdserverpb::Compare::NOT_EQUAL:
        ok = result != 0;
        break;
      case etcdserverpb::Compare::GREATER:
        ok = result > 0;
        break;
      case etcdserverpb::Compare::LESS:
        ok = result < 0;
        break;
      default:
        break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace kvd::mvcc
