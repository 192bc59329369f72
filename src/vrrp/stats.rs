//! Per-virtual-router counters, named after the VRRPv3 MIB (RFC 6527).

/// What one virtual router has seen and done, for status output and metrics.
///
/// The core counts protocol-level facts; packets dropped before they reach the core
/// (bad checksum, TTL, wrong VRID) are counted by the platform layer that saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Advertisements accepted by this router (any state).
    pub adverts_received: u64,
    /// Advertisements this router asked to be sent, including priority-0 ones.
    pub adverts_sent: u64,
    /// Priority-0 advertisements received: a Master resigning.
    pub priority_zero_received: u64,
    /// Priority-0 advertisements sent: we resigned as Master.
    pub priority_zero_sent: u64,
    /// Adverts whose interval differed from our configured Advertisement_Interval
    /// (accepted all the same: RFC 9568 §6.4.2 has a Backup learn the Master's).
    pub interval_mismatches: u64,
    /// How often this router became Master.
    pub master_transitions: u64,
    /// Answers a Master did not send because it had answered another
    /// router's advert less than one Advertisement_Interval before.
    pub answers_withheld: u64,
}
