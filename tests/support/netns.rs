//! Test-side helpers around the lab's [`Namespace`] guard: panicking shorthands, veth
//! pairs, interface indexes, and frame capture with tcpdump.
//!
//! Only namespaces made by the tests are ever configured or deleted; the host's own
//! interfaces are never touched, because every `ip` call names its namespace.

use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub use twinstar::lab::Namespace;

/// Runs `ip -n NS ARGS...` and returns its stdout; panics with stderr on failure.
pub fn ip(ns: &Namespace, args: &[&str]) -> String {
    let output = ns.ip(args).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Creates a namespace for a test, panicking if that fails.
pub fn create(name: &str) -> Namespace {
    Namespace::create(name).unwrap_or_else(|e| panic!("namespace {name}: {e}"))
}

/// Runs `body` on a thread inside `ns` (see [`Namespace::run_inside`]).
pub fn run<T: Send>(ns: &Namespace, body: impl FnOnce() -> T + Send) -> T {
    ns.run_inside(body)
        .unwrap_or_else(|e| panic!("enter {}: {e}", ns.name()))
}

/// Like [`run`], with a current-thread tokio runtime driving `body`.
pub fn block_on<F: Future>(ns: &Namespace, body: impl FnOnce() -> F + Send) -> F::Output
where
    F::Output: Send,
{
    run(ns, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(body())
    })
}

/// Joins two namespaces with a veth pair: `a_name` in `a`, `b_name` in `b`, both up,
/// with the given MAC addresses.
pub fn veth_pair(
    a: &Namespace,
    a_name: &str,
    a_mac: &str,
    b: &Namespace,
    b_name: &str,
    b_mac: &str,
) {
    let peer = ["peer", "name", b_name, "address", b_mac, "netns", b.name()];
    let mut add = vec!["link", "add", a_name, "address", a_mac, "type", "veth"];
    add.extend_from_slice(&peer);
    ip(a, &add);
    ip(a, &["link", "set", a_name, "up"]);
    ip(b, &["link", "set", b_name, "up"]);
}

/// The interface index of `interface` in `namespace`, from `ip -o link`.
pub fn ifindex(namespace: &Namespace, interface: &str) -> u32 {
    let line = ip(namespace, &["-o", "link", "show", "dev", interface]);
    line.split(':')
        .next()
        .and_then(|index| index.trim().parse().ok())
        .unwrap_or_else(|| panic!("no index in {line:?}"))
}

/// Starts `tcpdump ARGS...` in `namespace`, killed after `seconds` whatever
/// happens, its output piped; returns once it is listening.
pub fn start_tcpdump(namespace: &Namespace, seconds: u32, args: &[&str]) -> Child {
    let mut child = namespace
        .command("timeout")
        .arg(seconds.to_string())
        .arg("tcpdump")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpdump");
    let stderr = child.stderr.take().expect("tcpdump stderr");
    let mut lines = BufReader::new(stderr).lines();
    // tcpdump prints this once the capture socket is open; EOF means it failed.
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("listening on") => return child,
            Some(Ok(_)) => continue,
            _ => panic!("tcpdump {args:?} did not start"),
        }
    }
}

/// A running `tcpdump -c 1` in a namespace, writing the one captured frame as pcap.
pub struct Capture {
    child: Child,
}

impl Capture {
    /// Starts capturing the first frame on `interface` matching `filter` and returns
    /// once tcpdump is listening. tcpdump is killed after 15 s whatever happens.
    pub fn start(namespace: &Namespace, interface: &str, filter: &str) -> Capture {
        let args = ["-i", interface, "-U", "-c", "1", "-w", "-", filter];
        Capture {
            child: start_tcpdump(namespace, 15, &args),
        }
    }

    /// Calls `send` every 100 ms until tcpdump has its frame (or 10 s pass), then
    /// returns the captured frame's bytes.
    pub fn frame_after(mut self, mut send: impl FnMut()) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            send();
            std::thread::sleep(Duration::from_millis(100));
            if self.child.try_wait().expect("tcpdump status").is_some() {
                break;
            }
        }
        let mut pcap = Vec::new();
        let _ = self.child.kill();
        self.child
            .stdout
            .take()
            .expect("tcpdump stdout")
            .read_to_end(&mut pcap)
            .expect("read pcap");
        let _ = self.child.wait();
        first_pcap_frame(&pcap).expect("no frame captured")
    }
}

/// The first frame of a pcap stream (classic format, either byte order).
fn first_pcap_frame(pcap: &[u8]) -> Option<Vec<u8>> {
    let magic = pcap.get(0..4)?;
    let read_u32 = |bytes: &[u8]| -> u32 {
        let array = [bytes[0], bytes[1], bytes[2], bytes[3]];
        match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => u32::from_le_bytes(array),
            _ => u32::from_be_bytes(array),
        }
    };
    let record = pcap.get(24..40)?;
    let captured = read_u32(&record[8..12]) as usize;
    pcap.get(40..40 + captured).map(<[u8]>::to_vec)
}
