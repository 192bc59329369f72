#!/usr/bin/env bash
# Regenerates layout/hot-functions.txt: the functions a running agent executes
# in steady state, which the release build links next to each other (see
# build.rs). As root on a fresh Debian machine:
#
#   sudo bash benches/code-layout.sh
#
# It builds the release binary, starts a Master and a Backup of 1000
# instances (4 links × 250, 100 ms adverts, as benchmark scenario 5) in two
# network namespaces of its own, and records for 60 s with `perf`:
#   - where the agents spend their CPU (samples of the running function);
#   - every page of code that faults in after the agents have given back the
#     pages start-up touched (10 s after a reload, which this script asks
#     for): those are code the steady loop runs, however rarely.
# The new list is this run's functions, busiest first, then those of the old
# list that still exist. A fault maps the 64 KiB around it, so one run sees
# only the first function to run in each window: run it three times (the
# first from an empty list, `rm layout/hot-functions.txt`, to drop what is
# no longer run); each run finds what the previous layout left outside.
set -euo pipefail
cd "$(dirname "$0")/.."

source tests/need.sh
install_missing linux-perf:perf binutils:nm iproute2:ip

out=layout/hot-functions.txt
work=$(mktemp -d /tmp/twinstar-layout.XXXXXX)
ns_master=tslayout-m-$$
ns_backup=tslayout-b-$$
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    ip netns del "$ns_master" 2>/dev/null || true
    ip netns del "$ns_backup" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> cargo build --release"
cargo build --release --quiet
binary=$PWD/target/release/twinstar

echo "==> a Master and a Backup of 1000 instances in namespaces $ns_master, $ns_backup"
ip netns add "$ns_master"
ip netns add "$ns_backup"
for ns in "$ns_master" "$ns_backup"; do ip -n "$ns" link set lo up; done
for link in 0 1 2 3; do
    ip link add "v$link" netns "$ns_master" type veth peer name "v$link" netns "$ns_backup"
    ip -n "$ns_master" addr add "192.0.2.$((16 * link + 1))/28" dev "v$link"
    ip -n "$ns_backup" addr add "192.0.2.$((16 * link + 2))/28" dev "v$link"
    ip -n "$ns_master" link set "v$link" up
    ip -n "$ns_backup" link set "v$link" up
done
for role in master backup; do
    priority=200
    [ "$role" = backup ] && priority=100
    mkdir -p "$work/$role"
    {
        echo "instances:"
        for link in 0 1 2 3; do
            for vrid in $(seq 1 250); do
                printf '  - name: vr%s_%s\n    interface: v%s\n    vrid: %s\n    priority: %s\n' \
                    "$link" "$vrid" "$link" "$vrid" "$priority"
                printf '    advert_interval: 100ms\n    garp: {count: 1}\n    virtual_ips: [203.0.113.%s/32]\n' \
                    "$vrid"
            done
        done
    } >"$work/$role/config.yaml"
done
ip netns exec "$ns_master" "$binary" run --config "$work/master/config.yaml" \
    --runtime-dir "$work/master/run" >"$work/master/log" 2>&1 &
pids+=($!)
sleep 1
ip netns exec "$ns_backup" "$binary" run --config "$work/backup/config.yaml" \
    --runtime-dir "$work/backup/run" >"$work/backup/log" 2>&1 &
pids+=($!)
sleep 20
for pid in "${pids[@]}"; do
    kill -0 "$pid" || { echo "an agent exited:"; cat "$work"/*/log; exit 1; }
done

echo "==> recording 60 s (a reload at the start; the pages it touched go back 10 s later)"
agents=$(IFS=,; echo "${pids[*]}")
perf record -q -e cpu-clock/freq=2999/ -e page-faults/period=1/ -d -T -o "$work/perf.data" \
    -p "$agents" -- sleep 60 &
recorder=$!
sleep 1
kill -HUP "${pids[@]}"
wait "$recorder"

# Per sample, names mangled:
#   TIME: cpu-clock…: 0 IP SYMBOL (DSO)
#   TIME: page-faults…: ADDR ADDR_SYMBOL (ADDR_DSO) IP SYMBOL (DSO)
perf script -i "$work/perf.data" -F time,ip,addr,sym,dso,event --no-demangle 2>/dev/null \
    | awk -v binary="($binary)" '
        { sub(":", "", $1) }
        NR == 1 { start = $1 }
        # Only after the give-back (the reload, 1 s in, and 10 s): what
        # the reload itself runs is not the steady loop.
        $1 <= start + 12 { next }
        # Where the CPU is: the function running.
        NF == 6 && $2 ~ /^cpu-clock/ && $6 == binary { print "cpu", $5 }
        # A fault of a code page: the address is on the page of the
        # instruction pointer.
        NF == 8 && $2 ~ /^page-faults/ && $8 == binary {
            if (substr($3, 1, length($3) - 3) == substr($6, 1, length($6) - 3)) print "fault", $7
        }' >"$work/found"

defined=$(nm --defined-only "$binary" | awk '{print $3}' | sort -u)
{
    awk '{print $2}' "$work/found" | grep -v '^\[unknown\]$' | sort | uniq -c | sort -rn | awk '{print $2}'
    if [ -f "$out" ]; then
        grep -v '^#' "$out" | grep -Fxf <(echo "$defined") || true
    fi
} | awk 'NF && !seen[$0]++' >"$work/list"
mkdir -p "$(dirname "$out")"
{
    echo "# Functions the agent runs in steady state, busiest first; build.rs has the"
    echo "# release link place them together. Generated by benches/code-layout.sh."
    cat "$work/list"
} >"$out"
echo "==> $out: $(wc -l <"$work/list") functions ($(grep -c . <(awk '$1 == "fault"' "$work/found") || true) code-page faults in steady state)"
