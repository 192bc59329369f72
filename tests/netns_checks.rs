//! Native checks (no fork) against a server in the lab's client namespace: when
//! the service fails the VIP moves to the Backup; when it recovers, back.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::agents::can_run_lab;
use support::agents::lab;
use support::rfc::{master_down_interval, skew_time};
use support::tracking::{fault_bound, pair, track, vip_moves_to, INTERVAL, MARGIN};
use twinstar::lab::{enter_namespace, Lab};

/// A tiny HTTP server on the client at 192.0.2.100:8080, answering 200 with a
/// body while healthy, else 503. Stops (closing its port) when dropped.
struct Server {
    stop: Arc<AtomicBool>,
    healthy: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(lab: &Lab) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let healthy = Arc::new(AtomicBool::new(true));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let namespace = lab.client.ns.name().to_owned();
        let (stop_flag, healthy_flag) = (stop.clone(), healthy.clone());
        let thread = std::thread::spawn(move || {
            enter_namespace(&namespace).expect("enter client namespace");
            let listener = TcpListener::bind("192.0.2.100:8080").expect("bind 8080");
            listener.set_nonblocking(true).expect("nonblocking");
            let _ = ready_tx.send(());
            while !stop_flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut request = [0u8; 1024];
                        let _ = stream.read(&mut request);
                        let response = if healthy_flag.load(Ordering::Relaxed) {
                            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nstatus: good"
                        } else {
                            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        };
                        let _ = stream.write_all(response.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("server did not start");
        Server {
            stop,
            healthy,
            thread: Some(thread),
        }
    }

    fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs the fail/recover cycle: `fail` breaks the service, `recover` mends it.
fn cycle(lab: &Lab, tag: &str, vrid: u8, check: &str, fail: impl FnOnce(), recover: impl FnOnce()) {
    let item = format!("{check}\ninterval: 100ms\ntimeout: 100ms\nweight: 0");
    let (a, b) = pair(lab, tag, vrid, &track(&item));
    // Weight 0: A faults and resigns, B takes over Skew_Time later; a check
    // fails within one interval plus its 100 ms timeout.
    let failed_at = Instant::now();
    fail();
    let skew = skew_time(100, INTERVAL);
    vip_moves_to(lab, 1, failed_at, skew, fault_bound(2), &[&a, &b]);
    a.wait_for_state("web", "fault", MARGIN).unwrap();
    // Recovered, A rejoins as Backup and preempts after its Master_Down_Interval.
    let recovered_at = Instant::now();
    recover();
    let mdi = master_down_interval(150, INTERVAL);
    vip_moves_to(
        lab,
        0,
        recovered_at,
        mdi,
        INTERVAL * 2 + mdi + MARGIN,
        &[&a, &b],
    );
}

#[test]
fn tcp_check_follows_the_listening_port() {
    if !can_run_lab("tcp check") {
        return;
    }
    let lab = lab("tct", 2);
    let server = std::cell::RefCell::new(Some(Server::start(&lab)));
    cycle(
        &lab,
        "tct",
        71,
        "tcp: 192.0.2.100:8080",
        || drop(server.borrow_mut().take()),
        || *server.borrow_mut() = Some(Server::start(&lab)),
    );
}

#[test]
fn http_check_follows_the_status_and_body() {
    if !can_run_lab("http check") {
        return;
    }
    let lab = lab("tch", 2);
    let server = Server::start(&lab);
    cycle(
        &lab,
        "tch",
        72,
        "http: http://192.0.2.100:8080/health\nbody_contains: good",
        || server.set_healthy(false),
        || server.set_healthy(true),
    );
}

#[test]
fn ping_check_follows_the_address() {
    if !can_run_lab("ping check") {
        return;
    }
    let lab = lab("tcg", 2);
    let client = &lab.client.ns;
    let add = ["addr", "add", "192.0.2.101/24", "dev", "eth0"];
    let del = ["addr", "del", "192.0.2.101/24", "dev", "eth0"];
    client.ip(&add).expect("add ping target");
    cycle(
        &lab,
        "tcg",
        73,
        "ping: 192.0.2.101",
        || {
            client.ip(&del).expect("remove ping target");
        },
        || {
            client.ip(&add).expect("restore ping target");
        },
    );
}
