//! Log output of every naap binary (`naap` and `naap-emit`): `tracing` to
//! stderr, filtered by `NAAP_LOG`.

/// Installs the subscriber; `verbose` lowers the default level to debug.
pub fn init(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if verbose {
        "debug,datafusion=info,h2=info,hyper=info,tower=info"
    } else {
        "info,datafusion=warn,h2=warn,hyper=warn"
    };
    // delta-rs and its kernel narrate every snapshot and commit at info
    // (with whole schemas): quiet unless `NAAP_LOG` names them.
    const DELTA: &str = "deltalake_core=warn,delta_kernel=warn,buoyant_kernel=warn,buoyant_kernel_engine=warn";
    let wanted = std::env::var("NAAP_LOG").unwrap_or_else(|_| default.to_owned());
    let directives = if wanted.contains("delta") || wanted.contains("kernel") {
        wanted
    } else {
        format!("{wanted},{DELTA}")
    };
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(format!("{default},{DELTA}")));
    // Colours only for a terminal: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
