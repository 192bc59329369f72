//! The configuration reference: every key of the YAML file with its default and
//! meaning, in the order of the file, and its renderings as the twinstar.yaml(5)
//! manual page and as `docs/configuration.md`.
//!
//! The tests (`reference/tests.rs`) hold this table to the parser: a key the
//! parser accepts must be documented here, a key documented here must be
//! accepted, and the defaults written here must be those of
//! [`super::defaults`]. In text, `code` marks literal keys and values.

/// One configuration key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyDoc {
    /// The title of the [`SectionDoc`] the key belongs to.
    pub section: &'static str,
    /// The dotted path of the key: `[]` marks a list item, `*` any hook.
    pub key: &'static str,
    /// What an omitted key means: `required`, `none`, or the value.
    pub default: &'static str,
    /// One or two sentences: meaning and accepted range.
    pub summary: &'static str,
}

/// A group of keys, such as everything about one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionDoc {
    /// The section's title.
    pub title: &'static str,
    /// A paragraph introducing its keys.
    pub intro: &'static str,
}

const TOP: &str = "Top level";
const INSTANCES: &str = "Instances";
const GARP: &str = "Announcements (garp)";
const CHECKS: &str = "Tracked objects (checks and track)";
const HOOKS: &str = "Hooks";
const SYNC: &str = "Sync groups";
const EVENTS: &str = "Events";
const CONTROL: &str = "Control socket";
const METRICS: &str = "Metrics";
const SCRIPT_USER: &str = "Script user";
const SCHEDULING: &str = "Scheduling";
const QUORUM: &str = "Split brain (quorum)";

/// The sections, in the order of the file.
pub const SECTIONS: &[SectionDoc] = &[
    SectionDoc {
        title: TOP,
        intro: "The file is one YAML mapping. Only `instances` is required; every other \
                top-level key has its own section below.",
    },
    SectionDoc {
        title: INSTANCES,
        intro: "Each item of `instances` is one virtual router (RFC 9568) on one interface \
                for one address family. Run two instances with the same `vrid` to serve \
                IPv4 and IPv6. Both routers of a pair list the same `vrid`, \
                `advert_interval` and `virtual_ips`, and differ in `priority`.",
    },
    SectionDoc {
        title: GARP,
        intro: "A new Master announces its virtual IPs with gratuitous ARP (IPv4) or \
                unsolicited Neighbor Advertisements (IPv6), so that switches and \
                neighbours learn their new location.",
    },
    SectionDoc {
        title: CHECKS,
        intro: "A tracked object is checked periodically (or watched) and its result moves \
                the priority of the instances tracking it, or puts them in Fault. Declare \
                a check once under the top-level `checks` with a `name` and refer to it \
                from any instance with `track: [{check: NAME, weight: W}]`, or write it \
                inline as a `track` item: any key of `checks[]` plus `weight`, the name \
                being optional. A check tracked by several instances runs once. A check \
                has exactly one kind key: `script`, `interface`, `file`, `process`, `tcp`, \
                `http` or `ping`.",
    },
    SectionDoc {
        title: HOOKS,
        intro: "Commands run on an instance's transitions, as `script_user` with a clean \
                environment. A hook is a command (a string run by `/bin/sh -c`, or a list \
                of a program and its arguments) or a mapping `{command: ..., timeout: 10s}`. \
                Every hook gets the arguments `INSTANCE NEW_STATE OLD_STATE PRIORITY` and \
                the same values in `TWINSTAR_INSTANCE`, `TWINSTAR_STATE`, \
                `TWINSTAR_OLD_STATE` and `TWINSTAR_PRIORITY`. Per instance, hooks run one \
                at a time in the order of the transitions; a slow hook delays the next \
                hook, never the protocol. When the state changes again before queued \
                hooks have started, only the latest transition's hooks run: the others \
                are dropped, logged and reported as skipped (a hook already running \
                finishes). `before_master` runs in a lane of its own and never waits \
                behind another hook. A `switchover` or `maintenance on` that nobody \
                takes over runs no hook: the router is Master again with its virtual IPs \
                never removed, and the hooks queued for leaving Master are dropped unrun.",
    },
    SectionDoc {
        title: SYNC,
        intro: "Instances that are Master together or not at all. A Fault in any member \
                puts every member in Fault; a member becoming Master makes the others on \
                that host take over too, and a member leaving Master makes them resign \
                (after a switchover or maintenance they then hold back from preempting, \
                as the member does); members share the lowest effective priority among \
                them, so where two hosts both claim a group, every member yields to the \
                same host.",
    },
    SectionDoc {
        title: EVENTS,
        intro: "The JSON-lines event stream: one object per transition, priority \
                change, tracked-object change, hook result, sync-group change, repaired \
                virtual IP and switchover or maintenance outcome (`type: handover`: \
                `instance`, `kind`, `outcome` confirmed / stayed_master / released / \
                partial / interrupted, `new_master`, `elapsed_ms`).",
    },
    SectionDoc {
        title: CONTROL,
        intro: "The control socket `<runtime-dir>/control.sock`, used by `twinstar status`, \
                `switchover`, `maintenance` and `reload`. Read at start only.",
    },
    SectionDoc {
        title: METRICS,
        intro: "The Prometheus endpoint, `GET /metrics` over plain HTTP; off unless \
                `metrics` is given. Read at start only.",
    },
    SectionDoc {
        title: SCRIPT_USER,
        intro: "Who scripts and hooks run as.",
    },
    SectionDoc {
        title: SCHEDULING,
        intro: "How the agent is scheduled, so adverts leave on time on a busy host. Read at start only.",
    },
    SectionDoc {
        title: QUORUM,
        intro: "The split-brain guard: with `quorum`, a router adds its virtual IPs only while \
                this node holds the unit's key in etcd under a live lease: \
                `PREFIX/instance/NAME` for an instance outside sync groups, \
                `PREFIX/group/NAME` for a sync group, taken with a compare-and-swap \
                transaction, valued `node_id`. A Backup whose Master went silent (or \
                resigned, or that would preempt, or an address owner starting) becomes Master \
                only once it holds the key; while another node's lease is live it stays \
                Backup, counts the denial and asks again one Master_Down_Interval later. \
                Under quorum a higher-priority Backup therefore does not preempt a Master \
                that holds the key: hand over with `twinstar switchover`, `maintenance on` \
                or by stopping the agent, which gives the key back at once. A Master stops \
                serving (virtual IPs removed at once, priority-0 advert) when its lease would \
                lapse: a quarter of `lease_ttl` before it can expire at etcd, counted by its \
                own clock from when it sent the last renewal etcd answered; when etcd says the \
                lease is gone; or when another node holds the key. A reload keeps the key of \
                a unit whose name and prefix stay; adding `quorum` makes a running Master take \
                its key without stepping down first (it stops if another node holds it); \
                removing `quorum`, or a unit, gives its key back.",
    },
];

