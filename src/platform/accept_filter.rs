//! Enforces RFC 9568 Accept_Mode False with an nftables table that twinstar
//! owns (`inet twinstar`): it drops every packet addressed to the refused
//! virtual IPs except Neighbor Discovery (ARP never reaches an `inet`
//! table, so it is answered as before). Nothing else is ever touched: each
//! change replaces this one table in a single `nft -f` transaction, so the
//! kernel never sees a half-written rule set, and another table's rules
//! neither see nor undo ours (a drop in any base chain is final).
//!
//! The table is written by the `nft` program (Debian's `nftables` package):
//! its text syntax is the stable, documented interface of nf_tables, and one
//! file is applied atomically, which is all this needs.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The nftables family and name of the table twinstar owns.
pub const TABLE: &str = "inet twinstar";

/// How long `nft` may take before it is given up on (it is killed).
const NFT_LIMIT: Duration = Duration::from_secs(10);

/// Why the table could not be written or removed.
#[derive(Debug, thiserror::Error)]
pub enum AcceptFilterError {
    /// `nft` could not be started (not installed?) or its input not written.
    #[error("cannot run nft (is the nftables package installed?): {0}")]
    Spawn(#[source] std::io::Error),
    /// `nft` refused the table.
    #[error("nft failed ({status}): {stderr}")]
    Rejected {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// `nft` did not finish in time.
    #[error("nft did not finish within {NFT_LIMIT:?}")]
    TimedOut,
}

/// The nft script that makes the table refuse exactly `refused`, replacing
/// whatever the table held; with nothing refused it only removes the table.
/// Declaring the table before deleting it makes the deletion succeed
/// whether or not a table was there.
pub fn script(refused: &BTreeSet<IpAddr>) -> String {
    let mut text = format!("table {TABLE}\ndelete table {TABLE}\n");
    if refused.is_empty() {
        return text;
    }
    let v4: Vec<String> = refused
        .iter()
        .filter(|a| a.is_ipv4())
        .map(ToString::to_string)
        .collect();
    let v6: Vec<String> = refused
        .iter()
        .filter(|a| a.is_ipv6())
        .map(ToString::to_string)
        .collect();
    let set = |name: &str, kind: &str, members: &[String]| {
        if members.is_empty() {
            format!("\tset {name} {{ type {kind}; }}\n")
        } else {
            let elements = members.join(", ");
            format!("\tset {name} {{ type {kind}; elements = {{ {elements} }}; }}\n")
        }
    };
    let _ = write!(
        text,
        "table {TABLE} {{\n{}{}\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"lo\" accept\n\
         \t\tip daddr @refused_v4 drop\n\
         \t\tip6 daddr @refused_v6 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n\
         \t\tip6 daddr @refused_v6 drop\n\
         \t}}\n}}\n",
        set("refused_v4", "ipv4_addr", &v4),
        set("refused_v6", "ipv6_addr", &v6),
    );
    text
}

/// Makes the table refuse exactly `refused` (none: the table is removed),
/// in the calling process's network namespace.
pub async fn apply(refused: &BTreeSet<IpAddr>) -> Result<(), AcceptFilterError> {
    run_nft(&script(refused)).await
}

/// Removes the table if it exists: at start (a crashed run's) and at stop.
pub async fn remove() -> Result<(), AcceptFilterError> {
    apply(&BTreeSet::new()).await
}

/// Feeds `script` to `nft -f -`, one transaction.
async fn run_nft(script: &str) -> Result<(), AcceptFilterError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(AcceptFilterError::Spawn)?;
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .await
                .map_err(AcceptFilterError::Spawn)?;
        }
        child
            .wait_with_output()
            .await
            .map_err(AcceptFilterError::Spawn)
    };
    let output = tokio::time::timeout(NFT_LIMIT, run)
        .await
        .map_err(|_| AcceptFilterError::TimedOut)??;
    if output.status.success() {
        Ok(())
    } else {
        Err(AcceptFilterError::Rejected {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_refused_only_removes_the_table() {
        assert_eq!(
            script(&BTreeSet::new()),
            "table inet twinstar\ndelete table inet twinstar\n"
        );
    }

    #[test]
    fn refused_addresses_go_to_the_set_of_their_family_and_nd_passes() {
        let refused: BTreeSet<IpAddr> = ["192.0.2.51", "192.0.2.50", "2001:db8::7"]
            .iter()
            .map(|a| a.parse().expect("address"))
            .collect();
        let text = script(&refused);
        assert!(text.starts_with("table inet twinstar\ndelete table inet twinstar\n"));
        assert!(text
            .contains("set refused_v4 { type ipv4_addr; elements = { 192.0.2.50, 192.0.2.51 }; }"));
        assert!(text.contains("set refused_v6 { type ipv6_addr; elements = { 2001:db8::7 }; }"));
        let nd = text.find("nd-neighbor-solicit").expect("ND accepted");
        let drop6 = text
            .find("ip6 daddr @refused_v6 drop")
            .expect("IPv6 dropped");
        assert!(nd < drop6, "ND must be accepted before the drop:\n{text}");
    }

    #[test]
    fn a_family_with_nothing_refused_gets_an_empty_set() {
        let refused: BTreeSet<IpAddr> = BTreeSet::from(["192.0.2.50".parse().expect("address")]);
        assert!(script(&refused).contains("set refused_v6 { type ipv6_addr; }"));
    }
}
