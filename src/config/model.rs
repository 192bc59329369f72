//! The typed configuration: what the agent runs once the YAML has been validated.
//!
//! The doc comment on each field is the reference for its YAML key: meaning,
//! default and accepted range. Every value here has passed validation, so the
//! rest of the agent never re-checks ranges or parses strings.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU8;
use std::sync::Arc;
use std::time::Duration;

pub use super::interop::VrrpVersion;

pub use super::health::{
    Check, CheckKind, Command, EventSinks, Hook, Hooks, HttpCheck, SyncGroup, Track,
};
pub use super::ifname::InterfaceName;

/// A whole configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `instances` (required, at least one): the virtual routers this host takes part in.
    /// Names are unique, and so is each (interface, vrid, address family).
    ///
    /// Shared: the agent's instances, the daemon's running copy and a reload's
    /// comparison all point at one copy of each (some 0.7 KiB) instead of
    /// cloning it.
    pub instances: Vec<Arc<Instance>>,
    /// `checks` (default none): named tracked objects that instances reference with
    /// `track: [{check: NAME}]`. Holds the inline `track:` checks as well, under
    /// their generated names, so every check runs exactly once.
    pub checks: Vec<Check>,
    /// `sync_groups` (default none): instances that move together. See [`SyncGroup`].
    pub sync_groups: Vec<SyncGroup>,
    /// `events`: sinks of the JSON-lines event stream. See [`EventSinks`].
    pub events: EventSinks,
    /// `script_user` (default `twinstar`, or `nobody` where no `twinstar` user
    /// exists): the user scripts and hooks run as, with that user's groups, a clean
    /// environment and no capabilities. `root` is allowed, but then a script is
    /// refused when it or a directory above it is writable by another user.
    pub script_user: String,
    /// `control`: the control socket used by the CLI. See [`Control`].
    pub control: Control,
    /// `metrics` (default off): the Prometheus endpoint. See [`Metrics`].
    pub metrics: Option<Metrics>,
    /// `realtime_priority` (0..=99, default 10; 0 = off): SCHED_FIFO priority of
    /// the event loop, so adverts leave on time when every core is busy.
    pub realtime_priority: u8,
    /// `vip_lifetime` (default derived per instance, see [`VipLifetime`]): the
    /// kernel lifetime of the virtual IPs, the default of every instance's own
    /// `vip_lifetime`.
    pub vip_lifetime: VipLifetime,
    /// `quorum` (default none: plain VRRP): the lease a router must hold in
    /// etcd before it adds its VIPs. See [`Quorum`].
    pub quorum: Option<Quorum>,
    /// `node_id` (default: the host name): who this node is in the quorum
    /// store; the value of the keys it holds.
    pub node_id: String,
}

impl Config {
    /// A copy that shares nothing with `self` but the empty hook set:
    /// every instance, and its hooks, copied into new blocks.
    pub fn deep_copy(&self) -> Config {
        let mut copy = self.clone();
        for instance in &mut copy.instances {
            let mut own = Instance::clone(instance);
            own.hooks = Hooks::shared(Hooks::clone(&own.hooks));
            *instance = Arc::new(own);
        }
        copy
    }
}

/// `quorum`: the split-brain guard. A router may add its VIPs only while it
/// holds its key in etcd under a live lease of this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    /// `quorum.etcd`: where the lease lives.
    pub etcd: EtcdQuorum,
    /// `quorum.on_loss` (default `release`): what a node does while etcd is
    /// unreachable (as opposed to held by another node).
    pub on_loss: OnQuorumLoss,
}

/// `quorum.etcd`: the etcd cluster and the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdQuorum {
    /// `quorum.etcd.endpoints` (required, at least one): `http://` or
    /// `https://` URLs of the etcd members.
    pub endpoints: Vec<String>,
    /// `quorum.etcd.prefix` (default `/twinstar`): where the keys live.
    pub prefix: String,
    /// `quorum.etcd.lease_ttl` (default `2s`): the lease's time to live; a
    /// Master that cannot renew stops serving before it runs out.
    pub lease_ttl: Duration,
    /// `quorum.etcd.tls` (default none): TLS for `https://` endpoints.
    pub tls: Option<EtcdTls>,
}

