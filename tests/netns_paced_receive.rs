//! A busy VRRP socket is read at a pace instead of at every arrival: a Master
//! alone on the lab takes bursts of adverts for a VRID it does not run from
//! the client,
//! far larger than one read batch, and must count every one dropped; a priority-0
//! advert right after a burst, or after a quiet spell, must still be answered
//! at once (RFC 9568 §6.4.3: a Master answers priority 0 with an advert); and
//! when the socket falls quiet the reader must go back to being woken by
//! arrivals, not keep waking itself at the pace.

mod support;

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use support::agents::{agent, can_run_lab, config, lab, MARGIN, STARTUP};
use support::attacker::advert;
use support::rfc::master_down_interval;
use twinstar::lab::Agent;

const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const VIP: &str = "192.0.2.50";
/// The Master's interval: long, so that its own adverts never fall inside a
/// measured answer (see [`HELD`]).
const INTERVAL: Duration = Duration::from_secs(1);
/// Adverts per burst: several read batches (64) at once.
const BURST: usize = 400;
/// Bursts in the first phase, [`BURST_GAP`] apart.
const BURSTS: usize = 10;
/// Shorter than the pace's few milliseconds, so the reader stays paced
/// between bursts and must drain several batches per read.
const BURST_GAP: Duration = Duration::from_millis(3);
/// How long the Master may take to answer a priority-0 advert: a pace, the
/// queue ahead of it (a few hundred adverts through a debug build) and a
/// loaded two-core machine. A reader that stopped reading, or read one
/// batch per pace, takes far longer.
const ANSWER: Duration = Duration::from_millis(30);

/// Time between two adverts of the flood: spread out, a few every
/// millisecond (the sleep's slack makes it 5,000–10,000 a second), so that a
/// reader woken by readiness would wake for nearly every one.
const FLOOD_SPACING: Duration = Duration::from_micros(50);

/// Time between two priority-0 adverts: a Master answers at most one per
/// advert interval (`may_answer` in the router), and its own next advert
/// comes one interval after an answer, so it cannot pass for the next one.
const HELD: Duration = Duration::from_millis(1_100);

/// The client's end: one raw VRRP socket in its namespace, joined to the
/// group, that sends forged adverts and hears the Master's.
struct Client {
    socket: Socket,
    to: SockAddr,
    master: Ipv4Addr,
    /// An advert for a VRID nobody runs: the Master counts and drops it
    /// without answering (a lower-priority advert for its own VRID would be
    /// answered, and the answer hold would hide the next priority 0).
    stray: Vec<u8>,
    resign: Vec<u8>,
}

impl Client {
    /// Must run on a thread inside the client's namespace.
    fn open(me: Ipv4Addr, master: Ipv4Addr) -> Client {
        let socket =
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).expect("raw socket");
        socket.bind_device(Some(b"eth0")).expect("bind eth0");
        socket
            .set_multicast_if_v4(&me)
            .expect("multicast interface");
        socket.set_multicast_loop_v4(false).expect("no loop");
        socket.set_multicast_ttl_v4(255).expect("TTL 255");
        socket
            .join_multicast_v4(&VRRP_GROUP, &me)
            .expect("join the group");
        Client {
            socket,
            to: SockAddr::from(SocketAddrV4::new(VRRP_GROUP, 0)),
            master,
            stray: advert(me, 52, 100, INTERVAL, VIP),
            resign: advert(me, 51, 0, INTERVAL, VIP),
        }
    }

    fn send(&self, packet: &[u8], count: usize) {
        for _ in 0..count {
            let sent = self.socket.send_to(packet, &self.to).expect("send");
            assert_eq!(sent, packet.len(), "short send");
        }
    }

    /// Sends strays one at a time, [`FLOOD_SPACING`] apart (or as much
    /// more as the sleep takes), for `span`; returns how many it sent.
    fn flood(&self, span: Duration) -> u64 {
        let start = Instant::now();
        let mut sent = 0;
        while start.elapsed() < span {
            self.send(&self.stray, 1);
            sent += 1;
            std::thread::sleep(FLOOD_SPACING);
        }
        sent
    }

    /// Sends a priority-0 advert and returns how long the Master took to
    /// send one of its own (the answer), dropping what was heard before.
    fn answer_time(&self) -> Duration {
        let mut buf = [0u8; 1500];
        self.socket.set_nonblocking(true).expect("non-blocking");
        while (&self.socket).read(&mut buf).is_ok() {}
        self.socket.set_nonblocking(false).expect("blocking");
        let sent = Instant::now();
        self.send(&self.resign, 1);
        loop {
            let left = (sent + ANSWER * 10).saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no answer to priority 0 in {:?}",
                ANSWER * 10
            );
            self.socket.set_read_timeout(Some(left)).expect("timeout");
            match (&self.socket).read(&mut buf) {
                Ok(len) if len >= 20 && buf[12..16] == self.master.octets() => {
                    return sent.elapsed()
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("receive: {e}"),
            }
        }
    }
}

