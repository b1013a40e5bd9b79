#include "tests/chaos/nemesis.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace kvd::chaos {

const std::vector<std::pair<std::string, std::string>>& FaultKinds() {
  static const std::vector<std::pair<std::string, std::string>> kinds = {
      {"kill-random", "kill"},           {"kill-leader", "kill"},
      {"pause-leader", "pause"},         {"restart", "restart"},
      {"partition-leader", "partition"}, {"partition-split", "partition"},
      {"partition-bridge", "partition"}, {"partition-oneway", "partition"},
  };
  return kinds;
}

Nemesis::Nemesis(testing::Cluster* cluster, NetworkLab* network, const RunClock* clock,
                 NemesisOptions options)
    : cluster_(cluster),
      network_(network),
      clock_(clock),
      options_(std::move(options)),
      rng_(options_.seed * 31337 + 1),
      down_(cluster->size(), false) {
  for (const auto& [kind, family] : FaultKinds()) {
    if (!options_.families.contains(family)) continue;
    if (family == "partition" && network_ == nullptr) continue;
    kinds_.push_back(kind);
  }
}

void Nemesis::Log(const std::string& event) {
  timeline_.push_back(absl::StrCat(clock_->NowMicros(), " ", event));
}

bool Nemesis::Hold(std::chrono::milliseconds d) {
  const absl::Time end = std::min(absl::Now() + absl::FromChrono(d), until_);
  const absl::Duration left = end - absl::Now();
  if (left > absl::ZeroDuration()) std::this_thread::sleep_for(absl::ToChronoMicroseconds(left));
  return absl::Now() < until_;
}

int Nemesis::RandomMember() { return static_cast<int>(rng_() % cluster_->size()); }

int Nemesis::FindLeader() {
  uint64_t best_term = 0;
  uint64_t leader_id = 0;
  for (int i = 0; i < cluster_->size(); ++i) {
    if (!cluster_->IsRunning(i) || cluster_->member(i).paused) continue;
    absl::StatusOr<etcdserverpb::StatusResponse> s = cluster_->Status(i);
    if (!s.ok() || s->leader() == 0) continue;
    if (s->raftterm() >= best_term) {
      best_term = s->raftterm();
      leader_id = s->leader();
    }
  }
  for (int i = 0; i < cluster_->size(); ++i) {
    if (leader_id != 0 && cluster_->member(i).id == leader_id) return i;
  }
  const int i = RandomMember();
  Log(absl::StrCat("no leader known; chose m", i + 1));
  return i;
}

std::vector<std::string> Nemesis::ReapUnexpectedExits() {
  std::vector<std::string> found;
  for (int i = 0; i < cluster_->size(); ++i) {
    if (down_[i] || !cluster_->IsRunning(i)) continue;
    absl::StatusOr<int> exit = cluster_->WaitExit(i, absl::ZeroDuration());
    if (!exit.ok()) continue;  // still running
    const std::string what = absl::StrCat("m", i + 1, " exited on its own with status ", *exit,
                                          " (see m", i + 1, ".log)");
    Log(what);
    found.push_back(absl::StrCat("crash: ", what));
    if (absl::Status st = cluster_->Restart(i); !st.ok()) {
      Log(absl::StrCat("restart m", i + 1, " failed: ", st.message()));
    } else {
      Log(absl::StrCat("restart m", i + 1));
    }
  }
  return found;
}

