//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod agents;
pub mod netns;
pub mod sim;
pub mod tracking;
