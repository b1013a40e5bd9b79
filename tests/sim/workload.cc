#include "tests/sim/workload.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"

namespace kvd::sim {

namespace lin = linearizability;

namespace {

std::string ShowValue(const std::optional<std::string>& v) { return v.has_value() ? *v : "-"; }

}  // namespace

std::string DescribeRequest(const ClientRequest& r) {
  std::string head = absl::StrCat("c", r.client, ".", r.seq, "#", r.attempt, " ");
  if (r.is_read) return absl::StrCat(head, "get ", r.key);
  return absl::StrCat(head, EncodeCommand(r.command).substr(4));
}

std::string DescribeReply(const ClientReply& r) {
  std::string head =
      absl::StrCat("c", r.client, ".", r.seq, "#", r.attempt, " from n", r.from, " ");
  if (r.rejected) return absl::StrCat(head, "rejected");
  if (r.value.has_value() || !r.succeeded) {
    return absl::StrCat(head, r.succeeded ? "ok" : "fail", " value=", ShowValue(r.value));
  }
  return absl::StrCat(head, "ok");
}

std::optional<ClientReply> KvFrontend::Receive(raft::NodeId self, const ClientRequest& req,
                                               raft::RawNode& raw, bool* proposed,
                                               std::string* read_context) {
  *proposed = false;
  read_context->clear();
  ClientReply rejection{req.client, req.seq, req.attempt, self, true, false, std::nullopt};
  if (req.is_read) {
    std::string ctx = absl::StrCat("r", req.client, ".", req.seq, ".", req.attempt, "@", self);
    reads_[ctx] = req;
    *read_context = ctx;
    raw.ReadIndex(ctx);
    return std::nullopt;
  }
  absl::Status s = raw.Propose(EncodeCommand(req.command));
  if (!s.ok()) return rejection;
  *proposed = true;
  writes_[{req.client, req.seq}] = req;
  return std::nullopt;
}

std::optional<ClientReply> KvFrontend::OnApplied(raft::NodeId self, const KvCommand& c,
                                                 const KvAnswer& a) {
  if (c.kind == KvCommandKind::kProbe || a.stale) return std::nullopt;
  auto it = writes_.find({c.client, c.seq});
  if (it == writes_.end()) return std::nullopt;
  ClientReply reply{c.client, c.seq, it->second.attempt, self, false, a.succeeded, std::nullopt};
  writes_.erase(it);
  return reply;
}

void KvFrontend::OnReadState(const raft::ReadState& rs) {
  auto it = reads_.find(rs.context);
  if (it == reads_.end()) return;
  servable_reads_.emplace_back(rs.index, std::move(it->second));
  reads_.erase(it);
}

std::vector<ClientReply> KvFrontend::ServeReads(raft::NodeId self, raft::Index applied,
                                                const KvStateMachine& sm) {
  std::vector<ClientReply> replies;
  std::vector<std::pair<raft::Index, ClientRequest>> waiting;
  for (auto& [index, req] : servable_reads_) {
    if (index > applied) {
      waiting.emplace_back(index, std::move(req));
      continue;
    }
    replies.push_back(
        ClientReply{req.client, req.seq, req.attempt, self, false, true, sm.Get(req.key)});
  }
  servable_reads_ = std::move(waiting);
  return replies;
}

void KvFrontend::Clear() {
  writes_.clear();
  reads_.clear();
  servable_reads_.clear();
}

ClientPool::ClientPool(int clients, int keys, SimTime op_deadline)
    : clients_(static_cast<size_t>(clients)), op_deadline_(op_deadline) {
  for (int k = 0; k < keys; ++k) keys_.push_back(absl::StrCat("k", k));
}

bool ClientPool::AnyBusy() const {
  for (const Client& c : clients_) {
    if (c.op.has_value()) return true;
  }
  return false;
}

ClientRequest ClientPool::Start(uint64_t client, SimTime now, SimRandom& rng) {
  Client& c = clients_[client];
  uint64_t seq = c.next_seq++;
  std::string key = rng.Pick(keys_);
  int64_t dice = rng.Range(0, 99);
  if (c.read_back.has_value() && rng.Coin()) {
    key = *c.read_back;
    dice = 0;  // a read
  }
  c.read_back.reset();
  std::string value = absl::StrCat("c", client, "-", seq);
  ClientRequest req;
  req.client = client;
  req.seq = seq;
  req.attempt = 1;
  req.key = key;
  lin::Operation op;
  if (dice < 40) {
    req.is_read = true;
    op = lin::GetOp(client, now, std::nullopt, key, std::nullopt);
  } else {
    KvCommand& cmd = req.command;
    cmd.client = client;
    cmd.seq = seq;
    cmd.key = key;
    if (dice < 70) {
      cmd.kind = KvCommandKind::kPut;
      cmd.value = value;
      op = lin::PutOp(client, now, std::nullopt, key, value);
    } else if (dice < 90) {
      cmd.kind = KvCommandKind::kCas;
      cmd.value = value;
      auto known = known_.find(key);
      int64_t pick = rng.Range(0, 9);
      if (known != known_.end() && pick < 7) {
        cmd.expected = known->second;
      } else if (pick < 8) {
        cmd.expected = std::nullopt;
      } else {
        cmd.expected = absl::StrCat("c", rng.Range(0, clients() - 1), "-",
                                    rng.Range(1, static_cast<int64_t>(seq)));
      }
      op = lin::CasOp(client, now, std::nullopt, key, cmd.expected, value, std::nullopt);
    } else {
      cmd.kind = KvCommandKind::kDelete;
      op = lin::DeleteOp(client, now, std::nullopt, key, std::nullopt);
    }
  }
  c.op = Outstanding{std::move(op), req, false};
  ++stats_.started;
  return req;
}

bool ClientPool::Current(uint64_t client, uint64_t seq, uint32_t attempt) const {
  const Client& c = clients_[client];
  return c.op.has_value() && c.op->request.seq == seq && c.op->request.attempt == attempt;
}

void ClientPool::MarkProposed(uint64_t client, uint64_t seq) {
  Client& c = clients_[client];
  if (c.op.has_value() && c.op->request.seq == seq) c.op->maybe_effective = true;
  auto it = abandoned_.find({client, seq});
  if (it != abandoned_.end()) it->second.maybe_effective = true;
}

std::optional<ClientRequest> ClientPool::Retry(uint64_t client, SimTime now) {
  Client& c = clients_[client];
  if (!c.op.has_value()) return std::nullopt;
  if (now - c.op->op.call > op_deadline_) {
    GiveUp(client);
    return std::nullopt;
  }
  ++c.op->request.attempt;
  ++stats_.retries;
  return c.op->request;
}

void ClientPool::GiveUp(uint64_t client) {
  Client& c = clients_[client];
  // A write given up on may still take effect (a request of it may yet reach a node): whether it
  // goes into the history as indeterminate is decided by History(). A read changed nothing.
  if (!c.op->request.is_read) {
    known_.erase(c.op->op.key);  // no longer known
    abandoned_.emplace(std::make_pair(client, c.op->request.seq), std::move(*c.op));
  }
  c.op.reset();
}

bool ClientPool::Complete(const ClientReply& reply, SimTime now) {
  Client& c = clients_[reply.client];
  if (!c.op.has_value() || c.op->request.seq != reply.seq || reply.rejected) return false;
  lin::Operation& op = c.op->op;
  op.ret = now;
  switch (op.kind) {
    case lin::OpKind::kGet:
      op.read = reply.value;
      known_[op.key] = reply.value;
      break;
    case lin::OpKind::kPut:
      known_[op.key] = op.value;
      break;
    case lin::OpKind::kCas:
      op.succeeded = reply.succeeded;
      if (reply.succeeded) known_[op.key] = op.value;
      break;
    case lin::OpKind::kDelete:
      op.succeeded = reply.succeeded;
      known_[op.key] = std::nullopt;
      break;
  }
  if (op.kind != lin::OpKind::kGet) c.read_back = op.key;
  history_.push_back(op);
  ++stats_.completed;
  c.op.reset();
  return true;
}

void ClientPool::AbandonAll() {
  for (uint64_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i].op.has_value()) GiveUp(i);
  }
}

std::vector<lin::Operation> ClientPool::History() const {
  std::vector<lin::Operation> ops = history_;
  for (const auto& [id, o] : abandoned_) {
    if (o.maybe_effective) ops.push_back(o.op);
  }
  return ops;
}

WorkloadStats ClientPool::stats() const {
  WorkloadStats s = stats_;
  for (const auto& [id, o] : abandoned_) ++(o.maybe_effective ? s.indeterminate : s.vanished);
  return s;
}

}  // namespace kvd::sim
