#include "storage/mvcc/validation.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "storage/mvcc/errors.h"

namespace kvd::mvcc {
namespace {

using etcdserverpb::RequestOp;
using OpList = google::protobuf::RepeatedPtrField<RequestOp>;

absl::Status ValidateOp(const RequestOp& op, long max_ops);

absl::Status ValidateTxnOps(const etcdserverpb::TxnRequest& req, long max_ops) {
  long largest =
      std::max({static_cast<long>(req.compare_size()), static_cast<long>(req.success_size()),
                static_cast<long>(req.failure_size())});
  if (largest > max_ops) return ErrTooManyOps();
  for (const auto& c : req.compare()) {
    if (c.key().empty()) return ErrEmptyKey();
  }
  for (const OpList* ops : {&req.success(), &req.failure()}) {
    for (const RequestOp& op : *ops) {
      if (absl::Status s = ValidateOp(op, max_ops - largest); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOp(const RequestOp& op, long max_ops) {
  switch (op.request_case()) {
    case RequestOp::kRequestRange:
      return ValidateRange(op.request_range());
    case RequestOp::kRequestPut:
      return ValidatePut(op.request_put());
    case RequestOp::kRequestDeleteRange:
      return ValidateDeleteRange(op.request_delete_range());
    case RequestOp::kRequestTxn:
      return ValidateTxnOps(op.request_txn(), max_ops);
    default:
      return ErrKeyNotFound();
  }
}

// etcd's interval arithmetic for the duplicate check: an empty bound means +infinity.
struct Interval {
  std::string begin;
  std::string end;  // exclusive; "" = unbounded
  bool Contains(const std::string& k) const { return begin <= k && (end.empty() || k < end); }
};

struct Writes {
  std::set<std::string> puts;
  std::vector<Interval> dels;
  bool DeletesKey(const std::string& k) const {
    return std::any_of(dels.begin(), dels.end(), [&](const Interval& i) { return i.Contains(k); });
  }
};

// etcd's checkIntervals: the puts and delete ranges of `ops` (nested txns included), or
// DuplicateKey.
absl::Status CheckIntervals(const OpList& ops, Writes* out) {
  Writes w;
  for (const RequestOp& op : ops) {
    if (op.request_case() != RequestOp::kRequestDeleteRange) continue;
    const auto& d = op.request_delete_range();
    if (d.range_end().empty()) {
      w.dels.push_back(Interval{d.key(), d.key() + std::string(1, '\0')});
    } else {
      w.dels.push_back(Interval{d.key(), d.range_end()});
    }
  }
  for (const RequestOp& op : ops) {
    if (op.request_case() != RequestOp::kRequestTxn) continue;
    Writes then, otherwise;
    if (absl::Status s = CheckIntervals(op.request_txn().success(), &then); !s.ok()) return s;
    if (absl::Status s = CheckIntervals(op.request_txn().failure(), &otherwise); !s.ok()) return s;
    for (const std::string& k : then.puts) {
      if (w.puts.count(k) > 0 || w.DeletesKey(k)) return ErrDuplicateKey();
      w.puts.insert(k);
    }
    for (const std::string& k : otherwise.puts) {
      // A key put by both branches of one nested txn is fine: only one branch runs.
      if (w.puts.count(k) > 0 && then.puts.count(k) == 0) return ErrDuplicateKey();
      if (w.DeletesKey(k)) return ErrDuplicateKey();
      w.puts.insert(k);
    }
    // etcd merges the nested delete ranges that overlap ["\0", +inf): all but those ending
    // at "\0", which contain no key anyway.
    for (const Writes* nested : {&then, &otherwise}) {
      for (const Interval& i : nested->dels) {
        if (i.end.empty() || i.end > std::string(1, '\0')) w.dels.push_back(i);
      }
    }
  }
  for (const RequestOp& op : ops) {
    if (op.request_case() != RequestOp::kRequestPut) continue;
    const std::string& k = op.request_put().key();
    if (w.puts.count(k) > 0 || w.DeletesKey(k)) return ErrDuplicateKey();
    w.puts.insert(k);
  }
  *out = std::move(w);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRange(const etcdserverpb::RangeRequest& req) {
  if (req.key().empty()) return ErrEmptyKey();
  return absl::OkStatus();
}

absl::Status ValidatePut(const etcdserverpb::PutRequest& req) {
  if (req.key().empty()) return ErrEmptyKey();
  if (req.ignore_value() && !req.value().empty()) return ErrValueProvided();
  if (req.ignore_lease() && req.lease() != 0) return ErrLeaseProvided();
  return absl::OkStatus();
}

absl::Status ValidateDeleteRange(const etcdserverpb::DeleteRangeRequest& req) {
  if (req.key().empty()) return ErrEmptyKey();
  return absl::OkStatus();
}

absl::Status ValidateTxn(const etcdserverpb::TxnRequest& req, size_t max_ops) {
  if (absl::Status s = ValidateTxnOps(req, static_cast<long>(max_ops)); !s.ok()) return s;
  Writes ignored;
  if (absl::Status s = CheckIntervals(req.success(), &ignored); !s.ok()) return s;
  return CheckIntervals(req.failure(), &ignored);
}

}  // namespace kvd::mvcc
