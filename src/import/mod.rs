//! `twinstar import-keepalived`: reads a keepalived.conf (with its includes)
//! and writes the twinstar configuration that does the same, with a report of
//! every construct that does not carry over.
//!
//! Pure apart from reading the files: [`lexer`] splits lines into words as
//! keepalived does, [`tree`] builds the statement tree and follows includes,
//! `map` turns statements into the twinstar configuration, `emit` writes it
//! as commented YAML.

mod emit;
mod glob;
pub mod lexer;
mod map;
mod out;
pub mod report;
pub mod tree;

use std::path::Path;

pub use report::{Finding, Severity};
pub use tree::ReadError;

/// The result of an import: the YAML and what did not carry over.
#[derive(Debug)]
pub struct Imported {
    /// The twinstar configuration, commented with the keepalived lines.
    pub yaml: String,
    /// Every construct not mapped (or mapped with a caveat), in file order.
    pub findings: Vec<Finding>,
}

impl Imported {
    /// Whether everything was mapped: no [`Severity::Unmapped`] finding.
    pub fn is_complete(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.severity != Severity::Unmapped)
    }
}

/// Imports the keepalived configuration at `path`.
pub fn import(path: &Path) -> Result<Imported, ReadError> {
    let (statements, mut findings) = tree::read(path)?;
    let output = map::map(&statements, &mut findings);
    findings
        .sort_by(|a, b| (a.at.file.as_path(), a.at.line).cmp(&(b.at.file.as_path(), b.at.line)));
    Ok(Imported {
        yaml: emit::yaml(&output, &path.display().to_string()),
        findings,
    })
}
