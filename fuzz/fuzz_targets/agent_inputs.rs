//! Drives one sans-IO agent with an arbitrary sequence of inputs: time passing,
//! adverts (well-formed ones from peers, this host and strangers, and raw
//! bytes), carrier changes, interfaces removed and made again, the kernel's
//! address notices and snapshots, check results, address workers and hooks finishing
//! (or reporting jobs that were never asked for), failed sends, switchover,
//! maintenance, reloads and a stop.
//!
//! Nothing may panic, and what the agent asks for must stay consistent: the
//! address jobs of an instance are numbered in increasing order, hook runs are
//! never handed out twice, the status document reads back as written, the next
//! wake-up is never in the past after a timeout was handled, and once stopped,
//! with every job and hook reported done, the agent finishes.

#![no_main]

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use twinstar::agent::{
    Agent, Datagram, DropReason, Effect, HandoverOptions, HookRunId, Input, InstanceFacts,
    InstanceId, KernelAddress, SocketKey,
};
use twinstar::config::VirtualIp;
use twinstar::control::Status;
use twinstar::quorum::{QuorumReport, QuorumRequest};
use twinstar::track::monitor::CheckUpdate;
use twinstar::track::process::{ScriptOutcome, ScriptResult};
use twinstar::wire::vrrp::{Addresses, Advertisement, ChecksumForm};
use twinstar_fuzz::{drain, setup, CONFIG_A, CONFIG_B, CONFIG_I, CONFIG_Q, US_V4, US_V6};

const V4_SOCKET: SocketKey = SocketKey {
    ifindex: 2,
    ipv6: false,
};
const V6_SOCKET: SocketKey = SocketKey {
    ifindex: 3,
    ipv6: true,
};

/// Reads the fuzz input a byte at a time, zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }

    fn bit(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn slice(&mut self, len: usize) -> &[u8] {
        let len = len.min(self.0.len());
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        head
    }
}

/// What the agent asked for and has not been told about yet.
#[derive(Default)]
struct Pending {
    jobs: VecDeque<(InstanceId, u64)>,
    hooks: VecDeque<HookRunId>,
    last_seq: HashMap<InstanceId, u64>,
    hooks_seen: HashSet<HookRunId>,
    vips: HashMap<InstanceId, Vec<VirtualIp>>,
    /// Interfaces the agent asked to look up again (re-created).
    lookups: VecDeque<String>,
    /// Keys the agent asked the quorum worker to take or give up.
    quorum: VecDeque<String>,
}

impl Pending {
    /// Takes in the agent's effects, checking what must hold of them.
    fn absorb(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::StartInstance(target) => {
                    self.vips.insert(target.instance, target.vips().to_vec());
                }
                Effect::Address { instance, seq, .. } => {
                    if let Some(last) = self.last_seq.insert(instance, seq) {
                        assert!(seq > last, "job {seq} of {instance:?} after job {last}");
                    }
                    self.jobs.push_back((instance, seq));
                }
                Effect::LookUpInterface { interface } => self.lookups.push_back(interface),
                Effect::Quorum(QuorumRequest::Acquire { key } | QuorumRequest::Release { key }) => {
                    self.quorum.push_back(key);
                }
                Effect::RunHook(run) => {
                    assert!(
                        self.hooks_seen.insert(run.id),
                        "hook run {:?} twice",
                        run.id
                    );
                    self.hooks.push_back(run.id);
                }
                _ => {}
            }
        }
    }
}

fn peer_source(choice: u8, v6: bool) -> IpAddr {
    match (v6, choice % 4) {
        (false, 0) => US_V4,
        (false, 1) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
        (false, 2) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)),
        (false, _) => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
        (true, 0) => IpAddr::V6(US_V6),
        (true, 1) => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x11)),
        (true, 2) => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x9)),
        (true, _) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
    }
}

/// A well-formed advert for one of the configured VRIDs (or a stranger's).
fn advert(bytes: &mut Bytes) -> Option<Datagram> {
    let vrid = [1, 2, 3, 4, 77][usize::from(bytes.byte() % 5)];
    let v6 = vrid == 3 && !bytes.bit();
    let priority = bytes.byte();
    let centis = u16::from(bytes.byte()) * 8 + 1;
    let interval = Duration::from_millis(u64::from(centis) * 10);
    let addresses = if v6 {
        Addresses::V6(vec!["2001:db8::53".parse().ok()?])
    } else {
        let count = bytes.byte() % 3;
        Addresses::V4(
            (0..count)
                .map(|i| Ipv4Addr::new(192, 0, 2, 50 + vrid + i * 10))
                .collect(),
        )
    };
    let source = peer_source(bytes.byte(), v6);
    let (socket, destination) = if v6 {
        (
            V6_SOCKET,
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        )
    } else {
        (V4_SOCKET, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)))
    };
    let form = if bytes.bit() {
        ChecksumForm::PseudoHeader
    } else {
        ChecksumForm::MessageOnly
    };
    let packet = Advertisement::new(vrid, priority, interval, addresses)
        .ok()?
        .to_bytes(source, destination, form)
        .ok()?;
    let hop_limit = if bytes.byte() < 240 {
        Some(255)
    } else {
        Some(bytes.byte())
    };
    Some(Datagram {
        socket,
        source,
        destination,
        hop_limit,
        payload: Ok(packet.into()),
    })
}

