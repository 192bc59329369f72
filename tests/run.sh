#!/usr/bin/env bash
# Runs every twinstar test on a fresh Debian machine, as root: installs what the
# tests need (keepalived as an interop peer, iproute2 and nftables for the
# namespace lab, tcpdump for captures), checks formatting and lints, runs the unit,
# property, simulation and network-namespace tests, builds and checks the Debian
# package (tests/package.sh), and a short fuzz run.
#
#   FUZZ_SECONDS=0 bash tests/run.sh   # skip the fuzz run
set -euo pipefail
cd "$(dirname "$0")/.."

source "$(dirname "$0")/need.sh"
install_missing keepalived:keepalived iproute2:ip nftables:nft tcpdump:tcpdump iputils-ping:ping

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "==> cargo build --release"
cargo build --release --quiet
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --all-targets 2>&1 | tee "$log"
passed=$(grep -o '[0-9]* passed' "$log" | awk '{s+=$1} END {print s+0}' || true)
failed=$(grep -o '[0-9]* failed' "$log" | awk '{s+=$1} END {print s+0}' || true)

echo "==> Debian package: build, lintian, install, check, purge"
bash tests/package.sh

seconds=${FUZZ_SECONDS:-30}
if [ "$seconds" -gt 0 ] && [ -x fuzz/run.sh ]; then
    echo "==> fuzzing the advert parser for ${seconds}s"
    fuzz/run.sh "$seconds"
fi
echo "==> all tests passed"
echo "tests: $passed passed, $failed failed"
