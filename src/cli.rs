//! Command-line interface: the clap definitions of every subcommand and its
//! arguments. What each subcommand does is in `cli/commands.rs`.
//!
//! Each subcommand is a variant of [`Command`] holding its own argument struct
//! with a `run` method, so adding one (`run`, `status`, ...) touches only this
//! file and `cli/commands.rs`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use twinstar::config;

mod commands;
mod import_keepalived;

/// What `--runtime-dir` defaults to, for the agent and the verbs that talk to it.
const DEFAULT_RUNTIME_DIR: &str = "/run/twinstar";

/// VRRPv3 (RFC 9568) virtual-IP failover agent for Linux.
///
/// `twinstar run` is the agent: it elects a Master among routers sharing a
/// virtual router ID and moves the virtual IP addresses to it. `status`,
/// `switchover`, `maintenance` and `reload` operate a running agent through its
/// control socket; `check` validates a configuration file; `watch` shows the
/// VRRP routers on a link, with no configuration and no agent.
///
/// The configuration file, usually /etc/twinstar/twinstar.yaml, is described in
/// twinstar.yaml(5).
#[derive(Debug, Parser)]
#[command(name = "twinstar", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}
/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration file: print every error and exit 1, or a summary and exit 0.
    ///
    /// Reads FILE as `twinstar run` would, without touching the network or a
    /// running agent. Every mistake is printed to stderr, one per line as
    /// FILE:LINE:COL: message, with what would be right. A valid file prints one
    /// line naming each instance's interface, VRID and address family.
    ///
    /// Exit status: 0 when the file is valid, 1 when it has errors or cannot be read.
    Check(CheckArgs),
    /// Run the agent in the foreground until SIGTERM or SIGINT (SIGHUP reloads).
    ///
    /// Joins the elections of the configured instances, adds the virtual IPs while
    /// Master and removes them otherwise, runs the checks and hooks, and serves the
    /// control socket, the status snapshot <runtime-dir>/status.json and, if
    /// configured, the metrics endpoint. Needs root: it opens raw sockets, adds
    /// and removes addresses, and runs scripts as script_user. Under systemd
    /// (Type=notify) it reports readiness, reloads and a watchdog.
    ///
    /// SIGTERM or SIGINT: a Master hands over with a priority-0 advertisement,
    /// removes its virtual IPs and the agent exits 0. SIGHUP (or `twinstar reload`)
    /// re-reads the file and applies only the difference; a file with errors
    /// changes nothing.
    ///
    /// One agent runs per runtime directory: it locks <runtime-dir>/twinstar.lock
    /// before touching anything, and a second one exits naming the first's pid.
    /// A panic aborts the agent at once (SIGABRT), so that the service manager
    /// restarts a whole one.
    ///
    /// Exit status: 0 after a clean stop, 1 when the configuration is invalid,
    /// another agent runs with the same runtime directory, or the agent cannot
    /// start.
    Run(RunArgs),
    /// Show the running agent's instances, checks and sync groups; exit 3 when an
    /// instance is in Fault.
    ///
    /// Shows a table of instances (state, effective/base priority, current Master,
    /// advertisement intervals, virtual IPs, time since the last transition, adverts
    /// in/out, drops), why a priority moved or an instance is in Fault, then the
    /// checks, sync groups and dropped packets. With --json it prints the agent's
    /// status document instead (the same as <runtime-dir>/status.json).
    ///
    /// Exit status: 0 when no instance shown is in Fault, 3 when one is, 1 when the
    /// agent cannot be asked (not running, another --runtime-dir, no permission) or
    /// there is no such instance.
    Status(StatusArgs),
    /// Make this Master hand its role to the best Backup, and confirm it.
    ///
    /// The Master of NAME (an instance, or every member of a sync group) sends a
    /// priority-0 advertisement so that the best Backup takes over at once, keeps
    /// its virtual IPs until the new Master speaks (make before break), then
    /// stays Backup without preempting it. The command waits for the new
    /// Master's first advertisement and prints its address and how long it took
    /// from the resignation. If nobody takes over within Master_Down_Interval
    /// (3 x the instance's advert_interval + Skew_Time for its priority, RFC 9568
    /// section 6.1), this host becomes Master again with the virtual IPs never
    /// removed and no hooks run, keeps serving, and the command says so and exits
    /// 1. --no-wait returns as soon as the resignation is made.
    ///
    /// Exit status: 0 when the new Master was heard (or --no-wait), 1 when nobody
    /// took over, NAME is not Master here, or the agent cannot be asked.
    Switchover(SwitchoverArgs),
    /// Turn maintenance mode on or off: an instance in maintenance stays Backup.
    ///
    /// For one instance or, with --all, for every instance. An instance in
    /// maintenance stays Backup, e.g. while this machine is being worked on; off
    /// lets it take part in elections again. A Master going into maintenance
    /// hands over like a switchover and the command waits for the new Master. If
    /// nobody takes over within Master_Down_Interval, maintenance is withdrawn:
    /// the instance stays Master, its virtual IPs never removed, and the command
    /// exits 1 (nobody else could serve them). --force enters maintenance anyway:
    /// the virtual IPs then go, and nobody serves them. --no-wait returns at once;
    /// the outcome is the same and shows in `twinstar status --json`.
    ///
    /// Exit status: 0 when done, 1 when nobody took over (without --force), the
    /// request was refused or the agent cannot be asked.
    Maintenance(MaintenanceArgs),
    /// Make the running agent re-read its configuration file.
    ///
    /// Like SIGHUP, but waits for the result. A file with errors changes nothing:
    /// the errors are printed to stderr, one per line, and the agent keeps its
    /// current configuration.
    ///
    /// Exit status: 0 when the new configuration is in effect, 1 otherwise.
    Reload(ReloadArgs),
    /// Remove this configuration's virtual IPs from this host, and do nothing else.
    ///
    /// Takes each instance's virtual IPs (address and prefix length) off its
    /// interface, without advertising, running hooks or asking a running agent.
    /// Meant for systemd's ExecStopPost=, which runs after the agent exited for
    /// any reason, SIGKILL and the OOM killer included, and before a restart: a
    /// Backup takes over a dead Master, so its virtual IPs must not stay on this
    /// host. Prints one line per virtual IP: removed, not there, or why not.
    ///
    /// Exit status: 0 when none of the virtual IPs is left on this host, 1 when the
    /// configuration is invalid or a virtual IP could not be removed.
    RemoveVips(RemoveVipsArgs),
    /// Show VRRP on the wire, live: every virtual router heard, its routers and
    /// Master, and what is wrong; needs no configuration and no agent.
    ///
    /// Listens (never sends) on IFACE, or on every interface, with a packet
    /// socket, so it needs root or CAP_NET_RAW. Per interface and VRID it lists
    /// each router heard: source address and MAC, VRRP version (a router sending
    /// both shows once per version), priority, advertisement interval, checksum
    /// form (pseudo-header, message-only or invalid), TTL, virtual IPs, how long
    /// ago it was last heard, and its role: master (the highest priority heard
    /// within Master_Down_Interval), advertising, resigning (priority 0) or
    /// silent. Below, the anomalies: two Masters (two routers advertising at
    /// once), interval or virtual-IP mismatch, TTL other than 255, invalid
    /// checksum, VRRPv2-only and VRRPv3-only routers side by side, and routers
    /// outside --peers.
    ///
    /// On a terminal the table is redrawn in place every second and on every
    /// change. With --json it prints one JSON object per line per change
    /// instead: `router` (heard first, or its settings changed), `silent`,
    /// `master`, `anomaly` (raised true or false) and `malformed`.
    ///
    /// Exit status: runs until interrupted; 1 when the interface does not exist or
    /// the socket cannot be opened.
    Watch(WatchArgs),
    /// Demo lab (root): two agents and a client in network namespaces; shows the
    /// election, host-loss failovers and a graceful handover, then cleans up.
    ///
    /// Builds a private LAN of network namespaces with two routers running this
    /// binary and a client pinging the virtual IP, then shows the election,
    /// measures --rounds host-loss failovers (how long the client loses the
    /// virtual IP) and a graceful handover, and removes everything it made. It
    /// touches no interface of the host. Needs root.
    ///
    /// With --bench, runs the benchmark instead: twinstar and keepalived (if
    /// installed) side by side on the same lab and scenarios, printed as a
    /// Markdown table with medians, ranges and ratios; the CPU rows also give
    /// the floor (the same packets sent or received on the same sockets with
    /// no agent logic) and each agent's CPU as a multiple of it.
    ///
    /// With --chaos, runs random fault schedules instead (agents killed,
    /// stopped, cut off, partitioned, flooded, reloaded...), each drawn from a
    /// printed seed and checked by a 100 Hz sampler against RFC 9568's bounds;
    /// a violation prints its seed, schedule and timeline, the batch a Markdown
    /// table per fault kind. Replay a run with --runs 1 --seed SEED.
    ///
    /// Exit status: 0 when the demo ran (with --chaos: and nothing was
    /// violated), 1 otherwise.
    Lab(LabArgs),
    /// Convert a keepalived configuration to twinstar's, reporting what does not carry over.
    ///
    /// Reads FILE (keepalived.conf, following its `include`s) and writes the
    /// equivalent twinstar configuration to --out, or to stdout. Each instance,
    /// check and sync group is commented with the keepalived line it comes from.
    /// Every construct that could not be mapped is reported on stderr as
    /// FILE:LINE: keyword: why, and mapped ones worth knowing about as
    /// FILE:LINE: keyword: note: ... The result is then validated as `twinstar
    /// check` would; its errors, if any, are reported too.
    ///
    /// Exit status: 0 when everything was mapped and the result is valid, 2 when
    /// the configuration was written but something was not mapped or it does
    /// not pass `twinstar check`, 1 when FILE cannot be read or parsed or --out
    /// cannot be written.
    ImportKeepalived(ImportKeepalivedArgs),
    /// Write the manual pages, shell completions and configuration reference.
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// The benchmark's floor (`twinstar lab --bench` runs it in a lab host):
    /// sends or receives the agents' adverts on the agent's sockets with no
    /// agent logic, until SIGTERM, then prints what it counted.
    #[command(hide = true)]
    BenchFloor(BenchFloorArgs),
}
/// Arguments of `twinstar check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file to validate.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
}
/// Arguments of `twinstar import-keepalived`.
#[derive(Debug, Args)]
pub struct ImportKeepalivedArgs {
    /// The keepalived configuration, usually /etc/keepalived/keepalived.conf.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the twinstar configuration (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
/// Arguments of `twinstar remove-vips`.
#[derive(Debug, Args)]
pub struct RemoveVipsArgs {
    /// The configuration file whose virtual IPs to remove.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
}
/// Arguments of `twinstar watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The interface to listen on; every interface when left out.
    #[arg(value_name = "IFACE")]
    pub interface: Option<String>,
    /// One JSON object per line per change instead of the table.
    #[arg(long)]
    pub json: bool,
    /// The routers expected on the segment (comma-separated addresses); any
    /// other router heard is flagged as an unknown peer.
    #[arg(long, value_name = "ADDRESS,...", value_delimiter = ',')]
    pub peers: Vec<std::net::IpAddr>,
}
/// Arguments of `twinstar run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// Where run-time files go (status snapshot, lock); one per agent on a machine.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RUNTIME_DIR)]
    pub runtime_dir: PathBuf,
    /// text: lines on stderr, or journald when stderr is the systemd journal;
    /// json: one JSON object per line on stderr. TWINSTAR_LOG sets the filter
    /// (e.g. `debug`).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}
