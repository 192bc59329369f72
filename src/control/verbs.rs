//! What the CLI verbs (`status`, `switchover`, `maintenance`, `reload`) do with
//! the agent's answer: the text for stdout and stderr and the exit status.
//!
//! The `*_outcome` functions are pure, so the rules are tested without a socket;
//! the others send the request first.

use std::path::Path;

use super::client::{self, ControlError};
use super::protocol::{Request, Response};
use super::status::Status;
use super::table;

/// Exit status for errors: no connection, a refused request, a bad answer.
pub const EXIT_ERROR: u8 = 1;

/// What a verb prints and how it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// For stdout (empty, or ending with a newline).
    pub stdout: String,
    /// For stderr (empty, or ending with a newline).
    pub stderr: String,
    /// The process exit status.
    pub code: u8,
}

impl Outcome {
    fn error(verb: &str, message: impl std::fmt::Display) -> Self {
        Outcome {
            stdout: String::new(),
            stderr: format!("twinstar {verb}: {message}\n"),
            code: EXIT_ERROR,
        }
    }

    fn from_request(verb: &str, result: Result<Response, ControlError>) -> Result<Response, Self> {
        result.map_err(|e| Outcome::error(verb, e))
    }
}

/// `twinstar status [--json] [INSTANCE]`.
pub fn status(runtime_dir: &Path, json: bool, instance: Option<&str>) -> Outcome {
    match Outcome::from_request("status", client::request(runtime_dir, &Request::Status)) {
        Ok(response) => status_outcome(&response, json, instance),
        Err(outcome) => outcome,
    }
}

/// The status document as pretty JSON (`json`) or as the table, narrowed to
/// `instance` when given; exit 3 when a shown instance is in Fault.
pub fn status_outcome(response: &Response, json: bool, instance: Option<&str>) -> Outcome {
    if !response.ok {
        return refused("status", response);
    }
    let Some(mut doc) = response.status.clone() else {
        return Outcome::error("status", "the agent's answer has no status document");
    };
    if let Some(name) = instance {
        if let Err(e) = keep_only(&mut doc, name) {
            return Outcome::error("status", e);
        }
    }
    let stdout = if json {
        match doc.to_json_pretty() {
            Ok(text) => text + "\n",
            Err(e) => return Outcome::error("status", e),
        }
    } else {
        table::render(&doc)
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code: table::exit_code(&doc),
    }
}

/// Narrows `instances` to the one named `name`.
fn keep_only(doc: &mut Status, name: &str) -> Result<(), String> {
    let names: Vec<&str> = doc.instances.iter().map(|i| i.name.as_str()).collect();
    if !names.contains(&name) {
        let known = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        };
        return Err(format!("no instance named {name:?} (instances: {known})"));
    }
    doc.instances.retain(|i| i.name == name);
    Ok(())
}

/// `twinstar switchover NAME [--no-wait]`: exit 0 once the new Master is
/// heard (or at once with `--no-wait`), 1 when nobody took over.
pub fn switchover(runtime_dir: &Path, instance: &str, wait: bool) -> Outcome {
    let request = Request::Switchover {
        instance: instance.to_string(),
        wait,
    };
    simple("switchover", runtime_dir, &request)
}

/// `twinstar maintenance on|off [INSTANCE | --all] [--no-wait] [--force]`;
/// `None` is every instance.
pub fn maintenance(
    runtime_dir: &Path,
    on: bool,
    instance: Option<&str>,
    wait: bool,
    force: bool,
) -> Outcome {
    let request = Request::Maintenance {
        on,
        instance: instance.map(str::to_string),
        wait,
        force,
    };
    simple("maintenance", runtime_dir, &request)
}

/// `twinstar reload`.
pub fn reload(runtime_dir: &Path) -> Outcome {
    simple("reload", runtime_dir, &Request::Reload)
}

fn simple(verb: &str, runtime_dir: &Path, request: &Request) -> Outcome {
    match Outcome::from_request(verb, client::request(runtime_dir, request)) {
        Ok(response) => simple_outcome(verb, &response),
        Err(outcome) => outcome,
    }
}

