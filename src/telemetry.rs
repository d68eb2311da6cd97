//! Logging and tracing setup.
//!
//! - Logs: `RUST_LOG`-style filter (default `info`), text or JSON lines on stderr. Inside a reconcile every line
//!   carries the reconcile span's fields, `trace_id` included when tracing is on.
//! - Traces: with `--otlp-endpoint` / `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported over OTLP/HTTP
//!   (protobuf) to `<endpoint>/v1/traces`: one `reconcile` span per reconcile, with child spans per cloud call
//!   (`cloud request`: provider, route, status, budget wait) and per Kubernetes write (`kubernetes write`).
//!   Off otherwise (no exporter, no cost beyond the `tracing` spans the logs use anyway).
//!
//! The exporter sends through a reqwest 0.12 client of our own (`Transport`) rather than
//! opentelemetry-otlp's bundled clients, which would bring a second HTTP/TLS stack (reqwest 0.13) or a
//! blocking client; the SDK's batch processor runs on its own thread, so each export is handed to the tokio
//! runtime and awaited there.
//!
//! Nothing logged or traced contains a secret: API keys and passwords are wrapped in types whose
//! `Debug`/`Display` are masked, and request bodies are never logged or recorded.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the tracer provider alive; dropping it flushes and shuts down the exporter.
#[must_use = "dropping the guard stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("trace export did not shut down cleanly: {e}");
        }
    }
}

/// Why tracing could not be set up.
#[derive(thiserror::Error, Debug)]
pub enum TelemetryError {
    #[error("--otlp-endpoint {endpoint:?} is not an http(s) URL: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

/// Installs the global subscriber. `format` is `text` or `json`; `otlp_endpoint` (the OTLP base URL, e.g.
/// `http://otel-collector:4318`) turns span export on, sending through `runtime`.
pub fn init(
    format: &str,
    otlp_endpoint: Option<&str>,
    runtime: &tokio::runtime::Handle,
) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,kube_runtime=warn,kube_client=warn,hyper=warn,rustls=warn")
    });
    let provider = match otlp_endpoint.filter(|e| !e.is_empty()) {
        Some(endpoint) => Some(provider(endpoint, runtime)?),
        None => None,
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("clouddb-operator"))
            .with_tracked_inactivity(false)
    });
    // Colours only on a terminal: log files and CI logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    // try_init: a second call (tests) is harmless.
    let _ = if format == "json" {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
    Ok(Telemetry { provider })
}

fn provider(
    endpoint: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<SdkTracerProvider, TelemetryError> {
    let base = url::Url::parse(endpoint).map_err(|e| TelemetryError::Endpoint {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(TelemetryError::Endpoint {
            endpoint: endpoint.to_string(),
            reason: format!("scheme {} (want http or https)", base.scheme()),
        });
    }
    let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Transport {
            http,
            runtime: runtime.clone(),
        })
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("clouddb-operator")
                .build(),
        )
        .build())
}

/// OTLP/HTTP transport: our reqwest client, driven on the operator's tokio runtime.
#[derive(Debug, Clone)]
struct Transport {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for Transport {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let (parts, body) = request.into_parts();
        let exchange = async move {
            let resp = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            let mut out = Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok::<_, reqwest::Error>(out)
        };
        // The batch processor calls from its own thread: run the exchange on the runtime, await its handle.
        match self.runtime.spawn(exchange).await {
            Ok(r) => r.map_err(|e| Box::new(e) as HttpError),
            Err(e) => Err(Box::new(e) as HttpError),
        }
    }
}

/// The current span's OpenTelemetry trace id, when tracing is on (for the `trace_id` log field).
pub fn current_trace_id(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = span.context();
    let id = context.span().span_context().trace_id();
    (id != opentelemetry::trace::TraceId::INVALID).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_must_be_http_urls() {
        let rt = tokio::runtime::Handle::current();
        assert!(matches!(
            provider("not a url", &rt),
            Err(TelemetryError::Endpoint { .. })
        ));
        assert!(matches!(
            provider("ftp://collector:4318", &rt),
            Err(TelemetryError::Endpoint { .. })
        ));
        let p = provider("http://127.0.0.1:4318", &rt).expect("an http endpoint is accepted");
        let _ = p.shutdown();
    }
}
