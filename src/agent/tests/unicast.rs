//! `unicast_peers` and `unicast_source` through a whole agent: where adverts
//! go and from which source, which adverts are heard, and the Fault while the
//! source is not on the interface.

use super::*;

const SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99));
const THIRD_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 13));

/// An advert for VRID 1 from `source` to `destination`, its checksum over
/// both, with the given TTL.
fn advert(source: IpAddr, destination: IpAddr, priority: u8, ttl: u8) -> Input {
    let vip = Ipv4Addr::new(192, 0, 2, 51);
    let bytes = Advertisement::new(1, priority, INTERVAL, Addresses::V4(vec![vip]))
        .expect("valid advert")
        .to_bytes(source, destination, ChecksumForm::PseudoHeader)
        .expect("emits");
    Input::Datagram(Datagram {
        socket: KEY,
        source,
        destination,
        hop_limit: Some(ttl),
        payload: Ok(bytes.into()),
    })
}

/// (source, destination, priority) of every advert in `effects`.
fn adverts(effects: &[Effect]) -> Vec<(IpAddr, IpAddr, u8)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendAdvert {
                source,
                destination,
                packet,
                ..
            } => Some((*source, *destination, packet[2])),
            _ => None,
        })
        .collect()
}

/// The host's addresses say `address` is on eth0 (index 2) or not.
fn source_on_eth0(agent: &mut Agent, now: Instant, present: bool) {
    let address = KernelAddress {
        ifindex: 2,
        address: SOURCE,
    };
    let list = if present { vec![address] } else { Vec::new() };
    agent.handle(now, Input::AddressSnapshot(list));
}

/// Runs `agent` to its first Master term: the down timer expires. Returns
/// when, and the effects.
fn become_master(agent: &mut Agent) -> (Instant, Vec<Effect>) {
    let due = agent.poll_timeout().expect("down timer");
    agent.handle(due, Input::Timeout);
    (due, drain(agent))
}

#[test]
fn a_master_sends_one_advert_to_each_peer_but_itself_and_resigns_to_each() {
    let t0 = Instant::now();
    // One list for every router, this host (192.0.2.10) included.
    let peers = "    unicast_peers: [192.0.2.10, 192.0.2.11, 192.0.2.13]\n";
    let mut agent = running(&instances(&[instance("web", 1, 150, peers)]), t0);
    let (t1, effects) = become_master(&mut agent);
    assert_eq!(state(&agent, "web"), State::Master);
    assert_eq!(
        adverts(&effects),
        [(US, PEER, 150), (US, THIRD_HOST, 150)],
        "one copy a peer, none to ourselves, none to the group"
    );
    let status = agent.status(t0);
    assert_eq!(status.instances[0].mode.as_str(), "unicast");
    assert_eq!(status.instances[0].advert_destinations, [PEER, THIRD_HOST]);
    agent.shutdown(t1 + INTERVAL / 2);
    let resign = adverts(&drain(&mut agent));
    assert_eq!(resign, [(US, PEER, 0), (US, THIRD_HOST, 0)]);
}

#[test]
fn a_unicast_instance_hears_listed_peers_at_its_address_with_any_ttl() {
    let t0 = Instant::now();
    let peers = "    unicast_peers: [192.0.2.11]\n";
    let mut agent = running(&instances(&[instance("web", 1, 150, peers)]), t0);
    let (master, _) = become_master(&mut agent);
    let t1 = master + INTERVAL / 2;
    // Routed (TTL 61) but sent to us by a listed peer: heard.
    agent.handle(t1, advert(PEER, US, 200, 61));
    assert_eq!(state(&agent, "web"), State::Backup);
    // To the group, the TTL must still be 255 (RFC 9568 §7.1).
    agent.handle(t1, advert(PEER, IpAddr::V4(VRRP_GROUP_V4), 0, 254));
    // Another host, even at TTL 255 and to our address, is not a peer.
    agent.handle(t1, advert(THIRD_HOST, US, 255, 255));
    let status = agent.status(t1);
    assert_eq!(status.dropped["eth0"]["bad_ttl"], 1);
    assert_eq!(status.dropped["eth0"]["unknown_peer"], 1);
    assert_eq!(status.instances[0].counters.adverts_received, 1);
    assert_eq!(state(&agent, "web"), State::Backup);
}

