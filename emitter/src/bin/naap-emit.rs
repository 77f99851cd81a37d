//! `naap-emit`: the node agent alone, with exactly the flags of `naap emit`.
//!
//! Operators run it beside GPU jobs, so it links only the emitter and the
//! wire contract: none of DataFusion, the pipeline or the server
//! (`cargo build --release -p naap-emitter`).

use clap::Parser;
use naap_emitter::{agent, config_file, logging};

/// naap-emit: the naap node agent (heartbeat, GPUs, host, probes, scrape,
/// BYOC events) or a simulated network, to Kafka or a message file.
#[derive(Debug, Parser)]
#[command(name = "naap-emit", version, about, long_about = None, args_override_self = true)]
struct Cli {
    /// Log debug detail (or set NAAP_LOG).
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    args: agent::EmitArgs,
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
    runtime.block_on(agent::run(cli.args))
}
