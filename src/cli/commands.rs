//! What each subcommand does: the `run` method of every argument struct of
//! `cli.rs`, and the logging setup and output of `twinstar run` and `check`.

use std::process::ExitCode;

use twinstar::config::{self, Config};
use twinstar::control::verbs::{self, Outcome};
use twinstar::daemon::{self, RunOptions};
use twinstar::lab;
use twinstar::platform::accept_filter;

use super::{
    BenchFloorArgs, CheckArgs, Cli, Command, FloorRole, GenerateArgs, LabArgs, LogFormat,
    MaintenanceArgs, ReloadArgs, RemoveVipsArgs, RunArgs, StatusArgs, Switch, SwitchoverArgs,
    WatchArgs,
};

impl Cli {
    /// Runs the chosen subcommand and returns the process exit code.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Check(args) => args.run(),
            Command::Run(args) => args.run(),
            Command::Status(args) => args.run(),
            Command::Switchover(args) => args.run(),
            Command::Maintenance(args) => args.run(),
            Command::Reload(args) => args.run(),
            Command::RemoveVips(args) => args.run(),
            Command::Watch(args) => args.run(),
            Command::Lab(args) => args.run(),
            Command::ImportKeepalived(args) => args.run(),
            Command::Generate(args) => args.run(),
            Command::BenchFloor(args) => args.run(),
        }
    }
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