/// Shorthand for the table below.
const fn k(
    section: &'static str,
    key: &'static str,
    default: &'static str,
    summary: &'static str,
) -> KeyDoc {
    KeyDoc {
        section,
        key,
        default,
        summary,
    }
}

/// Every key of the configuration file, section by section in file order.
pub const KEYS: &[KeyDoc] = &[
    // Top level.
    k(TOP, "instances", "required", "The virtual routers this host takes part in: a list; `instances: []` is valid and configures nothing (the packaged default). Names are unique, and so is each (interface, vrid, address family)."),
    k(TOP, "checks", "none", "Named tracked objects that instances refer to with `track: [{check: NAME}]`; see the tracked objects section."),
    k(TOP, "sync_groups", "none", "Lists of instances that move together; see the sync groups section."),
    k(TOP, "events", "none", "Where the JSON-lines event stream is written; see the events section."),
    k(TOP, "control", "none", "Who may use the control socket; see the control socket section."),
    k(TOP, "metrics", "none", "The Prometheus endpoint, off when omitted; see the metrics section."),
    k(TOP, "vip_lifetime", "4 × advert_interval, at least 2s", "The kernel lifetime of every virtual IP, the default of each instance's `vip_lifetime`: a whole number of seconds, 2s..=1d, or `forever` for none. The Master refreshes it every third of it, so a VIP of an agent that was killed, stopped or hung leaves its host by itself `vip_lifetime` to `vip_lifetime` + 1s after the last refresh (the kernel counts in seconds). The default, four advert intervals rounded up to whole seconds, outlasts any Backup's Master_Down_Interval (3 intervals + Skew_Time, under 4): a dead Master's VIP is gone by the time a Backup takes over, or within the kernel's second after; 2s is the floor, so a loaded host has over a second to refresh."),
    k(TOP, "quorum", "none", "The split-brain guard: the etcd lease a Master must hold; plain VRRP when omitted. See the split brain section."),
    k(TOP, "node_id", "the host name", "Who this node is in the quorum store, the value of the keys it holds: 1 to 64 letters, digits, `-`, `_` or `.`, unique among the nodes."),
    k(TOP, "peers", "none", "The addresses of every router on the segment, for all instances that do not list their own `peers`: each instance takes the addresses of its family, and there must be some. IPv4 addresses, and IPv6 link-local ones (IPv6 adverts come from `fe80::...`). This host's own address may be listed, so every host can share the list."),
    // Instances.
    k(INSTANCES, "instances[].name", "required", "Unique label used by the command line, hooks and metrics: 1 to 32 letters, digits, `-`, `_` or `.`."),
    k(INSTANCES, "instances[].interface", "required", "The network interface to advertise on and to add the virtual IPs to (unless a VIP names its own), such as `eth0`: at most 15 characters, without `/`, `:` or spaces."),
    k(INSTANCES, "instances[].vrid", "required", "The Virtual Router Identifier, 1..=255, the same on every router of the group. It picks the virtual MAC 00-00-5E-00-01-{vrid} (IPv6: 00-00-5E-00-02-{vrid}), so it is unique per interface and address family."),
    k(INSTANCES, "instances[].priority", "100", "1..=255: the highest priority becomes Master. 255 declares this host the address owner, which always preempts and is never moved by track weights."),
    k(INSTANCES, "instances[].advert_interval", "1s", "How often the Master advertises, 10ms..=40.95s in 10 ms steps; Backups declare it dead after about three intervals. The same on every router of the group."),
    k(INSTANCES, "instances[].preempt", "true", "Whether a higher-priority Backup takes over from a lower-priority Master. Address owners always preempt."),
    k(INSTANCES, "instances[].preempt_delay", "0s", "How long a Backup that could preempt waits first, 0s..=1h, to let a rebooted host's services settle before taking traffic."),
    k(INSTANCES, "instances[].accept", "true", "Whether the Master accepts packets addressed to virtual IPs it does not own (RFC 9568 Accept_Mode). `true` is keepalived's behaviour (unless `vrrp_strict`) and what a service bound to a virtual IP needs. `false` makes a Master that is not the address owner (priority below 255) drop every packet addressed to its virtual IPs except ARP and Neighbor Discovery, with an nftables table (`inet twinstar`, written with the `nft` program) that the agent owns, fills while such a Master holds its virtual IPs, and removes when it stops, when it starts (a crashed run's) and on `twinstar remove-vips`; traffic from the host itself (`lo`) passes."),
    k(INSTANCES, "instances[].virtual_ips", "required", "The addresses moved between hosts, at least one, each with its prefix length (`192.0.2.50/24`, `2001:db8::50/64`), all of one address family and none twice. Not unspecified, loopback, multicast, or a subnet's network or broadcast address. An item may also be a mapping `{address: 192.0.2.50/24, interface: eth0}`."),
    k(INSTANCES, "instances[].virtual_ips[].address", "required", "In the mapping form of a virtual IP: the address with its prefix length, as in the plain form."),
    k(INSTANCES, "instances[].virtual_ips[].interface", "interface", "In the mapping form of a virtual IP: the interface it lives on, when not the instance's `interface` (a dedicated heartbeat network carries the adverts, the service network the addresses). It is added, refreshed, verified and removed there, its gratuitous ARP or Neighbor Advertisements go out there with that interface's MAC, and losing that interface's carrier (or the interface) puts the instance in Fault, as losing the advert interface does. No two instances may hold one address on one interface."),
    k(INSTANCES, "instances[].ipv4_checksum", "pseudo-header", "IPv4 instances only: `pseudo-header` computes the advertisement checksum over an IPv4 pseudo-header as keepalived and FRRouting do, `rfc9568` over the VRRP message alone. Both forms are accepted on receipt."),
    k(INSTANCES, "instances[].garp", "none", "Announcements sent on becoming Master; see the announcements section."),
    k(INSTANCES, "instances[].track", "none", "Tracked objects that move this instance's priority or put it in Fault: a list of `{check: NAME, weight: W}` or inline checks; see the tracked objects section."),
    k(INSTANCES, "instances[].hooks", "none", "Commands run on this instance's transitions; see the hooks section."),
    k(INSTANCES, "instances[].vip_lifetime", "vip_lifetime", "This instance's kernel lifetime of its virtual IPs, as the top-level `vip_lifetime` (whole seconds 2s..=1440m, or `forever`), which it overrides."),
    k(INSTANCES, "instances[].peers", "none", "The addresses of the other routers of this virtual router (this host's own may be listed too): IPv4 addresses for an IPv4 instance, link-local `fe80::...` ones for IPv6. Adverts from any other source are dropped and counted as `unknown_peer`, so a host on the segment cannot take the virtual IPs with one forged advert. Replaces the top-level `peers`; without either, adverts are accepted from any source. VRRP has no authentication: see the threat model in the README. With `heartbeat` links, list the peers' addresses on those links too: one list admits a router on any link of the instance."),
    k(INSTANCES, "instances[].heartbeat", "none", "Extra interfaces, such as `[eth1]`, on which the Master sends the same adverts and a Backup hears them, so losing one link between the routers causes no failover (redundant links). Each link carries ordinary VRRPv3 from this host's address on it (IPv4 primary, or IPv6 link-local), TTL 255, to 224.0.0.18 / ff02::12; it needs that address and a vrid free on it. An advert heard on a heartbeat link keeps a Backup from taking over and makes a Master of lower priority step down; the address tie-break of equal priorities and priority-0 resignations are taken from `interface` only, so the Master heard on two links is one Master. The virtual IPs stay on `interface`, and only its carrier loss is a Fault; status and metrics show when an advert was last heard on each link. Not the instance's own interface, no link twice."),
    k(INSTANCES, "instances[].version", "3", "The VRRP version: `3` (RFC 9568), `2` (RFC 3768, keepalived's default: IPv4 only, `advert_interval` in whole seconds from 1s to 40s, no authentication, checksum over the message), or `both`, which sends every advert as VRRPv3 and as VRRPv2 and accepts either, to migrate a VRRPv2 pair one host at a time (same limits). `version: 2` keeps RFC 3768's timers (Skew_Time is (256 − priority)/256 s at any interval); `3` and `both` RFC 9568's, where Skew_Time scales with the interval; at keepalived's default of 1s the two are equal. Adverts of a version the instance does not speak are dropped and counted as `version_mismatch`. In `both` mode the VRRPv2 copy of an advert whose VRRPv3 copy was heard is ignored (RFC 9568 §8.4.2), so each pair counts once. VRRPv2 authentication is not supported (RFC 3768 §5.3.6.1 removed it): adverts with an authentication type other than 0 are dropped as `v2_authentication`, so delete the `authentication` block from a keepalived peer."),
    k(INSTANCES, "instances[].unicast_peers", "none", "The routers' addresses, of the instance's family (IPv6 may be global or link-local): adverts are sent as unicast to each of them instead of to 224.0.0.18 / ff02::12, and accepted only from them (keepalived's `unicast_peer`, as if with `check_unicast_src`), for clouds and networks that drop multicast. This host's own address may be listed too, so every router can share one list; it is skipped. Replaces `peers` for this instance. An advert sent to this host's address by a listed peer is accepted with any TTL / hop limit, as keepalived does, since a unicast peer may be a routed hop away and keepalived 2.2 sends its IPv6 unicast adverts with hop limit 64; one sent to the group still needs 255. Adverts are sent with TTL / hop limit 255. With global IPv6 peers set `unicast_source`, and give a keepalived peer `unicast_src_ip` (else it sends from its link-local, which is not in this list). Not with `heartbeat` (multicast links); allowed with `vmac`, as keepalived allows it. `twinstar status` shows the mode and where adverts go."),
    k(INSTANCES, "instances[].unicast_source", "interface address", "With `unicast_peers`: the address unicast adverts are sent from (keepalived's `unicast_src_ip`), and this router's address in the tie-break of equal priorities. It must be on the instance's interface: while it is not (not yet added, or removed), the instance is in Fault with the reason and sends nothing, rather than send from an address the host does not have. Default: the interface's primary IPv4 address, or its IPv6 link-local; required with global IPv6 peers."),
    k(INSTANCES, "instances[].vmac", "false", "Use the virtual MAC (RFC 9568 §7.3, keepalived's `use_vmac`): `true`, or the name of the interface to create. The agent creates a macvlan (bridge mode) on `interface` with MAC 00-00-5E-00-01-{vrid} (IPv6 00-00-5E-00-02-{vrid}), named `vrrp.{vrid}` (IPv6 `vrrp6.{vrid}`) unless named here, keeps it up while the instance runs (a restart adopts one left by a crash; `remove-vips` deletes it), puts the virtual IPs on it while Master (IPv6: also the link-local address of `interface`, the adverts' source), sends the adverts and every announcement from that MAC, sets the ARP settings keepalived documents (`arp_ignore` and `arp_filter` on `interface`, plus `arp_announce=2`; `arp_ignore`, `accept_local`, `rp_filter`, `promote_secondaries` and IPv6 `addr_gen_mode` on the macvlan), and when it stops deletes the macvlan and restores the settings of `interface`. Clients keep the same MAC across a failover, so none needs a gratuitous ARP."),
    // Announcements.
    k(GARP, "instances[].garp.count", "5", "Announcements sent per address on becoming Master, 1..=100; repeats cover a lost frame or a switch port still coming up."),
    k(GARP, "instances[].garp.interval", "100ms", "The delay between those repeats, 0s..=10s."),
    k(GARP, "instances[].garp.refresh", "0s", "Re-announce periodically while Master, for neighbours whose caches forget: `0s` is off, else 1s..=1h."),
    // Tracked objects.
    k(CHECKS, "instances[].track[].check", "none", "The name of a check declared under `checks`. Goes with `weight` only; without `check` the item is an inline check."),
    k(CHECKS, "instances[].track[].weight", "0", "-254..=254. 0 puts the instance in Fault while the check fails; a negative weight is added to the priority while the check fails, a positive one while it succeeds. The result is clamped to 1..=254."),
    k(CHECKS, "checks[].name", "required", "Unique among checks, shown in status, metrics and events; same rules as instance names. Optional inline, where it defaults to `INSTANCE/KIND`, then `INSTANCE/KIND2`, and so on."),
    k(CHECKS, "checks[].script", "none", "Kind: a command (string for `/bin/sh -c`, or list), up when it exits 0. A command that cannot be executed is a failure; at the timeout its process group is killed."),
    k(CHECKS, "checks[].interface", "none", "Kind: an interface name, up while the interface is up with carrier. Follows link events as they happen, so `interval` does not apply."),
    k(CHECKS, "checks[].file", "none", "Kind: an absolute path to a file holding an integer. With `weight: 0` any non-zero value is a failure; otherwise the value times the weight is added to the priority. A missing or unreadable file is a failure with `weight: 0` and reads as 0 otherwise."),
    k(CHECKS, "checks[].process", "none", "Kind: a process name (no path), up while the number of processes with that name (`/proc/PID/comm`, or argv[0]'s file name) is within `min`..=`max`."),
    k(CHECKS, "checks[].min", "1", "`process` checks only: the fewest matching processes that count as up."),
    k(CHECKS, "checks[].max", "none", "`process` checks only: the most matching processes that count as up; not below `min`."),
    k(CHECKS, "checks[].tcp", "none", "Kind: `HOST:PORT` (IPv6 in brackets, names are not resolved), up when a TCP connection is established within the timeout."),
    k(CHECKS, "checks[].http", "none", "Kind: a plain-HTTP URL such as `http://127.0.0.1:8404/health` (IP literal host, port 80 by default, no TLS), up when a GET answers with `status` and, if given, a body holding `body_contains`."),
    k(CHECKS, "checks[].status", "200", "`http` checks only: the expected response status, 100..=599."),
    k(CHECKS, "checks[].body_contains", "none", "`http` checks only: a non-empty substring the first 64 KiB of the body must hold."),
    k(CHECKS, "checks[].ping", "none", "Kind: an IP address, up when an ICMP or ICMPv6 echo is answered within the timeout."),
    k(CHECKS, "checks[].interval", "1s", "Time between the starts of two runs, 10ms..=1h. Ignored for `interface`."),
    k(CHECKS, "checks[].timeout", "interval", "A run not finished by then fails, 10ms..=1h. It may exceed `interval` (keepalived configurations often do): runs never overlap, so a run still going when the next is due delays it, and the starts it missed are skipped."),
    k(CHECKS, "checks[].rise", "1", "Consecutive successes before a failing object counts as up again, 1..=1000."),
    k(CHECKS, "checks[].fall", "1", "Consecutive failures before an up object counts as down, 1..=1000."),
    // Hooks.
    k(HOOKS, "instances[].hooks.on_master", "none", "After becoming Master, once the virtual IPs are added."),
    k(HOOKS, "instances[].hooks.on_backup", "none", "After becoming Backup."),
    k(HOOKS, "instances[].hooks.on_fault", "none", "After entering Fault."),
    k(HOOKS, "instances[].hooks.on_stop", "none", "After the instance stops: agent shutdown, or removal on reload."),
    k(HOOKS, "instances[].hooks.on_change", "none", "After every transition, after the state-specific hook."),
    k(HOOKS, "instances[].hooks.before_master", "none", "Must exit 0 within its timeout before the virtual IPs are added; otherwise the instance goes to Fault for `before_master_retry` and the virtual IPs stay off."),
    k(HOOKS, "instances[].hooks.after_backup", "none", "Runs once the virtual IPs have been removed after leaving Master; skipped (and reported as skipped) when the instance is Master again before a handover removed them."),
    k(HOOKS, "instances[].hooks.before_master_retry", "30s", "How long an instance whose `before_master` failed stays in Fault before it may try again, 1s..=1d."),
    k(HOOKS, "instances[].hooks.fence", "none", "Fencing (STONITH): runs on a Backup before it takes over from a Master that went silent, with the old Master's address as a fifth argument and in `TWINSTAR_MASTER` (power it off through IPMI, or take a storage reservation); the virtual IPs are added only after it exits 0 within its timeout. On failure the Backup stays Backup, counts it (`fence_failures`), and tries again one Master_Down_Interval later. Not run when the Master resigned (priority 0), when this host preempts a lower-priority Master, nor at startup when no Master was ever heard. With `quorum`, it runs after the key is taken, so a Master whose lease is live is never fenced."),
    k(HOOKS, "instances[].hooks.*.command", "required", "In the mapping form of a hook: what to run, a string for `/bin/sh -c` or a list of a program and its arguments."),
    k(HOOKS, "instances[].hooks.*.timeout", "10s", "In the mapping form of a hook: the hook's process group is killed after it, 10ms..=1h."),
    // Sync groups.
    k(SYNC, "sync_groups[].name", "required", "Unique among sync groups; same rules as instance names. Hooks get it as INSTANCE, with `TWINSTAR_GROUP` set."),
    k(SYNC, "sync_groups[].instances", "required", "The member instance names, at least two; an instance belongs to at most one group."),
    k(SYNC, "sync_groups[].hooks", "none", "Hooks on the group's state: Master when every member is Master, Fault when any is, Backup otherwise. `before_master`, `after_backup` and `before_master_retry` are per instance only."),
    k(SYNC, "sync_groups[].hooks.on_master", "none", "After the group becomes Master."),
    k(SYNC, "sync_groups[].hooks.on_backup", "none", "After the group becomes Backup."),
    k(SYNC, "sync_groups[].hooks.on_fault", "none", "After the group enters Fault."),
    k(SYNC, "sync_groups[].hooks.on_stop", "none", "After the group stops."),
    k(SYNC, "sync_groups[].hooks.on_change", "none", "After every transition of the group, after the state-specific hook."),
    k(SYNC, "sync_groups[].hooks.*.command", "required", "In the mapping form of a hook: what to run, as for instances."),
    k(SYNC, "sync_groups[].hooks.*.timeout", "10s", "In the mapping form of a hook: the process group is killed after it, 10ms..=1h."),
    // Events.
    k(EVENTS, "events.fifo", "none", "An absolute path to a FIFO, created (mode 0600) if missing; every event is written to it while a reader has it open."),
    k(EVENTS, "events.socket", "none", "An absolute path to a Unix stream socket; every connected client receives every event from the time it connects. Not the same path as `events.fifo`."),
    // Control socket.
    k(CONTROL, "control.group", "none", "The socket is mode 0660, owned by root and this group, so its members may run `twinstar status`, `switchover`, `maintenance` and `reload`. Without it, root only."),
    // Metrics.
    k(METRICS, "metrics.address", "127.0.0.1", "The IP address to listen on, without a port. Bind a non-loopback address only on a management network: the endpoint has no authentication."),
    k(METRICS, "metrics.port", "required", "The TCP port to listen on, 1..=65535."),
    // Script user.
    k(SCRIPT_USER, "script_user", "twinstar", "The user scripts and hooks run as, with that user's groups, a clean environment and no capabilities; `nobody` when the default `twinstar` user does not exist. `root` is allowed, but then a script is refused when it or a directory above it is writable by another user."),
    k(SCHEDULING, "realtime_priority", "0", "SCHED_FIFO priority of the agent's event loop, 1..=99, or 0 to stay a normal process. Off by default: a real-time loop preempts the kernel's packet processing at every advert, so it reads them one at a time and costs several times the CPU under heavy traffic (4× under a flood of 25,000 adverts/s), while a normal agent kept its elections with every core saturated by normal processes. Set it (10 is a sensible value) when other real-time work can starve the agent. Scripts and hooks never inherit it (SCHED_RESET_ON_FORK), and a loop that stops blocking is killed after 2 s of CPU (RLIMIT_RTTIME), so a fault cannot monopolise a core. Without the privilege to set it, the agent logs a warning and runs normally."),
    // Split brain (quorum).
    k(QUORUM, "quorum.etcd", "required", "The etcd cluster that holds the lease. For two hosts, run an etcd member on each and a third on a small witness host: Raft's 2 of 3 then decides which host may serve."),
    k(QUORUM, "quorum.etcd.endpoints", "required", "The URLs of the etcd members, at least one, all `http://HOST:PORT` or all `https://HOST:PORT`."),
    k(QUORUM, "quorum.etcd.prefix", "/twinstar", "The key path under which the keys live; give each site or cluster its own."),
    k(QUORUM, "quorum.etcd.lease_ttl", "2s", "The lease's time to live, 500ms..=60s; renewed every third of it while a key is held. A Master that cannot renew stops serving a quarter of it before the lease can expire, and a crashed Master's key blocks the failover for up to this long."),
    k(QUORUM, "quorum.etcd.tls", "none", "TLS for `https://` endpoints: `ca`, and `cert` with `key` when the cluster asks for a client certificate."),
    k(QUORUM, "quorum.etcd.tls.ca", "required", "An absolute path to the PEM file of the CA that signs the members' certificates."),
    k(QUORUM, "quorum.etcd.tls.cert", "none", "An absolute path to the PEM client certificate; with `key`."),
    k(QUORUM, "quorum.etcd.tls.key", "none", "An absolute path to the PEM private key of `cert`; with `cert`."),
    k(QUORUM, "quorum.on_loss", "release", "While etcd cannot be reached (as opposed to held by another node): `release` never risks two Masters (no lease, no virtual IPs; a Master stops when its lease lapses); `keep` falls back to plain VRRP (a Master keeps serving, a Backup may take over) and takes the key again once etcd answers. A key held by another node, or a lease etcd says is gone, always stops a Master."),
];

