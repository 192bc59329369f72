//! Configuration: the YAML model, defaults, and validation with exact locations.
pub(crate) mod yaml;