impl RemoveVipsArgs {
    /// Removes the configured VIPs; one line per VIP on stdout, failures on stderr.
    pub fn run(&self) -> ExitCode {
        let config = match config::load(&self.config) {
            Ok(config) => config,
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::FAILURE;
            }
        };
        let Some(runtime) = single_thread_runtime() else {
            return ExitCode::FAILURE;
        };
        let lines = match runtime.block_on(daemon::remove_vips(&config)) {
            Ok(lines) => lines,
            Err(e) => {
                eprintln!("twinstar remove-vips: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut failed = false;
        // The Accept_Mode table of an agent that is gone refuses traffic to
        // VIPs it no longer holds; without `nft` there can be none, unless
        // this configuration needs it.
        if let Err(e) = runtime.block_on(accept_filter::remove()) {
            if config
                .instances
                .iter()
                .any(|i| twinstar::agent::refuses_traffic(i))
            {
                failed = true;
                eprintln!(
                    "twinstar remove-vips: removing the {} table: {e}",
                    accept_filter::TABLE
                );
            }
        }
        for line in lines {
            if matches!(line.outcome, daemon::VipRemoval::Failed(_)) {
                failed = true;
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        // The virtual MAC interfaces an agent left go too (their VIPs with them).
        match runtime.block_on(daemon::remove_virtual_macs(&config)) {
            Ok(lines) => {
                for line in lines {
                    if line.outcome.is_err() {
                        failed = true;
                        eprintln!("{line}");
                    } else {
                        println!("{line}");
                    }
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("twinstar remove-vips: {e}");
            }
        }
        if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

impl WatchArgs {
    /// Watches until interrupted; errors on stderr.
    pub fn run(&self) -> ExitCode {
        let options = twinstar::watch::WatchOptions {
            interface: self.interface.clone(),
            json: self.json,
            peers: (!self.peers.is_empty()).then(|| self.peers.iter().copied().collect()),
        };
        match twinstar::watch::run(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("twinstar watch: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

impl RunArgs {
    /// Starts logging and the runtime, then runs the daemon until it is told to stop.
    pub fn run(&self) -> ExitCode {
        init_logging(self.log_format);
        daemon::panic::install_abort_on_panic();
        let Some(runtime) = single_thread_runtime() else {
            return ExitCode::FAILURE;
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

impl StatusArgs {
    /// Asks the agent and prints the table or the document.
    pub fn run(&self) -> ExitCode {
        finish(verbs::status(
            &self.agent.runtime_dir,
            self.json,
            self.instance.as_deref(),
        ))
    }
}

impl SwitchoverArgs {
    /// Sends the request and prints the agent's answer.
    pub fn run(&self) -> ExitCode {
        finish(verbs::switchover(
            &self.agent.runtime_dir,
            &self.instance,
            !self.no_wait,
        ))
    }
}

impl MaintenanceArgs {
    /// Sends the request and prints the agent's answer.
    pub fn run(&self) -> ExitCode {
        finish(verbs::maintenance(
            &self.agent.runtime_dir,
            self.switch == Switch::On,
            self.instance.as_deref(),
            !self.no_wait,
            self.force,
        ))
    }
}

impl ReloadArgs {
    /// Sends the request and prints the agent's answer.
    pub fn run(&self) -> ExitCode {
        finish(verbs::reload(&self.agent.runtime_dir))
    }
}

/// Prints a verb's output and turns its status into the exit code.
fn finish(outcome: Outcome) -> ExitCode {
    use std::io::Write;
    // A closed stdout (`twinstar status | head`) must not turn into a panic.
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    ExitCode::from(outcome.code)
}

impl GenerateArgs {
    /// Writes the files and names each on stdout.
    pub fn run(&self) -> ExitCode {
        use clap::CommandFactory;
        match crate::manual::generate(Cli::command(), &self.out) {
            Ok(files) => {
                for file in files {
                    println!("{}", file.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("twinstar generate: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

impl BenchFloorArgs {
    /// Runs the floor until SIGTERM, then prints its count on stdout.
    pub fn run(&self) -> ExitCode {
        use twinstar::lab::bench::floor;
        let report = match &self.role {
            FloorRole::Send { interval, routers } => floor::send(routers, *interval),
            FloorRole::Receive { interfaces } => floor::receive(interfaces),
        };
        match report {
            Ok(report) => {
                println!("{}", report.line());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("twinstar bench-floor: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

impl LabArgs {
    /// Runs the chaos batch, prints its table; fails on any violation.
    fn chaos(&self, program: std::path::PathBuf) -> ExitCode {
        let seed = self.seed.unwrap_or_else(lab::chaos::fresh_seed);
        let id = std::process::id();
        let options = lab::chaos::ChaosOptions {
            program,
            runs: self.runs.unwrap_or(100).max(1),
            seed,
            faults: self.faults.clone(),
            extra_keys: self.agent_key.clone(),
            prefix: format!("tschaos{id}"),
            workdir: std::env::temp_dir().join(format!("twinstar-chaos-{id}")),
            catch_interrupt: true,
        };
        println!(
            "chaos: {} runs from seed {seed}; namespaces {}-*",
            options.runs, options.prefix
        );
        match lab::chaos::run(&options) {
            Ok(report) => {
                println!("\n{}", report.markdown());
                if report.passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("twinstar lab --chaos: {e}");
                ExitCode::FAILURE
            }
        }
    }

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
        if self.chaos {
            return self.chaos(program);
        }
        if self.bench {
            let options = lab::bench::BenchOptions {
                program,
                runs: self.runs.unwrap_or(5),
                runs_convergence: self.convergence_runs,
                only: self.only.clone(),
                window: self.window,
                hog: self.hog,
            };
            return match lab::bench::run(&options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("twinstar lab --bench: {e}");
                    ExitCode::FAILURE
                }
            };
        }
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

/// Starts logging; `TWINSTAR_LOG` (e.g. `debug`, `twinstar=trace`) sets the filter.
///
/// Text goes to journald when stderr is the systemd journal (falling back to
/// stderr if journald cannot be reached), else to stderr; JSON always to stderr.
fn init_logging(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = tracing_subscriber::EnvFilter::try_from_env("TWINSTAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if format == LogFormat::Json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return;
    }
    if !stderr_is_journal() {
        init_text(filter);
        return;
    }
    match tracing_journald::layer() {
        Ok(journald) => tracing_subscriber::registry()
            .with(filter)
            .with(journald)
            .init(),
        Err(e) => {
            init_text(filter);
            tracing::warn!("cannot log to journald ({e}); logging to stderr instead");
        }
    }
}

/// Human-readable lines on stderr.
fn init_text(filter: tracing_subscriber::EnvFilter) {
    // Colours only on a terminal: redirected logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

/// Whether stderr is connected to the systemd journal: systemd then sets
/// `JOURNAL_STREAM` to the device and inode of that stream (`systemd.exec(5)`),
/// which stderr still has unless it was redirected since.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr()) else {
        return false;
    };
    journal_stream_matches(&stream.to_string_lossy(), stat.st_dev, stat.st_ino)
}

/// Whether `JOURNAL_STREAM`'s `DEV:INODE` (decimal) names the file `dev`/`inode`.
fn journal_stream_matches(stream: &str, dev: libc::dev_t, inode: libc::ino_t) -> bool {
    let Some((d, i)) = stream.trim().split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(inode)
}

/// One line naming each instance's interface, vrid and family, so an operator
/// can see at a glance that the file says what they meant.
fn summary(file: &str, config: &Config) -> String {
    let n = config.instances.len();
    if n == 0 {
        // The packaged file: valid, but the agent would hold no virtual IP.
        return format!("{file}: OK, 0 instances (the agent holds no virtual IP)");
    }
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

/// The one-thread tokio runtime the agent and `remove-vips` run on; `None`
/// (the reason printed) when it cannot be built.
fn single_thread_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            eprintln!("twinstar: cannot start the async runtime: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_is_dev_colon_inode() {
        assert!(journal_stream_matches("8:12345", 8, 12345));
        assert!(!journal_stream_matches("8:12345", 8, 12346));
        assert!(!journal_stream_matches("9:12345", 8, 12345));
        assert!(!journal_stream_matches("", 8, 12345));
        assert!(!journal_stream_matches("8", 8, 12345));
        assert!(!journal_stream_matches("x:y", 8, 12345));
    }

    #[test]
    fn journal_stream_matches_what_fstat_says() {
        let file = std::fs::File::open(env!("CARGO_MANIFEST_DIR")).unwrap();
        let stat = nix::sys::stat::fstat(&file).unwrap();
        let stream = format!("{}:{}", stat.st_dev, stat.st_ino);
        assert!(journal_stream_matches(&stream, stat.st_dev, stat.st_ino));
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

    #[test]
    fn summary_of_an_empty_list_says_nothing_is_held() {
        let config = config::parse_str("instances: []\n", "c.yaml").unwrap();
        assert_eq!(
            summary("c.yaml", &config),
            "c.yaml: OK, 0 instances (the agent holds no virtual IP)"
        );
    }
}
