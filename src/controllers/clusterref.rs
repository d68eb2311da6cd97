//! References from other kinds (imports, integrations) to the cluster they work on: `spec.clusterRef` (a
//! TidbCloudCluster in the same namespace) or `spec.clusterId` (a cloud cluster no resource here manages).
//! Resolution is pure ([`resolve`]); only [`fetch`] reads the API server.

use kube::api::Api;
use kube::{Client, ResourceExt};

use super::ownership::{ClaimIndex, Claimant, CloudIdKind, managed_elsewhere_message};
use crate::api::common::{ClusterRef, CredentialsSpec};
use crate::api::tidbcloudcluster::TidbCloudCluster;
use crate::conditions::{self, READY};
use crate::reasons;

/// The cloud state a referenced cluster must be in before work starts on it.
const ACTIVE: &str = "ACTIVE";

/// What a reference points at.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// `spec.clusterId`: a cloud cluster no TidbCloudCluster here manages (its state is the cloud's to tell).
    Id(String),
    /// The referenced TidbCloudCluster is Ready and its cloud cluster ACTIVE.
    Ready {
        cluster_id: String,
        credentials: Option<CredentialsSpec>,
    },
    /// The referenced TidbCloudCluster exists but is not usable yet (creating, updating, paused, failing);
    /// `cluster_id` once it has one.
    NotReady {
        cluster_id: Option<String>,
        credentials: Option<CredentialsSpec>,
        why: String,
    },
    /// The reference cannot be followed (a `Stalled` reason and message).
    Broken {
        reason: &'static str,
        message: String,
    },
}

impl Target {
    /// The cloud cluster id, when there is one.
    pub fn cluster_id(&self) -> Option<&str> {
        match self {
            Target::Id(id) | Target::Ready { cluster_id: id, .. } => Some(id),
            Target::NotReady { cluster_id, .. } => cluster_id.as_deref(),
            Target::Broken { .. } => None,
        }
    }

    /// The credentials of the referenced TidbCloudCluster (inherited when the referring resource has none).
    pub fn credentials(&self) -> Option<&CredentialsSpec> {
        match self {
            Target::Ready { credentials, .. } | Target::NotReady { credentials, .. } => {
                credentials.as_ref()
            }
            _ => None,
        }
    }
}

/// Resolves a reference of an object in `own_ns`, given the referenced TidbCloudCluster as read (`found`,
/// `None` when it does not exist). Pure.
pub fn resolve(
    cluster_ref: Option<&ClusterRef>,
    cluster_id: Option<&str>,
    own_ns: &str,
    found: Option<&TidbCloudCluster>,
) -> Target {
    let r = match (cluster_ref, cluster_id.filter(|s| !s.is_empty())) {
        (None, Some(id)) => return Target::Id(id.to_string()),
        (Some(r), None) => r,
        _ => {
            return Target::Broken {
                reason: reasons::INVALID_CLUSTER_REF,
                message: "set exactly one of spec.clusterRef and spec.clusterId".into(),
            };
        }
    };
    if let Some(ns) = r.namespace.as_deref().filter(|ns| *ns != own_ns) {
        return Target::Broken {
            reason: reasons::INVALID_CLUSTER_REF,
            message: format!(
                "spec.clusterRef points to namespace {ns}, but only TidbCloudClusters in this namespace ({own_ns}) \
                 can be referenced; remove clusterRef.namespace or use spec.clusterId"
            ),
        };
    }
    let Some(cluster) = found else {
        return Target::Broken {
            reason: reasons::CLUSTER_NOT_FOUND,
            message: format!(
                "TidbCloudCluster {own_ns}/{} not found; create it or correct spec.clusterRef",
                r.name
            ),
        };
    };
    if cluster.metadata.deletion_timestamp.is_some() {
        return Target::Broken {
            reason: reasons::CLUSTER_DELETING,
            message: format!("TidbCloudCluster {own_ns}/{} is being deleted", r.name),
        };
    }
    let status = cluster.status.clone().unwrap_or_default();
    let credentials = cluster.spec.credentials.clone();
    let ready = conditions::is_true(&status.conditions, READY);
    let state = status.state.clone().unwrap_or_default();
    match status.cluster_id {
        Some(cluster_id) if ready && state == ACTIVE => Target::Ready {
            cluster_id,
            credentials,
        },
        cluster_id => {
            let why = if !ready {
                let c = conditions::find(&status.conditions, READY);
                match c {
                    Some(c) => format!("it is not Ready ({}: {})", c.reason, c.message),
                    None => "it is not Ready yet".to_string(),
                }
            } else if state.is_empty() {
                "it has no cloud cluster yet".to_string()
            } else {
                format!("its cloud cluster is {state}, not {ACTIVE}")
            };
            Target::NotReady {
                cluster_id,
                credentials,
                why: format!("waiting for TidbCloudCluster {}: {why}", r.name),
            }
        }
    }
}

