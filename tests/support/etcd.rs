//! etcd for the quorum tests: a single-member store in a namespace of the
//! test's own, and the check that Debian's `etcd-server` is installed.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use twinstar::lab::etcd::{wait_for_leader, EtcdMember, MemberSpec};
use twinstar::lab::Namespace;

use super::agents::can_run_lab;
use super::netns::{create, ip};

/// True when the test can run etcd in namespaces (root, `etcd` installed);
/// otherwise records a skip (a failure under CI).
pub fn can_run_etcd(test: &str) -> bool {
    if !can_run_lab(test) {
        return false;
    }
    let installed = std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !installed {
        super::skip::skip(test, "etcd is not installed (apt-get install etcd-server)");
    }
    installed
}

/// How long a fresh member may take to start and elect itself on a loaded
/// machine (it needs one election timeout once it listens).
pub const ETCD_START: Duration = Duration::from_secs(20);

/// A one-member etcd at 198.51.100.1 on the loopback interface of a
/// namespace of its own; the test's client code runs in the same namespace.
pub struct SingleStore {
    /// The etcd process (declared before the namespace: dropped first).
    pub member: EtcdMember,
    /// The namespace.
    pub ns: Namespace,
    /// Files of the test (the member's data and log).
    pub dir: PathBuf,
}

impl SingleStore {
    /// Starts the store for test `tag` and waits for its leader.
    pub fn start(tag: &str) -> SingleStore {
        let name = format!("tsq{tag}{}", std::process::id());
        let ns = create(&name);
        ip(&ns, &["link", "set", "lo", "up"]);
        ip(&ns, &["addr", "add", "198.51.100.1/32", "dev", "lo"]);
        let dir = super::agents::dir(&format!("quorum-{tag}"), 0);
        let spec = MemberSpec {
            name: "s1".to_owned(),
            address: Ipv4Addr::new(198, 51, 100, 1),
        };
        let member = EtcdMember::start(&ns, &spec, std::slice::from_ref(&spec), &name, &dir)
            .unwrap_or_else(|e| panic!("start etcd: {e}"));
        if let Err(e) = wait_for_leader(&ns, &[spec.client_url()], ETCD_START) {
            panic!("{e}\netcd log:\n{}", member.log());
        }
        SingleStore { member, ns, dir }
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        self.member.client_url()
    }
}
