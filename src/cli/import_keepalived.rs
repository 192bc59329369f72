//! `twinstar import-keepalived`: writes the imported configuration, reports
//! what did not carry over, and validates the result as `twinstar check` does.

use std::process::ExitCode;

use twinstar::config;
use twinstar::import;

use super::ImportKeepalivedArgs;

/// Exit status when the YAML was written but is not complete or not valid.
const INCOMPLETE: u8 = 2;

impl ImportKeepalivedArgs {
    /// Imports, writes, reports; see the subcommand's help for the exit codes.
    pub fn run(&self) -> ExitCode {
        let imported = match import::import(&self.file) {
            Ok(imported) => imported,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        for finding in &imported.findings {
            eprintln!("{finding}");
        }
        let (written_as, wrote) = match &self.out {
            Some(path) => (
                path.display().to_string(),
                std::fs::write(path, &imported.yaml)
                    .map_err(|e| format!("{}: cannot write: {e}", path.display())),
            ),
            None => {
                print!("{}", imported.yaml);
                ("<stdout>".to_owned(), Ok(()))
            }
        };
        if let Err(e) = wrote {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        let valid = match config::parse_str(&imported.yaml, &written_as) {
            Ok(_) => true,
            Err(errors) => {
                eprintln!("the imported configuration does not pass `twinstar check`:\n{errors}");
                false
            }
        };
        let unmapped = imported
            .findings
            .iter()
            .filter(|f| f.severity == import::Severity::Unmapped)
            .count();
        if unmapped > 0 {
            eprintln!("{unmapped} construct(s) not mapped; review them before using {written_as}");
        }
        if imported.is_complete() && valid {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(INCOMPLETE)
        }
    }
}
