//! `naap`: the command line. Parses flags and hands over to the crates.

mod backtest;
mod cli;
mod demo;
mod serve;
mod sources;
mod watch;

use clap::Parser;
use naap_emitter::{config_file, logging};

/// Memory a finished query freed goes back to the system within seconds
/// (jemalloc's background thread purges what the allocating threads left;
/// glibc's malloc kept each query's peak, so RSS ratcheted up under load).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