/// `quorum.etcd.tls`: the CA that signs the members' certificates, and our
/// client certificate when the cluster asks for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdTls {
    /// `tls.ca` (required): PEM file of the CA.
    pub ca: std::path::PathBuf,
    /// `tls.cert` (with `key`): PEM client certificate.
    pub cert: Option<std::path::PathBuf>,
    /// `tls.key` (with `cert`): PEM private key of the client certificate.
    pub key: Option<std::path::PathBuf>,
}

/// `quorum.on_loss`: availability or safety while etcd cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnQuorumLoss {
    /// `release`: never risk two Masters: without the lease, no VIPs.
    #[default]
    Release,
    /// `keep`: while etcd is unreachable (not held by another node), fall
    /// back to plain VRRP.
    Keep,
}

/// `control`: who may use the control socket `<runtime-dir>/control.sock`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// `control.group` (default none: root only): the socket is mode 0660, owned
    /// by root and this group, so its members may run `twinstar status`,
    /// `switchover`, `maintenance` and `reload`.
    pub group: Option<String>,
}

/// `metrics`: the Prometheus endpoint, `GET /metrics` over plain HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics {
    /// `metrics.address` (default `127.0.0.1`) and `metrics.port` (required,
    /// 1..=65535): where to listen. Bind a non-loopback address only on a
    /// management network; the endpoint has no authentication.
    pub listen: std::net::SocketAddr,
}

impl Config {
    /// A configuration with no instance, check or group, and default settings:
    /// what an agent runs before its first configuration is applied.
    pub fn empty() -> Self {
        Config {
            instances: Vec::new(),
            checks: Vec::new(),
            sync_groups: Vec::new(),
            events: EventSinks::default(),
            script_user: defaults::SCRIPT_USER.to_owned(),
            control: Control::default(),
            metrics: None,
            realtime_priority: 0,
            vip_lifetime: VipLifetime::Derived,
            quorum: None,
            node_id: String::new(),
        }
    }

    /// The check called `name`; validation guarantees every `track` entry names one.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The sync group `instance` belongs to, if any.
    pub fn sync_group_of(&self, instance: &str) -> Option<&SyncGroup> {
        self.sync_groups
            .iter()
            .find(|g| g.instances.iter().any(|i| i == instance))
    }
}

