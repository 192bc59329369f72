//! The status document as the status file holds it.

use super::*;

/// The text made one instance at a time for the status file is the text of
/// the whole document, as `status --json` prints it.
#[test]
fn the_status_text_made_instance_by_instance_is_the_documents_text() {
    let t0 = Instant::now();
    let list = [
        instance("web", 1, 150, ""),
        instance("db", 2, 100, ""),
        instance("cache", 3, 120, ""),
    ];
    let mut agent = running(&instances(&list), t0);
    let t1 = agent.poll_timeout().expect("down timer");
    agent.handle(t1, Input::Timeout);
    drain(&mut agent);
    assert!(list_states(&agent).contains(&State::Master));

    let mut text = Vec::new();
    agent
        .write_status_json(t1, 4242, &mut text)
        .expect("the text is made");
    let mut whole = agent.status(t1);
    whole.pid = 4242;
    let expected = whole.to_json_pretty().expect("the document's text");
    assert_eq!(String::from_utf8(text).expect("UTF-8"), expected);
    assert!(expected.contains("\"name\": \"cache\""), "{expected}");
}

fn list_states(agent: &Agent) -> Vec<State> {
    ["web", "db", "cache"]
        .iter()
        .map(|name| state(agent, name))
        .collect()
}
