// ReferenceModel: an in-memory statement of etcd's KV semantics, written to be obviously
// correct rather than fast, that the randomized test holds the RocksDB store against. History is
// one vector of every change ever made; the state at revision R is a fold over the changes with
// main <= R. Nothing is ever physically removed: compaction only moves the compact revision.
//
// Test-only code; it shares nothing with the store but the protobuf messages and error values.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "storage/mvcc/errors.h"

namespace kvd::mvcc::testing {

class ReferenceModel {
 public:
  struct Change {
    int64_t main = 0;
    int64_t sub = 0;
    std::string key;
    bool deleted = false;
    std::string value;
    int64_t lease = 0;
    int64_t create = 0;
    int64_t version = 0;
  };
  struct RevisionChanges {
    int64_t revision;
    std::vector<mvccpb::Event> events;
  };

  // etcd checks lease existence when it applies a put: false means LeaseNotFound.
  std::function<bool(int64_t)> lease_exists = [](int64_t) { return true; };

  int64_t revision() const { return rev_; }
  int64_t compact() const { return compact_; }
  const std::vector<Change>& log() const { return log_; }
  std::vector<RevisionChanges> TakeEvents() { return std::move(events_); }

  // The live version of every key at `at` (main), counting changes of the txn in progress.
  std::map<std::string, Change> StateAt(int64_t at) const {
    std::map<std::string, Change> s;
    for (const Change& c : log_) {
      if (c.main > at) break;
      if (c.deleted) {
        s.erase(c.key);
      } else {
        s[c.key] = c;
      }
    }
    return s;
  }

  static mvccpb::KeyValue ToKv(const Change& c) {
    mvccpb::KeyValue kv;
    kv.set_key(c.key);
    kv.set_mod_revision(c.main);
    if (!c.deleted) {
      kv.set_value(c.value);
      kv.set_create_revision(c.create);
      kv.set_version(c.version);
      kv.set_lease(c.lease);
    }
    return kv;
  }

  static bool InRange(const std::string& k, const std::string& key, const std::string& end) {
    if (end.empty()) return k == key;
    if (end == std::string(1, '\0')) return k >= key;
    return k >= key && k < end;
  }

  // ---- reads

  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& r) const {
    const int64_t cur = ReadRev();
    if (r.revision() > cur) return ErrFutureRevision();
    int64_t at = r.revision() <= 0 ? cur : r.revision();
    if (at < compact_) return ErrCompacted();
    std::vector<mvccpb::KeyValue> kvs;
    for (const auto& [k, c] : StateAt(at)) {
      if (InRange(k, r.key(), r.range_end())) kvs.push_back(ToKv(c));
    }
    etcdserverpb::RangeResponse resp;
    resp.mutable_header()->set_revision(cur);
    resp.set_count(static_cast<int64_t>(kvs.size()));
    if (r.count_only()) return resp;
    using RR = etcdserverpb::RangeRequest;
    bool filters = r.min_mod_revision() || r.max_mod_revision() || r.min_create_revision() ||
                   r.max_create_revision();
    // etcd reads only limit+1 keys unless an order or a filter is given.
    if (r.limit() > 0 && !filters && r.sort_order() == RR::NONE &&
        kvs.size() > static_cast<size_t>(r.limit() + 1)) {
      kvs.resize(static_cast<size_t>(r.limit() + 1));
    }
    std::erase_if(kvs, [&](const mvccpb::KeyValue& kv) {
      return (r.max_mod_revision() && kv.mod_revision() > r.max_mod_revision()) ||
             (r.min_mod_revision() && kv.mod_revision() < r.min_mod_revision()) ||
             (r.max_create_revision() && kv.create_revision() > r.max_create_revision()) ||
             (r.min_create_revision() && kv.create_revision() < r.min_create_revision());
    });
    auto order = r.sort_order();
    if (r.sort_target() != RR::KEY && order == RR::NONE) order = RR::ASCEND;
    auto key_of = [&](const mvccpb::KeyValue& kv) -> std::pair<int64_t, std::string> {
      switch (r.sort_target()) {
        case RR::VERSION:
          return {kv.version(), ""};
        case RR::CREATE:
          return {kv.create_revision(), ""};
        case RR::MOD:
          return {kv.mod_revision(), ""};
        case RR::VALUE:
          return {0, kv.value()};
        default:
          return {0, kv.key()};
      }
    };
    if (order == RR::ASCEND) {
      std::stable_sort(kvs.begin(), kvs.end(),
                       [&](const auto& a, const auto& b) { return key_of(a) < key_of(b); });
    } else if (order == RR::DESCEND) {
      std::stable_sort(kvs.begin(), kvs.end(),
                       [&](const auto& a, const auto& b) { return key_of(b) < key_of(a); });
    }
    if (r.limit() > 0 && kvs.size() > static_cast<size_t>(r.limit())) {
      kvs.resize(static_cast<size_t>(r.limit()));
      resp.set_more(true);
    }
    for (auto& kv : kvs) {
      if (r.keys_only()) kv.clear_value();
      *resp.add_kvs() = kv;
    }
    return resp;
  }