/// One virtual router (RFC 9568 §1.6 "Virtual Router") on one interface, for one
/// address family. Run two instances with the same `vrid` to serve IPv4 and IPv6.
///
/// Its lists are boxed slices: they never change once parsed, and a slice
/// has no capacity to keep, so an instance is 40 bytes smaller; a running
/// agent holds one per instance, thousands at scale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// `name` (required): unique label used by the command line, hooks and metrics.
    /// Letters, digits, `-`, `_` and `.`, at most 32 characters.
    pub name: String,
    /// `interface` (required): the network interface to advertise on and to add
    /// the virtual IPs to, such as `eth0`. At most 15 characters (Linux IFNAMSIZ).
    pub interface: String,
    /// `vrid` (required, 1..=255): the Virtual Router Identifier; every router of
    /// the group uses the same value. It also picks the virtual MAC 00-00-5E-00-01-{vrid}
    /// (IPv6: 00-00-5E-00-02-{vrid}), so it must be unique per interface and family.
    pub vrid: u8,
    /// `priority` (1..=255, default 100): the highest priority becomes Master.
    /// 255 declares this host the address owner (RFC 9568 §6.1). The wire value 0
    /// ("Master is resigning") is not configurable, hence `NonZeroU8`.
    pub priority: NonZeroU8,
    /// `advert_interval` (10ms..=40.95s in 10 ms steps, default `1s`): how often the
    /// Master advertises; Backups declare it dead after about three intervals
    /// (RFC 9568 §6.1 Master_Down_Interval). The wire carries centiseconds.
    pub advert_interval: Duration,
    /// `preempt` (default `true`): whether a higher-priority Backup takes over from a
    /// lower-priority Master (RFC 9568 §6.1 Preempt_Mode). Address owners always preempt.
    pub preempt: bool,
    /// `preempt_delay` (0s..=1h, default `0s`): how long a Backup that could preempt
    /// waits first, to let a rebooted host's services settle before taking traffic.
    pub preempt_delay: Duration,
    /// `accept` (default `true`): whether the Master accepts packets addressed to
    /// virtual IPs it does not own (RFC 9568 §6.1 Accept_Mode). `true` is what
    /// keepalived does unless `vrrp_strict`, and what services bound to a VIP
    /// need; `false` drops such packets (except ARP and Neighbor Discovery)
    /// while this host is a Master that does not own them.
    pub accept: bool,
    /// `virtual_ips` (required, at least one): the addresses moved between hosts,
    /// each with its prefix length (`192.0.2.50/24`, `2001:db8::50/64`), all of one
    /// address family and none listed twice. An item may be a mapping
    /// `{address: 192.0.2.50/24, interface: eth0}` to put that VIP on another
    /// interface than the adverts' (a dedicated heartbeat network); its
    /// announcements go out there, and losing that interface's carrier is a
    /// Fault of the instance.
    pub virtual_ips: Box<[VirtualIp]>,
    /// `ipv4_checksum` (`pseudo-header` or `rfc9568`, default `pseudo-header`; IPv4
    /// only): how the advertisement checksum is computed. See [`Ipv4Checksum`].
    pub ipv4_checksum: Ipv4Checksum,
    /// `garp`: gratuitous ARP / unsolicited Neighbor Advertisements sent on becoming
    /// Master, so switches and neighbours learn the new location. See [`Garp`].
    pub garp: Garp,
    /// `track` (default none): tracked objects that move this instance's priority or
    /// put it in Fault. Each item is `{check: NAME, weight: W}` or an inline check
    /// with its `weight`. See [`Track`] and [`Check`].
    pub track: Box<[Track]>,
    /// `hooks`: commands run on this instance's transitions. See [`Hooks`].
    /// Shared: instances without hooks hold one empty set between them
    /// ([`Hooks::shared`]), where a set of their own made each 400 bytes
    /// larger.
    pub hooks: std::sync::Arc<Hooks>,
    /// `vip_lifetime` (default: the top-level `vip_lifetime`): the kernel
    /// lifetime of this instance's virtual IPs. See [`VipLifetime`].
    pub vip_lifetime: VipLifetime,
    /// `peers` (default none: any source): the addresses of the other routers
    /// of this virtual router, IPv4 or IPv6 link-local as the instance's family;
    /// adverts from any other source are dropped and counted (`unknown_peer`).
    /// The instance's own list replaces the top-level `peers`, of which it
    /// otherwise takes the addresses of its family. `None` accepts any source.
    /// One list serves every link of the instance (`heartbeat` too): it names
    /// the other routers by each of their addresses, so no link needs a list
    /// of its own.
    pub peers: Option<Box<[IpAddr]>>,
    /// `heartbeat` (default none): extra interfaces on which the same adverts
    /// are sent and heard, so that losing one link between the routers causes
    /// no failover (redundant links, as corosync has them). Each link carries
    /// ordinary VRRPv3 with this host's address on that link; the virtual IPs
    /// stay on `interface`, whose carrier alone decides Fault.
    pub heartbeat: Box<[String]>,
    /// `version` (default `3`): VRRPv3, VRRPv2 (keepalived's default), or
    /// both at once while a VRRPv2 pair is migrated. See [`VrrpVersion`].
    pub version: VrrpVersion,
    /// `unicast_peers` (default none: multicast): the other routers'
    /// addresses; adverts are sent to each of them instead of the VRRP group,
    /// and accepted only from them (keepalived's `unicast_peer`), for networks
    /// that drop multicast. Empty means multicast.
    pub unicast_peers: Box<[IpAddr]>,
    /// `unicast_source` (default: the interface's primary address, or its
    /// link-local for IPv6): the address unicast adverts are sent from
    /// (keepalived's `unicast_src_ip`). Only with `unicast_peers`.
    pub unicast_source: Option<IpAddr>,
    /// `vmac` (default none): the name of the macvlan interface with the
    /// virtual MAC 00-00-5E-00-01-{vrid} (IPv6: -02-) that the agent creates on
    /// `interface` and puts the virtual IPs on (RFC 9568 §7.3, keepalived's
    /// `use_vmac`). `vmac: true` names it `vrrp.{vrid}` (IPv6 `vrrp6.{vrid}`).
    pub vmac: Option<String>,
}

