#!/usr/bin/env bash
# Compares the CPU per advert of two or more twinstar binaries at one
# instance (scenario 9's shape: 10 ms adverts), all running at the same
# time, as root:
#
#   sudo bash benches/compare-one.sh OLD_BINARY NEW_BINARY
#   WINDOW=120 sudo bash benches/compare-one.sh A B C
#
# Why at the same time: on a small machine the cost of one advert moves by
# a quarter from one run to the next (frequency, cache, what else runs), so
# two binaries measured one after the other differ by that much whatever
# their code. Side by side, each pair sees the same machine.
#
# Each binary gets a Master (priority 150) and a Backup (100) in two
# namespaces of their own, joined by a veth pair; the Master starts first.
# After 15 s (start-up pages given back), each process's CPU time is read
# from /proc/PID/schedstat over the window and divided by the adverts in it
# (100 a second). Run it twice with the binaries in the other order: the
# first pair started may land differently on the cores. The namespaces go
# and the processes are killed when it ends, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    echo "usage: $0 BINARY BINARY [BINARY...]" >&2
    exit 2
fi
source tests/need.sh
source benches/lib/one-pair.sh
install_missing iproute2:ip

window=${WINDOW:-60}
work=$(mktemp -d /tmp/twinstar-compare.XXXXXX)
pids=()
namespaces=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

index=0
for binary in "$@"; do
    [ -x "$binary" ] || { echo "$binary: not an executable" >&2; exit 2; }
    master_ns=tscmp-m$index-$$
    backup_ns=tscmp-b$index-$$
    namespaces+=("$master_ns" "$backup_ns")
    pair_namespaces "$master_ns" "$backup_ns"
    pair_config "$work/$index/master/config.yaml" 150
    pair_config "$work/$index/backup/config.yaml" 100
    ip netns exec "$master_ns" "$binary" run --config "$work/$index/master/config.yaml" \
        --runtime-dir "$work/$index/master/run" >"$work/$index/master/log" 2>&1 &
    pids+=($!)
    sleep 0.5
    ip netns exec "$backup_ns" "$binary" run --config "$work/$index/backup/config.yaml" \
        --runtime-dir "$work/$index/backup/run" >"$work/$index/backup/log" 2>&1 &
    pids+=($!)
    index=$((index + 1))
done

sleep 15
declare -A started
for pid in "${pids[@]}"; do
    kill -0 "$pid" || { echo "an agent exited:"; cat "$work"/*/*/log; exit 1; }
    started[$pid]=$(cut -d' ' -f1 "/proc/$pid/schedstat")
done
echo "==> $window s of 10 ms adverts (one instance), all binaries at once"
sleep "$window"
adverts=$((window * 100))
index=0
for binary in "$@"; do
    for role in master backup; do
        pid=${pids[$index]}
        now=$(cut -d' ' -f1 "/proc/$pid/schedstat")
        ns=$(((now - ${started[$pid]}) / adverts))
        printf '%-8s %6d ns of CPU per advert  %s\n' "$role" "$ns" "$binary"
        index=$((index + 1))
    done
done
