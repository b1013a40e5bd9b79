// ReadView: what Range, the compares of a Txn and the pre-checks of a write read through. Two
// implementations: the committed state any thread may read (store.cc) and an open ApplyBatch,
// which also sees its own uncommitted writes (apply_batch.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "storage/mvcc/key_index.h"
#include "storage/mvcc/key_range.h"
#include "storage/mvcc/layout.h"
#include "storage/mvcc/record.h"

namespace kvd::mvcc {

class ReadView {
 public:
  virtual ~ReadView() = default;
  // The revision a read at revision 0 sees; responses report it in their header.
  virtual int64_t current() const = 0;
  // Reads below this revision fail as compacted.
  virtual int64_t compact() const = 0;
  // Revisions (and keys, if `keys` is not null) of the keys in `range` that exist at `rev`,
  // in key order. `rev` must lie in [compact(), current()].
  virtual void Lookup(const KeyRange& range, int64_t rev, std::vector<Revision>* revs,
                      std::vector<std::string>* keys) = 0;
  // The records stored at `revs`, in the same order. Corrupt if one is missing.
  virtual absl::StatusOr<std::vector<Record>> Fetch(const std::vector<Revision>& revs) = 0;
  // If the view can tell without reading records: appends the state (create, mod, version,
  // lease) at current() of every key in `range` that exists then, and returns true.
  virtual bool LookupHeads(const KeyRange& range, std::vector<KeyIndex::Head>* heads) {
    (void)range;
    (void)heads;
    return false;
  }
};

// etcd's revision rule for reads: 0 (or less) means current(); above current() is a future
// revision; below compact() has been compacted.
absl::StatusOr<int64_t> ResolveReadRevision(int64_t requested, int64_t current, int64_t compact);

// Range with etcd's semantics (etcdserver/apply.go Range + mvcc rangeKeys): filters by
// mod/create revision, sorting (ASCEND on KEY is the natural order; any other target with
// order NONE sorts ASCEND), limit after sorting, `more` when more matches than the limit
// survived the filters, and `count` = every key in range at the revision, before filters and
// limit. Ties in a sort keep key order (etcd leaves their order unspecified). etcd's quirk is
// kept: with a limit, a non-KEY sort target and order NONE, only the first limit+1 keys in key
// order are read and then sorted.
absl::StatusOr<etcdserverpb::RangeResponse> ExecuteRange(ReadView& view,
                                                         const etcdserverpb::RangeRequest& req);

// etcd's compare rule: the compare holds iff every key of its range at current() satisfies it;
// over an empty range a VALUE compare fails and the others compare against zero.
absl::StatusOr<bool> EvaluateCompare(ReadView& view, const etcdserverpb::Compare& cmp);

}  // namespace kvd::mvcc