impl Instance {
    /// The address family of this instance, taken from its virtual IPs.
    ///
    /// Validation guarantees at least one virtual IP and a single family; an
    /// instance built by hand without virtual IPs reports IPv4.
    pub fn address_family(&self) -> AddressFamily {
        self.virtual_ips
            .first()
            .map_or(AddressFamily::Ipv4, VirtualIp::address_family)
    }

    /// The kernel lifetime the virtual IPs are added with and refreshed to
    /// while Master; `None` adds them for good.
    pub fn address_lifetime(&self) -> Option<Duration> {
        self.vip_lifetime.resolve(self.advert_interval)
    }

    /// The interface `vip` lives on: its own `interface`, else the virtual
    /// MAC interface (`vmac`), else the instance's.
    pub fn vip_interface<'a>(&'a self, vip: &'a VirtualIp) -> &'a str {
        vip.interface.as_ref().map_or_else(
            || self.vmac.as_deref().unwrap_or(self.interface.as_str()),
            InterfaceName::as_str,
        )
    }

    /// The virtual router MAC of this instance (RFC 9568 §7.3):
    /// 00-00-5E-00-01-{vrid} for IPv4, 00-00-5E-00-02-{vrid} for IPv6.
    pub fn virtual_mac(&self) -> [u8; 6] {
        let family = match self.address_family() {
            AddressFamily::Ipv4 => 0x01,
            AddressFamily::Ipv6 => 0x02,
        };
        [0x00, 0x00, 0x5e, 0x00, family, self.vrid]
    }

    /// The interfaces that carry VIPs of this instance other than the advert
    /// interface, each once, in the order first listed. Their carrier counts
    /// for the instance's health like the advert interface's.
    pub fn vip_only_interfaces(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for vip in &self.virtual_ips {
            if let Some(name) = &vip.interface {
                if !names.contains(&name.as_str()) {
                    names.push(name.as_str());
                }
            }
        }
        names
    }
}

/// How long the kernel keeps a virtual IP that is not refreshed: the dead-man
/// switch that takes a VIP off a host whose agent was killed, stopped or hung,
/// so that it is not left on the LAN twice once a Backup takes over.
///
/// The Master refreshes the lifetime every third of it. The kernel counts
/// address lifetimes in whole seconds and removes an expired address up to
/// about a second late, so a VIP outlives its last refresh by `lifetime` to
/// `lifetime + 1s`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VipLifetime {
    /// Omitted: four advert intervals rounded up to whole seconds, at least
    /// 2s. A Backup declares the Master dead after Master_Down_Interval =
    /// 3 × Master_Adver_Interval + Skew_Time, and Skew_Time is below one
    /// interval (RFC 9568 §6.1), so four intervals cover any Backup's
    /// takeover: a dead Master's VIP is gone by then, or at most the kernel's
    /// second later. 2s is the floor because a one-second lifetime would
    /// leave a loaded host a third of a second to refresh.
    #[default]
    Derived,
    /// `forever`: no lifetime; a VIP stays until removed (the behaviour before
    /// lifetimes).
    Forever,
    /// A whole number of seconds, 2s..=1d.
    Fixed(Duration),
}

