#include "tests/chaos/network.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/harness/subprocess.h"

namespace kvd::chaos {
namespace {

absl::Status Run(const std::vector<std::string>& argv) {
  testing::CommandResult r = testing::RunCommand(argv, "", absl::Seconds(20));
  if (r.exit_code == 0) return absl::OkStatus();
  std::string cmd;
  for (const std::string& a : argv) absl::StrAppend(&cmd, cmd.empty() ? "" : " ", a);
  return absl::InternalError(absl::StrCat(cmd, ": exit ", r.exit_code, ": ", r.err));
}

}  // namespace

std::string NetworkLab::HubNs() const { return absl::StrCat(prefix_, "-hub"); }
std::string NetworkLab::MemberNs(int i) const { return absl::StrCat(prefix_, "-m", i + 1); }
std::string NetworkLab::Host(int i) const { return absl::StrCat("10.237.0.", i + 1); }
std::string NetworkLab::NetnsPath(int i) const {
  return absl::StrCat("/var/run/netns/", MemberNs(i));
}

absl::StatusOr<std::unique_ptr<NetworkLab>> NetworkLab::Create(std::string prefix, int members) {
  if (geteuid() != 0) {
    return absl::PermissionDeniedError("network namespaces need root; this process is not root");
  }
  std::unique_ptr<NetworkLab> lab(new NetworkLab(std::move(prefix), members));
  if (absl::Status st = lab->Setup(); !st.ok()) return st;  // the destructor removes the rest
  const std::string hub = absl::StrCat("/var/run/netns/", lab->HubNs());
  const int fd = open(hub.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", hub));
  const int rc = setns(fd, CLONE_NEWNET);
  close(fd);
  if (rc != 0) return absl::InternalError("setns into the hub namespace failed");
  return lab;
}

absl::Status NetworkLab::Setup() {
  created_ = true;
  const std::string hub = HubNs();
  std::vector<std::vector<std::string>> steps = {
      {"ip", "netns", "add", hub},
      {"ip", "-n", hub, "link", "set", "lo", "up"},
      {"ip", "-n", hub, "link", "add", "br0", "type", "bridge"},
      {"ip", "-n", hub, "addr", "add", "10.237.0.254/24", "dev", "br0"},
      {"ip", "-n", hub, "link", "set", "br0", "up"},
  };
  for (int i = 0; i < members_; ++i) {
    const std::string ns = MemberNs(i);
    const std::string veth = absl::StrCat("vm", i + 1);
    std::vector<std::vector<std::string>> member = {
        {"ip", "netns", "add", ns},
        {"ip", "-n", ns, "link", "set", "lo", "up"},
        {"ip", "-n", hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
        {"ip", "-n", hub, "link", "set", veth, "master", "br0"},
        {"ip", "-n", hub, "link", "set", veth, "up"},
        {"ip", "-n", ns, "addr", "add", absl::StrCat(Host(i), "/24"), "dev", "eth0"},
        {"ip", "-n", ns, "link", "set", "eth0", "up"},
    };
    steps.insert(steps.end(), member.begin(), member.end());
  }
  for (const auto& step : steps) {
    if (absl::Status st = Run(step); !st.ok()) return st;
  }
  return HealAll();
}

NetworkLab::~NetworkLab() {
  if (created_) RemoveNamespaces(prefix_);
}

absl::Status NetworkLab::Drop(int from, int to) {
  return Run({"ip", "netns", "exec", MemberNs(to), "iptables", "-w", "-A", "INPUT", "-s",
              Host(from), "-j", "DROP"});
}

absl::Status NetworkLab::Cut(int a, int b) {
  if (absl::Status st = Drop(a, b); !st.ok()) return st;
  return Drop(b, a);
}

absl::Status NetworkLab::HealAll() {
  for (int i = 0; i < members_; ++i) {
    if (absl::Status st =
            Run({"ip", "netns", "exec", MemberNs(i), "iptables", "-w", "-F", "INPUT"});
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

void RemoveNamespaces(const std::string& prefix) {
  testing::CommandResult list = testing::RunCommand({"ip", "netns", "list"});
  for (absl::string_view line : absl::StrSplit(list.out, '\n', absl::SkipEmpty())) {
    const std::string name(line.substr(0, line.find(' ')));
    if (name.rfind(prefix + "-", 0) == 0) {
      testing::RunCommand({"ip", "netns", "del", name});
    }
  }
}

}  // namespace kvd::chaos
