# Sourced by the one-instance benchmarks (profile-one.sh, compare-one.sh):
# the lab of scenario 9's shape, two namespaces joined by one veth pair.

# `pair_namespaces MASTER_NS BACKUP_NS`: the two namespaces, the Master's
# side 192.0.2.1/24 and the Backup's 192.0.2.2/24 on eth0, both up.
pair_namespaces() {
    local master_ns=$1 backup_ns=$2 ns
    ip netns add "$master_ns"
    ip netns add "$backup_ns"
    ip link add eth0 netns "$master_ns" type veth peer name eth0 netns "$backup_ns"
    ip -n "$master_ns" addr add 192.0.2.1/24 dev eth0
    ip -n "$backup_ns" addr add 192.0.2.2/24 dev eth0
    for ns in "$master_ns" "$backup_ns"; do
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
    done
}

# `pair_config FILE PRIORITY`: one instance on eth0 (VRID 1, 10 ms adverts,
# one gratuitous ARP, VIP 203.0.113.1) at PRIORITY, written to FILE.
pair_config() {
    local file=$1 priority=$2
    mkdir -p "$(dirname "$file")"
    printf 'instances:\n  - name: vr1\n    interface: eth0\n    vrid: 1\n    priority: %s\n    advert_interval: 10ms\n    garp: {count: 1}\n    virtual_ips: [203.0.113.1/32]\n' \
        "$priority" >"$file"
}
