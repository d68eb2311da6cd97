//! Ownership: one rule, in one place. A cloud resource belongs to exactly one object. This module answers
//! "who claims this cloud id?" from the objects every controller already caches (an index over every
//! object's recorded and requested ids, across namespaces and kinds), picks what an uncertain create made
//! without ever taking what another object claims, and tells which Secrets objects still use.
//!
//! Nothing here talks to the cloud or writes to Kubernetes: the driver asks, then acts.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

/// The kinds of cloud identifiers objects claim (ids of different kinds never collide with each other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CloudIdKind {
    /// A TiDB Cloud Dedicated cluster id.
    TidbCluster,
    /// A ClickHouse Cloud service id.
    ClickHouseService,
    /// A TiDB Cloud import id.
    TidbImport,
    /// A TiDB Cloud integration id.
    TidbIntegration,
    /// A TiDB Cloud Serverless cluster id.
    TidbServerlessCluster,
    /// A SQL user of a TiDB Cloud cluster: `<clusterId>/<userName>`.
    TidbSqlUser,
    /// A TiDB Cloud Serverless branch: `<clusterId>/<branchId>`.
    TidbBranch,
}

/// An object that claims a cloud id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Claimant {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl std::fmt::Display for Claimant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// What one object claims and uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// Cloud ids this object manages or asked to adopt.
    pub ids: Vec<(CloudIdKind, String)>,
    /// Secrets (in the object's namespace) the object reads: credentials, passwords.
    pub secrets: Vec<String>,
}

/// A source of claims: one controller's cache of its objects.
trait ClaimSource: Send + Sync {
    fn each(&self, f: &mut dyn FnMut(&Claimant, &Claims));
}

struct StoreSource<K: Resource<DynamicType = ()> + Clone + 'static, F> {
    store: Store<K>,
    kind: &'static str,
    claims: F,
}

impl<K, F> ClaimSource for StoreSource<K, F>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    F: Fn(&K) -> Claims + Send + Sync,
{
    fn each(&self, f: &mut dyn FnMut(&Claimant, &Claims)) {
        for obj in self.store.state() {
            let who = Claimant {
                kind: self.kind,
                namespace: obj.namespace().unwrap_or_default(),
                name: obj.name_any(),
                uid: obj.uid().unwrap_or_default(),
            };
            f(&who, &(self.claims)(&obj));
        }
    }
}

/// The index of claims over every registered controller cache (shared by all controllers of the process).
#[derive(Clone, Default)]
pub struct ClaimIndex {
    sources: Arc<RwLock<Vec<Arc<dyn ClaimSource>>>>,
}

impl ClaimIndex {
    /// Adds a controller's cache of `kind` objects; `claims` says what one object claims.
    pub fn register<K>(
        &self,
        kind: &'static str,
        store: Store<K>,
        claims: impl Fn(&K) -> Claims + Send + Sync + 'static,
    ) where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let source: Arc<dyn ClaimSource> = Arc::new(StoreSource {
            store,
            kind,
            claims,
        });
        if let Ok(mut sources) = self.sources.write() {
            sources.push(source);
        }
    }

    fn each(&self, mut f: impl FnMut(&Claimant, &Claims)) {
        let sources = match self.sources.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        for s in sources {
            s.each(&mut f);
        }
    }

    /// The objects, other than the one with uid `except`, that claim cloud id `id` of kind `what`.
    pub fn claimants(&self, what: CloudIdKind, id: &str, except: &str) -> Vec<Claimant> {
        let mut found = BTreeSet::new();
        self.each(|who, claims| {
            if who.uid != except && claims.ids.iter().any(|(k, i)| *k == what && i == id) {
                found.insert(who.clone());
            }
        });
        found.into_iter().collect()
    }

    /// Every cloud id of kind `what` claimed by an object other than `except`.
    pub fn claimed_ids(&self, what: CloudIdKind, except: &str) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        self.each(|who, claims| {
            if who.uid != except {
                ids.extend(
                    claims
                        .ids
                        .iter()
                        .filter(|(k, _)| *k == what)
                        .map(|(_, i)| i.clone()),
                );
            }
        });
        ids
    }

    /// Whether an object other than `except` reads Secret `namespace/name`.
    pub fn secret_in_use(&self, namespace: &str, name: &str, except: &str) -> bool {
        let mut used = false;
        self.each(|who, claims| {
            used |= who.uid != except
                && who.namespace == namespace
                && claims.secrets.iter().any(|s| s == name);
        });
        used
    }
}

/// What an uncertain create left behind, once the claims of other objects are set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found<R> {
    /// Nothing: the create never happened (or its resource is gone); creating again is safe.
    Nothing,
    /// Exactly one unclaimed match: this object's resource.
    One(R),
    /// Several unclaimed matches: which one is ours cannot be told; the ids, sorted.
    Ambiguous(Vec<String>),
}

/// Picks what an earlier create of this object made from `candidates` (already filtered by the kind's pure
/// matcher), setting aside every id in `claimed` (managed by other objects). Pure.
pub fn pick<R>(
    candidates: Vec<R>,
    id_of: impl Fn(&R) -> &str,
    claimed: &BTreeSet<String>,
) -> Found<R> {
    let mut free: Vec<R> = candidates
        .into_iter()
        .filter(|r| !claimed.contains(id_of(r)))
        .collect();
    match free.len() {
        0 => Found::Nothing,
        1 => Found::One(free.remove(0)),
        _ => {
            let mut ids: Vec<String> = free.iter().map(|r| id_of(r).to_string()).collect();
            ids.sort();
            Found::Ambiguous(ids)
        }
    }
}

