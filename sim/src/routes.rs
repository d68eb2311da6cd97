//! The routes the simulator serves, read off its own routers (the coverage table of `docs/simulator.md` is
//! checked against them by `sim/tests/coverage.rs`).
//!
//! The routers are `match`es over path segments, so they cannot list themselves. Instead every candidate
//! route template is turned into a request and routed exactly as a real one: the same gateways, modules and
//! module order as [`crate::Simulator::start`] builds, through the gateway's own routing step
//! ([`Gateway::probe`], [`Gateway::probe_admin`]). A candidate is served for a method when the router
//! answers the request under that very template and not with the 405 of a path served for other methods.
//!
//! Candidates come from the sources: a router names the route of every answer as a `&'static str` template
//! (`Routed::route`, the template the counters show), written as a string literal in `sim/src`, so
//! [`template_literals`] over every source file yields a superset of the served templates.
use crate::api::Method;
use crate::config::{ApiKey, SimConfig};
use crate::gateway::{Gateway, Probed};
use std::collections::BTreeSet;

/// The methods a route may be served for.
pub const METHODS: [Method; 5] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
];

/// One route the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServedRoute {
    /// The API family: `Dedicated v1beta1`, `IAM v1beta1`, `legacy v1beta`, `Serverless v1beta1`,
    /// `ClickHouse v1`, `admin (TiDB listener)`, `admin (Serverless listener)` or
    /// `admin (ClickHouse listener)`.
    pub api: String,
    /// The path template, as counted (`/v1beta1/clusters/{clusterId}`).
    pub template: String,
    pub method: &'static str,
    /// [`crate::api::ApiModule::name`] of the module that answers it, or `gateway` (built-in admin routes).
    pub module: &'static str,
}

/// The API family a module's routes belong to.
fn api_of(module: &'static str) -> String {
    match module {
        "dedicated" => "Dedicated v1beta1",
        "iam" => "IAM v1beta1",
        "legacy-v1beta" => "legacy v1beta",
        "clickhouse" => "ClickHouse v1",
        "serverless" => "Serverless v1beta1",
        other => other,
    }
    .to_string()
}

/// The path of a request for `template`: every `{placeholder}` becomes a sample value.
pub fn instantiate(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str("1234567890");
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Candidate templates in one source file: every one-line string literal that looks like an API path
/// (`"/v1beta1/…"`), and `/_sim/<word>` for every single-word literal (the gateway matches its built-in
/// admin routes by their bare name, `"health"`).
pub fn template_literals(source: &str) -> Vec<String> {
    let literal = regex::Regex::new(r#""([^"\\\n]*)""#).expect("static regex");
    let word = regex::Regex::new(r"^[a-z][A-Za-z]*$").expect("static regex");
    let mut out = Vec::new();
    for line in source.lines() {
        for c in literal.captures_iter(line) {
            let s = &c[1];
            if s.starts_with('/') && !s.contains(char::is_whitespace) {
                out.push(s.to_string());
            } else if word.is_match(s) {
                out.push(format!("/_sim/{s}"));
            }
        }
    }
    out
}

/// The routes served among `candidates` (templates), on every listener, sorted by API, template and method.
pub fn served_routes<'a>(candidates: impl IntoIterator<Item = &'a str>) -> Vec<ServedRoute> {
    let mut config = SimConfig::default();
    if config.keys.is_empty() {
        config.keys.push(ApiKey::random());
    }
    if config.clickhouse.keys.is_empty() {
        config.clickhouse.keys.push(ApiKey::random_clickhouse());
    }
    let gateways = crate::gateways(&config).expect("the built-in catalogue loads");
    let listeners: [(&Gateway, &str); 3] = [
        (&gateways.tidb, "TiDB"),
        (&gateways.serverless, "Serverless"),
        (&gateways.clickhouse, "ClickHouse"),
    ];
    let candidates: BTreeSet<&str> = candidates.into_iter().collect();
    let mut out = BTreeSet::new();
    for template in candidates {
        let path = instantiate(template);
        for (gateway, listener) in listeners {
            for method in METHODS {
                let admin = path.strip_prefix("/_sim/");
                let probed = match admin {
                    Some(p) => gateway.probe_admin(method, p),
                    None => gateway.probe(method, &path),
                };
                let Some(Probed {
                    module,
                    route,
                    method_allowed: true,
                }) = probed
                else {
                    continue;
                };
                if route != template {
                    continue;
                }
                out.insert(ServedRoute {
                    api: match admin {
                        Some(_) => format!("admin ({listener} listener)"),
                        None => api_of(module),
                    },
                    template: route,
                    method: method.as_str(),
                    module,
                });
            }
        }
    }
    let mut out: Vec<ServedRoute> = out.into_iter().collect();
    let rank = |api: &str| {
        [
            "Dedicated v1beta1",
            "IAM v1beta1",
            "legacy v1beta",
            "Serverless v1beta1",
            "ClickHouse v1",
            "admin (TiDB listener)",
            "admin (Serverless listener)",
            "admin (ClickHouse listener)",
        ]
        .iter()
        .position(|a| *a == api)
        .unwrap_or(usize::MAX)
    };
    let method_rank = |m: &str| METHODS.iter().position(|x| x.as_str() == m);
    out.sort_by(|a, b| {
        (rank(&a.api), &a.api, &a.template, method_rank(a.method)).cmp(&(
            rank(&b.api),
            &b.api,
            &b.template,
            method_rank(b.method),
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_paths_and_literals_become_candidates() {
        assert_eq!(
            instantiate("/v1beta1/clusters/{clusterId}:pauseCluster"),
            "/v1beta1/clusters/1234567890:pauseCluster"
        );
        let src = r#"routed("/v1beta1/clusters", x); (Method::Get, "health") => "a b""#;
        assert_eq!(
            template_literals(src),
            vec!["/v1beta1/clusters".to_string(), "/_sim/health".to_string()]
        );
    }

    #[test]
    fn probing_finds_served_methods_only() {
        let routes = served_routes([
            "/v1beta1/clusters",
            "/v1beta1/clusters/{clusterId}",
            "/v1beta1/nothing",
            "/_sim/health",
        ]);
        let got: Vec<(&str, &str, &str, &str)> = routes
            .iter()
            .map(|r| (r.api.as_str(), r.method, r.template.as_str(), r.module))
            .collect();
        let d = "Dedicated v1beta1";
        let sls = "Serverless v1beta1";
        assert_eq!(
            got,
            vec![
                (d, "GET", "/v1beta1/clusters", "dedicated"),
                (d, "POST", "/v1beta1/clusters", "dedicated"),
                (d, "GET", "/v1beta1/clusters/{clusterId}", "dedicated"),
                (d, "PATCH", "/v1beta1/clusters/{clusterId}", "dedicated"),
                (d, "DELETE", "/v1beta1/clusters/{clusterId}", "dedicated"),
                (sls, "GET", "/v1beta1/clusters", "serverless"),
                (sls, "POST", "/v1beta1/clusters", "serverless"),
                (sls, "GET", "/v1beta1/clusters/{clusterId}", "serverless"),
                (sls, "PATCH", "/v1beta1/clusters/{clusterId}", "serverless"),
                (sls, "DELETE", "/v1beta1/clusters/{clusterId}", "serverless"),
                ("admin (TiDB listener)", "GET", "/_sim/health", "gateway"),
                (
                    "admin (Serverless listener)",
                    "GET",
                    "/_sim/health",
                    "gateway"
                ),
                (
                    "admin (ClickHouse listener)",
                    "GET",
                    "/_sim/health",
                    "gateway"
                ),
            ]
        );
    }
}
