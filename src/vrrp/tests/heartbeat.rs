//! Adverts heard on a heartbeat link: they keep a Backup from taking over
//! without changing which Master it follows, and never flap the election
//! between the two addresses of one Master.

use super::*;

/// The Master's address on the heartbeat link, and ours there.
fn link_addr(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
}

fn heartbeat(priority: u8, from: u8, own: u8) -> Event {
    Event::HeartbeatReceived(HeartbeatInfo {
        advert: AdvertInfo {
            priority,
            interval: Duration::from_millis(100),
            source: link_addr(from),
        },
        own_address: link_addr(own),
    })
}

fn master_down_interval(priority: u8) -> Duration {
    // RFC 9568 §6.1: 3 × Master_Adver_Interval + Skew_Time, with
    // Skew_Time = ((256 - priority) × Master_Adver_Interval) / 256.
    let interval = Duration::from_millis(100);
    3 * interval + interval * (256 - u32::from(priority)) / 256
}

#[test]
fn heartbeat_adverts_alone_keep_a_backup_and_its_noted_master() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    router.handle(t0, advert(150, 20));
    let noted = router.current_master();
    // The interface goes silent; the heartbeat link carries on for ten
    // Master_Down_Intervals.
    let mdi = master_down_interval(100);
    let mut now = t0;
    for _ in 0..(10 * mdi.as_millis() / 100) {
        now += Duration::from_millis(100);
        if router.next_deadline().is_some_and(|t| t <= now) {
            router.handle(now, Event::TimerExpired);
        }
        router.handle(now, heartbeat(150, 20, 10));
        assert_eq!(router.state(), State::Backup);
        assert_eq!(router.current_master(), noted, "same Master, not a change");
    }
    // Then the heartbeat link goes silent too: Master at Master_Down_Interval.
    let down = router.next_deadline().expect("down timer armed");
    assert_eq!(down, now + mdi);
    router.handle(down, Event::TimerExpired);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn a_lower_master_on_a_heartbeat_link_is_preempted_and_priority_zero_is_ignored() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let down = router.next_deadline().expect("armed");
    router.handle(t0 + MS, heartbeat(100, 20, 10));
    router.handle(t0 + 2 * MS, heartbeat(0, 20, 10));
    assert_eq!(
        router.next_deadline(),
        Some(down),
        "neither moved the timer"
    );
}

#[test]
fn a_master_steps_down_for_a_higher_priority_heard_on_a_heartbeat_link() {
    let t0 = Instant::now();
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    let actions = router.handle(t1 + MS, heartbeat(150, 20, 10));
    assert!(actions.contains(&Action::RemoveAddresses));
    assert_eq!(router.state(), State::Backup);
    assert_eq!(
        router.current_master(),
        None,
        "known only by its interface address"
    );
    // A lower one is left to our own adverts on that link.
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    assert!(router.handle(t1 + MS, heartbeat(100, 20, 10)).is_empty());
    assert_eq!(router.state(), State::Master);
}

#[test]
fn equal_priorities_tie_break_on_a_heartbeat_link_only_while_the_interface_is_silent() {
    let t0 = Instant::now();
    // Our interface address (.10) is below the peer's (.20), but on the
    // heartbeat link ours (.30) is above its (.20): the interface decides
    // while it carries adverts, so the two orders never fight.
    let mut router = started(settings(100), t0);
    let t1 = to_master(&mut router, t0);
    router.handle(t1 + MS, advert(100, 5)); // a lower address: we stay Master
    assert_eq!(router.state(), State::Master);
    router.handle(t1 + 2 * MS, heartbeat(100, 40, 30));
    assert_eq!(
        router.state(),
        State::Master,
        "interface heard just now: it decides"
    );
    // Once the interface has been silent for a Master_Down_Interval, the
    // heartbeat link's addresses decide: the greater one, .40, wins.
    let later = t1 + MS + master_down_interval(100);
    router.handle(later, heartbeat(100, 20, 30));
    assert_eq!(
        router.state(),
        State::Master,
        "ours is greater on this link"
    );
    router.handle(later + MS, heartbeat(100, 40, 30));
    assert_eq!(router.state(), State::Backup);
}
