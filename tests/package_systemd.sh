#!/usr/bin/env bash
# The Debian package under a real systemd: boots a throw-away Debian host with
# systemd as PID 1 (tests/support/systemd-host.sh), installs the .deb in it, checks
# what installing did there, then runs tests/packaged_systemd (start, reload,
# stop, journal, watchdog and SIGKILL restarts through systemctl, against a peer
# agent in a network namespace of the test's own). The host is taken down again
# on exit, also when a step fails. Run as root; tests/package.sh calls it.
#
#   tests/package_systemd.sh PATH/TO/twinstar.deb
#
# It never skips: when the host cannot be built or booted, it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

ok() { printf 'package-systemd: ok    %s\n' "$*"; }
fail() {
    printf 'package-systemd: FAIL  %s\n' "$*" >&2
    exit 1
}

deb=${1:-}
[ -f "$deb" ] || fail "usage: tests/package_systemd.sh PATH/TO/twinstar.deb (got '$deb')"
[ "$(id -u)" = 0 ] || fail "needs root: it boots a systemd host in namespaces"

source "$(dirname "$0")/need.sh"
install_missing mmdebstrap:mmdebstrap util-linux:nsenter iproute2:ip procps:pgrep

began=$SECONDS
host_script=tests/support/systemd-host.sh
name=twinstar-pkg-$$
log=$(mktemp)
trap 'bash "$host_script" down "$name"; rm -f "$log"' EXIT
# An interrupted run takes the host down too: a signal becomes an exit.
trap 'exit 130' INT TERM HUP
# The first run on a machine bootstraps the root (cached under /var/tmp after).
pid=$(bash "$host_script" up "$name") || fail "the systemd host did not boot"
ok "systemd host $name up (systemd is PID $pid here) after $((SECONDS - began)) s"

inside() { bash "$host_script" exec "$name" "$@"; }

root=$(bash "$host_script" root "$name")
cp "$deb" "$root/root/twinstar.deb"
inside dpkg -i /root/twinstar.deb >/dev/null 2>"$root/root/dpkg.err" || {
    cat "$root/root/dpkg.err" >&2
    fail "dpkg -i in the systemd host"
}
ok "dpkg -i: $(inside dpkg-query -W -f='${Package} ${Version}' twinstar)"

inside getent passwd twinstar >/dev/null || fail "systemd-sysusers made no twinstar user in the systemd host"
enabled=$(inside systemctl is-enabled twinstar.service 2>&1 || true)
[ "$enabled" = disabled ] || fail "twinstar.service should be installed disabled, is: $enabled"
active=$(inside systemctl is-active twinstar.service 2>&1 || true)
[ "$active" = inactive ] || fail "installing should not start twinstar.service, it is: $active"
ok "installed: twinstar user made, twinstar.service disabled and inactive"

# The test prints what it measured (times, sample rates, VIP overlaps); shown
# on success too, since a bound that holds only just is worth seeing.
if TWINSTAR_SYSTEMD_HOST=$name cargo test --release --quiet --test packaged_systemd \
    -- --ignored --nocapture >"$log" 2>&1; then
    grep -v '^$' "$log" | sed 's/^/  /'
    ok "under systemd: start, reload, stop, journal, watchdog and SIGKILL restarts ($((SECONDS - began)) s in all)"
else
    cat "$log" >&2
    fail "the package under systemd (tests/packaged_systemd)"
fi