void Nemesis::Inject(const std::string& kind) {
  const int et = options_.election_timeout_ms;
  auto between = [&](int lo, int hi) {
    return std::chrono::milliseconds(lo + static_cast<int>(rng_() % (hi - lo + 1)));
  };
  counts_[kind]++;
  if (kind == "kill-random" || kind == "kill-leader") {
    const int i = kind == "kill-leader" ? FindLeader() : RandomMember();
    if (!cluster_->IsRunning(i)) return;
    Log(absl::StrCat(kind, " start: SIGKILL m", i + 1));
    down_[i] = true;
    cluster_->Kill(i);
    Hold(between(1000, 4000));
    absl::Status st = cluster_->Restart(i);
    down_[i] = false;
    Log(absl::StrCat(kind, " end: restart m", i + 1,
                     st.ok() ? "" : " failed: ", st.ok() ? "" : st.message()));
  } else if (kind == "pause-leader") {
    const int i = FindLeader();
    Log(absl::StrCat(kind, " start: SIGSTOP m", i + 1));
    cluster_->Pause(i);
    Hold(between(2 * et, 4 * et));
    cluster_->Resume(i);
    Log(absl::StrCat(kind, " end: SIGCONT m", i + 1));
  } else if (kind == "restart") {
    const int i = RandomMember();
    if (!cluster_->IsRunning(i)) return;
    Log(absl::StrCat(kind, " start: SIGTERM m", i + 1));
    down_[i] = true;
    absl::StatusOr<int> exit = cluster_->Stop(i);
    if (!exit.ok() || *exit != 0) {
      const std::string what = absl::StrCat(
          "m", i + 1, " did not shut down cleanly on SIGTERM: ",
          exit.ok() ? absl::StrCat("exit status ", *exit) : std::string(exit.status().message()));
      Log(what);
      crashes_.push_back(absl::StrCat("shutdown: ", what));
    }
    absl::Status st = cluster_->Restart(i);
    down_[i] = false;
    Log(absl::StrCat(kind, " end: restart m", i + 1,
                     st.ok() ? "" : " failed: ", st.ok() ? "" : st.message()));
  } else {
    const int n = cluster_->size();
    const int a = kind == "partition-leader" ? FindLeader() : RandomMember();
    const int b = (a + 1 + static_cast<int>(rng_() % (n - 1))) % n;  // another member
    std::string what;
    absl::Status st;
    if (kind == "partition-leader" || kind == "partition-split") {
      for (int j = 0; j < n && st.ok(); ++j) {
        if (j != a) st = network_->Cut(a, j);
      }
      what = absl::StrCat("m", a + 1, " isolated");
    } else if (kind == "partition-bridge") {
      // a is the bridge; b and the third member cannot reach each other.
      const int c = 3 - a - b;  // the members are 0, 1, 2
      st = network_->Cut(b, c);
      what = absl::StrCat("m", b + 1, " x m", c + 1, ", bridge m", a + 1);
    } else {
      st = network_->Drop(a, b);
      what = absl::StrCat("m", a + 1, " -> m", b + 1, " dropped");
    }
    Log(absl::StrCat(kind, " start: ", what,
                     st.ok() ? "" : " FAILED: ", st.ok() ? "" : st.message()));
    Hold(between(2000, 5000));
    st = network_->HealAll();
    Log(absl::StrCat(kind, " end: network healed",
                     st.ok() ? "" : " FAILED: ", st.ok() ? "" : st.message()));
  }
}

void Nemesis::Run(absl::Time until) {
  until_ = until;
  Log("nemesis start");
  while (Hold(std::chrono::milliseconds(500 + rng_() % 1500))) {
    for (std::string& c : ReapUnexpectedExits()) crashes_.push_back(std::move(c));
    if (!kinds_.empty()) Inject(kinds_[rng_() % kinds_.size()]);
  }
  Log("nemesis stop");
}

std::vector<std::string> Nemesis::HealAll() {
  if (network_ != nullptr) {
    if (absl::Status st = network_->HealAll(); !st.ok()) {
      crashes_.push_back(absl::StrCat("nemesis: cannot heal the network: ", st.message()));
    }
  }
  for (std::string& c : ReapUnexpectedExits()) crashes_.push_back(std::move(c));
  for (int i = 0; i < cluster_->size(); ++i) {
    if (cluster_->member(i).paused) cluster_->Resume(i);
    if (!cluster_->IsRunning(i)) {
      absl::Status st = cluster_->Restart(i);
      Log(absl::StrCat("heal: restart m", i + 1,
                       st.ok() ? "" : " failed: ", st.ok() ? "" : st.message()));
    }
    down_[i] = false;
  }
  Log("healed");
  return crashes_;
}

}  // namespace kvd::chaos
