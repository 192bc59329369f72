#!/usr/bin/env bash
# A throw-away Debian host with a real systemd as PID 1, to test what the twinstar
# package does under systemd: the unit's start, Type=notify readiness, reloads,
# restarts, the watchdog, the sandbox and the journal. Run as root.
#
#   systemd-host.sh up NAME          boot host NAME; prints the PID of its systemd
#   systemd-host.sh root NAME        its root directory, writable from outside
#                                    (copy a .deb in, write /etc files)
#   systemd-host.sh pid NAME         the PID of its systemd, as this machine sees it
#                                    (for `ip link add … netns PID`)
#   systemd-host.sh exec NAME CMD…   run CMD inside it (systemctl, journalctl, dpkg)
#   systemd-host.sh down NAME        stop it and remove everything `up` made but the
#                                    cached root; safe to call for a host that is
#                                    half up or already down
#
# How it is built:
# - The root file system is Debian minbase plus systemd, made once by mmdebstrap
#   (the release this machine runs, so that a package built here installs there)
#   from the Debian mirror this machine's apt uses, and cached under
#   $TWINSTAR_SYSTEMD_CACHE (default /var/tmp/twinstar-systemd-root).
#   A half-built cache is never used: it only gets its final name when complete.
# - Each host runs on an overlay over that cache, so a run changes nothing in it and
#   the next run starts from the same clean root.
# - systemd runs in its own PID, mount, UTS, IPC and network namespaces. Every mount
#   is made inside the host's own mount namespace, so the machine's mount table never
#   sees one and the kernel drops them all when the host's last process exits. The
#   host's network namespace starts with a loopback only: nothing of the machine's
#   own network is visible or touched. A test gives it interfaces by creating a veth
#   pair directly in the two namespaces (`ip link add eth0 netns PID type veth peer
#   name eth0 netns NETNS`), never by moving an interface out of the machine's own.
# - It also runs in a cgroup namespace rooted at cgroups made for it alone (one per
#   hierarchy, removed by `down`), so its slices and units are its own even when
#   several hosts run on one machine.
#
# Environment: TWINSTAR_SYSTEMD_CACHE (cache directory), TWINSTAR_SYSTEMD_BOOT_SECONDS
# (how long `up` waits for systemd to finish booting, default 60).
set -euo pipefail

cache_base=${TWINSTAR_SYSTEMD_CACHE:-/var/tmp/twinstar-systemd-root}
state_base=/run/twinstar-systemd-host
# Packages beyond minbase: systemd as init, dbus for systemctl's usual bus.
packages=systemd,systemd-sysv,dbus

usage() {
    sed -n '2,14p' "$0" >&2
    exit 2
}
die() {
    echo "systemd-host: $*" >&2
    exit 1
}

cmd=${1:-}
name=${2:-}
[ -n "$cmd" ] && [ -n "$name" ] || usage
case "$name" in
*[!a-zA-Z0-9_-]*) die "host name '$name': use letters, digits, '-' and '_' only" ;;
esac
state=$state_base/$name

# The release this machine runs (bookworm on Debian 12).
codename() {
    local c
    c=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$c" ] || die "/etc/os-release names no VERSION_CODENAME: which Debian release to bootstrap?"
    echo "$c"
}

# The Debian mirror apt already uses on this machine, so the bootstrap reaches
# the same one (empty when none is configured).
mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | grep -v -- '-security' | head -n 1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hs '^deb ' /etc/apt/sources.list 2>/dev/null |
            awk '{print $2}' | grep -v -- '-security' | head -n 1 || true)
    fi
    echo "$uri"
}

