//! Network namespaces for lab tests: created by the test, removed when the guard drops
//! (also when the test fails), and entered by running code on a thread that joined it.
//!
//! Only namespaces made here are ever configured or deleted; the host's own interfaces
//! are never touched, because every `ip` call names its namespace with `-n`.

use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

/// True when the tests run as root (effective uid 0); lab tests skip otherwise.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// Prints why a lab test is skipped and returns true when it must be.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping {test}: network namespace tests need root");
    true
}

/// A network namespace named `name`, deleted with `ip netns del` on drop.
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates the namespace (`ip netns add`) and brings its loopback up.
    /// Pick a name unique to the test and process, e.g. `tsplat-addr-a-<pid>`.
    pub fn create(name: impl Into<String>) -> Namespace {
        let name = name.into();
        run(Command::new("ip").args(["netns", "add", &name]));
        let namespace = Namespace { name };
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...` and panics with its stderr if it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let output = run(Command::new("ip").arg("-n").arg(&self.name).args(args));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `body` on a new thread that has joined this namespace, so sockets it
    /// opens belong here; the calling thread's namespace is untouched.
    pub fn run<T: Send>(&self, body: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                    setns(&file, CloneFlags::CLONE_NEWNET)
                        .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                    body()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Like [`Namespace::run`], with a current-thread tokio runtime driving `body`.
    pub fn block_on<F: Future>(&self, body: impl FnOnce() -> F + Send) -> F::Output
    where
        F::Output: Send,
    {
        self.run(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(body())
        })
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace also deletes the interfaces inside it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
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
    a.ip(&[
        "link",
        "add",
        a_name,
        "address",
        a_mac,
        "type",
        "veth",
        "peer",
        "name",
        b_name,
        "address",
        b_mac,
        "netns",
        b.name(),
    ]);
    a.ip(&["link", "set", a_name, "up"]);
    b.ip(&["link", "set", b_name, "up"]);
}

/// The interface index of `interface` in `namespace`, from `ip -o link`.
pub fn ifindex(namespace: &Namespace, interface: &str) -> u32 {
    let line = namespace.ip(&["-o", "link", "show", "dev", interface]);
    line.split(':')
        .next()
        .and_then(|index| index.trim().parse().ok())
        .unwrap_or_else(|| panic!("no index in {line:?}"))
}

/// A running `tcpdump -c 1` in a namespace, writing the one captured frame as pcap.
pub struct Capture {
    child: Child,
}

impl Capture {
    /// Starts capturing the first frame on `interface` matching `filter` and returns
    /// once tcpdump is listening. tcpdump is killed after 15 s whatever happens.
    pub fn start(namespace: &Namespace, interface: &str, filter: &str) -> Capture {
        let mut child = namespace
            .command("timeout")
            .args([
                "15", "tcpdump", "-i", interface, "-U", "-c", "1", "-w", "-", filter,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpdump");
        let stderr = child.stderr.take().expect("tcpdump stderr");
        let mut lines = BufReader::new(stderr).lines();
        // tcpdump prints this once the capture socket is open; EOF means it failed.
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => break,
                Some(Ok(_)) => continue,
                _ => panic!("tcpdump on {interface} did not start"),
            }
        }
        Capture { child }
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

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
