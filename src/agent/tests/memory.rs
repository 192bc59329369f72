//! What the agent keeps once a burst of work is done.

use std::collections::BTreeSet;
use std::time::Instant;

use super::{drain, instance, instances, setup};
use crate::agent::{Agent, EFFECTS_KEPT};

#[test]
fn the_effect_queue_gives_back_its_room_once_drained() {
    let t0 = Instant::now();
    let list: Vec<String> = (1..=200u8)
        .map(|vrid| instance(&format!("vr{vrid}"), vrid, 100, ""))
        .collect();
    let mut agent = Agent::new(BTreeSet::new());
    agent.configure(t0, setup(&instances(&list)));
    // Starting 200 instances queues more effects than the room kept.
    let queued = agent.out.effects.len();
    assert!(queued > EFFECTS_KEPT, "only {queued} effects queued");
    let carried_out = drain(&mut agent);
    assert!(carried_out.len() >= queued);
    assert!(
        agent.out.effects.capacity() <= EFFECTS_KEPT,
        "the drained queue still holds room for {} effects",
        agent.out.effects.capacity()
    );
}
