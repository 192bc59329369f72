//! The quorum lease, as data: what the agent asks of the quorum store (etcd)
//! and what the store's worker reports back.
//!
//! The agent decides (who may become Master, when a Master must stop
//! serving); the daemon's quorum worker talks to etcd. Both sides meet here,
//! so the decisions run on a simulated store in tests exactly as on a real one.
//!
//! The model: each node has one etcd lease of `quorum.etcd.lease_ttl`, kept
//! alive while it holds a key. A key names what moves together: an instance
//! outside any sync group, or a sync group. A node may add the VIPs of a key
//! only while it holds that key, bound to its own live lease, with its node id
//! as the value.

use std::time::{Duration, Instant};

/// The etcd key that guards an instance outside sync groups.
pub fn instance_key(prefix: &str, instance: &str) -> String {
    format!("{}/instance/{instance}", prefix.trim_end_matches('/'))
}

/// The etcd key that guards a sync group (all its instances at once).
pub fn group_key(prefix: &str, group: &str) -> String {
    format!("{}/group/{group}", prefix.trim_end_matches('/'))
}

/// Something the agent asks of the quorum worker; carried out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumRequest {
    /// Take `key` for this node with a compare-and-swap transaction: create it
    /// (bound to the node's lease, granted first if none is live) when no one
    /// holds it, or confirm it when it already holds our node id under our
    /// lease. Answered with [`QuorumReport::Acquired`],
    /// [`QuorumReport::HeldBy`] or [`QuorumReport::Unreachable`].
    Acquire {
        /// The key.
        key: String,
    },
    /// Give `key` up if it is ours (its value is our node id); another node's
    /// key is never touched. Answered with [`QuorumReport::Released`] or
    /// [`QuorumReport::Unreachable`].
    Release {
        /// The key.
        key: String,
    },
}

/// What the quorum worker reports to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumReport {
    /// `key` is ours. etcd counts the lease's time to live from when it
    /// handled the request, so the key stays ours at least until `sent_at`
    /// plus the lease's time to live, by our own clock.
    Acquired {
        /// The key.
        key: String,
        /// When the request that granted or renewed the lease was sent.
        sent_at: Instant,
    },
    /// Another node holds `key` under a live lease: not ours to take.
    HeldBy {
        /// The key.
        key: String,
        /// The holder's node id (the key's value).
        holder: String,
    },
    /// `key` is no longer ours (released, or it never was).
    Released {
        /// The key.
        key: String,
    },
    /// The node's lease was kept alive: every key it holds stays ours at
    /// least until `sent_at` plus the time to live.
    Renewed {
        /// When the keep-alive that etcd answered was sent.
        sent_at: Instant,
        /// How long etcd took to answer it.
        latency: Duration,
    },
    /// etcd says the node's lease is gone (expired or revoked): no key is
    /// ours any more, whatever our clock says.
    LeaseLost,
    /// etcd could not be reached, or did not answer in time: for an
    /// acquisition or release of `key`, or (`None`) for a keep-alive.
    /// Unreachable is not "held by another node": `on_loss` tells them apart.
    Unreachable {
        /// The key asked about, if any.
        key: Option<String>,
        /// What went wrong, for logs and status.
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_instances_and_groups_never_collide() {
        assert_eq!(
            instance_key("/twinstar/site-a", "db"),
            "/twinstar/site-a/instance/db"
        );
        assert_eq!(
            group_key("/twinstar/site-a/", "db"),
            "/twinstar/site-a/group/db"
        );
        assert_ne!(instance_key("/p", "x"), group_key("/p", "x"));
    }
}
