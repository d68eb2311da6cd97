//! Helpers for tests that span more than the test namespace: an operator that also watches a second
//! namespace, namespaced variants of the [`OperatorEnv`] helpers, Events with their type, waits on the
//! simulator, and counts of the requests it saw.
//!
//! Additive: nothing here changes how the helpers of [`super::operator`] behave.

use std::time::Duration;

use clouddb_sim::SimConfig;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::operator::{OperatorEnv, TestKind, control_plane_options, tail};
use super::{ControlPlane, TIMEOUT, TestNamespace, eventually};

impl OperatorEnv {
    /// [`OperatorEnv::start_with`], with a second namespace (`<prefix>-b-<random>`, deleted when dropped) that
    /// the operator watches too. Objects there without `spec.credentials` use the same default credentials
    /// (the Secret in the test namespace), so both namespaces share one cloud account.
    pub async fn start_with_second_namespace(
        prefix: &str,
        sim_config: SimConfig,
        args: &[&str],
    ) -> Option<(OperatorEnv, TestNamespace)> {
        let cp = ControlPlane::shared_or_skip_with(control_plane_options).await?;
        let other = TestNamespace::create(cp, &format!("{prefix}-b"))
            .await
            .expect("create the second test namespace");
        // `--watch-namespaces` is repeatable (its values add up); start_with already names the test namespace.
        let mut all: Vec<&str> = vec!["--watch-namespaces", other.name()];
        all.extend_from_slice(args);
        let env = OperatorEnv::start_with(prefix, sim_config, &all).await?;
        Some((env, other))
    }

    /// The API of kind `K` in namespace `ns`.
    pub fn api_in<K: TestKind>(&self, ns: &str) -> Api<K> {
        Api::namespaced(self.env.admin.clone(), ns)
    }

