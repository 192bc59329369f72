//! Command-line interface: the clap definitions and what each subcommand does.
//!
//! Each subcommand is a variant of [`Command`] holding its own argument struct
//! with a `run` method, so adding one (`run`, `status`, ...) touches only this file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use twinstar::config::{self, Config};
use twinstar::daemon::{self, RunOptions};
use twinstar::lab;

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
    /// Run the agent in the foreground until SIGTERM or SIGINT (SIGHUP reloads).
    Run(RunArgs),
    /// Demo lab (root): two agents and a client in network namespaces; shows the
    /// election, host-loss failovers and a graceful handover, then cleans up.
    Lab(LabArgs),
}

impl Cli {
    /// Runs the chosen subcommand and returns the process exit code.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Check(args) => args.run(),
            Command::Run(args) => args.run(),
            Command::Lab(args) => args.run(),
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

/// Arguments of `twinstar run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// Where run-time files go (status snapshot); one per agent on a machine.
    #[arg(long, value_name = "DIR", default_value = "/run/twinstar")]
    pub runtime_dir: PathBuf,
}

impl RunArgs {
    /// Starts logging and the runtime, then runs the daemon until it is told to stop.
    pub fn run(&self) -> ExitCode {
        init_logging();
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("twinstar: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let options = RunOptions {
            config_path: self.config.clone(),
            runtime_dir: self.runtime_dir.clone(),
        };
        match runtime.block_on(daemon::run(options)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Arguments of `twinstar lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// Advertisement interval of the two agents (10ms..40.95s in 10 ms steps).
    #[arg(long, default_value = "100ms", value_parser = parse_interval)]
    pub interval: std::time::Duration,
    /// Number of host-loss rounds to measure.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
}

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let interval = config::parse_duration(text)?;
    if !twinstar::vrrp::is_valid_adver_interval(interval) {
        return Err(format!("{text} is not in 10ms..=40.95s in 10 ms steps"));
    }
    Ok(interval)
}

impl LabArgs {
    /// Runs the demo; needs root for namespaces and raw sockets.
    pub fn run(&self) -> ExitCode {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("twinstar lab: needs root (it builds network namespaces); try sudo");
            return ExitCode::FAILURE;
        }
        let program = match std::env::current_exe() {
            Ok(program) => program,
            Err(e) => {
                eprintln!("twinstar lab: cannot find my own binary: {e}");
                return ExitCode::FAILURE;
            }
        };
        let options = lab::demo::DemoOptions {
            interval: self.interval,
            rounds: self.rounds,
            program,
        };
        match lab::demo::run(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("twinstar lab: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Logs to stderr; `TWINSTAR_LOG` (e.g. `debug`, `twinstar=trace`) sets the filter.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TWINSTAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: redirected logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
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
