//! A cached catalogue of regions and node specs, shared by every TidbCloudCluster, refreshed rarely, used to
//! reject impossible specs before any write is spent on them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::client::TidbCloudClient;
use super::models::{ComponentType, NodeSpec, Region};
use crate::api::tidbcloudcluster::{StorageNodesSpec, TidbCloudClusterSpec};
use crate::cloud::CloudError;

#[derive(Clone)]
struct Entry<T> {
    value: Arc<T>,
    fetched: Instant,
}

/// Regions and node specs, cached for `ttl`. The catalogue is the provider's, not the key's, so one cache
/// serves every credential.
pub struct Catalog {
    ttl: Duration,
    regions: Mutex<Option<Entry<Vec<Region>>>>,
    node_specs: Mutex<HashMap<String, Entry<Vec<NodeSpec>>>>,
}

impl Catalog {
    pub fn new(ttl: Duration) -> Catalog {
        Catalog {
            ttl,
            regions: Mutex::new(None),
            node_specs: Mutex::new(HashMap::new()),
        }
    }

    async fn regions(&self, client: &TidbCloudClient) -> Result<Arc<Vec<Region>>, CloudError> {
        let mut guard = self.regions.lock().await;
        if let Some(e) = guard.as_ref().filter(|e| e.fetched.elapsed() < self.ttl) {
            return Ok(e.value.clone());
        }
        let value = Arc::new(client.list_regions().await?);
        *guard = Some(Entry {
            value: value.clone(),
            fetched: Instant::now(),
        });
        Ok(value)
    }

