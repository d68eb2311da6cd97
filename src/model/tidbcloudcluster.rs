//! What the TidbCloudCluster decide step reads and decides: a cloud cluster reduced to what decisions need,
//! and the fields one update changes.

use crate::api::tidbcloudcluster::{IpAccessEntry, PublicEndpointSpec, StorageNodesSpec};

/// What we read from the cloud, reduced to what decisions need (built by the provider's translation).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Observed {
    pub state: String,
    pub display_name: String,
    pub tidb_node_spec_key: String,
    pub tidb_node_count: i32,
    pub tikv: StorageObserved,
    pub tiflash: Option<StorageObserved>,
    /// The default group's public endpoint setting; `None` when it was not read (spec.publicEndpoint unset).
    pub public_endpoint: Option<PublicEndpointObserved>,
}

/// The public endpoint setting of the default TiDB node group.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PublicEndpointObserved {
    pub enabled: bool,
    pub ip_access_list: Vec<IpAccessEntry>,
}

/// A change of the public endpoint setting, as a set diff of the IP access list (the PATCH sends the whole
/// wanted list: the API replaces it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicEndpointChange {
    /// The setting to write.
    pub wanted: PublicEndpointSpec,
    /// `Some(new)` when `enabled` changes.
    pub enabled: Option<bool>,
    /// CIDR blocks added (or re-described).
    pub added: Vec<String>,
    /// CIDR blocks removed.
    pub removed: Vec<String>,
}

impl PublicEndpointChange {
    /// The change from `observed` to `wanted`, `None` when they are equal (list order does not matter).
    pub fn between(
        wanted: &PublicEndpointSpec,
        observed: &PublicEndpointObserved,
    ) -> Option<PublicEndpointChange> {
        let added: Vec<String> = wanted
            .ip_access_list
            .iter()
            .filter(|w| !observed.ip_access_list.contains(w))
            .map(|w| w.cidr.clone())
            .collect();
        let removed: Vec<String> = observed
            .ip_access_list
            .iter()
            .filter(|o| !wanted.ip_access_list.iter().any(|w| w.cidr == o.cidr))
            .map(|o| o.cidr.clone())
            .collect();
        let enabled = (wanted.enabled != observed.enabled).then_some(wanted.enabled);
        if added.is_empty() && removed.is_empty() && enabled.is_none() {
            return None;
        }
        Some(PublicEndpointChange {
            wanted: wanted.clone(),
            enabled,
            added,
            removed,
        })
    }

    /// Human summary, e.g. "public endpoint: allow 203.0.113.0/24, remove 10.0.0.0/8".
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        match self.enabled {
            Some(true) => parts.push("enable".to_string()),
            Some(false) => parts.push("disable".to_string()),
            None => {}
        }
        if !self.added.is_empty() {
            parts.push(format!("allow {}", self.added.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("remove {}", self.removed.join(", ")));
        }
        format!("public endpoint: {}", parts.join("; "))
    }
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