fn raw_datagram(bytes: &mut Bytes) -> Datagram {
    let v6 = bytes.bit();
    let len = usize::from(bytes.byte() % 64);
    let payload = if bytes.byte() < 16 {
        Err(DropReason::BadIpHeader("truncated"))
    } else {
        Ok(bytes.slice(len).to_vec().into())
    };
    Datagram {
        socket: if v6 { V6_SOCKET } else { V4_SOCKET },
        source: peer_source(bytes.byte(), v6),
        destination: if v6 {
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12))
        } else {
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))
        },
        hop_limit: Some(bytes.byte()),
        payload,
    }
}

fn outcome(bytes: &mut Bytes) -> ScriptOutcome {
    let result = match bytes.byte() % 4 {
        0 | 1 => ScriptResult::Exited(i32::from(bytes.byte() % 3)),
        2 => ScriptResult::TimedOut,
        _ => ScriptResult::Signaled(9),
    };
    ScriptOutcome {
        result,
        last_line: None,
        duration: Duration::from_millis(u64::from(bytes.byte())),
    }
}

const NAMES: [&str; 5] = ["web", "db", "v6", "new", "nope"];

/// One of the configured VIPs, this host's own address, or a stranger's.
fn kernel_address(bytes: &mut Bytes) -> IpAddr {
    match bytes.byte() % 6 {
        0 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 51)),
        1 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 61)),
        2 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 52)),
        3 => "2001:db8::53".parse().unwrap_or(IpAddr::V6(US_V6)),
        4 => US_V4,
        _ => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
    }
}

