#include "tests/chaos/watch_workload.h"

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::chaos {
namespace {

const std::string kAllKeys(1, '\0');  // key and range_end "\0": every key

}  // namespace

void WatchWorkload::Start(const RunContext& ctx) {
  for (const std::string& endpoint : ctx.endpoints) {
    auto w = std::make_unique<Watcher>();
    w->endpoint = endpoint;
    watchers_.push_back(std::move(w));
  }
  for (auto& w : watchers_) {
    Watcher* raw = w.get();
    raw->thread = std::thread([this, raw] { Watch(raw); });
  }
}

void WatchWorkload::Watch(Watcher* w) {
  auto stub = etcdserverpb::Watch::NewStub(MemberChannel(w->endpoint));
  while (!stop_) {
    grpc::ClientContext context;
    int64_t start;
    {
      std::lock_guard<std::mutex> lock(w->mu);
      if (stop_) break;
      w->context = &context;
      start = w->last_revision + 1;
    }
    context.set_wait_for_ready(true);
    auto stream = stub->Watch(&context);
    etcdserverpb::WatchRequest req;
    etcdserverpb::WatchCreateRequest* create = req.mutable_create_request();
    create->set_key(kAllKeys);
    create->set_range_end(kAllKeys);
    create->set_start_revision(start);
    if (stream->Write(req)) {
      etcdserverpb::WatchResponse resp;
      while (stream->Read(&resp)) {
        ops_++;
        std::lock_guard<std::mutex> lock(w->mu);
        if (resp.compact_revision() != 0) {
          w->errors.push_back(absl::StrCat("compacted at ", resp.compact_revision(),
                                           " when asking from ", w->last_revision + 1));
        }
        if (resp.canceled()) {
          w->errors.push_back(absl::StrCat("cancelled by the server: ", resp.cancel_reason()));
        }
        const uint64_t response = ++w->responses;
        for (const auto& e : resp.events()) {
          Event ev{.revision = e.kv().mod_revision(),
                   .type = static_cast<int>(e.type()),
                   .key = e.kv().key(),
                   .value = e.kv().value(),
                   .mod_revision = e.kv().mod_revision(),
                   .response = response};
          w->last_revision = std::max(w->last_revision, ev.revision);
          w->events.push_back(std::move(ev));
        }
        if (resp.canceled()) break;
      }
    }
    context.TryCancel();
    stream->Finish();
    std::lock_guard<std::mutex> lock(w->mu);
    w->context = nullptr;
    if (stop_) break;
    w->reconnects++;
  }
}

void WatchWorkload::EndWatchers() {
  stop_ = true;
  for (auto& w : watchers_) {
    std::lock_guard<std::mutex> lock(w->mu);
    if (w->context != nullptr) w->context->TryCancel();
  }
  for (auto& w : watchers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::vector<std::string> WatchWorkload::Check(const RunContext& ctx) {
  std::vector<std::string> anomalies;
  // The final content, read from member 1 (the members have converged).
  auto kv = etcdserverpb::KV::NewStub(MemberChannel(ctx.endpoints[0]));
  etcdserverpb::RangeRequest req;
  req.set_key(kAllKeys);
  req.set_range_end(kAllKeys);
  req.set_serializable(true);
  etcdserverpb::RangeResponse final_state;
  grpc::ClientContext rpc;
  rpc.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status st = kv->Range(&rpc, req, &final_state);
  if (!st.ok()) {
    EndWatchers();
    return {absl::StrCat("watch: cannot read the final content: ", st.error_message())};
  }
  const int64_t final_revision = final_state.header().revision();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (auto& w : watchers_) {
    while (absl::Now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(w->mu);
        if (w->last_revision >= final_revision) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EndWatchers();

  std::map<int64_t, std::set<std::tuple<std::string, int, std::string>>> reference;
  std::string reference_from;
  for (size_t i = 0; i < watchers_.size(); ++i) {
    Watcher& w = *watchers_[i];
    const std::string who = absl::StrCat("watch: watcher on m", i + 1, ": ");
    for (const std::string& e : w.errors) anomalies.push_back(who + e);
    if (w.last_revision < final_revision) {
      anomalies.push_back(absl::StrCat(who, "reached revision ", w.last_revision,
                                       " only, 30 s after heal (final revision ", final_revision,
                                       ")"));
    }
    // Ordered, unique, atomic per revision.
    std::map<int64_t, std::set<std::tuple<std::string, int, std::string>>> by_revision;
    int64_t prev = 0;
    uint64_t prev_response = 0;
    int problems = 0;
    auto report = [&](const std::string& what) {
      if (++problems <= 5) anomalies.push_back(who + what);
    };
    for (const Event& e : w.events) {
      if (e.revision < prev) {
        report(absl::StrCat("revision ", e.revision, " (", e.key, ") after revision ", prev));
      }
      if (e.revision == prev && e.response != prev_response) {
        report(absl::StrCat("revision ", e.revision, " arrived in more than one response"));
      }
      prev = std::max(prev, e.revision);
      prev_response = e.response;
      auto [it, inserted] = by_revision[e.revision].insert({e.key, e.type, e.value});
      if (!inserted) report(absl::StrCat("revision ", e.revision, " key ", e.key, " twice"));
    }
    // Gap-free.
    for (int64_t r = 2; r <= std::min(final_revision, w.last_revision); ++r) {
      if (!by_revision.contains(r)) report(absl::StrCat("revision ", r, " is missing"));
    }
    // The same events as the other watchers.
    if (reference_from.empty()) {
      reference = by_revision;
      reference_from = absl::StrCat("m", i + 1);
    } else {
      for (const auto& [r, changes] : by_revision) {
        auto it = reference.find(r);
        if (it != reference.end() && it->second != changes) {
          report(absl::StrCat("revision ", r, " differs from what the watcher on ", reference_from,
                              " saw"));
        }
      }
    }
    // Replaying the stream gives the final content.
    std::map<std::string, std::pair<std::string, int64_t>> content;
    for (const Event& e : w.events) {
      if (e.revision > final_revision) break;
      if (e.type == 0) {
        content[e.key] = {e.value, e.mod_revision};
      } else {
        content.erase(e.key);
      }
    }
    std::map<std::string, std::pair<std::string, int64_t>> expected;
    for (const auto& kvs : final_state.kvs()) {
      expected[kvs.key()] = {kvs.value(), kvs.mod_revision()};
    }
    if (content != expected) {
      int shown = 0;
      for (const auto& [key, v] : expected) {
        auto it = content.find(key);
        if ((it == content.end() || it->second != v) && shown++ < 3) {
          report(absl::StrCat("replay disagrees with the store on ", key, ": store ", v.first, "@",
                              v.second, ", replay ",
                              it == content.end()
                                  ? std::string("absent")
                                  : absl::StrCat(it->second.first, "@", it->second.second)));
        }
      }
      for (const auto& [key, v] : content) {
        if (!expected.contains(key) && shown++ < 3) {
          report(absl::StrCat("replay has ", key, " which the store does not"));
        }
      }
    }
    if (problems > 5) {
      anomalies.push_back(absl::StrCat(who, problems, " problems in all (see watch-*.txt)"));
    }
  }
  return anomalies;
}

std::string WatchWorkload::Summary() const {
  std::string out = "watch events/reconnects";
  for (size_t i = 0; i < watchers_.size(); ++i) {
    std::lock_guard<std::mutex> lock(watchers_[i]->mu);
    absl::StrAppend(&out, " m", i + 1, "=", watchers_[i]->events.size(), "/",
                    watchers_[i]->reconnects);
  }
  return out;
}

void WatchWorkload::WriteArtifacts(const std::string& dir) const {
  for (size_t i = 0; i < watchers_.size(); ++i) {
    Watcher& w = *watchers_[i];
    std::lock_guard<std::mutex> lock(w.mu);
    std::ofstream out(absl::StrCat(dir, "/watch-m", i + 1, ".txt"));
    out << "# revision type key value   (reconnects " << w.reconnects << ")\n";
    for (const Event& e : w.events) {
      out << e.revision << " " << (e.type == 0 ? "PUT" : "DELETE") << " " << e.key << " " << e.value
          << "\n";
    }
  }
}

}  // namespace kvd::chaos
