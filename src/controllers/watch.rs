//! What the controllers watch, shaped for memory at thousands of objects (kube-rs "Optimization" guide):
//! the primary kind is cached without `managedFields` and without the `kubectl apply` annotation (neither is
//! read by any reconcile, and together they are often most of an object's size), and Secrets are watched as
//! metadata only (the mappers need names and labels; reconciles read the few Secrets they use directly).

use std::fmt::Debug;
use std::hash::Hash;

use futures::Stream;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

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
