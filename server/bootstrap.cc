#include "server/bootstrap.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"
#include "server/applier.h"
#include "server/identity.h"
#include "server/snapshot_images.h"
#include "storage/fs/posix_file_system.h"

namespace kvd::server {
namespace {

constexpr char kIdentityFile[] = "member";

absl::StatusOr<serverpb::MemberIdentity> NewIdentity(const ServerConfig& config) {
  serverpb::MemberIdentity identity;
  identity.set_format_version(1);
  std::vector<uint64_t> ids;
  for (const auto& [name, urls] : config.initial_cluster) {
    std::vector<std::string> peer_urls;
    for (const Url& u : urls) peer_urls.push_back(u.ToString());
    serverpb::Member* m = identity.mutable_bootstrap()->add_members();
    m->set_id(ComputeMemberId(peer_urls, config.initial_cluster_token));
    m->set_name(name);
    for (const std::string& u : peer_urls) m->add_peer_urls(u);
    // Client URLs are not in the bootstrap flags: each member announces its own once started
    // (Server::PublishAttributes), so the bootstrap membership is the same on every member.
    if (name == config.name) identity.set_member_id(m->id());
    ids.push_back(m->id());
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
    return absl::InvalidArgumentError(
        "--initial-cluster: two members have the same peer URLs, so the same member ID");
  }
  identity.set_cluster_id(ComputeClusterId(ids));
  identity.mutable_bootstrap()->set_cluster_id(identity.cluster_id());
  return identity;
}

// Asks the other members whether this member already ran in their cluster. Members that do not
// answer (a new cluster starting, or down) say nothing; one that answers yes stops the bootstrap.
absl::Status CheckNeverRan(const serverpb::MemberIdentity& identity) {
  for (const serverpb::Member& m : identity.bootstrap().members()) {
    if (m.id() == identity.member_id() || m.peer_urls().empty()) continue;
    absl::StatusOr<Url> url = Url::Parse(m.peer_urls(0));
    if (!url.ok()) continue;
    auto stub = peerpb::Peer::NewStub(
        grpc::CreateChannel(url->HostPort(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    peerpb::MemberStatusRequest req;
    req.set_member_id(identity.member_id());
    peerpb::MemberStatusResponse resp;
    if (!stub->MemberStatus(&ctx, req, &resp).ok()) continue;
    if (resp.cluster_id() == identity.cluster_id() && resp.started()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "member ", IdToString(identity.member_id()), " already ran in cluster ",
          IdToString(identity.cluster_id()), " (member ", m.name(),
          " says so) but its data directory is empty: bootstrapping it again would make it "
          "forget its votes and acknowledged entries; restore its data directory (runtime "
          "replacement of a member is not supported yet)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

raft::ConfState ConfStateOf(const serverpb::Membership& membership) {
  raft::ConfState cs;
  for (const serverpb::Member& m : membership.members()) {
    (m.is_learner() ? cs.learners : cs.voters).push_back(m.id());
  }
  std::sort(cs.voters.begin(), cs.voters.end());
  std::sort(cs.learners.begin(), cs.learners.end());
  return cs;
}

absl::StatusOr<BootstrappedMember> Bootstrap(const ServerConfig& config) {
  absl::StatusOr<storage::DataDir> dir = storage::DataDir::Open(config.data_dir, true);
  if (!dir.ok()) return dir.status();
  BootstrappedMember b;
  b.data_dir = std::make_unique<storage::DataDir>(*std::move(dir));
  b.fs = std::make_unique<fs::PosixFileSystem>();

  // Who am I: the identity file, or a new one from the flags.
  const std::string identity_path = fs::JoinPath(b.data_dir->root(), kIdentityFile);
  absl::StatusOr<std::string> identity_bytes = b.fs->ReadFile(identity_path);
  if (identity_bytes.ok()) {
    if (!b.identity.ParseFromString(*identity_bytes) || b.identity.format_version() != 1 ||
        b.identity.member_id() == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          identity_path, " is damaged or of another version; this data directory ",
          "cannot be used; restore it from the member's own backup (a member must never restart ",
          "without its state: it would forget its votes)"));
    }
    b.restarted = true;
    if (b.identity.bootstrap().members_size() > 0) {
      b.notices.push_back(
          "restarting from an existing data directory: --initial-cluster* flags are ignored");
    }
  } else if (absl::IsNotFound(identity_bytes.status())) {
    if (config.initial_cluster_state == ClusterState::kExisting) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--initial-cluster-state existing: data directory ", config.data_dir,
          " holds no member; joining a running cluster as a new member is not supported yet ",
          "(start with --initial-cluster-state new to bootstrap a new cluster)"));
    }
    absl::StatusOr<serverpb::MemberIdentity> identity = NewIdentity(config);
    if (!identity.ok()) return identity.status();
    b.identity = *std::move(identity);
    if (absl::Status st = CheckNeverRan(b.identity); !st.ok()) return st;
    if (absl::Status st = fs::WriteFileAtomically(*b.fs, b.data_dir->root(), kIdentityFile,
                                                  b.identity.SerializeAsString());
        !st.ok()) {
      return st;
    }
  } else {
    return identity_bytes.status();
  }

  absl::StatusOr<std::unique_ptr<mvcc::Store>> store = mvcc::Store::Open(b.data_dir->db_dir());
  if (!store.ok()) return store.status();
  b.store = *std::move(store);

  // A store that applied entries next to no WAL means the WAL was lost: this member would have
  // forgotten its votes and the entries it acknowledged. Refuse rather than start afresh.
  wal::WalOptions wal_options;
  wal_options.create_if_missing = b.store->Applied().index == 0;
  absl::StatusOr<wal::Wal::Opened> opened =
      wal::Wal::Open(b.fs.get(), b.data_dir->wal_dir(), wal_options);
  if (absl::IsNotFound(opened.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", config.data_dir, " has a store at index ", b.store->Applied().index,
        " but no WAL in ", b.data_dir->wal_dir(),
        "; the member cannot rejoin safely without it (remove the data directory to join as a ",
        "new member)"));
  }
  if (!opened.ok()) return opened.status();
  b.wal = std::move(opened->wal);
  wal::RecoveredLog& recovered = opened->log;
  for (std::string& n : recovered.notices) b.notices.push_back(std::move(n));

  // A snapshot the WAL recorded but the store did not install before a crash: install it now,
  // from the image that was durable in snap/ before the WAL recorded it.
  if (recovered.snapshot.index > b.store->Applied().index) {
    std::optional<std::string> image =
        StoreSnapshotImages::FindImage(b.data_dir->snap_dir(), recovered.snapshot.index);
    if (!image) {
      return absl::DataLossError(absl::StrCat(
          "the WAL records a snapshot at index ", recovered.snapshot.index,
          " but the store is at index ", b.store->Applied().index, " and no image of it is in ",
          b.data_dir->snap_dir(), "; this member's state is incomplete"));
    }
    b.notices.push_back(absl::StrCat("completing the installation of the snapshot at index ",
                                     recovered.snapshot.index, " from ", *image));
    if (absl::Status st = b.store->InstallSnapshot(*image); !st.ok()) return st;
    StoreSnapshotImages::RemoveImagesUpTo(b.data_dir->snap_dir(), recovered.snapshot.index);
  }

  // The membership and configuration as of the store's applied index.
  absl::StatusOr<std::optional<std::string>> stored = b.store->GetMeta(kMetaMembership);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    if (!b.membership.ParseFromString(**stored)) {
      return absl::DataLossError("the store's membership record is unreadable");
    }
  } else {
    b.membership = b.identity.bootstrap();
  }
  absl::StatusOr<std::optional<raft::ConfState>> conf = StoredConfState(*b.store);
  if (!conf.ok()) return conf.status();
  b.conf_state = conf->value_or(ConfStateOf(b.identity.bootstrap()));

