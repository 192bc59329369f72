//! A Master's answers to other routers' adverts (RFC 9568 §6.4.3), limited to
//! one per Advertisement_Interval so a flood cannot use the Master as an
//! amplifier.

use super::*;

fn announces(actions: &[Action]) -> usize {
    actions.iter().filter(|a| **a == Action::Announce).count()
}

#[test]
fn a_flood_of_lower_priority_adverts_gets_one_answer_per_interval() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    // The first lower-priority advert is answered at once, with announcements.
    let first = router.handle(t1 + MS, advert(100, 20));
    assert_eq!(sends(&first), vec![150]);
    assert_eq!(announces(&first), 1);
    // A thousand more within the same interval: no answer at all.
    let mut flood = Vec::new();
    for i in 0..1000u32 {
        let at = t1 + MS + Duration::from_micros(u64::from(i) * 98);
        flood.extend(router.handle(at, advert(100, 20)));
    }
    assert!(flood.is_empty(), "{flood:?}");
    assert_eq!(router.stats().answers_withheld, 1000);
    // One interval after the first answer, the next advert is answered again.
    let next = router.handle(t1 + MS + 100 * MS, advert(100, 20));
    assert_eq!(sends(&next), vec![150]);
    assert_eq!(announces(&next), 1);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn the_regular_advert_still_goes_out_during_a_flood() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    router.handle(t1 + MS, advert(100, 20));
    // The answer restarted the Adver_Timer; withheld answers do not move it.
    let due = router.next_deadline().expect("adver timer");
    assert_eq!(due, t1 + MS + 100 * MS);
    router.handle(due - MS, advert(100, 20));
    assert_eq!(router.next_deadline(), Some(due));
    assert_eq!(sends(&router.handle(due, Event::TimerExpired)), vec![150]);
}

#[test]
fn a_priority_zero_advert_is_answered_at_once_but_a_flood_once_per_interval() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    // RFC 9568 §6.4.3: send an advert and restart the Adver_Timer.
    let answer = router.handle(t1 + MS, advert(0, 20));
    assert_eq!(sends(&answer), vec![150]);
    assert_eq!(announces(&answer), 0);
    assert_eq!(router.next_deadline(), Some(t1 + MS + 100 * MS));
    let mut sent = 0;
    for i in 1..=500u32 {
        let at = t1 + MS + Duration::from_micros(u64::from(i) * 199);
        sent += sends(&router.handle(at, advert(0, 20))).len();
    }
    assert_eq!(sent, 0, "a priority-0 flood must not be answered 1:1");
    let later = router.handle(t1 + MS + 100 * MS, advert(0, 20));
    assert_eq!(sends(&later), vec![150]);
}

#[test]
fn answers_share_one_budget_whatever_they_answer() {
    let t0 = Instant::now();
    let mut router = started(settings(150), t0);
    let t1 = to_master(&mut router, t0);
    assert_eq!(sends(&router.handle(t1 + MS, advert(0, 20))).len(), 1);
    // A lower-priority Master in the same interval waits for the regular advert.
    assert!(router.handle(t1 + 2 * MS, advert(100, 21)).is_empty());
    // A higher-priority one is never held back: we yield at once.
    router.handle(t1 + 3 * MS, advert(200, 22));
    assert_eq!(router.state(), State::Backup);
}
