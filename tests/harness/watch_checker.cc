#include "tests/harness/watch_checker.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace kvd::testing {
namespace {

absl::StatusOr<std::map<std::string, std::string>> StateAt(KvClient& client, const std::string& key,
                                                           const std::string& range_end,
                                                           int64_t revision,
                                                           std::map<std::string, int64_t>* mods) {
  std::map<std::string, std::string> state;
  mods->clear();
  if (revision < 1) return state;
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  req.set_range_end(range_end);
  req.set_revision(revision);
  etcdserverpb::RangeResponse resp;
  grpc::Status st = client.Range(req, &resp);
  if (!st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("range at revision ", revision, ": ", st.error_message()));
  }
  for (const auto& kv : resp.kvs()) {
    state[kv.key()] = kv.value();
    (*mods)[kv.key()] = kv.mod_revision();
  }
  return state;
}

}  // namespace

absl::StatusOr<History> ReadHistory(KvClient& client, const std::string& key,
                                    const std::string& range_end, int64_t from, int64_t to) {
  History history;
  std::map<std::string, int64_t> prev_mods;
  absl::StatusOr<std::map<std::string, std::string>> prev =
      StateAt(client, key, range_end, from - 1, &prev_mods);
  if (!prev.ok()) return prev.status();
  for (int64_t rev = std::max<int64_t>(from, 2); rev <= to; ++rev) {
    std::map<std::string, int64_t> mods;
    absl::StatusOr<std::map<std::string, std::string>> cur =
        StateAt(client, key, range_end, rev, &mods);
    if (!cur.ok()) return cur.status();
    std::vector<Change> changes;
    for (const auto& [k, v] : *cur) {
      if (mods[k] == rev) changes.push_back(Change{0, k, v});
    }
    for (const auto& [k, v] : *prev) {
      if (!cur->contains(k)) changes.push_back(Change{1, k, ""});
    }
    std::sort(changes.begin(), changes.end());
    if (!changes.empty()) history[rev] = std::move(changes);
    prev = std::move(cur);
  }
  return history;
}

std::vector<std::string> CheckWatch(const std::vector<etcdserverpb::WatchResponse>& responses,
                                    const History& history, int64_t from, int64_t to,
                                    bool fragments_allowed) {
  std::vector<std::string> problems;
  History got;
  std::map<int64_t, std::set<size_t>> responses_of;  // revision -> responses carrying it
  std::set<std::pair<int64_t, std::string>> seen;
  int64_t last = 0;
  for (size_t i = 0; i < responses.size(); ++i) {
    for (const auto& ev : responses[i].events()) {
      const int64_t rev = ev.kv().mod_revision();
      if (rev < last) {
        problems.push_back(absl::StrCat("out of order: revision ", rev, " after ", last));
      }
      last = std::max(last, rev);
      if (!seen.insert({rev, ev.kv().key()}).second) {
        problems.push_back(absl::StrCat("duplicate: ", ev.kv().key(), " at revision ", rev));
      }
      if (rev < from || rev > to) {
        if (rev < from) problems.push_back(absl::StrCat("event below the start: revision ", rev));
        continue;
      }
      got[rev].push_back(Change{static_cast<int>(ev.type()), ev.kv().key(),
                                ev.type() == 0 ? ev.kv().value() : ""});
      responses_of[rev].insert(i);
    }
  }
  for (auto& [rev, changes] : got) std::sort(changes.begin(), changes.end());
  if (!fragments_allowed) {
    for (const auto& [rev, in] : responses_of) {
      if (in.size() > 1) {
        problems.push_back(absl::StrCat("revision ", rev, " split over ", in.size(), " responses"));
      }
    }
  }
  for (const auto& [rev, want] : history) {
    if (rev < from || rev > to) continue;
    auto it = got.find(rev);
    if (it == got.end()) {
      problems.push_back(
          absl::StrCat("gap: revision ", rev, " (", want.size(), " changes) never arrived"));
    } else if (it->second != want) {
      problems.push_back(absl::StrCat("revision ", rev, ": got ", it->second.size(),
                                      " changes that differ from the ", want.size(),
                                      " in history"));
    }
  }
  for (const auto& [rev, changes] : got) {
    if (!history.contains(rev)) {
      problems.push_back(absl::StrCat("revision ", rev, " is not in history"));
    }
  }
  return problems;
}

}  // namespace kvd::testing