/// The file's general rules, shared by both renderings.
const DESCRIPTION: &[&str] = &[
    "twinstar reads one YAML file, given with `--config` to `twinstar run` and `twinstar check`. \
     Unknown keys, duplicate keys and out-of-range values are errors; a file with errors is \
     never applied, neither at start nor on reload.",
    "Durations are a number with a unit `ms`, `s` or `m`, such as `100ms`, `2s`, `1.5s` or `1m`. \
     Addresses are IP literals (IPv6 in brackets where a port follows); names are not resolved. \
     Commands are a string run by `/bin/sh -c` or a list of a program and its arguments.",
    "Every error is reported, not only the first, one per line as `FILE:LINE:COL: message`; \
     `twinstar check --config FILE` prints them without touching a running agent.",
];

/// The short two-node example, host A; host B differs in its priority.
const EXAMPLE: &str = "\
instances:
  - name: web
    interface: eth0
    vrid: 51
    priority: 150          # host B: 100
    advert_interval: 100ms
    preempt_delay: 10s
    virtual_ips:
      - 192.0.2.50/24
    track:
      - tcp: 127.0.0.1:80
        weight: -60
    hooks:
      on_master: [/usr/local/bin/notify, master]
control:
  group: twinstar
";

/// The keys of one section, in table order.
fn keys_of(section: &str) -> impl Iterator<Item = &'static KeyDoc> + '_ {
    KEYS.iter().filter(move |k| k.section == section)
}

