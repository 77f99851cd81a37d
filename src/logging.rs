//! Log output of every naap binary: `tracing` to stderr, filtered by `NAAP_LOG`.

/// Installs the subscriber; `verbose` lowers the default level to debug.
pub fn init(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if verbose {
        "debug,datafusion=info,h2=info,hyper=info,tower=info"
    } else {
        "info,datafusion=warn,h2=warn,hyper=warn"
    };
    let filter = EnvFilter::try_from_env("NAAP_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a terminal: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
