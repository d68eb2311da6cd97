//! What the controllers watch, shaped for memory at thousands of objects (kube-rs "Optimization" guide):
//! the primary kind is cached without `managedFields` and without the `kubectl apply` annotation (neither is
//! read by any reconcile, and together they are often most of an object's size), and Secrets are watched as
//! metadata only (the mappers need names and labels; reconciles read the few Secrets they use directly).
//!
//! Every primary object is read through [`DeserializeGuard`]: one object the operator cannot parse (written
//! under an older CRD, or by hand against a looser schema) is reported, and never stops the watch of its kind.
//!
//! [`Shared`] holds the watches several controllers of one scope need, one reflector each: the Secrets'
//! metadata (every kind maps Secret changes to its objects) and the TidbCloudClusters (the cluster controller's
//! own objects, and what imports and integrations wait for).

use std::fmt::Debug;
use std::hash::Hash;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::reflector::{self, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::api::tidbcloudcluster::TidbCloudCluster;

/// How many events a shared watch buffers for its slowest subscriber.
const SHARED_BUFFER: usize = 1024;

/// A primary object, as the controllers read it: parsed, or the metadata of one that could not be.
pub type Guarded<K> = DeserializeGuard<K>;

/// The same scope as `api` (a namespace, or all), for another kind.
pub fn same_scope<K, O>(api: &Api<K>) -> Api<O>
where
    K: Resource + Clone,
    O: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    let namespace = api.namespace().map(str::to_string);
    let client = api.clone().into_client();
    match namespace {
        Some(ns) => Api::namespaced(client, &ns),
        None => Api::all(client),
    }
}

/// The watches the controllers of one scope (a namespace, or all) share: one reflector per watched kind.
/// Subscribe every controller first, then [`Shared::run`] the watches.
pub struct Shared {
    secrets_api: Api<PartialObjectMeta<Secret>>,
    secrets: reflector::store::Writer<PartialObjectMeta<Secret>>,
    clusters_api: Api<Guarded<TidbCloudCluster>>,
    clusters: reflector::store::Writer<Guarded<TidbCloudCluster>>,
    clusters_store: Store<Guarded<TidbCloudCluster>>,
}

impl Shared {
    /// The shared watches of `namespace` (all namespaces when `None`); nothing is watched before [`Shared::run`].
    pub fn new(client: Client, namespace: Option<&str>) -> Shared {
        let (_, secrets) = reflector::store_shared(SHARED_BUFFER);
        let (clusters_store, clusters) = reflector::store_shared(SHARED_BUFFER);
        let secrets_api: Api<Secret> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let clusters_api = match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        };
        Shared {
            secrets_api: secret_metadata(secrets_api),
            secrets,
            clusters_api,
            clusters,
            clusters_store,
        }
    }

    /// Every Secret change of the scope (metadata only).
    pub fn secrets(&self) -> ReflectHandle<PartialObjectMeta<Secret>> {
        self.secrets
            .subscribe()
            .expect("a shared writer always subscribes")
    }

    /// Every TidbCloudCluster change of the scope, and the cache they fill.
    pub fn clusters(
        &self,
    ) -> (
        ReflectHandle<Guarded<TidbCloudCluster>>,
        Store<Guarded<TidbCloudCluster>>,
    ) {
        let handle = self
            .clusters
            .subscribe()
            .expect("a shared writer always subscribes");
        (handle, self.clusters_store.clone())
    }

    /// Runs the shared watches (with the watcher's backoff on errors) until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let secrets = watcher(self.secrets_api, watcher::Config::default())
            .default_backoff()
            .reflect_shared(self.secrets)
            .for_each(|e| async move {
                if let Err(e) = e {
                    tracing::debug!(error = %e, "shared Secret watch");
                }
            });
        let clusters = watcher(self.clusters_api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(slim)
            .reflect_shared(self.clusters)
            .for_each(|e| async move {
                if let Err(e) = e {
                    tracing::debug!(error = %e, "shared TidbCloudCluster watch");
                }
            });
        tokio::select! {
            () = secrets => {},
            () = clusters => {},
            () = shutdown => {},
        }
    }
}

/// The annotation `kubectl apply` (client-side) stores the whole last-applied manifest in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The primary watch of a controller and the store it feeds, with every object slimmed before it is cached.
pub fn primary<K>(
    api: Api<K>,
) -> (
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    Store<K>,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .modify(slim)
        .reflect(writer)
        .applied_objects();
    (stream, reader)
}

/// The same scope as `api`, for watching Secrets as metadata only (name, namespace, labels): enough to map a
/// Secret change to the objects that use it (kube sends metadata-only list/watch requests for
/// `PartialObjectMeta`).
pub fn secret_metadata(api: Api<Secret>) -> Api<PartialObjectMeta<Secret>> {
    let namespace = api.namespace().map(str::to_string);
    let client = api.into_client();
    match namespace {
        Some(ns) => Api::namespaced(client, &ns),
        None => Api::all(client),
    }
}

/// Drops what no reconcile reads and what can dwarf the spec and status.
fn slim<K: Resource>(obj: &mut K) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut().remove(LAST_APPLIED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn slim_keeps_what_reconciles_read() {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("a".into());
        cm.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("kubectl".into()),
            ..Default::default()
        }]);
        cm.annotations_mut()
            .insert(LAST_APPLIED.into(), "{\"big\": true}".into());
        cm.annotations_mut()
            .insert("clouddb.dev/keep".into(), "yes".into());
        cm.labels_mut().insert("app".into(), "x".into());
        slim(&mut cm);
        assert!(cm.managed_fields().is_empty());
        assert!(!cm.annotations().contains_key(LAST_APPLIED));
        assert_eq!(
            cm.annotations().get("clouddb.dev/keep").map(String::as_str),
            Some("yes")
        );
        assert_eq!(cm.labels().get("app").map(String::as_str), Some("x"));
        assert_eq!(cm.name_any(), "a");
    }
}