/// Where `cluster_ref` / `cluster_id` of an object in `own_ns` points, read from the API server. A cloud
/// cluster id that a TidbCloudCluster in another namespace manages is refused (`ClusterManagedElsewhere`):
/// a cloud resource belongs to exactly one object, and only its own namespace may work on it.
pub async fn target(
    ctx: &super::Context,
    cluster_ref: Option<&ClusterRef>,
    cluster_id: Option<&str>,
    own_ns: &str,
) -> Result<Target, kube::Error> {
    let found = fetch(&ctx.kube, cluster_ref, own_ns).await?;
    let target = resolve(cluster_ref, cluster_id, own_ns, found.as_ref());
    Ok(match &target {
        Target::Id(id) => guard(&ctx.claims, id, own_ns).unwrap_or(target),
        _ => target,
    })
}

/// `ClusterManagedElsewhere` when cloud cluster `id` is claimed by an object outside `own_ns`. Pure.
pub fn guard(claims: &ClaimIndex, id: &str, own_ns: &str) -> Option<Target> {
    let elsewhere: Vec<Claimant> = claims
        .claimants(CloudIdKind::TidbCluster, id, "")
        .into_iter()
        .filter(|c| c.namespace != own_ns)
        .collect();
    (!elsewhere.is_empty()).then(|| Target::Broken {
        reason: reasons::CLUSTER_MANAGED_ELSEWHERE,
        message: managed_elsewhere_message("cluster", id, &elsewhere),
    })
}

/// Reads the TidbCloudCluster a `clusterRef` names (in `own_ns`; a reference to another namespace is not
/// followed). `None` when there is no reference or the cluster does not exist.
pub async fn fetch(
    client: &Client,
    cluster_ref: Option<&ClusterRef>,
    own_ns: &str,
) -> Result<Option<TidbCloudCluster>, kube::Error> {
    let Some(r) = cluster_ref else {
        return Ok(None);
    };
    if r.namespace.as_deref().is_some_and(|ns| ns != own_ns) {
        return Ok(None);
    }
    Api::<TidbCloudCluster>::namespaced(client.clone(), own_ns)
        .get_opt(&r.name)
        .await
}

/// Whether a reference of an object in `obj_ns` names `cluster` (for mapping cluster events to referrers).
pub fn refers_to(
    cluster_ref: Option<&ClusterRef>,
    obj_ns: &str,
    cluster: &TidbCloudCluster,
) -> bool {
    cluster_ref.is_some_and(|r| {
        r.name == cluster.name_any()
            && cluster.namespace().as_deref() == Some(obj_ns)
            && r.namespace.as_deref().is_none_or(|ns| ns == obj_ns)
    })
}