  // History replay with the store's documented rules (store.h ReadEvents).
  absl::StatusOr<std::vector<mvccpb::Event>> Events(const std::string& key, const std::string& end,
                                                    int64_t start, int64_t stop, size_t limit,
                                                    bool prev_kv, int64_t* next) const {
    if (start < compact_) return ErrCompacted();
    if (stop <= 0 || stop > rev_) stop = rev_;
    std::vector<mvccpb::Event> out;
    *next = start;
    for (int64_t main = start; main <= stop; ++main) {
      for (size_t i = 0; i < log_.size(); ++i) {
        const Change& c = log_[i];
        if (c.main != main || !InRange(c.key, key, end)) continue;
        if (main <= compact_) {
          bool later_same_key = false;
          for (size_t j = i + 1; j < log_.size() && log_[j].main == main; ++j) {
            later_same_key |= log_[j].key == c.key;
          }
          if (c.deleted || later_same_key) continue;
        }
        mvccpb::Event ev;
        ev.set_type(c.deleted ? mvccpb::Event::DELETE : mvccpb::Event::PUT);
        *ev.mutable_kv() = ToKv(c);
        if (prev_kv && main > compact_) {
          const Change* prev = nullptr;
          for (size_t j = 0; j < i; ++j) {
            if (log_[j].key == c.key) prev = &log_[j];
          }
          if (prev != nullptr && !prev->deleted) *ev.mutable_prev_kv() = ToKv(*prev);
        }
        out.push_back(std::move(ev));
      }
      *next = main + 1;
      if (limit > 0 && out.size() >= limit) return out;
    }
    *next = std::max(start, stop + 1);
    return out;
  }

  // ---- writes (each request is all-or-nothing)