impl VipLifetime {
    /// The lifetime for an instance advertising every `advert_interval`;
    /// `None` is forever.
    pub fn resolve(self, advert_interval: Duration) -> Option<Duration> {
        match self {
            VipLifetime::Forever => None,
            VipLifetime::Fixed(lifetime) => Some(lifetime),
            VipLifetime::Derived => {
                let four = advert_interval.saturating_mul(4);
                let whole = four.as_secs() + u64::from(four.subsec_nanos() > 0);
                Some(Duration::from_secs(whole).max(defaults::VIP_LIFETIME_MIN))
            }
        }
    }
}

/// IPv4 or IPv6: VRRPv3 runs a separate virtual router per family (RFC 9568 §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressFamily {
    /// IPv4: advertisements to 224.0.0.18, gratuitous ARP.
    Ipv4,
    /// IPv6: advertisements to ff02::12, unsolicited Neighbor Advertisements.
    Ipv6,
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressFamily::Ipv4 => "IPv4",
            AddressFamily::Ipv6 => "IPv6",
        })
    }
}

/// A virtual IP address with the prefix length it is added with, so the Master
/// gets the on-link route for it as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VirtualIp {
    /// The address itself; never unspecified, loopback, multicast or a subnet's network address.
    pub addr: IpAddr,
    /// The prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix_len: u8,
    /// The interface the address lives on when it is not the instance's
    /// advert `interface`; `None` means the advert interface (a VIP written
    /// with that interface's name is stored as `None` too). Part of the
    /// VIP's identity: moving it to another interface is removing it from
    /// one and adding it to the other.
    pub interface: Option<InterfaceName>,
}

impl VirtualIp {
    /// The family of the address.
    pub fn address_family(&self) -> AddressFamily {
        match self.addr {
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }
}

impl fmt::Display for VirtualIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// How the IPv4 advertisement checksum is computed.
///
/// For IPv4, RFC 9568 §5.2.8 sums the VRRP message alone, but keepalived and
/// FRRouting include an IPv4 pseudo-header (as IPv6 does), and a receiver drops
/// adverts whose checksum it computes differently. Interoperating with them is
/// the point of speaking the standard protocol, so their form is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ipv4Checksum {
    /// `pseudo-header`: include the IPv4 pseudo-header, as keepalived and FRR send.
    #[default]
    PseudoHeader,
    /// `rfc9568`: checksum over the VRRP message only.
    Rfc9568,
}

/// Announcements of the virtual IPs by a new Master: gratuitous ARP for IPv4,
/// unsolicited Neighbor Advertisements for IPv6 (RFC 9568 §6.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Garp {
    /// `garp.count` (1..=100, default 5): announcements sent per address on becoming
    /// Master; repeats cover a lost frame or a switch port that is still coming up.
    pub count: u8,
    /// `garp.interval` (0s..=10s, default `100ms`): the delay between those repeats.
    pub interval: Duration,
    /// `garp.refresh` (`0s` = off, else 1s..=1h; default `0s`): re-announce
    /// periodically while Master, for neighbours whose caches forget. `None` is off.
    pub refresh: Option<Duration>,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            count: defaults::GARP_COUNT,
            interval: defaults::GARP_INTERVAL,
            refresh: None,
        }
    }
}

/// Default values and bounds of the keys, in one place for the parser and the reference.
pub mod defaults {
    use std::num::NonZeroU8;
    use std::time::Duration;

