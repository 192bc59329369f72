#!/usr/bin/env bash
# Runs every twinstar test on a fresh Debian machine, as root: installs what the
# tests need (protoc, which the etcd client's build needs, before any cargo
# command; keepalived as an interop peer, iproute2 and nftables for the
# namespace lab, tcpdump for captures, etcd-server and openssl (test
# certificates) for the quorum lab), checks formatting and lints, runs the unit,
# property, simulation and network-namespace tests and the chaos suite, builds
# and checks the Debian package (tests/package.sh), and a short run of every fuzz target.
#
#   FUZZ_SECONDS=0 bash tests/run.sh   # skip the fuzz runs (default: 15 s a target)
#
# A test that cannot run records a skip (tests/support/skip.rs) in the file named
# by TWINSTAR_SKIP_LOG; skips are counted and make the run fail, as failures do.
# With CI or TWINSTAR_NO_SKIP=1 set, a skipping test fails on the spot.
set -euo pipefail
cd "$(dirname "$0")/.."

# No incremental state: a run builds each test binary once, and the state
# would take 2 GB of disk besides (see the dev profile in Cargo.toml).
export CARGO_INCREMENTAL=0

source "$(dirname "$0")/need.sh"
install_missing protobuf-compiler:protoc etcd-server:etcd openssl:openssl keepalived:keepalived iproute2:ip nftables:nft tcpdump:tcpdump iputils-ping:ping \
    man-db:man util-linux:unshare procps:sysctl binutils:nm

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "==> cargo build --release"
cargo build --release --quiet
echo "==> cargo test"
log=$(mktemp)
TWINSTAR_SKIP_LOG=$(mktemp)
export TWINSTAR_SKIP_LOG
trap 'rm -f "$log" "$TWINSTAR_SKIP_LOG"' EXIT

# The summary line; exits non-zero when anything failed or was skipped.
summary() {
    local passed failed skipped
    # Only libtest's "test result:" lines: other output may say "N failed"
    # (a schedule's seed, a count in a message).
    passed=$(grep '^test result:' "$log" | grep -o '[0-9]* passed' | awk '{s+=$1} END {print s+0}' || true)
    failed=$(grep '^test result:' "$log" | grep -o '[0-9]* failed' | awk '{s+=$1} END {print s+0}' || true)
    skipped=$(wc -l <"$TWINSTAR_SKIP_LOG")
    if [ "$skipped" -gt 0 ]; then
        echo "==> skipped tests (each is a failure of the run):"
        cat "$TWINSTAR_SKIP_LOG"
    fi
    echo "tests: $passed passed, $failed failed, $skipped skipped"
    if [ "$1" -ne 0 ] || [ "$failed" -gt 0 ] || [ "$skipped" -gt 0 ]; then
        exit 1
    fi
}

# cargo's status, not tee's: a failing test must fail the run, after the summary.
# The chaos suite does 5 runs here; its 50 come in the optimised step below.
# --no-fail-fast: one run shows every failing test, not only the first file's.
cargo_status=0
TWINSTAR_CHAOS_RUNS=5 cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || cargo_status=$?
if [ "$cargo_status" -ne 0 ]; then
    echo "==> cargo test failed (exit $cargo_status)"
    summary "$cargo_status"
fi

# The whole-agent fault schedules again, optimised: 2 x 5,000 random
# schedules (the debug run above does 2 x 150), and 2,000 with the quorum
# lease (200 above); each test prints its count and time.
echo "==> 10,000 random fault schedules through whole simulated agents, and 2,000 under the quorum lease (release)"
cargo test --release --test sim_agents --test sim_quorum_schedules -- --nocapture random_fault_schedules quorum 2>&1 | tee -a "$log" || cargo_status=$?
if [ "$cargo_status" -ne 0 ]; then
    echo "==> the release fault schedules failed (exit $cargo_status)"
    summary "$cargo_status"
fi

# The chaos suite (tests/chaos.rs): 50 random fault schedules against two real
# agents in namespaces, every invariant checked by a 100 Hz sampler; any
# violation fails the run. It needs nft, ip, tc and sysctl (installed above).
echo "==> chaos suite: 50 random fault schedules against two agents in namespaces (release)"
chaos_started=$SECONDS
TWINSTAR_CHAOS_RUNS=50 cargo test --release --test chaos -- --nocapture 2>&1 | tee -a "$log" || cargo_status=$?
echo "==> chaos suite: $((SECONDS - chaos_started)) s (budget 300 s, build included)"
if [ "$cargo_status" -ne 0 ]; then
    echo "==> the chaos suite failed (exit $cargo_status)"
    summary "$cargo_status"
fi

echo "==> Debian package: build, lintian, install, check, purge"
bash tests/package.sh

seconds=${FUZZ_SECONDS:-15}
if [ "$seconds" -gt 0 ] && [ -x fuzz/run.sh ]; then
    echo "==> fuzzing each target (adverts, configuration, control protocol, agent inputs) for ${seconds}s"
    fuzz/run.sh "$seconds"
fi
echo "==> all steps ran"
summary 0
