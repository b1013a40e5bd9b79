// The chaos suite's network: every member in a network namespace of its own, joined to a hub
// namespace by a veth pair on one bridge, so that links between members can be cut (per direction)
// with iptables rules inside the members' namespaces while client traffic keeps flowing.
//
//   <prefix>-hub   bridge br0 10.237.0.254/24; the chaos process (clients, nemesis) lives here
//   <prefix>-m<i>  eth0 10.237.0.<i>/24, member i's kvd; INPUT rules drop packets from cut peers
//
// Nothing touches the host's own namespace besides creating and deleting these namespaces: the
// addresses are private to them and all traffic stays inside them. Needs root (CAP_NET_ADMIN and
// CAP_SYS_ADMIN); Create says why when it cannot.
//
// Create moves the CALLING THREAD into the hub namespace: call it in main before any other thread
// (gRPC's included) exists, so that every thread of the process inherits the hub. Not
// thread-safe: one thread (the nemesis, or the runner between runs) drives it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvd::chaos {

class NetworkLab {
 public:
  static absl::StatusOr<std::unique_ptr<NetworkLab>> Create(std::string prefix, int members);
  ~NetworkLab();  // deletes the namespaces (and with them every interface and rule)

  int members() const { return members_; }
  std::string Host(int i) const;       // member i's address
  std::string NetnsPath(int i) const;  // for ClusterOptions::member_netns
  const std::string& prefix() const { return prefix_; }

  // From now on packets sent by member `from` to member `to` are dropped (one direction).
  absl::Status Drop(int from, int to);
  // Cuts both directions between a and b.
  absl::Status Cut(int a, int b);
  // Removes every cut.
  absl::Status HealAll();

 private:
  NetworkLab(std::string prefix, int members) : prefix_(std::move(prefix)), members_(members) {}
  std::string MemberNs(int i) const;
  std::string HubNs() const;
  absl::Status Setup();

  std::string prefix_;
  int members_;
  bool created_ = false;
};

// Deletes every namespace whose name starts with prefix + "-" (left by a process that died before
// its destructor ran).
void RemoveNamespaces(const std::string& prefix);

}  // namespace kvd::chaos