/// For the verbs that only act: the message and exit 0, or the error (and any
/// configuration errors, one per line) on stderr and exit 1.
pub fn simple_outcome(verb: &str, response: &Response) -> Outcome {
    if !response.ok {
        return refused(verb, response);
    }
    let message = response.message.as_deref().unwrap_or("done");
    Outcome {
        stdout: format!("{message}\n"),
        stderr: String::new(),
        code: 0,
    }
}

fn refused(verb: &str, response: &Response) -> Outcome {
    let error = response
        .error
        .as_deref()
        .unwrap_or("the agent refused without saying why");
    let mut outcome = Outcome::error(verb, error);
    for line in &response.errors {
        outcome.stderr.push_str(line);
        outcome.stderr.push('\n');
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::status::samples::instance;
    use crate::vrrp::State;

    fn status_response(states: &[(&str, State)]) -> Response {
        Response {
            ok: true,
            status: Some(Status {
                pid: 1,
                instances: states.iter().map(|&(n, s)| instance(n, s)).collect(),
                ..Status::default()
            }),
            ..Response::default()
        }
    }

    #[test]
    fn status_exits_3_when_a_shown_instance_is_in_fault() {
        let response = status_response(&[("web", State::Master), ("api", State::Fault)]);
        let all = status_outcome(&response, false, None);
        assert_eq!(all.code, table::EXIT_FAULT);
        assert!(all.stdout.starts_with("INSTANCE"), "{}", all.stdout);
        assert!(all.stderr.is_empty());
        assert_eq!(status_outcome(&response, false, Some("web")).code, 0);
        assert_eq!(status_outcome(&response, true, Some("api")).code, 3);
    }

    #[test]
    fn status_json_is_the_document_narrowed_to_the_instance() {
        let response = status_response(&[("web", State::Master), ("api", State::Backup)]);
        let all = status_outcome(&response, true, None);
        let parsed: Status = serde_json::from_str(&all.stdout).unwrap();
        assert_eq!(Some(&parsed), response.status.as_ref());
        let one = status_outcome(&response, true, Some("api"));
        let parsed: Status = serde_json::from_str(&one.stdout).unwrap();
        assert_eq!(
            parsed,
            Status {
                pid: 1,
                instances: vec![instance("api", State::Backup)],
                ..Status::default()
            }
        );
    }

    #[test]
    fn status_of_an_unknown_instance_is_an_error_naming_the_known_ones() {
        let response = status_response(&[("web", State::Master), ("api", State::Backup)]);
        let out = status_outcome(&response, false, Some("db"));
        assert_eq!(out.code, EXIT_ERROR);
        assert!(out.stdout.is_empty());
        assert_eq!(
            out.stderr,
            "twinstar status: no instance named \"db\" (instances: web, api)\n"
        );
    }

    #[test]
    fn refused_requests_print_the_error_and_every_configuration_error() {
        let response = Response {
            errors: vec!["a.yaml:3:5: bad vrid".into(), "a.yaml:9:1: no vips".into()],
            ..Response::failed("the configuration has 2 errors")
        };
        let out = simple_outcome("reload", &response);
        assert_eq!(out.code, EXIT_ERROR);
        assert!(out.stdout.is_empty());
        assert_eq!(
            out.stderr,
            "twinstar reload: the configuration has 2 errors\na.yaml:3:5: bad vrid\na.yaml:9:1: no vips\n"
        );
        let status = status_outcome(&Response::failed("busy"), false, None);
        assert_eq!(
            (status.code, status.stderr.as_str()),
            (1, "twinstar status: busy\n")
        );
    }

    #[test]
    fn accepted_requests_print_the_message() {
        let out = simple_outcome("switchover", &Response::done("web: resigned as Master"));
        assert_eq!(
            out,
            Outcome {
                stdout: "web: resigned as Master\n".into(),
                stderr: String::new(),
                code: 0
            }
        );
    }

    #[test]
    fn no_agent_is_an_error_naming_the_socket() {
        let dir = std::env::temp_dir().join(format!("twinstar-verbs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = reload(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(out.code, EXIT_ERROR);
        let socket = dir.join("control.sock");
        assert!(
            out.stderr.contains(&socket.display().to_string()),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("not running"), "{}", out.stderr);
    }
}
