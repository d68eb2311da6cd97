//! The operator's own HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (process alive) and `/readyz`
//! (controllers started and every CRD installed, established and not being deleted; `watch_crds` keeps the
//! latter true while the operator runs).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Readiness: the controllers run and every CRD they need is installed, established and not being deleted.
#[derive(Clone, Default, Debug)]
pub struct Readiness {
    started: Arc<AtomicBool>,
    missing_crds: Arc<Mutex<BTreeSet<String>>>,
}

impl Readiness {
    pub fn set_ready(&self) {
        self.started.store(true, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.started.load(Ordering::SeqCst) && self.missing_crds().is_empty()
    }
    /// Records whether CRD `name` is usable (installed, established, not being deleted).
    pub fn set_crd(&self, name: &str, usable: bool) {
        let mut missing = match self.missing_crds.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if usable {
            missing.remove(name);
        } else if missing.insert(name.to_string()) {
            tracing::warn!(
                crd = name,
                "a required CRD is missing or being deleted: /readyz reports not ready"
            );
        }
    }
    /// The required CRDs that are not usable now.
    pub fn missing_crds(&self) -> BTreeSet<String> {
        match self.missing_crds.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Binds `addr` and serves until `shutdown` resolves. Returns the bound address through `bound`.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    readiness: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving /metrics, /healthz, /readyz");
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => { tracing::warn!(error = %e, "accept failed"); continue; }
            },
            () = &mut shutdown => return Ok(()),
        };
        let metrics = metrics.clone();
        let readiness = readiness.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                let readiness = readiness.clone();
                async move { Ok::<_, Infallible>(route(&req, &metrics, &readiness)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

fn route(
    req: &Request<Incoming>,
    metrics: &Metrics,
    readiness: &Readiness,
) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" if readiness.is_ready() => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            match readiness.missing_crds() {
                m if m.is_empty() => "not ready\n".to_string(),
                m => format!(
                    "not ready: CRDs missing or being deleted: {}\n",
                    m.into_iter().collect::<Vec<_>>().join(", ")
                ),
            },
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Follows CRD `name` (a watch by name, as the RBAC allows) and records in `readiness` whether it is usable,
/// until `shutdown` resolves.
pub async fn watch_crd(
    kube: kube::Client,
    name: String,
    readiness: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use futures::StreamExt;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::runtime::{WatchStreamExt, watcher};
    let api = kube::Api::<CustomResourceDefinition>::all(kube);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let usable = |crd: &CustomResourceDefinition| {
        crd.metadata.deletion_timestamp.is_none()
            && crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                })
    };
    let stream = watcher(api, cfg).default_backoff();
    tokio::pin!(stream);
    tokio::pin!(shutdown);
    let mut seen = false;
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            () = &mut shutdown => return,
        };
        match event {
            None => return,
            Some(Err(e)) => tracing::debug!(crd = %name, error = %e, "CRD watch error"),
            Some(Ok(watcher::Event::Init)) => seen = false,
            Some(Ok(watcher::Event::InitApply(crd) | watcher::Event::Apply(crd))) => {
                seen = true;
                readiness.set_crd(&name, usable(&crd));
            }
            Some(Ok(watcher::Event::InitDone)) if !seen => readiness.set_crd(&name, false),
            Some(Ok(watcher::Event::InitDone)) => {}
            Some(Ok(watcher::Event::Delete(_))) => readiness.set_crd(&name, false),
        }
    }
}
