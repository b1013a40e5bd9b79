// The wire contract with etcd clients is bytes on the wire: these tests pin the field numbers and
// names that etcd's rpc.proto and kv.proto fix, by comparing serialized messages with bytes
// written out by hand, and check the gRPC method paths clients call.
#include <string>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "gtest/gtest.h"
#include "mvccpb/kv.pb.h"
#include "peerpb/peer.grpc.pb.h"
#include "proto/raft_codec.h"

namespace kvd {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

TEST(EtcdWireContract, RangeRequestFieldNumbers) {
  etcdserverpb::RangeRequest req;
  req.set_key("a");                                         // field 1, bytes
  req.set_range_end("b");                                   // field 2, bytes
  req.set_limit(5);                                         // field 3, varint
  req.set_revision(7);                                      // field 4, varint
  req.set_sort_order(etcdserverpb::RangeRequest::DESCEND);  // field 5, enum value 2
  req.set_serializable(true);                               // field 7
  req.set_count_only(true);                                 // field 9
  req.set_max_create_revision(3);                           // field 13
  EXPECT_EQ(req.SerializeAsString(), Bytes({0x0a, 1, 'a', 0x12, 1, 'b', 0x18, 5, 0x20, 7, 0x28, 2,
                                            0x38, 1, 0x48, 1, 0x68, 3}));
}

TEST(EtcdWireContract, CompareRangeEndIsField64) {
  etcdserverpb::Compare cmp;
  cmp.set_result(etcdserverpb::Compare::NOT_EQUAL);  // field 1 = 3
  cmp.set_target(etcdserverpb::Compare::LEASE);      // field 2 = 4
  cmp.set_lease(9);                                  // field 8
  cmp.set_range_end("z");                            // field 64: tag 514 = varint 0x82 0x04
  EXPECT_EQ(cmp.SerializeAsString(), Bytes({0x08, 3, 0x10, 4, 0x40, 9, 0x82, 0x04, 1, 'z'}));
}

TEST(EtcdWireContract, KeyValueRoundTrip) {
  mvccpb::KeyValue kv;
  kv.set_key("k");
  kv.set_create_revision(2);
  kv.set_mod_revision(3);
  kv.set_version(4);
  kv.set_value("v");
  kv.set_lease(6);
  const std::string wire = kv.SerializeAsString();
  EXPECT_EQ(wire, Bytes({0x0a, 1, 'k', 0x10, 2, 0x18, 3, 0x20, 4, 0x2a, 1, 'v', 0x30, 6}));
  mvccpb::KeyValue back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.mod_revision(), 3);
  EXPECT_EQ(back.lease(), 6);
}

TEST(EtcdWireContract, WatchResponseEventsAreField11) {
  etcdserverpb::WatchResponse resp;
  resp.set_watch_id(1);
  resp.set_compact_revision(4);
  mvccpb::Event* ev = resp.add_events();
  ev->set_type(mvccpb::Event::DELETE);
  EXPECT_EQ(resp.SerializeAsString(), Bytes({0x10, 1, 0x28, 4, 0x5a, 2, 0x08, 1}));
}

TEST(EtcdWireContract, LeaseAndStatusFieldNames) {
  // Field names show in JSON output (etcdctl -w json) and in etcd's own documentation.
  const auto* grant = etcdserverpb::LeaseGrantRequest::descriptor();
  EXPECT_EQ(grant->FindFieldByNumber(1)->name(), "TTL");
  EXPECT_EQ(grant->FindFieldByNumber(2)->name(), "ID");
  const auto* status = etcdserverpb::StatusResponse::descriptor();
  EXPECT_EQ(status->FindFieldByNumber(7)->name(), "raftAppliedIndex");
  EXPECT_EQ(status->FindFieldByNumber(10)->name(), "isLearner");
  const auto* member = etcdserverpb::Member::descriptor();
  EXPECT_EQ(member->FindFieldByNumber(3)->name(), "peerURLs");
}

TEST(EtcdWireContract, MethodPathsMatchEtcd) {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* method :
       {"etcdserverpb.KV.Range", "etcdserverpb.KV.Txn", "etcdserverpb.KV.Compact",
        "etcdserverpb.Watch.Watch", "etcdserverpb.Lease.LeaseKeepAlive",
        "etcdserverpb.Cluster.MemberList", "etcdserverpb.Maintenance.HashKV",
        "etcdserverpb.Maintenance.Status"}) {
    EXPECT_NE(pool->FindMethodByName(method), nullptr) << method;
  }
  const auto* watch = pool->FindMethodByName("etcdserverpb.Watch.Watch");
  ASSERT_NE(watch, nullptr);
  EXPECT_TRUE(watch->client_streaming());
  EXPECT_TRUE(watch->server_streaming());
}

TEST(RaftCodec, MessageRoundTripsThroughBytes) {
  raft::Message m{.type = raft::MessageType::kApp,
                  .to = 2,
                  .from = 1,
                  .term = 5,
                  .log_term = 4,
                  .index = 10,
                  .entries = {{.term = 5, .index = 11, .data = "put a"},
                              {.term = 5,
                               .index = 12,
                               .type = raft::EntryType::kConfChange,
                               .data = std::string("\0\1", 2)}},
                  .commit = 9,
                  .snapshot = {.metadata = {.conf_state = {.voters = {1, 2, 3}, .learners = {4}},
                                            .index = 8,
                                            .term = 3},
                               .data = "image"},
                  .reject = true,
                  .reject_hint = 7,
                  .context = "ctx"};
  raftpb::Message pb;
  codec::ToProto(m, &pb);
  raftpb::Message parsed;
  ASSERT_TRUE(parsed.ParseFromString(pb.SerializeAsString()));
  absl::StatusOr<raft::Message> back = codec::FromProto(std::move(parsed));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, m);
}

TEST(RaftCodec, RejectsUnknownEnumValues) {
  raftpb::Message pb;
  pb.set_type(static_cast<raftpb::MessageType>(42));
  EXPECT_FALSE(codec::FromProto(std::move(pb)).ok());

  raftpb::Entry e;
  e.set_type(static_cast<raftpb::EntryType>(7));
  EXPECT_FALSE(codec::FromProto(std::move(e)).ok());

  raftpb::ConfChange cc;
  cc.set_type(static_cast<raftpb::ConfChangeType>(9));
  EXPECT_FALSE(codec::FromProto(std::move(cc)).ok());
}

TEST(RaftCodec, HardStateRoundTrip) {
  raft::HardState hs{.term = 3, .vote = 2, .commit = 17};
  raftpb::HardState pb;
  codec::ToProto(hs, &pb);
  EXPECT_EQ(codec::FromProto(pb), hs);
}

}  // namespace
}  // namespace kvd
