//! What the import could not carry over, or carried over with a caveat, each
//! with the keepalived.conf line it comes from.

use std::fmt;

use super::lexer::Location;

/// How much a finding matters to the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The construct was left out or changed: the twinstar configuration does
    /// not do what keepalived did. Any of these makes the import incomplete.
    Unmapped,
    /// Mapped, but worth knowing (a difference keepalived users may rely on).
    Note,
}

/// One finding: `FILE:LINE: keyword: why`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Where the keepalived construct is.
    pub at: Location,
    /// Its keyword.
    pub keyword: String,
    /// What happened to it and why.
    pub message: String,
    /// Whether it makes the import incomplete.
    pub severity: Severity,
}

impl Finding {
    /// A construct left out or changed.
    pub fn unmapped(at: &Location, keyword: &str, message: impl Into<String>) -> Finding {
        Finding {
            at: at.clone(),
            keyword: keyword.to_owned(),
            message: message.into(),
            severity: Severity::Unmapped,
        }
    }

    /// A construct mapped with a caveat.
    pub fn note(at: &Location, keyword: &str, message: impl Into<String>) -> Finding {
        Finding {
            at: at.clone(),
            keyword: keyword.to_owned(),
            message: message.into(),
            severity: Severity::Note,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let note = match self.severity {
            Severity::Unmapped => "",
            Severity::Note => "note: ",
        };
        write!(f, "{}: {}: {note}{}", self.at, self.keyword, self.message)
    }
}