/// The twinstar.yaml(5) manual page, in roff.
pub fn man_page() -> String {
    let mut out = String::new();
    out.push_str(&format!(
        ".TH TWINSTAR.YAML 5 \"\" \"twinstar {}\" \"File Formats Manual\"\n",
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str(
        ".SH NAME\ntwinstar.yaml \\- configuration of the twinstar VRRPv3 failover agent\n",
    );
    out.push_str(".SH SYNOPSIS\n\\fI/etc/twinstar/twinstar.yaml\\fR\n");
    out.push_str(".SH DESCRIPTION\n");
    for (i, para) in DESCRIPTION.iter().enumerate() {
        if i > 0 {
            out.push_str(".PP\n");
        }
        out.push_str(&roff_text(para));
        out.push('\n');
    }
    out.push_str(
        ".PP\nIn the key names below, \\fB[]\\fR stands for any item of a list and \
         \\fB*\\fR for any hook.\n",
    );
    for section in SECTIONS {
        out.push_str(&format!(
            ".SH {}\n",
            roff_escape(&section.title.to_uppercase())
        ));
        out.push_str(&roff_text(section.intro));
        out.push('\n');
        for key in keys_of(section.title) {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR (default: {})\n{}\n",
                roff_escape(key.key),
                roff_text(&code(key.default)),
                roff_text(key.summary)
            ));
        }
    }
    out.push_str(".SH EXAMPLES\nHost A of a two-node pair; host B runs the same file with \\fBpriority: 100\\fR.\n");
    out.push_str(".PP\n.nf\n.RS 4\n");
    for line in EXAMPLE.lines() {
        out.push_str(&roff_line(&roff_escape(line)));
        out.push('\n');
    }
    out.push_str(".RE\n.fi\n");
    out.push_str(
        ".SH FILES\n.TP\n\\fI/etc/twinstar/twinstar.yaml\\fR\nThe configuration file.\n\
         .TP\n\\fI/run/twinstar/control.sock\\fR\nThe control socket (see \\fBcontrol\\fR).\n",
    );
    out.push_str(".SH SEE ALSO\n\\fBtwinstar\\fR(8)\n");
    out
}

