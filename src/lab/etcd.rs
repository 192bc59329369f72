//! etcd members in lab namespaces: the quorum store of the split-brain lab,
//! its tests and the benchmark's quorum scenario. Each member is an `etcd`
//! process (Debian's `etcd-server`) started by its pid, stopped when dropped,
//! with its log under a directory the caller owns and its data on a scratch
//! directory removed with it (see [`data_dir`]).

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::netns::{LabError, Namespace};

/// Raft heartbeat interval of the lab's members, in milliseconds.
///
/// etcd's defaults (100 ms heartbeat, 1 s election timeout) are made for
/// WANs. On one link with sub-millisecond round trips, a 50 ms heartbeat and
/// a 500 ms election timeout (ten heartbeats, as etcd's tuning guide asks)
/// replace a lost leader within about a second, well inside the 2 s lease
/// ttl, so losing the leader's host does not stall lease renewals past their
/// deadline; and etcd's smallest lease ttl (1.5 election timeouts, rounded up
/// to a second) becomes 1 s.
pub const HEARTBEAT_MS: u32 = 50;

/// Raft election timeout of the lab's members, in milliseconds (see
/// [`HEARTBEAT_MS`]).
pub const ELECTION_TIMEOUT_MS: u32 = 500;

/// The port members serve clients on.
pub const CLIENT_PORT: u16 = 2379;

/// The port members talk Raft on.
pub const PEER_PORT: u16 = 2380;

/// One member of a cluster: its name and where it listens.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// The member's name (`--name`).
    pub name: String,
    /// Its address on the management link.
    pub address: Ipv4Addr,
}

impl MemberSpec {
    /// Its client URL, `http://ADDRESS:2379`.
    pub fn client_url(&self) -> String {
        format!("http://{}:{CLIENT_PORT}", self.address)
    }

    fn peer_url(&self) -> String {
        format!("http://{}:{PEER_PORT}", self.address)
    }
}

/// The PEM files of a member that serves clients over TLS.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The CA that signs the server's and the clients' certificates.
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Where `/dev/shm` is, the RAM-backed file system the members' data goes
/// on when it has room.
const SHARED_MEMORY: &str = "/dev/shm";

/// The room a member's data takes: etcd preallocates its write-ahead log in
/// 64 MB segments, the open one and the next, whatever it holds.
const MEMBER_DATA_BYTES: u64 = 128_000_000;

/// Free room to leave on `/dev/shm` beside the members: several members
/// run at once (two labs of three), and other programs use it too.
const SHARED_MEMORY_HEADROOM: u64 = 1 << 30;

/// The data directory for member `name` of the cluster `token`.
///
/// The 128 MB each member preallocates (see [`MEMBER_DATA_BYTES`]) goes on
/// `/dev/shm` when it has room: a lab's cluster then takes nothing from the
/// disk a build may have nearly filled, and an fsync there costs no disk
/// round trip, so a member on a loaded machine does not miss heartbeats
/// waiting for one. Elsewhere it goes under `fallback`. Either way the member
/// removes it when dropped.
fn data_dir(token: &str, name: &str, fallback: &Path) -> PathBuf {
    let room = nix::sys::statvfs::statvfs(SHARED_MEMORY)
        .map(|fs| fs.blocks_available().saturating_mul(fs.fragment_size()))
        .unwrap_or(0);
    if room >= MEMBER_DATA_BYTES + SHARED_MEMORY_HEADROOM {
        Path::new(SHARED_MEMORY).join(format!("twinstar-etcd-{token}-{name}"))
    } else {
        fallback.to_path_buf()
    }
}

/// A running etcd member, stopped (SIGKILL by pid) and its data removed when
/// dropped.
#[derive(Debug)]
pub struct EtcdMember {
    spec: MemberSpec,
    child: Option<Child>,
    /// Its log (and, when `data` is not elsewhere, its data).
    dir: PathBuf,
    /// Its data directory, removed when the member is dropped.
    data: PathBuf,
}

impl EtcdMember {
    /// Starts `member` of the cluster `cluster` (all members, itself
    /// included) in `namespace`, with its data directory and log under
    /// `dir`. `token` tells clusters of parallel tests apart.
    pub fn start(
        namespace: &Namespace,
        member: &MemberSpec,
        cluster: &[MemberSpec],
        token: &str,
        dir: &Path,
    ) -> Result<EtcdMember, LabError> {
        Self::start_serving(namespace, member, cluster, token, dir, None)
    }

