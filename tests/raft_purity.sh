#!/usr/bin/env bash
# Fails when a source file of the Raft core includes something that does I/O, keeps time, starts
# threads or belongs to the runtime around it. The core must stay a pure, deterministic state
# machine: everything enters through Step and Tick and leaves through Ready.
set -euo pipefail
raft_dir=${1:?usage: raft_purity.sh RAFT_DIR}
forbidden='#include\s*[<"](grpc|grpcpp|google/protobuf|rocksdb|spdlog|thread|mutex|shared_mutex|condition_variable|future|atomic|chrono|ctime|fstream|cstdio|iostream|random|filesystem|unistd\.h|sys/|netinet/|arpa/|absl/synchronization|absl/time/clock|storage/|server/|client/|proto/|.*\.pb\.h)'
if hits=$(grep -rnE "$forbidden" --include='*.h' --include='*.cc' "$raft_dir" | grep -v '_test\.cc:' | grep -v '/testdata/'); then
  echo "raft/ must stay pure; these includes do not belong in the core:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "raft/ includes nothing impure"
