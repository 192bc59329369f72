#!/usr/bin/env bash
# Benchmarks twinstar against keepalived on a fresh Debian machine, as root:
# installs keepalived and the lab's tools if missing, builds the release
# binary, and runs `twinstar lab --bench`, which builds its own namespace lab,
# runs every scenario with both agents and prints a Markdown table.
#
#   sudo bash benches/run.sh                 # everything (about 15 minutes)
#   sudo bash benches/run.sh --only 1,2 --runs 5
set -euo pipefail
cd "$(dirname "$0")/.."

source tests/need.sh
install_missing protobuf-compiler:protoc etcd-server:etcd keepalived:keepalived iproute2:ip iputils-ping:ping

echo "==> cargo build --release"
cargo build --release --quiet
echo "==> twinstar lab --bench $*"
exec ./target/release/twinstar lab --bench "$@"
