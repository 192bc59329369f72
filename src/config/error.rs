//! Configuration errors: each names the file, line and column and says what would be right.

use std::fmt;

/// One mistake in a configuration file.
///
/// `line` and `col` are 1-based; both are 0 when the mistake has no place in the
/// text (the file could not be read), and then `Display` leaves them out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file name as the operator gave it.
    pub file: String,
    /// Line of the offending text, starting at 1; 0 when not applicable.
    pub line: u64,
    /// Column of the offending text, starting at 1; 0 when not applicable.
    pub col: u64,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// Every mistake found in one configuration file, in the order they appear in it.
///
/// Validation does not stop at the first error, so an operator can fix a file in
/// one pass. `Display` prints one error per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{err}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: u64, col: u64, message: &str) -> ConfigError {
        ConfigError {
            file: "config.yaml".into(),
            line,
            col,
            message: message.into(),
        }
    }

    #[test]
    fn error_names_file_line_and_column() {
        let e = err(12, 5, "vrid 300 is out of range 1..=255");
        assert_eq!(
            e.to_string(),
            "config.yaml:12:5: vrid 300 is out of range 1..=255"
        );
    }

    #[test]
    fn error_without_position_names_only_the_file() {
        let e = err(0, 0, "cannot read the file: not found");
        assert_eq!(
            e.to_string(),
            "config.yaml: cannot read the file: not found"
        );
    }

    #[test]
    fn errors_print_one_per_line() {
        let e = ConfigErrors(vec![err(1, 1, "a"), err(2, 3, "b")]);
        assert_eq!(e.to_string(), "config.yaml:1:1: a\nconfig.yaml:2:3: b");
    }
}