# Builds the cached root once; prints its path.
cached_root() {
    local release root building source
    release=$(codename)
    root=$cache_base/$release
    mkdir -p "$cache_base"
    # One builder at a time: a second run waits for the first one's root.
    exec 9>"$cache_base/.lock"
    flock 9
    if [ ! -x "$root/lib/systemd/systemd" ]; then
        command -v mmdebstrap >/dev/null 2>&1 ||
            die "mmdebstrap is not installed (tests/need.sh: install_missing mmdebstrap:mmdebstrap)"
        source=$(mirror)
        [ -n "$source" ] || die "no Debian mirror in this machine's apt sources to bootstrap from"
        building=$cache_base/.building-$release
        rm -rf "$building"
        echo "systemd-host: bootstrapping $release (minbase + $packages) into $root" >&2
        # mmdebstrap rather than debootstrap: it downloads with apt, in parallel,
        # and installs in one dpkg run, which makes it about twice as fast here.
        # Documentation, man pages and translations are left out: nothing reads
        # them in a test host, and they are a good part of the unpacking time.
        if ! mmdebstrap --variant=minbase --include="$packages" \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            "$release" "$building" "$source" </dev/null >"$cache_base/bootstrap.log" 2>&1; then
            tail -n 20 "$cache_base/bootstrap.log" >&2
            rm -rf "$building"
            die "mmdebstrap failed (log: $cache_base/bootstrap.log)"
        fi
        # No console logins in a host nobody logs in to.
        rm -f "$building"/etc/systemd/system/getty.target.wants/*
        mv "$building" "$root"
    fi
    flock -u 9
    echo "$root"
}

# The PID of the host's systemd: the child of the unshare process `up` started.
systemd_pid() {
    local unshare_pid pid
    unshare_pid=$(cat "$state/unshare" 2>/dev/null) || return 1
    pid=$(pgrep -P "$unshare_pid" 2>/dev/null | head -n 1) || return 1
    [ -n "$pid" ] || return 1
    # Until the boot script execs systemd the child is still a shell.
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] || return 1
    echo "$pid"
}

# Runs "$@" in all the host's namespaces, in its root.
inside() {
    local pid
    pid=$(systemd_pid) || die "no systemd host '$name' is up"
    nsenter -t "$pid" -a -r -w "$@"
}

# The mount point of the cgroup hierarchy a line of /proc/self/cgroup names by
# its controllers ("" for the unified v2 hierarchy, "cpu,cpuacct", "name=systemd").
hierarchy_mount() {
    local controllers=$1 target fstype options c all
    while read -r target fstype options; do
        if [ -z "$controllers" ]; then
            [ "$fstype" = cgroup2 ] && echo "$target" && return
            continue
        fi
        [ "$fstype" = cgroup ] || continue
        all=yes
        for c in ${controllers//,/ }; do
            case ",$options," in *",$c,"*) ;; *) all=no ;; esac
        done
        [ "$all" = yes ] && echo "$target" && return
    done < <(findmnt -rn -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS)
    return 0
}

# Moves process $1 into a new cgroup of its own, below its current one, in every
# cgroup hierarchy, and records the new directories for `down`. The host's
# systemd then runs in a cgroup namespace rooted there (unshare --cgroup), so
# its slices and units are its own: without this every host on the machine
# would share one /system.slice/twinstar.service.
join_own_cgroups() {
    local pid=$1 controllers path mount dir parent current
    : >"$state/cgroups"
    # Read once: the file changes as the process moves.
    current=$(cat "/proc/$pid/cgroup")
    while IFS=: read -r _ controllers path; do
        mount=$(hierarchy_mount "$controllers")
        [ -n "$mount" ] || continue
        parent=$mount${path%/}
        dir=$parent/twinstar-systemd-host-$name
        mkdir -p "$dir"
        echo "$dir" >>"$state/cgroups"
        # A new v1 cpuset has no CPUs or memory nodes until given its parent's.
        if [ -f "$dir/cpuset.cpus" ]; then
            cat "$parent/cpuset.cpus" >"$dir/cpuset.cpus"
            cat "$parent/cpuset.mems" >"$dir/cpuset.mems"
        fi
        echo "$pid" >"$dir/cgroup.procs"
    done <<<"$current"
}

# Removes the cgroups join_own_cgroups made, once their processes are gone:
# children first (the host's systemd leaves init.scope and the like behind).
leave_own_cgroups() {
    local dir
    [ -f "$state/cgroups" ] || return 0
    while read -r dir; do
        # The kernel lets go of a cgroup a moment after its last process exits.
        for _ in $(seq 1 20); do
            [ -d "$dir" ] || break
            find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || sleep 0.1
        done
        [ -d "$dir" ] && echo "systemd-host: cgroup $dir is still in use; left in place" >&2
    done <"$state/cgroups"
    return 0
}

down() {
    local unshare_pid pid
    if unshare_pid=$(cat "$state/unshare" 2>/dev/null); then
        # SIGRTMIN+4 asks systemd for a poweroff: units stop in order, the agent
        # gets its SIGTERM. Whatever is left after 10 s is killed: SIGKILL to PID 1
        # of a PID namespace kills every process in it.
        if pid=$(systemd_pid); then
            kill -s SIGRTMIN+4 "$pid" 2>/dev/null || true
        fi
        for _ in $(seq 1 100); do
            kill -0 "$unshare_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$unshare_pid" 2>/dev/null; then
            pid=$(pgrep -P "$unshare_pid" 2>/dev/null | head -n 1 || true)
            [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$unshare_pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$unshare_pid" 2>/dev/null || true
        fi
    fi
    leave_own_cgroups
    # The overlay's upper layer and the state files; the mounts went with the
    # host's mount namespace.
    rm -rf "$state"
}

up() {
    local lower pid status
    [ "$(id -u)" = 0 ] || die "needs root (namespaces, mounts)"
    if [ -e "$state" ]; then
        die "host '$name' exists already ($state); 'down' it first"
    fi
    lower=$(cached_root)
    mkdir -p "$state/upper" "$state/work" "$state/root"
    # Everything below runs in the host's new namespaces: mount the overlay, give
    # it a fresh /run, a sysfs of its own network namespace and the machine's
    # /dev, make it the root, mount /proc for the new PID namespace and start
    # systemd as PID 1. `container=other` tells systemd it runs in a container.
    # The subshell joins cgroups of its own, then becomes unshare.
    # shellcheck disable=SC2016
    (
        join_own_cgroups "$BASHPID"
        exec setsid unshare --pid --fork --mount --uts --ipc --net --cgroup \
            --propagation private /bin/sh -c '
        set -e
        root=$1/root
        mount -t overlay overlay -o "lowerdir=$2,upperdir=$1/upper,workdir=$1/work" "$root"
        mount -t tmpfs -o mode=0755 tmpfs "$root/run"
        mount -t sysfs sysfs "$root/sys"
        mount --bind /dev "$root/dev"
        echo "$3" >"$root/etc/hostname"
        mkdir -p "$root/oldroot"
        cd "$root"
        pivot_root . oldroot
        exec /usr/bin/env -i container=other TERM=dumb /bin/sh -c "
            mount -t proc proc /proc
            umount -l /oldroot
            hostname $3
            exec /lib/systemd/systemd --system --log-target=journal"
        ' boot "$state" "$lower" "$name"
    ) </dev/null >"$state/console.log" 2>&1 &
    echo $! >"$state/unshare"
    local deadline=$((SECONDS + ${TWINSTAR_SYSTEMD_BOOT_SECONDS:-60}))
    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "$(cat "$state/unshare")" 2>/dev/null; then
            cat "$state/console.log" >&2
            down
            die "the host's boot process exited (its output is above)"
        fi
        if pid=$(systemd_pid); then
            status=$(nsenter -t "$pid" -a -r -w systemctl is-system-running 2>/dev/null || true)
            case "$status" in
            running | degraded)
                echo "$pid"
                return 0
                ;;
            esac
        fi
        sleep 0.2
    done
    cat "$state/console.log" >&2
    [ -n "${pid:-}" ] && nsenter -t "$pid" -a -r -w systemctl --failed --no-pager >&2 || true
    down
    die "systemd did not finish booting within ${TWINSTAR_SYSTEMD_BOOT_SECONDS:-60} s"
}

case "$cmd" in
up) up ;;
down) down ;;
pid) systemd_pid || die "no systemd host '$name' is up" ;;
root)
    systemd_pid >/dev/null || die "no systemd host '$name' is up"
    # The merged overlay as the host's own processes see it.
    echo "/proc/$(systemd_pid)/root"
    ;;
exec)
    shift 2
    [ $# -gt 0 ] || usage
    inside "$@"
    ;;
*) usage ;;
esac
