//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod agents;
pub mod attacker;
pub mod etcd;
pub mod netns;
pub mod rfc;
pub mod schedule;
pub mod sim;
pub mod skip;
pub mod tracking;
pub mod vip_sampler;