/// Voluntary context switches of every thread of process `pid`: how often
/// it went to sleep, and so how often something woke it.
fn wake_ups(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("threads");
    tasks
        .filter_map(|task| {
            let status = std::fs::read_to_string(task.ok()?.path().join("status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Adverts the Master dropped for naming a VRID it does not run.
fn strays(master: &Agent) -> u64 {
    master
        .status()
        .map(|s| s.dropped("eth0", "unknown_vrid"))
        .unwrap_or(0)
}

/// Waits until the Master has counted `total` strays (its status file
/// shows counters within a second or so); false if it never does.
fn counted(master: &Agent, total: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if strays(master) >= total {
            return strays(master) == total;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_paced_reader_counts_every_advert_of_a_burst_and_answers_at_once() {
    if !can_run_lab("a_paced_reader_counts_every_advert_of_a_burst_and_answers_at_once") {
        return;
    }
    let lab = lab("pace", 2);
    let master = agent(
        &lab,
        "pace",
        0,
        &config(51, 200, "1s", &format!("{VIP}/24"), ""),
    );
    master
        .wait_for_state(
            "web",
            "master",
            master_down_interval(200, INTERVAL) + STARTUP + MARGIN,
        )
        .expect("master");
    let pid = master.pid().expect("running");
    let (me, master_ip, ns) = (
        lab.client.ipv4,
        lab.hosts[0].ipv4,
        lab.client.ns.name().to_owned(),
    );
    let client = std::thread::spawn(move || {
        twinstar::lab::enter_namespace(&ns).expect("enter the client's namespace");
        Client::open(me, master_ip)
    })
    .join()
    .expect("client socket");
    // The socket's namespace was fixed when it was made: it may be used from
    // any thread now.
    let before = strays(&master);

    // Bursts closer together than the reader needs to fall quiet, then a
    // priority-0 advert right behind the last one.
    for _ in 0..BURSTS {
        client.send(&client.stray, BURST);
        std::thread::sleep(BURST_GAP);
    }
    client.send(&client.stray, BURST);
    let behind_a_burst = client.answer_time();
    let total = before + ((BURSTS + 1) * BURST) as u64;
    assert!(
        counted(&master, total),
        "the Master counted {} adverts of {}\n{}",
        strays(&master) - before,
        total - before,
        master.log()
    );

    // A lone advert after a quiet spell, and one shortly after a burst
    // (while the reader leaves its pace).
    let mut answers = vec![behind_a_burst];
    for _ in 0..3 {
        std::thread::sleep(HELD);
        answers.push(client.answer_time());
        std::thread::sleep(HELD);
        client.send(&client.stray, BURST / 2);
        std::thread::sleep(Duration::from_millis(2));
        answers.push(client.answer_time());
    }
    println!("answers to priority 0: {answers:?}");
    for (i, answer) in answers.iter().enumerate() {
        assert!(
            *answer <= ANSWER,
            "answer {i} took {answer:?} (bound {ANSWER:?}): {answers:?}\n{}",
            master.log()
        );
    }

    // A flood of adverts a few at a time: the reader wakes about once per
    // pace, not once per advert as readiness would have it.
    let (start, at) = (wake_ups(pid), Instant::now());
    let flooded = client.flood(Duration::from_secs(1));
    let woken = wake_ups(pid) - start;
    let per_second = woken as f64 / at.elapsed().as_secs_f64();
    println!(
        "wake-ups of the Master under a flood of {flooded} adverts: {woken} ({per_second:.0}/s)"
    );
    assert!(
        woken * 4 < flooded,
        "the Master woke {woken} times for {flooded} adverts: not paced?"
    );

    // Quiet again: the reader waits for arrivals, it does not wake itself.
    std::thread::sleep(Duration::from_millis(200));
    let (start, at) = (wake_ups(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let idle = (wake_ups(pid) - start) as f64 / at.elapsed().as_secs_f64();
    println!("wake-ups of the idle Master: {idle:.0}/s");
    assert!(
        idle < 200.0,
        "the idle Master woke {idle:.0} times a second: still paced?"
    );
}
