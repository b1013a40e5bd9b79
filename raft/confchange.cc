#include "raft/confchange.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kvd::raft {
namespace {

constexpr size_t kHeaderSize = 14;

void PutLittleEndian(std::string* out, uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) out->push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}

uint64_t GetLittleEndian(std::string_view in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int k = 0; k < bytes; ++k) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in[pos + k])) << (8 * k);
  }
  return v;
}

bool Contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void Erase(std::vector<NodeId>& ids, NodeId id) {
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
}

}  // namespace

std::string EncodeConfChange(const ConfChange& cc) {
  std::string out;
  out.reserve(kHeaderSize + cc.context.size());
  out.push_back(static_cast<char>(kConfChangeFormatVersion));
  out.push_back(static_cast<char>(cc.type));
  PutLittleEndian(&out, cc.node_id, 8);
  PutLittleEndian(&out, cc.context.size(), 4);
  out.append(cc.context);
  return out;
}

absl::StatusOr<ConfChange> DecodeConfChange(std::string_view data) {
  if (data.size() < kHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("conf change of ", data.size(), " bytes is shorter than its header"));
  }
  const uint8_t version = static_cast<uint8_t>(data[0]);
  if (version != kConfChangeFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("conf change format version ", version,
                                                   " is not supported (expected ",
                                                   kConfChangeFormatVersion, ")"));
  }
  const uint8_t type = static_cast<uint8_t>(data[1]);
  if (type > static_cast<uint8_t>(ConfChangeType::kAddLearnerNode)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown conf change type ", type));
  }
  ConfChange cc;
  cc.type = static_cast<ConfChangeType>(type);
  cc.node_id = GetLittleEndian(data, 2, 8);
  if (cc.node_id == kNoNode) return absl::InvalidArgumentError("conf change names node 0");
  const uint64_t context_size = GetLittleEndian(data, 10, 4);
  if (data.size() - kHeaderSize != context_size) {
    return absl::InvalidArgumentError(absl::StrCat("conf change context of ", context_size,
                                                   " bytes does not match the ",
                                                   data.size() - kHeaderSize, " bytes present"));
  }
  cc.context = std::string(data.substr(kHeaderSize));
  return cc;
}

absl::StatusOr<ConfState> ApplyChangeToConfState(const ConfState& cs, const ConfChange& cc) {
  if (cc.node_id == kNoNode) return absl::InvalidArgumentError("conf change names node 0");
  ConfState out = cs;
  const NodeId id = cc.node_id;
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      Erase(out.learners, id);
      if (!Contains(out.voters, id)) out.voters.push_back(id);
      break;
    case ConfChangeType::kAddLearnerNode:
      if (Contains(out.voters, id)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node ", absl::Hex(id), " is a voter; adding it as a learner would demote it"));
      }
      if (!Contains(out.learners, id)) out.learners.push_back(id);
      break;
    case ConfChangeType::kRemoveNode:
      if (Contains(out.voters, id) && out.voters.size() == 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("removing node ", absl::Hex(id), " would leave no voters"));
      }
      Erase(out.voters, id);
      Erase(out.learners, id);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown conf change type ", static_cast<int>(cc.type)));
  }
  std::sort(out.voters.begin(), out.voters.end());
  std::sort(out.learners.begin(), out.learners.end());
  return out;
}

namespace {

// Node IDs print in hex, as everywhere in kvd's logs (and etcd's).
void AppendHexId(std::string* out, NodeId id) { absl::StrAppend(out, absl::Hex(id)); }

}  // namespace

std::string DescribeConfChange(const ConfChange& cc) {
  const char* verb = "unknown";
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      verb = "add-voter";
      break;
    case ConfChangeType::kRemoveNode:
      verb = "remove";
      break;
    case ConfChangeType::kAddLearnerNode:
      verb = "add-learner";
      break;
  }
  return absl::StrCat(verb, " ", absl::Hex(cc.node_id));
}

std::string DescribeConfState(const ConfState& cs) {
  return absl::StrCat("voters=(", absl::StrJoin(cs.voters, " ", AppendHexId), ") learners=(",
                      absl::StrJoin(cs.learners, " ", AppendHexId), ")");
}

}  // namespace kvd::raft
