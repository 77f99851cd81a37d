//! `naap-emit`: the node agent alone, with exactly the flags of `naap emit`.
//!
//! Operators run it beside GPU jobs, so it links only the emitter and the
//! wire contract: none of DataFusion, the pipeline or the server.

#[path = "../config_file.rs"]
mod config_file;
#[path = "../emit.rs"]
mod emit;
#[path = "../logging.rs"]
mod logging;

use clap::Parser;

/// naap-emit: the naap node agent (heartbeat, GPUs, host, probes, scrape,
/// BYOC events) or a simulated network, to Kafka or a message file.
#[derive(Debug, Parser)]
#[command(name = "naap-emit", version, about, long_about = None, args_override_self = true)]
struct Cli {
    /// Log debug detail (or set NAAP_LOG).
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    args: emit::EmitArgs,
}

fn main() -> anyhow::Result<()> {
    let args = config_file::expand(std::env::args_os().collect(), 1)?;
    let cli = Cli::parse_from(args);
    logging::init(cli.verbose);
    // Two workers are plenty beside GPU jobs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("naap-emit")
        .build()?;
    runtime.block_on(emit::run(cli.args))
}