fuzz_target!(|input: &[u8]| {
    let mut bytes = Bytes(input);
    let t0 = Instant::now();
    let mut now = t0;
    let mut agent = Agent::new(BTreeSet::new());
    let mut pending = Pending::default();
    agent.configure(now, setup(CONFIG_A));
    pending.absorb(drain(&mut agent));
    let mut stopped = false;

    for _ in 0..400 {
        if bytes.0.is_empty() {
            break;
        }
        match bytes.byte() % 22 {
            0 | 1 => {
                now += Duration::from_millis(u64::from(bytes.byte()) * 5);
                while let Some(due) = agent.poll_timeout().filter(|due| *due <= now) {
                    agent.handle(now, Input::Timeout);
                    pending.absorb(drain(&mut agent));
                    // A handled timeout moves the wake-up past `now`: the
                    // daemon would otherwise wake again at once, for ever.
                    if let Some(next) = agent.poll_timeout() {
                        assert!(
                            next > now,
                            "wake-up {:?} not moved past a handled timeout",
                            next - due
                        );
                    }
                }
            }
            2 | 3 => {
                if let Some(datagram) = advert(&mut bytes) {
                    agent.handle(now, Input::Datagram(datagram));
                }
            }
            4 => agent.handle(now, Input::Datagram(raw_datagram(&mut bytes))),
            5 => {
                let eth1 = bytes.bit();
                agent.handle(
                    now,
                    Input::Link {
                        ifindex: if eth1 { 3 } else { 2 },
                        name: if eth1 { "eth1" } else { "eth0" }.to_owned(),
                        carrier: bytes.bit(),
                    },
                );
            }
            6 => {
                let up = bytes.bit();
                agent.handle(
                    now,
                    Input::Check(CheckUpdate {
                        check: if bytes.bit() { "svc" } else { "other" }.to_owned(),
                        up,
                        value: i64::from(bytes.byte() as i8),
                        detail: String::new(),
                        last_output: None,
                    }),
                );
            }
            7 | 8 => {
                if let Some((instance, seq)) = pending.jobs.pop_front() {
                    let present = if bytes.bit() {
                        pending.vips.get(&instance).cloned().unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    agent.handle(
                        now,
                        Input::AddressesDone {
                            instance,
                            seq,
                            present,
                        },
                    );
                }
            }
            9 => {
                if let Some(run) = pending.hooks.pop_front() {
                    let outcome = outcome(&mut bytes);
                    agent.handle(now, Input::HookFinished { run, outcome });
                }
            }
            10 => {
                // Reports nobody asked for: a stale job number, a stranger's
                // instance, a hook run that never was.
                let instance = InstanceId(u64::from(bytes.byte() % 8));
                let seq = u64::from(bytes.byte());
                agent.handle(
                    now,
                    Input::AddressesDone {
                        instance,
                        seq,
                        present: Vec::new(),
                    },
                );
                let run = HookRunId(u64::from(bytes.byte()) + 1_000_000);
                agent.handle(
                    now,
                    Input::HookFinished {
                        run,
                        outcome: outcome(&mut bytes),
                    },
                );
                agent.handle(
                    now,
                    Input::SendFailed {
                        instance,
                        // The interface's socket, or a heartbeat link's.
                        socket: SocketKey {
                            ifindex: if bytes.bit() { 3 } else { 2 },
                            ipv6: bytes.bit(),
                        },
                        error: "ENOBUFS".to_owned(),
                    },
                );
            }
            11 => {
                let name = NAMES[usize::from(bytes.byte() % 5)];
                let _ = agent.switchover(now, name, bytes.bit());
            }
            12 => {
                let on = bytes.bit();
                let name = if bytes.bit() {
                    Some(NAMES[usize::from(bytes.byte() % 5)])
                } else {
                    None
                };
                let options = HandoverOptions {
                    wait: bytes.bit(),
                    force: bytes.bit(),
                };
                let _ = agent.set_maintenance(now, on, name, options);
            }
            13 if !stopped => {
                let text = [CONFIG_A, CONFIG_B, CONFIG_Q, CONFIG_I][usize::from(bytes.byte() % 4)];
                let _ = agent.configure(now, setup(text));
            }
            14 => {
                let status = agent.status(now);
                let text = status.to_json_pretty().expect("status encodes");
                let back: Status = serde_json::from_str(&text).expect("status reads back");
                assert_eq!(back, status);
                let _ = agent.summary_line();
            }
            15 if !stopped && bytes.byte() < 32 => {
                agent.shutdown(now);
                stopped = true;
            }
            16 => {
                let ifindex = if bytes.bit() { 3 } else { 2 };
                agent.handle(
                    now,
                    Input::AddressChanged {
                        address: KernelAddress {
                            ifindex,
                            address: kernel_address(&mut bytes),
                        },
                        present: bytes.bit(),
                    },
                );
            }
            17 => {
                let count = bytes.byte() % 4;
                let snapshot = (0..count)
                    .map(|_| KernelAddress {
                        ifindex: if bytes.bit() { 3 } else { 2 },
                        address: kernel_address(&mut bytes),
                    })
                    .collect();
                agent.handle(now, Input::AddressSnapshot(snapshot));
            }
            18 => {
                let eth1 = bytes.bit();
                agent.handle(
                    now,
                    Input::LinkRemoved {
                        ifindex: if eth1 { 3 } else { 2 },
                        name: if eth1 { "eth1" } else { "eth0" }.to_owned(),
                    },
                );
            }
            19 => {
                // The interface is back (made again, under a new index), or
                // its lookup failed.
                if let Some(interface) = pending.lookups.pop_front() {
                    let found = bytes.bit();
                    let facts = NAMES
                        .iter()
                        .map(|name| {
                            let v6 = interface == "eth1";
                            let facts = InstanceFacts {
                                ifindex: if v6 { 13 } else { 12 },
                                mac: [2, 0, 0, 0, 1, if v6 { 3 } else { 2 }],
                                link_local: Some(US_V6),
                                source: if v6 { IpAddr::V6(US_V6) } else { US_V4 },
                                carrier: bytes.bit(),
                                vmac: None,
                            };
                            let answer = if found {
                                Ok(facts)
                            } else {
                                Err("no address yet".to_owned())
                            };
                            ((*name).to_owned(), answer)
                        })
                        .collect();
                    agent.handle(now, Input::InterfaceFacts { interface, facts });
                }
            }
            20 | 21 => {
                // The quorum worker's answer to a request, or news of the
                // lease (sent by the worker unasked).
                let key = pending.quorum.pop_front();
                let sent_at =
                    now - Duration::from_millis(u64::from(bytes.byte()) * 10).min(now - t0);
                let report = match (key, bytes.byte() % 6) {
                    (Some(key), 0 | 1) => QuorumReport::Acquired { key, sent_at },
                    (Some(key), 2) => QuorumReport::HeldBy {
                        key,
                        holder: "other".to_owned(),
                    },
                    (Some(key), 3) => QuorumReport::Released { key },
                    (key, 4) => QuorumReport::Unreachable {
                        key,
                        error: "deadline".to_owned(),
                    },
                    (_, 5) => QuorumReport::LeaseLost,
                    _ => QuorumReport::Renewed {
                        sent_at,
                        latency: Duration::from_millis(3),
                    },
                };
                agent.handle(now, Input::Quorum(report));
            }
            _ => {}
        }
        pending.absorb(drain(&mut agent));
    }

    // Stop, and let every job and hook finish: the agent must be done in a
    // bounded time (a stop must never hang on the agent's side).
    if !stopped {
        agent.shutdown(now);
        pending.absorb(drain(&mut agent));
    }
    for _ in 0..10_000 {
        if agent.is_finished() {
            return;
        }
        if let Some((instance, seq)) = pending.jobs.pop_front() {
            agent.handle(
                now,
                Input::AddressesDone {
                    instance,
                    seq,
                    present: Vec::new(),
                },
            );
        } else if let Some(run) = pending.hooks.pop_front() {
            let done = ScriptOutcome {
                result: ScriptResult::Exited(0),
                last_line: None,
                duration: Duration::ZERO,
            };
            agent.handle(now, Input::HookFinished { run, outcome: done });
        } else {
            now += Duration::from_millis(50);
            agent.handle(now, Input::Timeout);
        }
        pending.absorb(drain(&mut agent));
    }
    panic!("the agent did not finish its stop with every job and hook done");
});