    async fn node_specs(
        &self,
        client: &TidbCloudClient,
        region_id: &str,
    ) -> Result<Arc<Vec<NodeSpec>>, CloudError> {
        let mut guard = self.node_specs.lock().await;
        if let Some(e) = guard
            .get(region_id)
            .filter(|e| e.fetched.elapsed() < self.ttl)
        {
            return Ok(e.value.clone());
        }
        let value = Arc::new(client.list_node_specs(region_id, None).await?);
        guard.insert(
            region_id.to_string(),
            Entry {
                value: value.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(value)
    }

    /// Problems of `spec` against the catalogue (empty = valid). Cloud errors while fetching are returned as
    /// errors, not as problems.
    pub async fn check(
        &self,
        client: &TidbCloudClient,
        spec: &TidbCloudClusterSpec,
    ) -> Result<Vec<String>, CloudError> {
        let regions = self.regions(client).await?;
        if !regions.iter().any(|r| r.region_id == spec.region_id) {
            return Ok(vec![unknown_region(&spec.region_id, &regions)]);
        }
        let specs = self.node_specs(client, &spec.region_id).await?;
        Ok(check_node_specs(spec, &specs))
    }
}

fn unknown_region(region_id: &str, regions: &[Region]) -> String {
    let mut ids: Vec<&str> = regions.iter().map(|r| r.region_id.as_str()).collect();
    ids.sort_unstable();
    format!(
        "spec.regionId {region_id:?} is not a TiDB Cloud Dedicated region; allowed: {}",
        ids.join(", ")
    )
}

/// Checks node spec keys, storage sizes, storage types and raft IOPS against the region's node specs. Pure.
pub fn check_node_specs(spec: &TidbCloudClusterSpec, specs: &[NodeSpec]) -> Vec<String> {
    let mut problems = Vec::new();
    let region = &spec.region_id;
    match find(specs, &ComponentType::Tidb, &spec.tidb.node_spec_key) {
        Ok(_) => {}
        Err(allowed) => problems.push(format!(
            "spec.tidb.nodeSpecKey {:?} is not offered for TiDB in {region}; allowed: {allowed}",
            spec.tidb.node_spec_key
        )),
    }
    check_storage(
        "spec.tikv",
        &ComponentType::Tikv,
        &spec.tikv,
        specs,
        region,
        &mut problems,
    );
    if let Some(tiflash) = &spec.tiflash {
        check_storage(
            "spec.tiflash",
            &ComponentType::Tiflash,
            tiflash,
            specs,
            region,
            &mut problems,
        );
    }
    problems
}

fn check_storage(
    field: &str,
    component: &ComponentType,
    s: &StorageNodesSpec,
    specs: &[NodeSpec],
    region: &str,
    problems: &mut Vec<String>,
) {
    let ns = match find(specs, component, &s.node_spec_key) {
        Ok(ns) => ns,
        Err(allowed) => {
            problems.push(format!(
                "{field}.nodeSpecKey {:?} is not offered for {component} in {region}; allowed: {allowed}",
                s.node_spec_key
            ));
            return;
        }
    };
    if ns.max_storage_size_gi > 0
        && !(ns.min_storage_size_gi..=ns.max_storage_size_gi).contains(&s.storage_size_gi)
    {
        problems.push(format!(
            "{field}.storageSizeGi {} is outside {}–{} Gi allowed for {}",
            s.storage_size_gi, ns.min_storage_size_gi, ns.max_storage_size_gi, ns.node_spec_key
        ));
    }
    if let Some(t) = &s.storage_type
        && !ns.storage_types.is_empty()
        && !ns.storage_types.iter().any(|st| st.as_str() == t)
    {
        let allowed: Vec<&str> = ns.storage_types.iter().map(|st| st.as_str()).collect();
        problems.push(format!(
            "{field}.storageType {t:?} is not offered for {}; allowed: {}",
            ns.node_spec_key,
            allowed.join(", ")
        ));
    }
    if let (Some(iops), Some(min), Some(max)) = (
        s.raft_store_iops,
        ns.min_raft_store_iops,
        ns.max_raft_store_iops,
    ) && !(min..=max).contains(&iops)
    {
        problems.push(format!(
            "{field}.raftStoreIops {iops} is outside {min}–{max} allowed for {}",
            ns.node_spec_key
        ));
    }
}

fn find<'a>(
    specs: &'a [NodeSpec],
    component: &ComponentType,
    key: &str,
) -> Result<&'a NodeSpec, String> {
    let mut offered = specs
        .iter()
        .filter(|s| &s.component_type == component)
        .peekable();
    if offered.peek().is_none() {
        return Err("(none)".to_string());
    }
    let mut keys = Vec::new();
    for s in offered {
        if s.node_spec_key == key {
            return Ok(s);
        }
        keys.push(s.node_spec_key.as_str());
    }
    keys.sort_unstable();
    keys.dedup();
    Err(keys.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_spec(component: &str, key: &str) -> NodeSpec {
        serde_json::from_value(serde_json::json!({
            "componentType": component, "nodeSpecKey": key, "minStorageSizeGi": 200, "maxStorageSizeGi": 4096,
            "storageTypes": ["Standard", "Performance"], "minRaftStoreIops": 3000, "maxRaftStoreIops": 16000,
        }))
        .expect("node spec")
    }

    fn spec(json: serde_json::Value) -> TidbCloudClusterSpec {
        serde_json::from_value(json).expect("spec")
    }

    #[test]
    fn valid_spec_has_no_problems_and_bad_values_name_allowed_ones() {
        let specs = vec![
            node_spec("TIDB", "8C16G"),
            node_spec("TIDB", "4C16G"),
            node_spec("TIKV", "8C32G"),
        ];
        let ok = spec(serde_json::json!({"regionId": "aws-us-west-2",
            "tidb": {"nodeSpecKey": "8C16G", "nodeCount": 2},
            "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500}}));
        assert!(check_node_specs(&ok, &specs).is_empty());
        let bad = spec(serde_json::json!({"regionId": "aws-us-west-2",
            "tidb": {"nodeSpecKey": "2C4G", "nodeCount": 2},
            "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 50, "storageType": "Plus",
                     "raftStoreIops": 100},
            "tiflash": {"nodeSpecKey": "8C64G", "nodeCount": 1, "storageSizeGi": 500}}));
        let p = check_node_specs(&bad, &specs);
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(p[0].contains("allowed: 4C16G, 8C16G"), "{}", p[0]);
        assert!(p[1].contains("200–4096"));
        assert!(p[2].contains("allowed: Standard, Performance"));
        assert!(p[3].contains("3000–16000"));
        assert!(p[4].contains("(none)"));
    }
}