/// The log formats of `twinstar run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (journald's own fields under systemd).
    Text,
    /// One JSON object per line.
    Json,
}
/// Which agent to talk to: the one whose runtime directory holds `control.sock`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The agent's runtime directory (as given to `twinstar run`).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RUNTIME_DIR)]
    pub runtime_dir: PathBuf,
}
/// Arguments of `twinstar status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status document as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Show only this instance.
    #[arg(value_name = "INSTANCE")]
    pub instance: Option<String>,
    #[command(flatten)]
    pub agent: AgentArgs,
}
/// Arguments of `twinstar switchover`.
#[derive(Debug, Args)]
pub struct SwitchoverArgs {
    /// The instance or sync group to hand over; it must be Master here.
    #[arg(value_name = "NAME")]
    pub instance: String,
    /// Return once the resignation is made, without waiting for the new
    /// Master (--force, its former spelling, is accepted for scripts).
    #[arg(long, alias = "force")]
    pub no_wait: bool,
    #[command(flatten)]
    pub agent: AgentArgs,
}
/// Maintenance mode on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Stay Backup (leave Master first).
    On,
    /// Take part in elections again.
    Off,
}
/// Arguments of `twinstar maintenance`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("target").required(true).args(["instance", "all"])),
    override_usage = "twinstar maintenance [OPTIONS] <on|off> <INSTANCE|--all>"
)]
pub struct MaintenanceArgs {
    /// Whether maintenance is to be on or off.
    #[arg(value_enum, value_name = "on|off")]
    pub switch: Switch,
    /// The instance.
    #[arg(value_name = "INSTANCE")]
    pub instance: Option<String>,
    /// Every instance of the agent.
    #[arg(long)]
    pub all: bool,
    /// Return at once, without waiting for the new Master (on only).
    #[arg(long)]
    pub no_wait: bool,
    /// Stay in maintenance even when nobody takes over from a Master, letting
    /// its virtual IPs go (on only).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub agent: AgentArgs,
}
/// Arguments of `twinstar reload`.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub agent: AgentArgs,
}
/// Arguments of `twinstar generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The directory to write into; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}
/// Arguments of `twinstar bench-floor`.
#[derive(Debug, Args)]
pub struct BenchFloorArgs {
    /// Send or receive.
    #[command(subcommand)]
    pub role: FloorRole,
}
/// What the floor program does.
#[derive(Debug, Subcommand)]
pub enum FloorRole {
    /// Send each router's advert every interval, phases spread in 1 ms ticks.
    Send {
        /// Advertisement interval of every router.
        #[arg(long, value_parser = parse_interval)]
        interval: std::time::Duration,
        /// A router: INTERFACE,VRID,PRIORITY,VIP (repeat for each).
        #[arg(long = "router", value_name = "ROUTER", required = true)]
        routers: Vec<twinstar::lab::bench::floor::FloorRouter>,
    },
    /// Receive every datagram on these interfaces' VRRP sockets.
    Receive {
        /// An interface (repeat for each).
        #[arg(long = "interface", value_name = "IFACE", required = true)]
        interfaces: Vec<String>,
    },
}
/// Arguments of `twinstar lab`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("mode").args(["bench", "chaos"]).multiple(false)))]
pub struct LabArgs {
    /// Advertisement interval of the two agents (10ms..40.95s in 10 ms steps).
    #[arg(long, default_value = "100ms", value_parser = parse_interval)]
    pub interval: std::time::Duration,
    /// Number of host-loss rounds to measure.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// Run the benchmark against keepalived instead of the demo.
    #[arg(long)]
    pub bench: bool,
    /// Run random fault schedules against two agents instead of the demo.
    #[arg(long)]
    pub chaos: bool,
    /// Benchmark: runs per latency scenario (default 5). Chaos: how many runs
    /// (default 100).
    #[arg(long, requires = "mode")]
    pub runs: Option<usize>,
    /// Chaos: the batch seed (decimal or 0x hex); run 1 uses it as is, so
    /// `--runs 1 --seed S` replays a run whose seed is S. Default: from the clock.
    #[arg(long, value_parser = parse_seed, requires = "chaos")]
    pub seed: Option<u64>,
    /// Chaos: only these fault kinds, comma separated: kill, stop, link-flap,
    /// partition, loss, vip-deleted, interface-recreated, cpu-hog, rogue-advert,
    /// advert-flood, reload. Default: all.
    #[arg(long, value_delimiter = ',', value_parser = parse_fault, requires = "chaos")]
    pub faults: Vec<twinstar::lab::chaos::schedule::FaultKind>,
    /// Chaos: one more key for both agents' instance, as a YAML line (such as
    /// `accept: true`); repeat for several.
    #[arg(long, value_name = "YAML", requires = "chaos")]
    pub agent_key: Vec<String>,
    /// Benchmark: runs of the convergence scenario.
    #[arg(long, default_value_t = 10, requires = "bench")]
    pub convergence_runs: usize,
    /// Benchmark: only these scenarios (1..10), comma separated.
    #[arg(long, value_delimiter = ',', requires = "bench")]
    pub only: Vec<u8>,
    /// Benchmark: CPU measurement window.
    #[arg(long, default_value = "10s", value_parser = config::parse_duration, requires = "bench")]
    pub window: std::time::Duration,
    /// Benchmark: how long the CPU hog saturates every core.
    #[arg(long, default_value = "60s", value_parser = config::parse_duration, requires = "bench")]
    pub hog: std::time::Duration,
}
fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("{text} is not a 64-bit seed: {e}"))
}
fn parse_fault(text: &str) -> Result<twinstar::lab::chaos::schedule::FaultKind, String> {
    text.parse()
        .map_err(|e: twinstar::lab::chaos::schedule::UnknownFault| e.to_string())
}
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let interval = config::parse_duration(text)?;
    if !twinstar::vrrp::is_valid_adver_interval(interval) {
        return Err(format!("{text} is not in 10ms..=40.95s in 10 ms steps"));
    }
    Ok(interval)
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
    fn generate_is_hidden_from_help() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("maintenance"), "{help}");
        assert!(!help.contains("generate"), "{help}");
        let cli = Cli::try_parse_from(["twinstar", "generate", "--out", "d"]).unwrap();
        let Command::Generate(args) = cli.command else {
            panic!("not generate: {cli:?}")
        };
        assert_eq!(args.out, PathBuf::from("d"));
    }

    #[test]
    fn log_format_defaults_to_text() {
        let cli = Cli::try_parse_from(["twinstar", "run", "-c", "x.yaml"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run: {cli:?}")
        };
        assert_eq!(run.log_format, LogFormat::Text);
        let cli =
            Cli::try_parse_from(["twinstar", "run", "-c", "x", "--log-format", "json"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run: {cli:?}")
        };
        assert_eq!(run.log_format, LogFormat::Json);
    }

    #[test]
    fn lab_chaos_takes_runs_seed_and_faults_and_runs_needs_a_mode() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|cli| cli.command);
        let Ok(Command::Lab(lab)) = parse(&[
            "twinstar",
            "lab",
            "--chaos",
            "--runs",
            "7",
            "--seed",
            "0x10",
            "--faults",
            "kill,loss",
        ]) else {
            panic!("lab --chaos")
        };
        use twinstar::lab::chaos::schedule::FaultKind;
        assert!(lab.chaos && !lab.bench);
        assert_eq!(lab.runs, Some(7));
        assert_eq!(lab.seed, Some(16));
        assert_eq!(lab.faults, vec![FaultKind::Kill, FaultKind::Loss]);
        assert!(parse(&["twinstar", "lab", "--chaos", "--faults", "meteor"]).is_err());
        assert!(parse(&["twinstar", "lab", "--runs", "3"]).is_err());
        assert!(parse(&["twinstar", "lab", "--seed", "3"]).is_err());
        assert!(parse(&["twinstar", "lab", "--bench", "--chaos"]).is_err());
        assert!(parse(&["twinstar", "lab", "--bench", "--runs", "3"]).is_ok());
    }

    #[test]
    fn maintenance_needs_exactly_one_target() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|cli| cli.command);
        let Ok(Command::Maintenance(m)) = parse(&["twinstar", "maintenance", "on", "web"]) else {
            panic!("maintenance on web")
        };
        assert_eq!(
            (m.switch, m.instance.as_deref(), m.all),
            (Switch::On, Some("web"), false)
        );
        let Ok(Command::Maintenance(m)) = parse(&["twinstar", "maintenance", "off", "--all"])
        else {
            panic!("maintenance off --all")
        };
        assert_eq!((m.switch, m.instance, m.all), (Switch::Off, None, true));
        assert!(parse(&["twinstar", "maintenance", "on"]).is_err());
        assert!(parse(&["twinstar", "maintenance", "on", "web", "--all"]).is_err());
        assert!(parse(&["twinstar", "maintenance", "maybe", "web"]).is_err());
    }
}
