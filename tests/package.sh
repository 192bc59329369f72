#!/usr/bin/env bash
# Builds the Debian package, lints it, installs it on this machine, checks what
# the installed package does (and does not do), then purges it and checks that
# nothing of it is left. Run as root on Debian 12; tests/run.sh calls it after
# the cargo tests.
#
# The package is first installed on the test machine itself, for lintian,
# systemd-analyze, man and the purge checks: the script refuses to run when
# twinstar is already installed, records what it changes (the `twinstar` user,
# directories) and undoes it on exit, also when a step fails, so the machine is
# left as it was found. Then tests/package_systemd.sh installs the same .deb in
# a throw-away Debian host with a real systemd as PID 1 and runs the service
# there through systemctl (start, reload, stop, watchdog, restarts, journal).
set -euo pipefail
cd "$(dirname "$0")/.."

ok() { printf 'package: ok    %s\n' "$*"; }
fail() {
    printf 'package: FAIL  %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root: it installs and purges the package"

# --- tools -----------------------------------------------------------------
source "$(dirname "$0")/need.sh"
install_missing protobuf-compiler:protoc lintian:lintian man-db:man dpkg-dev:dpkg-shlibdeps iproute2:ip procps:pgrep
if ! cargo deb --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-deb"
    cargo install cargo-deb --locked --quiet
fi
ok "tools: lintian, man, dpkg-shlibdeps, cargo-deb"

# --- state of the machine before -------------------------------------------
status=$(dpkg-query -W -f='${db:Status-Status}' twinstar 2>/dev/null || true)
case "$status" in
"" | not-installed) ;;
*) fail "twinstar is already on this machine (dpkg status: $status); this test installs and purges it, so run it where it is not installed" ;;
esac
user_existed=no group_existed=no installed=no
getent passwd twinstar >/dev/null && user_existed=yes
getent group twinstar >/dev/null && group_existed=yes

work=$(mktemp -d)
cleanup() {
    local rc=$?
    if [ "$installed" = yes ]; then
        dpkg --purge twinstar >/dev/null 2>&1 || echo "package: cleanup: dpkg --purge twinstar failed" >&2
    fi
    # Debian policy keeps system users on purge; the test created this one, so
    # it removes it again to leave the machine as it was.
    if [ "$user_existed" = no ] && getent passwd twinstar >/dev/null; then
        userdel twinstar || echo "package: cleanup: userdel twinstar failed" >&2
    fi
    if [ "$group_existed" = no ] && getent group twinstar >/dev/null; then
        groupdel twinstar || echo "package: cleanup: groupdel twinstar failed" >&2
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# --- build -----------------------------------------------------------------
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
bin=$target/release/twinstar
if ! "$bin" generate --help >/dev/null 2>&1; then
    fail "$bin has no \`generate\` subcommand, which writes the man pages and shell completions the package ships (target/generated/); build a twinstar that has it"
fi
rm -rf target/generated
"$bin" generate --out target/generated >/dev/null
ok "generate: man pages and completions in target/generated"
deb=$(cargo deb --no-build --quiet | tail -n 1)
[ -f "$deb" ] || fail "cargo deb did not name a .deb: $deb"
ok "cargo deb: $deb"

# --- lint ------------------------------------------------------------------
# Any error or warning fails; overrides live in packaging/lintian-overrides,
# each with its reason. Info tags are shown but do not fail.
if ! lintian --fail-on error,warning --display-info "$deb" >"$work/lintian" 2>&1; then
    cat "$work/lintian" >&2
    fail "lintian reports errors or warnings"
fi
[ -s "$work/lintian" ] && sed 's/^/  lintian: /' "$work/lintian"
ok "lintian: no error or warning"

# --- contents --------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^$' | sort >"$work/contents"
expected=(
    /usr/sbin/twinstar
    /etc/twinstar/twinstar.yaml
    /usr/lib/systemd/system/twinstar.service
    /usr/lib/sysusers.d/twinstar.conf
    /usr/share/man/man8/twinstar.8.gz
    /usr/share/man/man5/twinstar.yaml.5.gz
    /usr/share/bash-completion/completions/twinstar
    /usr/share/zsh/vendor-completions/_twinstar
    /usr/share/fish/vendor_completions.d/twinstar.fish
    /usr/share/doc/twinstar/README.md
    /usr/share/doc/twinstar/upgrade.md
    /usr/share/doc/twinstar/copyright
    /usr/share/doc/twinstar/changelog.Debian.gz
    /usr/share/doc/twinstar/examples/two-node-a.yaml
    /usr/share/doc/twinstar/examples/two-node-b.yaml
    /usr/share/lintian/overrides/twinstar
)
for path in "${expected[@]}"; do
    grep -qxF "$path" "$work/contents" || fail "dpkg-deb -c does not list $path"
done
dpkg-deb -I "$deb" conffiles | grep -qxF /etc/twinstar/twinstar.yaml ||
    fail "/etc/twinstar/twinstar.yaml is not a conffile"
ok "contents: all ${#expected[@]} expected paths, twinstar.yaml is a conffile"

# Which directories of the package exist before it is installed: those must
# still exist after the purge, all others must be gone.
while read -r path; do
    if [ -d "$path" ] && [ ! -L "$path" ]; then echo "$path"; fi
done <"$work/contents" >"$work/dirs-before"

# --- install ---------------------------------------------------------------
addrs() { ip -o addr show | awk '{print $2, $3, $4}' | sort; }
addrs >"$work/addr-before"
installed=yes
dpkg -i "$deb" >"$work/dpkg-install" 2>&1 || {
    cat "$work/dpkg-install" >&2
    fail "dpkg -i $deb"
}
ok "dpkg -i: installed $(dpkg-query -W -f='${Version}' twinstar)"

getent passwd twinstar >/dev/null || fail "no twinstar user after install"
ok "user: $(getent passwd twinstar)"

out=$(twinstar check --config /etc/twinstar/twinstar.yaml) || fail "twinstar check of the packaged configuration"
case "$out" in
*"OK, 0 instances"*) ;;
*) fail "the packaged configuration should hold no instance: $out" ;;
esac
ok "check: $out"