  absl::StatusOr<etcdserverpb::PutResponse> Put(const etcdserverpb::PutRequest& p) {
    if (p.lease() != 0 && !lease_exists(p.lease())) return ErrLeaseNotFound();
    Begin();
    auto r = DoPut(p);
    return Finish(std::move(r));
  }

  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      const etcdserverpb::DeleteRangeRequest& d) {
    Begin();
    return Finish(DoDelete(d));
  }

  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteKeys(std::vector<std::string> keys) {
    Begin();
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    auto state = StateAt(ReadRev());
    for (const std::string& k : keys) {
      if (state.count(k)) Tombstone(state.at(k));
    }
    etcdserverpb::DeleteRangeResponse resp;
    resp.set_deleted(static_cast<int64_t>(op_changes_));
    resp.mutable_header()->set_revision(ReadRev());
    return Finish(absl::StatusOr<etcdserverpb::DeleteRangeResponse>(resp));
  }

  std::vector<std::string> KeysWithLease(int64_t lease) const {
    std::vector<std::string> out;
    for (const auto& [k, c] : StateAt(ReadRev())) {
      if (c.lease == lease) out.push_back(k);
    }
    return out;
  }

  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& t) {
    Begin();
    pre_ = StateAt(rev_);
    // Compares of every txn on the path are decided on the state before the txn.
    absl::Status checked = Check(t);
    if (!checked.ok()) return Finish(absl::StatusOr<etcdserverpb::TxnResponse>(checked));
    etcdserverpb::TxnResponse resp;
    absl::Status ran = Run(t, &resp);
    if (!ran.ok()) return Finish(absl::StatusOr<etcdserverpb::TxnResponse>(ran));
    resp.mutable_header()->set_revision(ReadRev());
    return Finish(absl::StatusOr<etcdserverpb::TxnResponse>(resp));
  }

  absl::StatusOr<etcdserverpb::CompactionResponse> Compact(int64_t rev) {
    if (rev <= compact_) return ErrCompacted();
    if (rev > rev_) return ErrFutureRevision();
    compact_ = rev;
    etcdserverpb::CompactionResponse resp;
    resp.mutable_header()->set_revision(rev_);
    return resp;
  }

 private:
  int64_t ReadRev() const { return rev_ + (op_changes_ > 0 ? 1 : 0); }

  void Begin() {
    op_changes_ = 0;
    op_log_mark_ = log_.size();
    op_events_.clear();
  }
  template <typename T>
  absl::StatusOr<T> Finish(absl::StatusOr<T> r) {
    if (!r.ok()) {
      log_.resize(op_log_mark_);
    } else if (op_changes_ > 0) {
      ++rev_;
      events_.push_back({rev_, std::move(op_events_)});
    }
    op_changes_ = 0;
    op_events_.clear();
    return r;
  }

  void Append(Change c, const Change* prev) {
    c.main = rev_ + 1;
    c.sub = op_changes_++;
    mvccpb::Event ev;
    ev.set_type(c.deleted ? mvccpb::Event::DELETE : mvccpb::Event::PUT);
    *ev.mutable_kv() = ToKv(c);
    if (prev != nullptr) *ev.mutable_prev_kv() = ToKv(*prev);
    op_events_.push_back(std::move(ev));
    log_.push_back(std::move(c));
  }

  void Tombstone(const Change& prev) {
    Change c;
    c.key = prev.key;
    c.deleted = true;
    Append(c, &prev);
  }

  absl::StatusOr<etcdserverpb::PutResponse> DoPut(const etcdserverpb::PutRequest& p) {
    auto state = StateAt(ReadRev());
    auto it = state.find(p.key());
    const Change* prev = it == state.end() ? nullptr : &it->second;
    if ((p.ignore_value() || p.ignore_lease()) && prev == nullptr) return ErrKeyNotFound();
    Change c;
    c.key = p.key();
    c.value = p.ignore_value() ? prev->value : p.value();
    c.lease = p.ignore_lease() ? prev->lease : p.lease();
    c.create = prev ? prev->create : rev_ + 1;
    c.version = prev ? prev->version + 1 : 1;
    etcdserverpb::PutResponse resp;
    if (p.prev_kv() && prev) *resp.mutable_prev_kv() = ToKv(*prev);
    Append(c, prev);
    resp.mutable_header()->set_revision(rev_ + 1);
    return resp;
  }

  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DoDelete(
      const etcdserverpb::DeleteRangeRequest& d) {
    etcdserverpb::DeleteRangeResponse resp;
    int64_t n = 0;
    for (const auto& [k, c] : StateAt(ReadRev())) {
      if (!InRange(k, d.key(), d.range_end())) continue;
      if (d.prev_kv()) *resp.add_prev_kvs() = ToKv(c);
      Tombstone(c);
      ++n;
    }
    resp.set_deleted(n);
    resp.mutable_header()->set_revision(ReadRev());
    return resp;
  }

  bool Compares(const etcdserverpb::TxnRequest& t) const {
    for (const auto& cmp : t.compare()) {
      std::vector<Change> hits;
      for (const auto& [k, c] : pre_) {
        if (InRange(k, cmp.key(), cmp.range_end())) hits.push_back(c);
      }
      if (hits.empty()) {
        if (cmp.target() == etcdserverpb::Compare::VALUE) return false;
        hits.emplace_back();
      }
      for (const Change& c : hits) {
        int r = 0;
        auto three = [](auto a, auto b) { return a < b ? -1 : (a > b ? 1 : 0); };
        switch (cmp.target()) {
          case etcdserverpb::Compare::VALUE:
            r = three(c.value, cmp.has_value() ? cmp.value() : std::string());
            break;
          case etcdserverpb::Compare::VERSION:
            r = three(c.version, cmp.has_version() ? cmp.version() : 0);
            break;
          case etcdserverpb::Compare::CREATE:
            r = three(c.create, cmp.has_create_revision() ? cmp.create_revision() : 0);
            break;
          case etcdserverpb::Compare::MOD:
            r = three(c.deleted || c.key.empty() ? int64_t{0} : c.main,
                      cmp.has_mod_revision() ? cmp.mod_revision() : 0);
            break;
          case etcdserverpb::Compare::LEASE:
            r = three(c.lease, cmp.has_lease() ? cmp.lease() : 0);
            break;
          default:
            break;
        }
        bool ok = cmp.result() == etcdserverpb::Compare::EQUAL       ? r == 0
                  : cmp.result() == etcdserverpb::Compare::NOT_EQUAL ? r != 0
                  : cmp.result() == etcdserverpb::Compare::GREATER   ? r > 0
                                                                     : r < 0;
        if (!ok) return false;
      }
    }
    return true;
  }

  const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& Path(
      const etcdserverpb::TxnRequest& t) const {
    return Compares(t) ? t.success() : t.failure();
  }

  // etcd's order: every put on the path, then every range.
  absl::Status Check(const etcdserverpb::TxnRequest& t) const {
    for (int pass = 0; pass < 2; ++pass) {
      absl::Status s = CheckPass(t, pass);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status CheckPass(const etcdserverpb::TxnRequest& t, int pass) const {
    for (const auto& op : Path(t)) {
      if (op.has_request_txn()) {
        absl::Status s = CheckPass(op.request_txn(), pass);
        if (!s.ok()) return s;
      } else if (pass == 0 && op.has_request_put()) {
        const auto& p = op.request_put();
        if ((p.ignore_value() || p.ignore_lease()) && pre_.count(p.key()) == 0) {
          return ErrKeyNotFound();
        }
        if (p.lease() != 0 && !lease_exists(p.lease())) return ErrLeaseNotFound();
      } else if (pass == 1 && op.has_request_range()) {
        int64_t r = op.request_range().revision();
        if (r > rev_) return ErrFutureRevision();
        if (r != 0 && r < compact_) return ErrCompacted();
      }
    }
    return absl::OkStatus();
  }

  // A put whose key an earlier delete of the same txn removed fails here (the duplicate-key
  // check lets a delete with range_end "\0" through); the caller takes the txn back.
  absl::Status Run(const etcdserverpb::TxnRequest& t, etcdserverpb::TxnResponse* resp) {
    resp->set_succeeded(Compares(t));
    for (const auto& op : Path(t)) {
      auto* out = resp->add_responses();
      if (op.has_request_range()) {
        *out->mutable_response_range() = *Range(op.request_range());
      } else if (op.has_request_put()) {
        auto r = DoPut(op.request_put());
        if (!r.ok()) return r.status();
        *out->mutable_response_put() = *r;
      } else if (op.has_request_delete_range()) {
        *out->mutable_response_delete_range() = *DoDelete(op.request_delete_range());
      } else if (op.has_request_txn()) {
        auto* inner = out->mutable_response_txn();
        inner->mutable_header();
        absl::Status s = Run(op.request_txn(), inner);
        if (!s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  std::vector<Change> log_;
  int64_t rev_ = 1;
  int64_t compact_ = -1;
  int64_t op_changes_ = 0;
  size_t op_log_mark_ = 0;
  std::vector<mvccpb::Event> op_events_;
  std::vector<RevisionChanges> events_;
  std::map<std::string, Change> pre_;  // state before the txn being applied
};

}  // namespace kvd::mvcc::testing
