//! What goes into the agent ([`Input`]) and what comes out ([`Effect`]): the
//! whole contract between the sans-IO agent and the daemon (or a simulator)
//! that carries out its I/O.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use super::{Datagram, HookRun, HookRunId, InstanceFacts, InstanceId, LinkFacts, SocketKey};
use crate::config::{self, Garp, VirtualIp};
use crate::notify::record::EventRecord;
use crate::track::monitor::CheckUpdate;
use crate::track::process::ScriptOutcome;

/// Something that happened outside the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A datagram arrived on a VRRP socket.
    Datagram(Datagram),
    /// An interface's carrier changed (or was reported again).
    Link {
        /// Interface index.
        ifindex: u32,
        /// Interface name (for `interface` checks).
        name: String,
        /// Up with carrier.
        carrier: bool,
    },
    /// An interface was deleted (or was missing when the links were read
    /// again after lost notifications).
    LinkRemoved {
        /// Its index.
        ifindex: u32,
        /// Its name, when known.
        name: String,
    },
    /// The answer to [`Effect::LookUpInterface`]: per instance on that
    /// interface, its facts (with its socket opened) or why they could not
    /// be had.
    InterfaceFacts {
        /// The interface looked up.
        interface: String,
        /// Per instance name.
        facts: HashMap<String, Result<InstanceFacts, String>>,
    },
    /// The answer to [`Effect::LookUpHeartbeat`]: the heartbeat link's
    /// facts (with its socket opened), or why they could not be had.
    HeartbeatFacts {
        /// The interface looked up.
        interface: String,
        /// The family asked for: true for IPv6.
        ipv6: bool,
        /// Its facts, or why not.
        facts: Result<LinkFacts, String>,
    },
    /// A check's monitor reported.
    Check(CheckUpdate),
    /// A hook the agent asked for ended.
    HookFinished {
        /// The run.
        run: HookRunId,
        /// How it went.
        outcome: ScriptOutcome,
    },
    /// The address worker of an instance finished job `seq`.
    AddressesDone {
        /// The instance.
        instance: InstanceId,
        /// The job.
        seq: u64,
        /// The VIPs now on the interface, as far as the worker knows.
        present: Vec<VirtualIp>,
    },
    /// An advert could not be sent.
    SendFailed {
        /// The instance.
        instance: InstanceId,
        /// The socket it was sent on: its interface or a heartbeat link.
        socket: SocketKey,
        /// What the kernel said.
        error: String,
    },
    /// The kernel reported an address added to (`present`) or removed from an
    /// interface. Only a hint: the instance's address worker reads the
    /// interface before anything is repaired.
    AddressChanged {
        /// The address and its interface.
        address: KernelAddress,
        /// Added (or updated) rather than removed.
        present: bool,
    },
    /// Every address on the host, read in full: after the kernel dropped
    /// notifications, and now and then in case one was missed. A hint too.
    AddressSnapshot(Vec<KernelAddress>),
    /// The quorum worker reported on the lease or a key.
    Quorum(crate::quorum::QuorumReport),
    /// [`Agent::poll_timeout`] has passed.
    Timeout,
}

/// An address on an interface, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelAddress {
    /// Interface index.
    pub ifindex: u32,
    /// The address.
    pub address: IpAddr,
}

/// A job for an instance's address worker; done strictly in queue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressJob {
    /// Remove any of our VIPs left on the interface (a crashed predecessor's).
    RemoveStale,
    /// Add the VIPs.
    Add,
    /// Remove the VIPs (and stop announcing).
    Remove,
    /// Announce the VIPs: `garp.count` times, then every `garp.refresh` if set.
    Announce,
    /// New VIPs, announcement settings or lifetime from a reload: while
    /// holding, add and remove only the difference (and renew the lifetime of
    /// the VIPs kept when it changed).
    /// The new configuration carries them (its other settings do not
    /// concern the worker).
    Reconfigure(Arc<config::Instance>),
    /// Renew the kernel lifetime of the VIPs held (the dead-man switch).
    Refresh,
    /// Read the interface and report which VIPs are on it: the truth that a
    /// kernel notification only hinted at.
    Verify,
    /// Put back VIPs that vanished from the interface while held.
    Restore(Vec<VirtualIp>),
    /// Take off VIPs of ours that appeared on the interface while not held.
    Evict(Vec<VirtualIp>),
}

/// Where and what an instance's address worker manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressTarget {
    /// The instance, for its reports.
    pub instance: InstanceId,
    /// The instance's configuration, shared with the agent: its name (for
    /// logs), VIPs, announcement settings and VIP lifetime. A copy of them
    /// per worker was some 240 bytes of heap per instance.
    pub config: Arc<config::Instance>,
    /// With a virtual MAC, the macvlan the VIPs live on; the configured
    /// interface is then the one it sits on.
    pub vmac: Option<String>,
    /// Index of the interface the VIPs live on.
    pub ifindex: u32,
    /// Interface MAC: the link-layer address the announcements claim.
    pub mac: [u8; 6],
    /// IPv6 link-local address, the source of Neighbor Advertisements.
    pub link_local: Option<Ipv6Addr>,
}

