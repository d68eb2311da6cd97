//! Logging setup: `RUST_LOG`-style filter (default `info`), text or JSON lines on stderr.
//! Nothing logged by the operator contains a secret: API keys and passwords are wrapped in types whose
//! `Debug`/`Display` are masked, and request bodies are never logged.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `format` is `text` or `json`.
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,kube_runtime=warn,kube_client=warn,hyper=warn,rustls=warn")
    });
    // Colours only on a terminal: log files and CI logs stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // try_init: a second call (tests) is harmless.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