    /// Like [`start`](Self::start), serving clients over TLS with `tls`
    /// and asking them for a certificate signed by its CA.
    pub fn start_tls(
        namespace: &Namespace,
        member: &MemberSpec,
        token: &str,
        dir: &Path,
        tls: &ServerTls,
    ) -> Result<EtcdMember, LabError> {
        Self::start_serving(
            namespace,
            member,
            std::slice::from_ref(member),
            token,
            dir,
            Some(tls),
        )
    }

    fn start_serving(
        namespace: &Namespace,
        member: &MemberSpec,
        cluster: &[MemberSpec],
        token: &str,
        dir: &Path,
        tls: Option<&ServerTls>,
    ) -> Result<EtcdMember, LabError> {
        let dir = dir.join(format!("etcd-{}", member.name));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let data = data_dir(token, &member.name, &dir.join("data"));
        let _ = fs::remove_dir_all(&data);
        let log = fs::File::create(dir.join("etcd.log"))?;
        let initial_cluster = cluster
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let client_url = match tls {
            Some(_) => member.client_url().replace("http://", "https://"),
            None => member.client_url(),
        };
        let mut command = namespace.command("etcd");
        if let Some(tls) = tls {
            command
                .arg("--cert-file")
                .arg(&tls.cert)
                .arg("--key-file")
                .arg(&tls.key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca)
                .arg("--client-cert-auth");
        }
        let child = command
            .arg("--name")
            .arg(&member.name)
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &member.peer_url()])
            .args(["--initial-advertise-peer-urls", &member.peer_url()])
            .args(["--initial-cluster", &initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", token])
            .args(["--heartbeat-interval", &HEARTBEAT_MS.to_string()])
            .args(["--election-timeout", &ELECTION_TIMEOUT_MS.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| LabError::Command {
                command: format!("ip netns exec {} etcd", namespace.name()),
                detail: e.to_string(),
            })?;
        Ok(EtcdMember {
            spec: member.clone(),
            child: Some(child),
            dir,
            data,
        })
    }

    /// The member's name and address.
    pub fn spec(&self) -> &MemberSpec {
        &self.spec
    }

    /// Its client URL.
    pub fn client_url(&self) -> String {
        self.spec.client_url()
    }

    /// Its data directory (on `/dev/shm` when that has room), removed when
    /// the member is dropped.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Its log so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }

    fn signal(&self, signal: Signal) -> Result<(), LabError> {
        let Some(child) = &self.child else {
            return Err(LabError::Step(format!(
                "etcd {} is not running",
                self.spec.name
            )));
        };
        let pid = i32::try_from(child.id()).map_err(|e| LabError::Step(e.to_string()))?;
        kill(Pid::from_raw(pid), signal).map_err(|e| LabError::Io(e.into()))
    }

    /// Freezes the member (SIGSTOP): its connections stay open but nothing
    /// answers, like a hung host.
    pub fn pause(&self) -> Result<(), LabError> {
        self.signal(Signal::SIGSTOP)
    }

    /// Lets a paused member run again (SIGCONT).
    pub fn resume(&self) -> Result<(), LabError> {
        self.signal(Signal::SIGCONT)
    }

    /// Stops the member for good (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EtcdMember {
    fn drop(&mut self) {
        self.kill();
        // The log stays for a failure message; the data would only fill
        // the disk (or RAM), test after test.
        let _ = fs::remove_dir_all(&self.data);
    }
}

/// Waits until the members at `endpoints`, seen from inside `namespace`,
/// answer and have elected a leader; `limit` bounds the wait.
pub fn wait_for_leader(
    namespace: &Namespace,
    endpoints: &[String],
    limit: Duration,
) -> Result<Duration, LabError> {
    let started = Instant::now();
    let leader = namespace.run_inside(|| -> Result<(), LabError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut last = String::from("no answer yet");
            while started.elapsed() < limit {
                let step = Duration::from_millis(500);
                let options = etcd_client::ConnectOptions::new()
                    .with_connect_timeout(step)
                    .with_timeout(step)
                    .with_require_leader(true);
                match etcd_client::Client::connect(endpoints, Some(options)).await {
                    Ok(mut client) => match client.status().await {
                        Ok(status) if status.leader() != 0 => return Ok(()),
                        Ok(_) => last = "no leader yet".to_owned(),
                        Err(e) => last = e.to_string(),
                    },
                    Err(e) => last = e.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(LabError::Timeout(format!(
                "an etcd leader at {endpoints:?} ({last})"
            )))
        })
    })?;
    leader.map(|()| started.elapsed())
}
