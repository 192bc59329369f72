//! Command-line interface: the clap definitions and what each subcommand does.
//!
//! Each subcommand is a variant of [`Command`] holding its own argument struct
//! with a `run` method, so adding one (`run`, `status`, ...) touches only this file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use twinstar::config::{self, Config};

/// twinstar: a VRRPv3 (RFC 9568) virtual-IP failover agent.
#[derive(Debug, Parser)]
#[command(name = "twinstar", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration file: print every error and exit 1, or a summary and exit 0.
    Check(CheckArgs),
}

impl Cli {
    /// Runs the chosen subcommand and returns the process exit code.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Check(args) => args.run(),
        }
    }
}

/// Arguments of `twinstar check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file to validate.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
}

impl CheckArgs {
    /// Validates the file; errors go to stderr one per line, the summary to stdout.
    pub fn run(&self) -> ExitCode {
        match config::load(&self.config) {
            Ok(config) => {
                println!("{}", summary(&self.config.display().to_string(), &config));
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        }
    }
}

/// One line naming each instance's interface, vrid and family, so an operator
/// can see at a glance that the file says what they meant.
fn summary(file: &str, config: &Config) -> String {
    let n = config.instances.len();
    let instances: Vec<String> = config
        .instances
        .iter()
        .map(|i| {
            format!(
                "{}: {} vrid {} {}",
                i.name,
                i.interface,
                i.vrid,
                i.address_family()
            )
        })
        .collect();
    let noun = if n == 1 { "instance" } else { "instances" };
    format!("{file}: OK, {n} {noun} ({})", instances.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn summary_lists_each_instance() {
        let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.50/24]\n";
        let config = config::parse_str(text, "c.yaml").unwrap();
        assert_eq!(
            summary("c.yaml", &config),
            "c.yaml: OK, 1 instance (web: eth0 vrid 51 IPv4)"
        );
    }
}
