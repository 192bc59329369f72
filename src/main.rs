//! The `twinstar` binary: parses the command line and hands over to [`cli`].

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod manual;

fn main() -> ExitCode {
    cli::Cli::parse().run()
}
