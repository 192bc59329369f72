//! Feeds arbitrary bytes to both ends of the control protocol.
//!
//! The agent's end: a request line, parsed as the control socket parses it,
//! then carried out by a running agent (switchover and maintenance of any
//! instance name, status), which must answer without panicking. The client's
//! end: a response line, parsed as `twinstar status` parses it, and its status
//! document rendered as the table and the metrics.

#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use twinstar::agent::{Agent, Answer, Effect, HandoverOptions, Input, Ticket};
use twinstar::control::metrics::Metrics;
use twinstar::control::{Request, Response, Status};
use twinstar_fuzz::{drain, setup, CONFIG_A};

fuzz_target!(|input: &[u8]| {
    let Ok(line) = std::str::from_utf8(input) else {
        return;
    };
    if let Ok(request) = serde_json::from_str::<Request>(line) {
        let t0 = Instant::now();
        let mut agent = Agent::new(BTreeSet::new());
        agent.configure(t0, setup(CONFIG_A));
        drain(&mut agent);
        let now = t0 + Duration::from_millis(500);
        let answer = match request {
            Request::Status => Answer::Now(Response {
                ok: true,
                status: Some(agent.status(now)),
                ..Response::default()
            }),
            Request::Switchover { instance, wait } => agent.switchover(now, &instance, wait),
            Request::Maintenance {
                on,
                instance,
                wait,
                force,
            } => agent.set_maintenance(
                now,
                on,
                instance.as_deref(),
                HandoverOptions { wait, force },
            ),
            Request::Reload => Answer::Now(Response::done("reload")),
        };
        let response = match answer {
            Answer::Now(response) => response,
            // A waiting request is answered once the new Master is heard or
            // Master_Down_Interval has passed: nobody speaks here, so by
            // then (at most 3 × 40.95 s + skew), and never twice.
            Answer::Later(ticket) => answered_later(&mut agent, now, ticket),
        };
        drain(&mut agent);
        let text = serde_json::to_string(&response).expect("a response always encodes");
        let back: Response = serde_json::from_str(&text).expect("an encoded response parses");
        assert_eq!(back.ok, response.ok);
    }
    if let Ok(response) = serde_json::from_str::<Response>(line) {
        if let Some(status) = response.status {
            let _ = twinstar::control::table::render(&status);
            if let Ok(text) = status.to_json_pretty() {
                let back: Status =
                    serde_json::from_str(&text).expect("a written status reads back");
                assert_eq!(back, status);
            }
            let metrics = Metrics::new();
            metrics.update(status);
            let _ = metrics.render();
        }
    }
});

/// Runs the agent's timers until it answers `ticket`.
fn answered_later(agent: &mut Agent, start: Instant, ticket: Ticket) -> Response {
    let mut now = start;
    let latest = start + Duration::from_secs(130);
    let mut answer = None;
    while now <= latest {
        for effect in drain(agent) {
            if let Effect::Answer {
                ticket: t,
                response,
            } = effect
            {
                if t == ticket {
                    assert!(answer.is_none(), "ticket {ticket:?} answered twice");
                    answer = Some(response);
                }
            }
        }
        if let Some(response) = answer {
            return *response;
        }
        now = match agent.poll_timeout() {
            Some(due) => due.max(now) + Duration::from_millis(1),
            None => now + Duration::from_millis(100),
        };
        agent.handle(now, Input::Timeout);
    }
    panic!("ticket {ticket:?} not answered within Master_Down_Interval");
}