    /// Server-side applies an object of kind `K` in namespace `ns` from its `spec` (as the test's field
    /// manager).
    pub async fn apply_in<K: TestKind>(&self, ns: &str, name: &str, spec: Value) -> K {
        let body = json!({
            "apiVersion": K::api_version(&()), "kind": K::kind(&()),
            "metadata": {"name": name}, "spec": spec,
        });
        self.api_in::<K>(ns)
            .patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&body),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {} {ns}/{name}: {e}", K::kind(&())))
    }

    /// Merge-patches an object of kind `K` in the test namespace and returns the API server's answer, for
    /// tests that expect a refusal. `strict`: unknown fields are an error instead of being pruned.
    pub async fn try_merge<K: TestKind>(
        &self,
        name: &str,
        patch: Value,
        strict: bool,
    ) -> Result<K, kube::Error> {
        let params = if strict {
            PatchParams::default().validation_strict()
        } else {
            PatchParams::default()
        };
        self.api::<K>()
            .patch(name, &params, &Patch::Merge(&patch))
            .await
    }

    /// Waits until `pred` holds for an object of kind `K` in namespace `ns`, returning it; on timeout, panics
    /// with the last status seen and the tail of the operator log.
    pub async fn wait_for_in<K: TestKind>(
        &self,
        ns: &str,
        name: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&K) -> bool,
    ) -> K {
        let api = self.api_in::<K>(ns);
        let pred = &pred;
        let res = eventually(what, timeout, async || match api.get_opt(name).await {
            Ok(Some(o)) if pred(&o) => Ok(o),
            Ok(Some(o)) => Err(format!(
                "last seen status: {}",
                serde_json::to_value(&o)
                    .map(|v| v["status"].to_string())
                    .unwrap_or_default()
            )),
            Ok(None) => Err("object not found".to_string()),
            Err(e) => Err(e.to_string()),
        })
        .await;
        match res {
            Ok(o) => o,
            Err(e) => panic!(
                "{e}\n--- operator log (tail) ---\n{}",
                tail(&self.logs(), 60)
            ),
        }
    }

    /// Creates or replaces an Opaque Secret in namespace `ns`.
    pub async fn put_secret_in(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
        let string_data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": string_data});
        Api::<Secret>::namespaced(self.env.admin.clone(), ns)
            .patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&body),
            )
            .await
            .unwrap_or_else(|e| panic!("apply Secret {ns}/{name}: {e}"));
    }

    /// A credentials Secret `name` in namespace `ns` with the key pair of the default credentials.
    pub async fn put_credentials_in(&self, ns: &str, name: &str) {
        let key = self.sim.key().clone();
        self.put_secret_in(
            ns,
            name,
            &[
                ("publicKey", &key.public_key),
                ("privateKey", &key.private_key),
            ],
        )
        .await;
    }

    /// The Events (events.k8s.io/v1) about the object `name` in namespace `ns`, with their type.
    pub async fn events_in(&self, ns: &str, name: &str) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(self.env.admin.clone(), ns);
        let list = events.list(&Default::default()).await.expect("list events");
        list.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect()
    }

    /// Waits until an Event of `type_` (`Normal`, `Warning`) with `reason` is recorded for the object `name` in
    /// namespace `ns`, returning its note.
    pub async fn wait_event_in(&self, ns: &str, name: &str, type_: &str, reason: &str) -> String {
        let res = eventually(
            format!("a {type_} Event {reason} for {ns}/{name}"),
            TIMEOUT,
            async || {
                let events = self.events_in(ns, name).await;
                events
                    .iter()
                    .find(|e| {
                        e.type_.as_deref() == Some(type_) && e.reason.as_deref() == Some(reason)
                    })
                    .map(|e| e.note.clone().unwrap_or_default())
                    .ok_or_else(|| {
                        let seen: Vec<String> = events
                            .iter()
                            .map(|e| {
                                format!(
                                    "{}/{}",
                                    e.type_.as_deref().unwrap_or("?"),
                                    e.reason.as_deref().unwrap_or("?")
                                )
                            })
                            .collect();
                        format!("Events seen: {seen:?}")
                    })
            },
        )
        .await;
        match res {
            Ok(note) => note,
            Err(e) => panic!(
                "{e}\n--- operator log (tail) ---\n{}",
                tail(&self.logs(), 60)
            ),
        }
    }

    /// Requests the simulator answered (or dropped: status 0), summed over statuses, whose method is `method`
    /// and whose route template satisfies `route` (e.g. `|r| r == "/v1beta1/clusters/{clusterId}"`).
    pub fn requests(&self, method: &str, route: impl Fn(&str) -> bool) -> u64 {
        self.sim
            .counters()
            .into_iter()
            .filter(|r| r.key.method == method && route(&r.key.route))
            .map(|r| r.count)
            .sum()
    }

    /// Every request other than a GET the simulator saw, as `METHOD route → status ×count` (for messages).
    pub fn writes_seen(&self) -> Vec<String> {
        writes_in(self.sim.counters())
    }

    /// Waits until the cloud cluster `id` is gone (404) in the simulator.
    pub async fn wait_cloud_cluster_gone(&self, id: &str, timeout: Duration) {
        let cloud = self.cloud();
        let res = eventually(
            format!("cloud cluster {id} to be gone"),
            timeout,
            async || match cloud.get_cluster(id).await {
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e.to_string()),
                Ok(c) => Err(format!("still there, {}", c.state)),
            },
        )
        .await;
        if let Err(e) = res {
            panic!(
                "{e}\n--- operator log (tail) ---\n{}",
                tail(&self.logs(), 60)
            );
        }
    }
}

/// Every request other than a GET among simulator counter `rows`, as `METHOD route → status ×count`.
pub fn writes_in(rows: Vec<clouddb_sim::gateway::CounterRow>) -> Vec<String> {
    rows.into_iter()
        .filter(|r| r.key.method != "GET")
        .map(|r| {
            format!(
                "{} {} → {} ×{}",
                r.key.method, r.key.route, r.key.status, r.count
            )
        })
        .collect()
}