/// Whether an event of `cluster` concerns a referrer that recorded `recorded_cluster_id` and has `started` its
/// cloud work (import or integration created): always before it started (it waits for the cluster to be
/// Ready); afterwards only when the cluster is being deleted or now stands for another cloud cluster. Keeps
/// the frequent status updates of a cluster from waking every referrer (each wake-up may cost cloud calls).
pub fn event_matters(
    cluster: &TidbCloudCluster,
    recorded_cluster_id: Option<&str>,
    started: bool,
) -> bool {
    let current = cluster
        .status
        .as_ref()
        .and_then(|s| s.cluster_id.as_deref());
    !started || cluster.metadata.deletion_timestamp.is_some() || current != recorded_cluster_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tidbcloudcluster::TidbCloudClusterStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn cluster(ready: bool, state: &str, id: Option<&str>) -> TidbCloudCluster {
        let mut c: TidbCloudCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster",
            "metadata": {"name": "orders", "namespace": "ns"},
            "spec": {"regionId": "aws-us-west-2", "tidb": {"nodeSpecKey": "8C16G", "nodeCount": 1},
                     "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500},
                     "credentials": {"secretRef": {"name": "team-key"}}},
        }))
        .expect("cluster");
        c.status = Some(TidbCloudClusterStatus {
            cluster_id: id.map(String::from),
            state: Some(state.to_string()).filter(|s| !s.is_empty()),
            conditions: vec![Condition {
                type_: READY.into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: if ready {
                    reasons::READY
                } else {
                    reasons::CREATING
                }
                .into(),
                message: "m".into(),
                observed_generation: None,
                last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            }],
            ..Default::default()
        });
        c
    }

    fn r(name: &str, ns: Option<&str>) -> ClusterRef {
        ClusterRef {
            name: name.into(),
            namespace: ns.map(String::from),
        }
    }

    #[test]
    fn cluster_id_needs_no_lookup() {
        assert_eq!(
            resolve(None, Some("42"), "ns", None),
            Target::Id("42".into())
        );
        assert!(matches!(
            resolve(None, None, "ns", None),
            Target::Broken {
                reason: reasons::INVALID_CLUSTER_REF,
                ..
            }
        ));
    }

    #[test]
    fn ready_and_active_cluster_is_a_target_with_its_credentials() {
        let c = cluster(true, "ACTIVE", Some("7"));
        let t = resolve(Some(&r("orders", None)), None, "ns", Some(&c));
        assert_eq!(t.cluster_id(), Some("7"));
        assert!(matches!(t, Target::Ready { .. }));
        assert_eq!(
            t.credentials().map(|c| c.secret_ref.name.as_str()),
            Some("team-key")
        );
        // The own namespace may be spelled out.
        assert!(matches!(
            resolve(Some(&r("orders", Some("ns"))), None, "ns", Some(&c)),
            Target::Ready { .. }
        ));
    }

    #[test]
    fn creating_or_paused_clusters_are_waited_for() {
        let creating = cluster(false, "CREATING", Some("7"));
        match resolve(Some(&r("orders", None)), None, "ns", Some(&creating)) {
            Target::NotReady {
                why, cluster_id, ..
            } => {
                assert!(why.contains("not Ready (Creating"), "{why}");
                assert_eq!(cluster_id.as_deref(), Some("7"));
            }
            other => panic!("{other:?}"),
        }
        let paused = cluster(true, "PAUSED", Some("7"));
        match resolve(Some(&r("orders", None)), None, "ns", Some(&paused)) {
            Target::NotReady { why, .. } => assert!(why.contains("PAUSED"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_deleting_and_foreign_clusters_are_broken_references() {
        let reason = |t: Target| match t {
            Target::Broken { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(resolve(Some(&r("orders", None)), None, "ns", None)),
            reasons::CLUSTER_NOT_FOUND
        );
        let mut deleting = cluster(true, "ACTIVE", Some("7"));
        deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(
            reason(resolve(
                Some(&r("orders", None)),
                None,
                "ns",
                Some(&deleting)
            )),
            reasons::CLUSTER_DELETING
        );
        assert_eq!(
            reason(resolve(Some(&r("orders", Some("other"))), None, "ns", None)),
            reasons::INVALID_CLUSTER_REF
        );
    }

    #[test]
    fn cluster_events_wake_waiting_referrers_and_started_ones_only_on_deletion_or_replacement() {
        let c = cluster(true, "MODIFYING", Some("7"));
        assert!(event_matters(&c, None, false));
        assert!(!event_matters(&c, Some("7"), true));
        assert!(event_matters(&c, Some("6"), true));
        let mut deleting = c.clone();
        deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert!(event_matters(&deleting, Some("7"), true));
    }

    #[test]
    fn refers_to_matches_name_and_namespace() {
        let c = cluster(true, "ACTIVE", Some("7"));
        assert!(refers_to(Some(&r("orders", None)), "ns", &c));
        assert!(!refers_to(Some(&r("orders", None)), "other", &c));
        assert!(!refers_to(Some(&r("billing", None)), "ns", &c));
        assert!(!refers_to(None, "ns", &c));
    }
}