  // The in-memory log Raft reads.
  if (recovered.snapshot.index > 0) {
    b.log = std::make_unique<raft::MemoryStorage>();
    if (absl::Status st =
            b.log->ApplySnapshot(raft::Snapshot{.metadata = recovered.snapshot, .data = ""});
        !st.ok()) {
      return st;
    }
  } else {
    b.log = std::make_unique<raft::MemoryStorage>(ConfStateOf(b.identity.bootstrap()));
  }
  if (absl::Status st = b.log->Append(recovered.entries); !st.ok()) return st;
  raft::HardState hs = recovered.hard_state;
  // The store applies only committed entries, but the WAL's commit index may lag behind (it is
  // not synced on its own). Raise it to the store's applied index only when the WAL holds that
  // very entry (same index and term): then, by log matching, everything up to it is the committed
  // log. Otherwise leave it; the leader tells the member its commit index again.
  const mvcc::AppliedPosition store_applied = b.store->Applied();
  if (store_applied.index > hs.commit && store_applied.index > recovered.snapshot.index &&
      store_applied.index <= recovered.last_index() &&
      recovered.entries[store_applied.index - recovered.first_index()].term == store_applied.term) {
    hs.commit = store_applied.index;
  }
  b.log->SetHardState(hs);
  b.applied = recovered.snapshot.index;
  if (store_applied.index < recovered.snapshot.index) {
    return absl::DataLossError(absl::StrCat(
        "the store is at index ", store_applied.index, " but the WAL's snapshot is at index ",
        recovered.snapshot.index, ": the entries between them are gone; this data directory ",
        "cannot be used: the member's state is incomplete and it must not restart without it"));
  }
  return b;
}

}  // namespace kvd::server
