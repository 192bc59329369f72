#!/usr/bin/env bash
# Where one advert's CPU goes at one instance (scenario 9's shape: 10 ms
# adverts), for twinstar and for the floor in its place, as root:
#
#   sudo bash benches/profile-one.sh            # 30 s per measurement
#   SECONDS_EACH=60 sudo bash benches/profile-one.sh
#
# Two namespaces joined by one veth pair. First a twinstar Master (priority
# 150) and Backup (100), the Master started first; once both have given back
# their start-up pages, `perf stat` counts each one's CPU time, context
# switches and system calls, then `perf record` samples each. Then the same
# with `twinstar bench-floor send` and `receive` in their places. Every
# figure is divided by the adverts of the window (100 a second), and the
# samples are summed by where they fall: the kernel's wake-up (the
# context switch every advert costs both programs), the rest of the kernel,
# tokio's runtime, twinstar's own code, libc. Nothing is left behind: the
# namespaces go and the processes are killed, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

source tests/need.sh
source benches/lib/one-pair.sh
install_missing linux-perf:perf iproute2:ip

cargo build --release --quiet
binary=$PWD/target/release/twinstar
secs=${SECONDS_EACH:-30}
adverts=$((secs * 100))
work=$(mktemp -d /tmp/twinstar-profile.XXXXXX)
master_ns=tsprof-m-$$
backup_ns=tsprof-b-$$
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    sleep 1
    ip netns del "$master_ns" 2>/dev/null || true
    ip netns del "$backup_ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

pair_namespaces "$master_ns" "$backup_ns"
pair_config "$work/master/config.yaml" 150
pair_config "$work/backup/config.yaml" 100

# perf stat, then perf record, of both hosts at once: `measure TAG MASTER BACKUP`.
measure() {
    local tag=$1 master=$2 backup=$3 waits=()
    for side in master backup; do
        local pid=$master
        [ "$side" = backup ] && pid=$backup
        perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter -p "$pid" \
            -o "$work/$tag-$side.stat" -- sleep "$secs" &
        waits+=($!)
    done
    wait "${waits[@]}"
    waits=()
    for side in master backup; do
        local pid=$master
        [ "$side" = backup ] && pid=$backup
        perf record -q -F 4999 -g -p "$pid" -o "$work/$tag-$side.data" -- sleep "$secs" 2>/dev/null &
        waits+=($!)
    done
    wait "${waits[@]}"
}

# One line of figures per advert from a `perf stat -x,` file.
per_advert() {
    awk -F, -v n="$adverts" '
        $3 == "task-clock" { cpu = $1 }
        $3 == "context-switches" { switches = $1 }
        $3 == "raw_syscalls:sys_enter" { calls = $1 }
        END { printf "%.1f us of CPU, %.2f context switches, %.2f system calls per advert\n",
              cpu * 1000 / n, switches / n, calls / n }' "$1"
}

# The samples of a `perf record` file summed by where they fall, in us per advert.
where() {
    perf report -i "$1" --no-children --sort dso,sym --stdio -g none 2>/dev/null | awk -v n="$adverts" '
        /Event count \(approx.\)/ { total = $NF }
        /^ +[0-9.]+%/ {
            share = $1; sub("%", "", share)
            line = $0
            if (line ~ /\[k\] (finish_task_switch|__schedule|schedule)/) part = "kernel: the wake-up (context switch)"
            else if (line ~ /\[k\]/) part = "kernel: system calls, network, interrupts"
            else if (line ~ /tokio::/) part = "tokio runtime (scheduler, I/O and timer drivers, channels)"
            else if (line ~ /twinstar::/) part = "own code of the program (twinstar::)"
            else if (line ~ /libc/) part = "libc (system call stubs, clock, malloc)"
            else part = "other"
            parts[part] += share
        }
        END {
            printf "  %.1f us per advert sampled\n", total / 1000 / n
            for (part in parts) printf "  %6.1f us  %5.1f %%  %s\n", total * parts[part] / 100 / 1000 / n, parts[part], part
        }' | sort -k1,1nr
}

ip netns exec "$master_ns" "$binary" run --config "$work/master/config.yaml" \
    --runtime-dir "$work/master/run" >"$work/master/log" 2>&1 &
master=$!
pids+=("$master")
sleep 1
ip netns exec "$backup_ns" "$binary" run --config "$work/backup/config.yaml" \
    --runtime-dir "$work/backup/run" >"$work/backup/log" 2>&1 &
backup=$!
pids+=("$backup")
# Past the start-up pages' give-back (10 s after configuring).
sleep 12
echo "==> twinstar, ${secs} s each"
measure twinstar "$master" "$backup"
kill -9 "$master" "$backup"
sleep 1

ip netns exec "$master_ns" "$binary" bench-floor send --interval 10ms \
    --router eth0,1,150,203.0.113.1 >"$work/floor-send.log" 2>&1 &
master=$!
pids+=("$master")
ip netns exec "$backup_ns" "$binary" bench-floor receive --interface eth0 \
    >"$work/floor-receive.log" 2>&1 &
backup=$!
pids+=("$backup")
sleep 3
echo "==> floor, ${secs} s each"
measure floor "$master" "$backup"

for tag in twinstar floor; do
    for side in master backup; do
        echo "== $tag $side: $(per_advert "$work/$tag-$side.stat")"
        where "$work/$tag-$side.data"
    done
done