    /// Default `priority`: RFC 9568 §6.1's default for a Backup.
    pub const PRIORITY: NonZeroU8 = match NonZeroU8::new(100) {
        Some(p) => p,
        None => unreachable!(),
    };
    /// Default `advert_interval`: RFC 9568 §6.1's default of 100 centiseconds.
    pub const ADVERT_INTERVAL: Duration = Duration::from_secs(1);
    /// Shortest `advert_interval`: one centisecond step.
    pub const ADVERT_INTERVAL_MIN: Duration = crate::vrrp::MIN_ADVER_INTERVAL;
    /// Longest `advert_interval`: the 12-bit centisecond field's maximum, 4095.
    pub const ADVERT_INTERVAL_MAX: Duration = crate::vrrp::MAX_ADVER_INTERVAL;
    /// Longest `preempt_delay`; longer is almost certainly a typo.
    pub const PREEMPT_DELAY_MAX: Duration = Duration::from_secs(3600);
    /// Default `garp.count`.
    pub const GARP_COUNT: u8 = 5;
    /// Largest `garp.count`.
    pub const GARP_COUNT_MAX: u8 = 100;
    /// Default `garp.interval`.
    pub const GARP_INTERVAL: Duration = Duration::from_millis(100);
    /// Longest `garp.interval`.
    pub const GARP_INTERVAL_MAX: Duration = Duration::from_secs(10);
    /// Shortest non-zero `garp.refresh`; faster floods the LAN for no benefit.
    pub const GARP_REFRESH_MIN: Duration = Duration::from_secs(1);
    /// Longest `garp.refresh`.
    pub const GARP_REFRESH_MAX: Duration = Duration::from_secs(3600);
    /// Default `realtime_priority`: off, as in keepalived. A SCHED_FIFO loop
    /// preempts the kernel's softirq thread at every packet, so it reads
    /// adverts one at a time instead of in batches: under a flood of 25,000
    /// adverts/s it cost 4× the CPU of a normal process (33 % of a core
    /// against 8.4 %), and with both cores saturated by normal processes a
    /// normal agent had no false failover at 10 ms adverts either. Operators
    /// whose hosts run other real-time work set it (10 is a sensible value:
    /// above ordinary real-time helpers, below the kernel's threads at 50).
    pub const REALTIME_PRIORITY: u8 = 0;
    /// Default `script_user`.
    pub const SCRIPT_USER: &str = "twinstar";
    /// The user scripts run as when `script_user` is the default and no such user exists.
    pub const SCRIPT_USER_FALLBACK: &str = "nobody";
    /// Default check `interval`.
    pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
    /// Shortest check `interval` and `timeout`, and shortest hook `timeout`.
    pub const CHECK_INTERVAL_MIN: Duration = Duration::from_millis(10);
    /// Longest check `interval` and `timeout`, and longest hook `timeout`.
    pub const CHECK_INTERVAL_MAX: Duration = Duration::from_secs(3600);
    /// Default `rise` / `fall`.
    pub const RISE_FALL: u32 = 1;
    /// Largest `rise` / `fall`.
    pub const RISE_FALL_MAX: u32 = 1000;
    /// Largest absolute track `weight`.
    pub const WEIGHT_MAX: i32 = 254;
    /// Default hook `timeout`.
    pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default `hooks.before_master_retry`.
    pub const BEFORE_MASTER_RETRY: Duration = Duration::from_secs(30);
    /// Shortest `hooks.before_master_retry`.
    pub const BEFORE_MASTER_RETRY_MIN: Duration = Duration::from_secs(1);
    /// Longest `hooks.before_master_retry`.
    pub const BEFORE_MASTER_RETRY_MAX: Duration = Duration::from_secs(86400);
    /// Shortest `vip_lifetime`: with one second, a refresh every third of it
    /// leaves too little slack on a loaded host.
    pub const VIP_LIFETIME_MIN: Duration = Duration::from_secs(2);
    /// Longest `vip_lifetime` (one day); use `forever` for none.
    pub const VIP_LIFETIME_MAX: Duration = Duration::from_secs(86400);
    /// Default `http` check expected status.
    pub const HTTP_STATUS: u16 = 200;
    /// Default `quorum.etcd.prefix`.
    pub const QUORUM_PREFIX: &str = "/twinstar";
    /// Default `quorum.etcd.lease_ttl`.
    pub const LEASE_TTL: Duration = Duration::from_secs(2);
    /// Shortest `quorum.etcd.lease_ttl`: below it, an etcd leader election
    /// (about a second with the default tuning) outlasts the lease.
    pub const LEASE_TTL_MIN: Duration = Duration::from_millis(500);
    /// Longest `quorum.etcd.lease_ttl`: a crashed Master's key blocks the
    /// failover for this long.
    pub const LEASE_TTL_MAX: Duration = Duration::from_secs(60);
}
