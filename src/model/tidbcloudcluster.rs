//! What the TidbCloudCluster decide step reads and decides: a cloud cluster reduced to what decisions need,
//! and the fields one update changes.

use crate::api::tidbcloudcluster::StorageNodesSpec;

/// What we read from the cloud, reduced to what decisions need (built by the provider's translation).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Observed {
    pub state: String,
    pub display_name: String,
    pub tidb_node_spec_key: String,
    pub tidb_node_count: i32,
    pub tikv: StorageObserved,
    pub tiflash: Option<StorageObserved>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StorageObserved {
    pub node_spec_key: String,
    pub node_count: i32,
    pub storage_size_gi: i32,
    pub storage_type: Option<String>,
    pub raft_store_iops: Option<i32>,
}

/// Fields to change in one PATCH; `None` = leave as is. TiFlash removal is `tiflash_remove`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Change {
    pub display_name: Option<String>,
    pub tidb: Option<(String, i32)>,
    pub tikv: Option<StorageNodesSpec>,
    pub tiflash: Option<StorageNodesSpec>,
    pub tiflash_remove: bool,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self == &Change::default()
    }

    /// Human summary for Events and conditions, e.g. "TiKV 3→6 nodes, display name".
    pub fn summary(&self, observed: &Observed) -> String {
        let mut parts = Vec::new();
        if let Some(d) = &self.display_name {
            parts.push(format!("display name {:?}→{:?}", observed.display_name, d));
        }
        if let Some((key, count)) = &self.tidb {
            parts.push(format!(
                "TiDB {}×{}→{}×{}",
                observed.tidb_node_count, observed.tidb_node_spec_key, count, key
            ));
        }
        if let Some(t) = &self.tikv {
            parts.push(format!("TiKV {}", storage_summary(Some(&observed.tikv), t)));
        }
        if let Some(t) = &self.tiflash {
            parts.push(format!(
                "TiFlash {}",
                storage_summary(observed.tiflash.as_ref(), t)
            ));
        }
        if self.tiflash_remove {
            parts.push("remove TiFlash".to_string());
        }
        parts.join(", ")
    }
}

fn storage_summary(from: Option<&StorageObserved>, to: &StorageNodesSpec) -> String {
    match from {
        Some(f) => format!(
            "{}×{} {}Gi→{}×{} {}Gi",
            f.node_count,
            f.node_spec_key,
            f.storage_size_gi,
            to.node_count,
            to.node_spec_key,
            to.storage_size_gi
        ),
        None => format!(
            "add {}×{} {}Gi",
            to.node_count, to.node_spec_key, to.storage_size_gi
        ),
    }
}
