//! `naap`: the command line. Parses flags and hands over to the crates.

mod backtest;
mod cli;
mod demo;
mod serve;

use clap::Parser;
use naap_emitter::{config_file, logging};

fn main() -> anyhow::Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = if args.get(1).is_some_and(|a| a == "emit") {
        config_file::expand(args, 2)?
    } else {
        args
    };
    let cli = cli::Cli::parse_from(args);
    logging::init(cli.verbose);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, cli::Command::Emit(_)) {
        // The node agent runs beside GPU jobs: two workers are plenty.
        runtime.worker_threads(2);
    }
    let runtime = runtime.enable_all().thread_name("naap").build()?;
    runtime.block_on(cli::run(cli))
}
