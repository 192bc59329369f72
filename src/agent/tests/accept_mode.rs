//! Accept_Mode (RFC 9568 §6.1, §6.4.3): which VIPs the agent asks the
//! daemon to refuse traffic to, and when.

use super::*;

const REFUSE: &str = "    accept: false\n";

/// Every refused set the effects hand out, in order.
fn filters(effects: &[Effect]) -> Vec<BTreeSet<IpAddr>> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::AcceptFilter(set) => Some(set.clone()),
            _ => None,
        })
        .collect()
}

fn vip(vrid: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50 + vrid))
}

/// Long enough for a lone Backup to become Master: Master_Down_Interval
/// (RFC 9568 §6.1: 3 × interval + skew, skew < interval) with room to spare.
fn past_master_down(t0: Instant) -> Instant {
    t0 + INTERVAL * 5
}

#[test]
fn a_non_owner_master_with_accept_false_refuses_its_vips_until_it_stops() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 150, REFUSE)]), t0);
    let t1 = past_master_down(t0);
    let effects = run_until(&mut agent, t1);
    assert_eq!(state(&agent, "web"), State::Master);
    assert_eq!(filters(&effects), vec![BTreeSet::from([vip(1)])]);
    // Adverts keep going out; the set handed out does not repeat.
    let later = run_until(&mut agent, t1 + INTERVAL * 10);
    assert!(filters(&later).is_empty(), "{later:?}");
    // A stopping Master keeps its VIPs (refused) until a successor speaks
    // or Master_Down_Interval passes; then they go, and so does the refusal.
    let t2 = t1 + INTERVAL * 10;
    agent.shutdown(t2);
    let mut effects = drain(&mut agent);
    effects.extend(run_until(&mut agent, past_master_down(t2)));
    assert_eq!(filters(&effects), vec![BTreeSet::new()]);
}

#[test]
fn default_accept_and_the_address_owner_refuse_nothing() {
    let t0 = Instant::now();
    let list = [
        instance("default", 1, 150, ""),
        instance("owner", 2, 255, REFUSE),
    ];
    let mut agent = running(&instances(&list), t0);
    let effects = run_until(&mut agent, past_master_down(t0));
    assert_eq!(state(&agent, "default"), State::Master);
    assert_eq!(state(&agent, "owner"), State::Master);
    assert!(filters(&effects).is_empty(), "{effects:?}");
}

#[test]
fn a_backup_refuses_nothing_and_a_master_that_yields_stops_refusing() {
    let t0 = Instant::now();
    let list = [
        instance("web", 1, 150, REFUSE),
        instance("db", 2, 150, REFUSE),
    ];
    let mut agent = running(&instances(&list), t0);
    // A higher-priority Master on VRID 2 from the start: db stays Backup.
    let mut effects = Vec::new();
    let mut t = t0;
    while t < past_master_down(t0) {
        agent.handle(t, advert_from_peer(2, 200));
        effects.extend(drain(&mut agent));
        effects.extend(run_until(&mut agent, t + INTERVAL));
        t += INTERVAL;
    }
    assert_eq!(state(&agent, "web"), State::Master);
    assert_eq!(state(&agent, "db"), State::Backup);
    assert_eq!(filters(&effects), vec![BTreeSet::from([vip(1)])]);
    // A higher-priority router appears on VRID 1: web yields (preempt) and
    // its VIP is refused no more.
    agent.handle(t, advert_from_peer(1, 200));
    let effects = drain(&mut agent);
    assert_eq!(state(&agent, "web"), State::Backup);
    assert_eq!(filters(&effects), vec![BTreeSet::new()]);
}

#[test]
fn a_reload_that_changes_accept_or_the_vips_of_a_master_changes_the_refused_set() {
    let t0 = Instant::now();
    let mut agent = running(&instances(&[instance("web", 1, 150, REFUSE)]), t0);
    let t1 = past_master_down(t0);
    run_until(&mut agent, t1);
    assert_eq!(state(&agent, "web"), State::Master);
    // accept: true now: nothing refused, the Master keeps its VIPs.
    agent.configure(t1, setup(&instances(&[instance("web", 1, 150, "")])));
    assert_eq!(filters(&drain(&mut agent)), vec![BTreeSet::new()]);
    assert_eq!(state(&agent, "web"), State::Master);
    // Back to false, with a second VIP.
    let two = instance("web", 1, 150, REFUSE).replace(
        "virtual_ips: [192.0.2.51/24]",
        "virtual_ips: [192.0.2.51/24, 192.0.2.99/24]",
    );
    agent.configure(t1, setup(&instances(&[two])));
    let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99));
    assert_eq!(
        filters(&drain(&mut agent)),
        vec![BTreeSet::from([vip(1), other])]
    );
}