enabled=$(systemctl is-enabled twinstar 2>&1 || true)
[ "$enabled" = disabled ] || fail "twinstar.service should be installed disabled, is: $enabled"
if [ -d /run/systemd/system ]; then
    active=$(systemctl is-active twinstar 2>&1 || true)
    [ "$active" = inactive ] || fail "twinstar.service should not be running, is: $active"
    ok "service: disabled and inactive"
else
    # No service manager runs here (a container): nothing can have started it;
    # make sure no agent of the package runs either. Only the installed binary
    # counts: test agents run from the build tree may be running beside this.
    for pid in $(pgrep -x twinstar || true); do
        if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/twinstar ]; then
            fail "the installed /usr/sbin/twinstar runs (pid $pid) after install"
        fi
    done
    ok "service: disabled; no service manager here, and /usr/sbin/twinstar does not run"
fi

addrs >"$work/addr-after"
diff -u "$work/addr-before" "$work/addr-after" || fail "installing the package changed the host's addresses"
ok "addresses: ip -o addr identical before and after install ($(wc -l <"$work/addr-after") addresses)"

unit=/usr/lib/systemd/system/twinstar.service
# systemd-analyze also loads the units twinstar.service refers to
# (network-online.target, multi-user.target...) and may complain about other
# units of the host; only lines about twinstar count.
systemd-analyze verify "$unit" >"$work/verify" 2>&1 || true
if grep -i twinstar "$work/verify"; then
    fail "systemd-analyze verify warns about twinstar.service"
fi
ok "systemd-analyze verify: no warning about twinstar.service"
if systemd-analyze security --offline=yes "$unit" >"$work/security" 2>&1; then
    ok "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$work/security" | sed 's/\x1b\[[0-9;]*m//g')"
fi

# The unit's ExecStart line, run by hand in a lab namespace with a two-node
# configuration in the installed conffile, must elect a Master that serves the
# VIP (tests/packaged_unit.rs; it puts the packaged file back).
if TWINSTAR_UNIT="$unit" cargo test --release --quiet --test packaged_unit -- --ignored \
    >"$work/unit-lab" 2>&1; then
    ok "ExecStart in a lab: elects a Master that serves the VIP, hands it over on stop"
else
    cat "$work/unit-lab" >&2
    fail "the unit's ExecStart did not elect and serve the VIP in a lab"
fi

for page in /usr/share/man/man8/twinstar.8.gz /usr/share/man/man5/twinstar.yaml.5.gz; do
    if [ ! -e "$page" ]; then
        # A minimal image may exclude man pages from installation
        # (path-exclude in /etc/dpkg/dpkg.cfg.d); read the packaged copy then.
        grep -rqs 'path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/ || fail "$page was not installed"
        mkdir -p "$work/deb"
        dpkg-deb -x "$deb" "$work/deb"
        page=$work/deb$page
    fi
    MANWIDTH=80 man -l "$page" >"$work/man" 2>"$work/man-err" || {
        cat "$work/man-err" >&2
        fail "man -l $page"
    }
    [ -s "$work/man" ] || fail "man -l $page printed nothing"
    ok "man -l $page: $(wc -l <"$work/man") lines"
done

# --- purge -----------------------------------------------------------------
dpkg --purge twinstar >"$work/dpkg-purge" 2>&1 || {
    cat "$work/dpkg-purge" >&2
    fail "dpkg --purge twinstar"
}
installed=no
left=()
while read -r path; do
    if grep -qxF "$path" "$work/dirs-before"; then
        continue
    fi
    if [ -e "$path" ] || [ -L "$path" ]; then left+=("$path"); fi
done <"$work/contents"
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
[ ! -e /etc/twinstar ] || fail "/etc/twinstar is left after purge"
[ ! -e /run/twinstar ] || fail "/run/twinstar is left after purge"
ok "purge: no file of the package is left, /etc/twinstar is gone"
if [ "$user_existed" = no ]; then
    ok "user: twinstar stays after purge (Debian policy); removed by this test on exit"
fi
# --- under a real systemd ---------------------------------------------------
bash tests/package_systemd.sh "$deb" || fail "the package under systemd (tests/package_systemd.sh)"
echo "package: all checks passed"
