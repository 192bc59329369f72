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

/// PEM files for a TLS store: a CA, the server's certificate for
/// 198.51.100.1 and a client certificate, all signed by the CA; and a second
/// CA that signed none of them.
pub struct TestPki {
    /// The server's files, for etcd.
    pub server: twinstar::lab::etcd::ServerTls,
    /// The client certificate and key.
    pub client_cert: PathBuf,
    /// The client's key.
    pub client_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
}

/// Runs openssl with `args` in `dir`, panicking with its stderr on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPki {
    /// Makes the files under `dir` with openssl (P-256 keys, valid 2 days).
    pub fn make(dir: &std::path::Path) -> TestPki {
        std::fs::create_dir_all(dir).expect("pki dir");
        for ca in ["ca", "other-ca"] {
            openssl(
                dir,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=twinstar test {ca}"),
                ],
            );
        }
        for (name, ext) in [
            (
                "server",
                "subjectAltName=IP:198.51.100.1\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), ext).expect("ext file");
            openssl(
                dir,
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={name}"),
                ],
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "2",
                    "-extfile",
                    &format!("{name}.ext"),
                ],
            );
        }
        TestPki {
            server: twinstar::lab::etcd::ServerTls {
                ca: dir.join("ca.pem"),
                cert: dir.join("server.pem"),
                key: dir.join("server.key"),
            },
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.pem"),
        }
    }
}

impl SingleStore {
    /// Like [`start`](Self::start), serving clients over TLS only (with
    /// client certificates); returns at once, since only a TLS client can
    /// tell when it is up.
    pub fn start_tls(tag: &str) -> (SingleStore, TestPki) {
        let name = format!("tsq{tag}{}", std::process::id());
        let ns = create(&name);
        ip(&ns, &["link", "set", "lo", "up"]);
        ip(&ns, &["addr", "add", "198.51.100.1/32", "dev", "lo"]);
        let dir = super::agents::dir(&format!("quorum-{tag}"), 0);
        let pki = TestPki::make(&dir.join("pki"));
        let spec = MemberSpec {
            name: "s1".to_owned(),
            address: Ipv4Addr::new(198, 51, 100, 1),
        };
        let member = EtcdMember::start_tls(&ns, &spec, &name, &dir, &pki.server)
            .unwrap_or_else(|e| panic!("start etcd: {e}"));
        (SingleStore { member, ns, dir }, pki)
    }

    /// The client URL over TLS.
    pub fn tls_endpoint(&self) -> String {
        self.member.client_url().replace("http://", "https://")
    }
}
