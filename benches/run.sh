#!/usr/bin/env bash
# Benchmarks twinstar against keepalived on a fresh Debian machine, as root:
# installs keepalived and the lab's tools if missing, builds the release
# binary, and runs `twinstar lab --bench`, which builds its own namespace lab,
# runs every scenario with both agents and prints a Markdown table. The cost
# scenarios (9: 1 instance, 4: 100 × 10ms, 5: 1000 × 100ms, 10: floods) also
# run the floor (`twinstar bench-floor`: the same packets on the same sockets,
# no agent logic), so every CPU figure has its "× floor" beside it.
#
#   sudo bash benches/run.sh                 # everything (about 18 minutes)
#   sudo bash benches/run.sh --only 1,2 --runs 5
set -euo pipefail
cd "$(dirname "$0")/.."

source tests/need.sh
install_missing protobuf-compiler:protoc etcd-server:etcd keepalived:keepalived iproute2:ip iputils-ping:ping nftables:nft

echo "==> cargo build --release"
cargo build --release --quiet
echo "==> twinstar lab --bench $*"
exec ./target/release/twinstar lab --bench "$@"