/// The same reference as Markdown: `docs/configuration.md`.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# twinstar.yaml: configuration reference\n\n\
         <!-- Generated from src/config/reference.rs by `twinstar generate`; do not edit. -->\n\n\
         The configuration file, usually `/etc/twinstar/twinstar.yaml`.\n\n",
    );
    for para in DESCRIPTION {
        out.push_str(para);
        out.push_str("\n\n");
    }
    out.push_str(
        "In the key names below, `[]` stands for any item of a list and `*` for any hook.\n\n",
    );
    for section in SECTIONS {
        out.push_str(&format!("## {}\n\n{}\n\n", section.title, section.intro));
        out.push_str("| Key | Default | Meaning |\n|---|---|---|\n");
        for key in keys_of(section.title) {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                key.key,
                code(key.default),
                key.summary
            ));
        }
        out.push('\n');
    }
    out.push_str("## Example\n\nHost A of a two-node pair; host B runs the same file with `priority: 100`.\n\n```yaml\n");
    out.push_str(EXAMPLE);
    out.push_str("```\n\n## See also\n\n`twinstar(8)`; the files in `examples/`.\n");
    out
}

/// A default as written in text: values in `code`, words as they are.
fn code(default: &str) -> String {
    match default {
        "required" | "none" => default.to_owned(),
        "interval" => "`interval`".to_owned(),
        value => format!("`{value}`"),
    }
}

/// Escapes roff's special characters in plain text.
fn roff_escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// A text line that roff must not take for a request.
fn roff_line(line: &str) -> String {
    if line.starts_with(['.', '\'']) {
        format!("\\&{line}")
    } else {
        line.to_owned()
    }
}

/// Escapes `text` and turns its `code` spans bold.
fn roff_text(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("\\fB{}\\fR", roff_escape(part)));
        } else {
            out.push_str(&roff_escape(part));
        }
    }
    roff_line(&out)
}

#[cfg(test)]
mod tests;
