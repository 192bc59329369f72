//! `twinstar generate`: the manual pages, shell completions and configuration
//! reference, made from the clap definitions and `config::reference` so that
//! they always say what the binary does.

use std::io;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction};
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use twinstar::config::reference;

/// Writes every generated file under `out` and returns their paths:
/// `man/twinstar.8`, `man/twinstar.yaml.5`, `completions/twinstar.bash`,
/// `completions/_twinstar`, `completions/twinstar.fish` and `configuration.md`.
pub fn generate(cmd: clap::Command, out: &Path) -> io::Result<Vec<PathBuf>> {
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    }
    let mut files = vec![
        (man.join("twinstar.8"), cli_man_page(cmd.clone())?),
        (man.join("twinstar.yaml.5"), reference::man_page()),
        (out.join("configuration.md"), reference::markdown()),
    ];
    let visible = without_hidden_commands(&cmd);
    for (shell, name) in [
        (Shell::Bash, "twinstar.bash"),
        (Shell::Zsh, "_twinstar"),
        (Shell::Fish, "twinstar.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut visible.clone(), "twinstar", &mut buf);
        let text = String::from_utf8(buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        files.push((completions.join(name), text));
    }
    for (path, text) in &files {
        std::fs::write(path, text)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// `cmd` without its hidden subcommands, which completions would offer otherwise.
fn without_hidden_commands(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new("twinstar")
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
        .propagate_version(cmd.is_propagate_version_set());
    if cmd.get_version().is_some() {
        out = out.version(env!("CARGO_PKG_VERSION"));
    }
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    out
}

/// twinstar(8): clap_mangen's title, name, synopsis, description and options,
/// then every command with its usage, description and options, then exit
/// status, signals, environment, files and see also.
pub fn cli_man_page(mut cmd: clap::Command) -> io::Result<String> {
    cmd.build();
    let version = cmd.get_version().unwrap_or_default().to_owned();
    let man = Man::new(cmd.clone())
        .title("TWINSTAR")
        .section("8")
        .source(format!("twinstar {version}"))
        .manual("System Manager's Manual");
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        paragraphs(&mut roff, &about.to_string());
    }
    roff.to_writer(&mut buf)?;
    man.render_options_section(&mut buf)?;

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    // `help` repeats --help, which every command's usage already shows.
    let shown = |s: &&clap::Command| !s.is_hide_set() && s.get_name() != "help";
    for sub in cmd.get_subcommands().filter(shown) {
        command_section(&mut roff, sub);
    }
    trailer(&mut roff);
    roff.to_writer(&mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// One command: `.SS twinstar NAME`, its usage, long description and arguments.
fn command_section(roff: &mut Roff, sub: &clap::Command) {
    roff.control("SS", [format!("twinstar {}", sub.get_name()).as_str()]);
    let usage = sub.clone().render_usage().to_string();
    let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage);
    roff.text([bold(usage.trim())]);
    if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
        paragraphs(roff, &about.to_string());
    }
    let args: Vec<&Arg> = sub
        .get_arguments()
        .filter(|a| {
            !a.is_hide_set()
                && !matches!(
                    a.get_action(),
                    ArgAction::Help
                        | ArgAction::HelpShort
                        | ArgAction::HelpLong
                        | ArgAction::Version
                )
        })
        .collect();
    if args.is_empty() {
        return;
    }
    roff.control("PP", []);
    roff.text([roman("Arguments:")]);
    roff.control("RS", ["4"]);
    for arg in args {
        roff.control("TP", []);
        roff.text(arg_heading(arg));
        let mut help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        if !help.is_empty() && !help.ends_with('.') {
            help.push('.');
        }
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect();
        if !values.is_empty() && !arg.is_positional() {
            help.push_str(&format!(" One of: {}.", values.join(", ")));
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && arg.get_action().takes_values() {
            help.push_str(&format!(" Default: {}.", defaults.join(" ")));
        }
        roff.text(with_code(help.trim()));
    }
    roff.control("RE", []);
}

/// `-c, --config FILE`, `--json` or `INSTANCE`, in the usual man page faces.
fn arg_heading(arg: &Arg) -> Vec<Inline> {
    let value = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    if arg.is_positional() {
        return vec![italic(value)];
    }
    let mut out = Vec::new();
    if let Some(short) = arg.get_short() {
        out.push(bold(format!("-{short}")));
        out.push(roman(", "));
    }
    if let Some(long) = arg.get_long() {
        out.push(bold(format!("--{long}")));
    }
    if arg.get_action().takes_values() {
        out.push(roman(" "));
        out.push(italic(value));
    }
    out
}

/// Text whose blank lines separate paragraphs.
fn paragraphs(roff: &mut Roff, text: &str) {
    for para in text.split("\n\n") {
        let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
        if !para.is_empty() {
            roff.control("PP", []);
            roff.text(with_code(&para));
        }
    }
}

/// Text whose `code` spans are set in bold.
fn with_code(text: &str) -> Vec<Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| if i % 2 == 1 { bold(part) } else { roman(part) })
        .collect()
}

/// The sections after the commands.
fn trailer(roff: &mut Roff) {
    let entries = |roff: &mut Roff, title: &str, items: &[(Inline, &str)]| {
        roff.control("SH", [title]);
        for (term, text) in items {
            roff.control("TP", []);
            roff.text([term.clone()]);
            roff.text([roman(*text)]);
        }
    };
    entries(
        roff,
        "EXIT STATUS",
        &[
            (bold("0"), "Success."),
            (
                bold("1"),
                "Failure: an invalid configuration, an agent that cannot be reached, a refused \
                 request, or an agent that could not start.",
            ),
            (bold("2"), "The command line could not be parsed."),
            (bold("3"), "twinstar status: an instance shown is in Fault."),
        ],
    );
    entries(
        roff,
        "SIGNALS",
        &[
            (
                bold("SIGTERM, SIGINT"),
                "twinstar run stops: each Master hands over with a priority-0 advertisement and \
                 removes its virtual IPs.",
            ),
            (
                bold("SIGHUP"),
                "twinstar run re-reads its configuration file, as twinstar reload does.",
            ),
        ],
    );
    entries(
        roff,
        "ENVIRONMENT",
        &[
            (
                bold("TWINSTAR_LOG"),
                "The log filter of twinstar run, such as debug or twinstar=trace; info by default.",
            ),
            (
                bold("JOURNAL_STREAM"),
                "Set by systemd; when it names stderr, text logs go to the journal directly.",
            ),
        ],
    );
    entries(
        roff,
        "FILES",
        &[
            (
                italic("/etc/twinstar/twinstar.yaml"),
                "The configuration file, see twinstar.yaml(5).",
            ),
            (
                italic("/run/twinstar/control.sock"),
                "The control socket used by status, switchover, maintenance and reload \
                 (the directory is set with --runtime-dir).",
            ),
            (
                italic("/run/twinstar/status.json"),
                "The status document, refreshed while the agent runs.",
            ),
            (
                italic("/run/twinstar/maintenance.json"),
                "The instances in maintenance, kept across restarts.",
            ),
        ],
    );
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("twinstar.yaml"),
        roman("(5), "),
        bold("systemd.service"),
        roman("(5)"),
    ]);
}