impl AddressTarget {
    /// Instance name, for logs.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Name of the interface the VIPs live on: the macvlan with a virtual
    /// MAC, the configured interface otherwise.
    pub fn interface(&self) -> &str {
        self.vmac.as_deref().unwrap_or(&self.config.interface)
    }

    /// With a virtual MAC, the interface the macvlan sits on: the daemon
    /// deletes the macvlan and restores that interface's ARP settings once
    /// no worker uses them.
    pub fn vmac_below(&self) -> Option<&str> {
        self.vmac.as_ref().map(|_| self.config.interface.as_str())
    }

    /// The virtual IPs.
    pub fn vips(&self) -> &[VirtualIp] {
        &self.config.virtual_ips
    }

    /// Announcement settings.
    pub fn garp(&self) -> Garp {
        self.config.garp
    }

    /// The kernel lifetime the VIPs are added with; `None` is forever.
    pub fn lifetime(&self) -> Option<Duration> {
        self.config.address_lifetime()
    }
}

/// Something the daemon must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this advert on this socket.
    SendAdvert {
        /// The sender (for [`Input::SendFailed`]).
        instance: InstanceId,
        /// The socket.
        socket: SocketKey,
        /// The IP source the message's checksum was computed with.
        source: IpAddr,
        /// The VRRP group, or a unicast peer.
        destination: IpAddr,
        /// The VRRP message.
        packet: Arc<[u8]>,
    },
    /// Start the address worker of a new instance. (Boxed, as are the
    /// other large rare variants: a Master queues a thousand adverts in a
    /// tick, and every queued effect is as large as the largest variant.)
    StartInstance(Box<AddressTarget>),
    /// Queue a job on an instance's address worker; report it done with
    /// [`Input::AddressesDone`].
    Address {
        /// The instance.
        instance: InstanceId,
        /// The job's number, increasing per instance.
        seq: u64,
        /// The job.
        job: AddressJob,
    },
    /// The instance is gone and its jobs done: its worker may stop.
    StopInstance(InstanceId),
    /// An interface was re-created: look up the facts of every instance on it
    /// (opening their sockets), as at start, and answer with
    /// [`Input::InterfaceFacts`].
    LookUpInterface {
        /// The interface name.
        interface: String,
    },
    /// Look up a heartbeat link: its index, carrier and our address of this
    /// family on it (IPv4 primary, or IPv6 link-local), and open its VRRP
    /// socket; answer with [`Input::HeartbeatFacts`].
    LookUpHeartbeat {
        /// The interface name.
        interface: String,
        /// The family: true for IPv6.
        ipv6: bool,
    },
    /// No instance uses this socket any more (its interface is gone): close
    /// it and stop its reader.
    CloseSocket(SocketKey),
    /// Run a hook; report with [`Input::HookFinished`].
    RunHook(Box<HookRun>),
    /// Publish on the event stream.
    Event(EventRecord),
    /// The Master heard on the wire (or this host becoming it) changed.
    MasterChanged {
        /// The instance.
        instance: String,
    },
    /// Answer the control request waiting under `ticket` (a switchover or
    /// maintenance that waited for its outcome); nobody may wait any more.
    Answer {
        /// The request's ticket, from [`super::Answer::Later`].
        ticket: super::Ticket,
        /// The answer.
        response: Box<crate::control::Response>,
    },
    /// Persist the maintenance set so that it survives a restart.
    SaveMaintenance(Vec<String>),
    /// Ask the quorum worker to take or give up a key; it answers with
    /// [`Input::Quorum`].
    Quorum(crate::quorum::QuorumRequest),
    /// The virtual IPs this host must refuse traffic to now, except ARP and
    /// Neighbor Discovery (RFC 9568 Accept_Mode False on a Master that is not
    /// the address owner): the whole set, replacing the last one, so the
    /// daemon can apply it atomically and idempotently. Empty: refuse nothing.
    AcceptFilter(BTreeSet<IpAddr>),
    /// Something a reader waits for changed (a state, priority, Master, VIP
    /// or check): rewrite status.json and the metrics soon. Counters alone
    /// never ask for it; see [`Agent::status_version`].
    ///
    /// [`Agent::status_version`]: super::Agent::status_version
    PublishStatus,
}

/// The effects produced while handling an input, in order.
#[derive(Debug, Default)]
pub struct Out {
    pub(super) effects: VecDeque<Effect>,
    pub(super) status_dirty: bool,
}

impl Out {
    /// Appends an effect.
    pub fn push(&mut self, effect: Effect) {
        self.effects.push_back(effect);
    }
}
