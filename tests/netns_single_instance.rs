//! One agent per runtime directory: a second `twinstar run` with the runtime
//! directory of a running Master exits non-zero, names the first one, and
//! leaves it as it was — still Master, its virtual IP on the interface, its
//! control socket answering with its own pid.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::agents::{agent, can_run_lab, config, lab, wait_until, SETTLE};

const VIP: &str = "192.0.2.61";

/// How long the second agent may take to give up: start, parse the config,
/// find the lock taken. It waits for nothing, so the bound is only load.
const GIVE_UP: Duration = Duration::from_secs(10);

#[test]
fn a_second_agent_on_the_same_runtime_directory_exits_and_touches_nothing() {
    if !can_run_lab("a_second_agent_on_the_same_runtime_directory_exits_and_touches_nothing") {
        return;
    }
    let lab = lab("lock", 1);
    let first = agent(
        &lab,
        "lock",
        0,
        &config(61, 150, "100ms", &format!("{VIP}/24"), ""),
    );
    let first_pid = first.pid().expect("the first agent runs");
    if let Err(e) = first.wait_for_state("web", "master", SETTLE) {
        panic!("the first agent becomes Master alone: {e}\n{}", first.log());
    }
    assert!(lab.hosts[0].has_address(VIP).expect("list addresses"));

    let mut second = Command::new("ip")
        .args(["netns", "exec", lab.hosts[0].ns.name()])
        .arg(env!("CARGO_BIN_EXE_twinstar"))
        .arg("run")
        .arg("--config")
        .arg(first.config_path())
        .arg("--runtime-dir")
        .arg(first.runtime_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the second agent");
    let second_pid = second.id();
    let started = Instant::now();
    let mut exited = None;
    while started.elapsed() < GIVE_UP {
        if let Ok(Some(status)) = second.try_wait() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Some(status) = exited else {
        // Only the process this test started, by its pid.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(second_pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = second.wait();
        panic!("the second agent was still running after {GIVE_UP:?}");
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = second.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(!status.success(), "the second agent must fail: {status:?}");
    let expected = format!(
        "another twinstar (pid {first_pid}) is running with runtime directory {}",
        first.runtime_dir().display()
    );
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in:\n{stderr}"
    );

    // The first one is as it was.
    assert!(
        first.status().and_then(|s| s.state("web")).as_deref() == Some("master"),
        "the first agent is still Master:\n{}",
        first.log()
    );
    assert!(
        lab.hosts[0].has_address(VIP).expect("list addresses"),
        "the first agent's VIP is still on the interface"
    );
    let asked = wait_until(Duration::from_secs(5), || {
        let out = Command::new(env!("CARGO_BIN_EXE_twinstar"))
            .args(["status", "--json", "--runtime-dir"])
            .arg(first.runtime_dir())
            .output()
            .expect("run twinstar status");
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v["pid"].as_u64())
            == Some(u64::from(first_pid))
    });
    assert!(
        asked,
        "the first agent's control socket still answers, with its own pid"
    );
    assert!(
        !stderr.contains("left by an earlier run"),
        "the second agent removed nothing as stale:\n{stderr}"
    );
}
