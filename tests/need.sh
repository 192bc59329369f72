# Sourced by the test, package and benchmark scripts.
#
#   install_missing PACKAGE:COMMAND ...
#
# installs (with apt-get, as root) each Debian PACKAGE whose COMMAND is found
# neither on PATH nor in /usr/sbin, so the scripts run on a fresh machine.
install_missing() {
    local need=() pkg cmd pkg_cmd
    for pkg_cmd in "$@"; do
        pkg=${pkg_cmd%%:*} cmd=${pkg_cmd##*:}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "==> installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" >/dev/null
    fi
}
