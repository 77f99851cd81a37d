//! `naap`: the command line. Parses flags and hands over to the crates.

mod cli;
mod config_file;
mod demo;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = config_file::expand(std::env::args_os().collect())?;
    let cli = cli::Cli::parse_from(args);
    init_tracing(cli.verbose);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, cli::Command::Emit(_)) {
        // The node agent runs beside GPU jobs: two workers are plenty.
        runtime.worker_threads(2);
    }
    let runtime = runtime.enable_all().thread_name("naap").build()?;
    runtime.block_on(cli::run(cli))
}

fn init_tracing(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if verbose {
        "debug,datafusion=info,h2=info,hyper=info,tower=info"
    } else {
        "info,datafusion=warn,h2=warn,hyper=warn"
    };
    let filter = EnvFilter::try_from_env("NAAP_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
