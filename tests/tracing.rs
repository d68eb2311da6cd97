//! OpenTelemetry tracing end to end: the real operator binary, run with `--otlp-endpoint`, reconciles a
//! TidbCloudCluster against the real kube-apiserver and the simulator and exports its spans over OTLP/HTTP to
//! a real receiver here (a hyper server decoding the protobuf `ExportTraceServiceRequest` with the
//! opentelemetry-proto types — not a mock of our exporter). Checked: a `reconcile` span per reconcile, child
//! spans per cloud call (route, status, budget wait) and per Kubernetes write in the same trace, and the trace
//! id in the operator's log lines.

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clouddb_sim::SimConfig;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use support::operator::{OperatorEnv, basic_spec};

/// One received span, flattened.
#[derive(Clone, Debug)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    fn spans(&self) -> Vec<Span> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP receiver on a free loopback port; returns its base URL and what it received.
async fn receiver() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let received = Received::default();
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move {
                        let ok = req.uri().path() == "/v1/traces";
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let status = match ExportTraceServiceRequest::decode(body) {
                            Ok(export) if ok => {
                                let mut spans = store.0.lock().expect("lock");
                                for rs in export.resource_spans {
                                    for ss in rs.scope_spans {
                                        for s in ss.spans {
                                            let attributes = s
                                                .attributes
                                                .iter()
                                                .map(|kv| {
                                                    let v = match kv
                                                        .value
                                                        .as_ref()
                                                        .and_then(|v| v.value.clone())
                                                    {
                                                        Some(AnyValue::StringValue(s)) => s,
                                                        Some(AnyValue::IntValue(i)) => {
                                                            i.to_string()
                                                        }
                                                        Some(AnyValue::BoolValue(b)) => {
                                                            b.to_string()
                                                        }
                                                        Some(other) => format!("{other:?}"),
                                                        None => String::new(),
                                                    };
                                                    (kv.key.clone(), v)
                                                })
                                                .collect();
                                            spans.push(Span {
                                                name: s.name,
                                                trace_id: hex(&s.trace_id),
                                                span_id: hex(&s.span_id),
                                                parent: hex(&s.parent_span_id),
                                                attributes,
                                            });
                                        }
                                    }
                                }
                                200
                            }
                            _ => 400,
                        };
                        let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status).expect("a status");
                        resp.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("application/x-protobuf"),
                        );
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, received)
}

/// Whether `span` descends from a span with id `ancestor` (through the received spans).
fn descends_from(spans: &[Span], span: &Span, ancestor: &str) -> bool {
    let mut parent = span.parent.clone();
    for _ in 0..32 {
        if parent == ancestor {
            return true;
        }
        match spans.iter().find(|s| s.span_id == parent) {
            Some(p) => parent = p.parent.clone(),
            None => return false,
        }
    }
    false
}

#[tokio::test]
async fn reconciles_export_spans_with_cloud_and_kubernetes_children() {
    let (url, received) = receiver().await;
    let Some(env) =
        OperatorEnv::start_with("tracing", SimConfig::default(), &["--otlp-endpoint", &url]).await
    else {
        return;
    };
    env.apply("traced", basic_spec()).await;
    env.wait_ready("traced").await;

    // The batch exporter sends every few seconds: wait for the create's trace.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (create, trace) = loop {
        let spans = received.spans();
        let found = spans
            .iter()
            .filter(|s| {
                s.name == "cloud request"
                    && s.attributes.get("route").map(String::as_str) == Some("POST /clusters")
            })
            .find_map(|c| {
                let root = spans.iter().find(|r| {
                    r.name == "reconcile"
                        && r.trace_id == c.trace_id
                        && r.attributes.get("kind").map(String::as_str) == Some("TidbCloudCluster")
                        && descends_from(&spans, c, &r.span_id)
                })?;
                Some((c.clone(), root.trace_id.clone()))
            });
        if let Some(f) = found {
            break f;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconcile span with a `POST /clusters` cloud request under it within 60 s; received {} spans: {:?}",
            spans.len(),
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        create.attributes.get("status").map(String::as_str),
        Some("200"),
        "{create:?}"
    );
    assert!(
        create.attributes.contains_key("budget_wait_ms"),
        "{create:?}"
    );
    assert_eq!(
        create.attributes.get("provider").map(String::as_str),
        Some("tidbcloud")
    );
    let spans = received.spans();
    let writes: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "kubernetes write" && s.trace_id == trace)
        .collect();
    assert!(
        writes
            .iter()
            .any(|w| w.attributes.get("resource").map(String::as_str)
                == Some("TidbCloudCluster/status")),
        "the create's reconcile writes status in the same trace: {writes:?}"
    );
    let logs = env.logs();
    assert!(
        logs.contains(&format!("trace_id={trace}")),
        "log lines carry the trace id {trace}"
    );
    // No secret ever reaches an exported attribute.
    let key = env.sim.key().private_key.clone();
    for s in &spans {
        for v in s.attributes.values() {
            assert!(
                !v.contains(&key),
                "a span attribute holds the private key: {s:?}"
            );
        }
    }
}