/// The message of an `AmbiguousCreate` stall: the candidates and how to pick one — by `spec.<field>` for a
/// kind that adopts by id, else by removing (in the cloud) the ones this resource did not create.
pub fn ambiguous_message(noun: &str, cloud: &str, field: Option<&str>, ids: &[String]) -> String {
    let how = match field {
        Some(field) => {
            format!("set spec.{field} to the one this resource created (check them in {cloud})")
        }
        None => format!(
            "check them in {cloud}: remove the ones this resource did not create where {cloud} allows it (the one \
             left is adopted), or delete this resource"
        ),
    };
    format!(
        "an earlier create of this resource may have made a {noun} in {cloud}, but {} {noun}s match it and none \
         is claimed by another resource: {}; {how} — the operator never guesses",
        ids.len(),
        ids.join(", ")
    )
}

/// The message of a `ClusterManagedElsewhere` stall.
pub fn managed_elsewhere_message(noun: &str, id: &str, by: &[Claimant]) -> String {
    let by: Vec<String> = by.iter().map(ToString::to_string).collect();
    format!(
        "{noun} {id} is managed by {}; a cloud resource belongs to exactly one resource: reference that resource \
         from its own namespace, or remove the id from it first",
        by.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::{self, Store};
    use kube::runtime::watcher;

    use crate::api::tidbcloudcluster::TidbCloudCluster;

    fn cluster(
        ns: &str,
        name: &str,
        uid: &str,
        id: Option<&str>,
        secret: &str,
    ) -> TidbCloudCluster {
        let mut c: TidbCloudCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "clouddb.dev/v1alpha1",
            "kind": "TidbCloudCluster",
            "metadata": {"name": name, "namespace": ns, "uid": uid},
            "spec": {"regionId": "aws-us-west-2", "port": 4000,
                     "tidb": {"nodeSpecKey": "2C4G", "nodeCount": 1},
                     "tikv": {"nodeSpecKey": "2C4G", "nodeCount": 3, "storageSizeGi": 200},
                     "credentials": {"secretRef": {"name": secret}}},
        }))
        .expect("valid object");
        c.status = id.map(|id| crate::api::tidbcloudcluster::TidbCloudClusterStatus {
            cluster_id: Some(id.to_string()),
            ..Default::default()
        });
        c
    }

    fn store(objects: Vec<TidbCloudCluster>) -> Store<TidbCloudCluster> {
        let (reader, mut writer) = reflector::store();
        for o in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(o));
        }
        reader
    }

    fn claims_of(c: &TidbCloudCluster) -> Claims {
        Claims {
            ids: c
                .status
                .as_ref()
                .and_then(|s| s.cluster_id.clone())
                .map(|id| (CloudIdKind::TidbCluster, id))
                .into_iter()
                .collect(),
            secrets: c
                .spec
                .credentials
                .iter()
                .map(|c| c.secret_ref.name.clone())
                .collect(),
        }
    }

    #[test]
    fn claims_are_seen_across_namespaces_and_never_include_the_asker() {
        let index = ClaimIndex::default();
        index.register(
            "TidbCloudCluster",
            store(vec![
                cluster("a", "one", "u1", Some("100"), "creds"),
                cluster("b", "two", "u2", None, "creds"),
            ]),
            claims_of,
        );
        let by = index.claimants(CloudIdKind::TidbCluster, "100", "u2");
        assert_eq!(by.len(), 1);
        assert_eq!(by[0].to_string(), "TidbCloudCluster a/one");
        assert!(
            index
                .claimants(CloudIdKind::TidbCluster, "100", "u1")
                .is_empty()
        );
        assert!(
            index
                .claimants(CloudIdKind::ClickHouseService, "100", "u2")
                .is_empty()
        );
        assert_eq!(
            index.claimed_ids(CloudIdKind::TidbCluster, "u2"),
            BTreeSet::from(["100".to_string()])
        );
        assert!(index.secret_in_use("b", "creds", "u1"));
        assert!(!index.secret_in_use("b", "creds", "u2"));
        assert!(!index.secret_in_use("c", "creds", "u9"));
    }

    #[test]
    fn pick_never_takes_a_claimed_id_and_never_guesses() {
        let claimed = BTreeSet::from(["1".to_string()]);
        fn id<'a>(s: &'a &str) -> &'a str {
            s
        }
        assert_eq!(pick(vec!["1", "2"], id, &claimed), Found::One("2"));
        assert_eq!(pick(vec!["1"], id, &claimed), Found::Nothing);
        assert_eq!(pick(Vec::<&str>::new(), id, &claimed), Found::Nothing);
        assert_eq!(
            pick(vec!["3", "1", "2"], id, &claimed),
            Found::Ambiguous(vec!["2".into(), "3".into()])
        );
        let m = ambiguous_message(
            "cluster",
            "TiDB Cloud",
            Some("clusterId"),
            &["2".into(), "3".into()],
        );
        assert!(m.contains("2, 3") && m.contains("spec.clusterId"), "{m}");
        let m = ambiguous_message("import", "TiDB Cloud", None, &["2".into(), "3".into()]);
        assert!(m.contains("2, 3") && !m.contains("spec."), "{m}");
    }
}