#[test]
fn a_multicast_instance_still_refuses_a_routed_advert_sent_to_its_address() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 150, "")]), t0);
    let (master, _) = become_master(&mut agent);
    agent.handle(master + INTERVAL / 2, advert(PEER, US, 200, 61));
    assert_eq!(state(&agent, "web"), State::Master);
    assert_eq!(agent.status(t0).dropped["eth0"]["bad_ttl"], 1);
}

#[test]
fn unicast_source_is_the_advert_source_and_a_fault_while_off_the_interface() {
    let t0 = Instant::now();
    let lines = "    unicast_peers: [192.0.2.11]\n    unicast_source: 192.0.2.99\n";
    let mut agent = running(&instances(&[instance("web", 1, 150, lines)]), t0);
    let status = agent.status(t0);
    assert_eq!(status.instances[0].state, State::Fault);
    assert_eq!(
        status.instances[0].fault_reasons,
        ["unicast_source 192.0.2.99: the host's addresses are not read yet"]
    );
    source_on_eth0(&mut agent, t0, false);
    let status = agent.status(t0);
    assert_eq!(
        status.instances[0].fault_reasons,
        ["unicast_source 192.0.2.99 is not on eth0; no advert is sent until it is"]
    );
    assert_eq!(run_until(&mut agent, t0 + 10 * INTERVAL).len(), 0);

    let t1 = t0 + 10 * INTERVAL;
    source_on_eth0(&mut agent, t1, true);
    assert_eq!(state(&agent, "web"), State::Backup);
    let (master, effects) = become_master(&mut agent);
    assert_eq!(adverts(&effects), [(SOURCE, PEER, 150)]);
    assert_eq!(agent.status(master).instances[0].source, SOURCE);
    // Our own source coming back (a looped or forged copy) is not a peer's.
    agent.handle(master + INTERVAL / 2, advert(SOURCE, PEER, 255, 255));
    assert_eq!(agent.status(master).dropped["eth0"]["own_advert"], 1);

    // The address goes: the Master resigns and falls silent.
    let t2 = master + INTERVAL;
    agent.handle(
        t2,
        Input::AddressChanged {
            address: KernelAddress {
                ifindex: 2,
                address: SOURCE,
            },
            present: false,
        },
    );
    assert_eq!(state(&agent, "web"), State::Fault);
    drain(&mut agent);
    let later = run_until(&mut agent, t2 + 10 * INTERVAL);
    assert!(adverts(&later).is_empty(), "{later:?}");
}

#[test]
fn unicast_source_is_the_address_compared_in_a_tie_break() {
    // RFC 9568 §6.4.3: a Master hearing an equal priority yields only to a
    // greater primary address. Ours is 192.0.2.99 here, above the peer's
    // 192.0.2.11, although the interface's own (192.0.2.10) is below it.
    let t0 = Instant::now();
    let lines = "    unicast_peers: [192.0.2.11]\n    unicast_source: 192.0.2.99\n";
    let mut agent = running(&instances(&[instance("web", 1, 150, lines)]), t0);
    source_on_eth0(&mut agent, t0, true);
    let (master, _) = become_master(&mut agent);
    agent.handle(master + INTERVAL / 2, advert(PEER, SOURCE, 150, 255));
    assert_eq!(state(&agent, "web"), State::Master);
}

#[test]
fn a_reload_keeps_a_present_unicast_source_without_a_fault() {
    // The host's addresses outlive the reload: a Master whose new source is
    // already on the interface neither resigns nor faults.
    let t0 = Instant::now();
    let first = "    unicast_peers: [192.0.2.11]\n";
    let mut agent = running(&instances(&[instance("web", 1, 150, first)]), t0);
    source_on_eth0(&mut agent, t0, true);
    let (master, _) = become_master(&mut agent);
    let t1 = master + INTERVAL / 2;
    let second = "    unicast_peers: [192.0.2.11]\n    unicast_source: 192.0.2.99\n";
    agent.configure(t1, setup(&instances(&[instance("web", 1, 150, second)])));
    let effects = drain(&mut agent);
    assert_eq!(state(&agent, "web"), State::Master);
    assert!(
        adverts(&effects)
            .iter()
            .all(|&(_, _, priority)| priority > 0),
        "no resignation: {effects:?}"
    );
    let status = agent.status(t1);
    assert_eq!(status.instances[0].fault_reasons, Vec::<String>::new());
    assert_eq!(status.instances[0].source, SOURCE);
    let later = run_until(&mut agent, t1 + 2 * INTERVAL);
    assert!(adverts(&later).contains(&(SOURCE, PEER, 150)), "{later:?}");
}
