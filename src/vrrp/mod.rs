//! The VRRPv3 protocol core: one sans-IO state machine per virtual router.
