//! Wire models of Dedicated v1beta1: what the service returns (camelCase, always-present fields filled in,
//! as §9 of the reference requires) and what it accepts (unknown fields rejected).
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: String,
    pub cluster_id: String,
    pub display_name: String,
    pub region_id: String,
    pub labels: BTreeMap<String, String>,
    pub tidb_node_setting: TidbNodeSetting,
    pub tikv_node_setting: StorageNodeSetting,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiflash_node_setting: Option<StorageNodeSetting>,
    pub port: i32,
    pub root_password: String,
    pub state: String,
    pub version: String,
    pub created_by: String,
    pub create_time: String,
    pub update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_plan: Option<PausePlan>,
    pub region_display_name: String,
    pub cloud_provider: String,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TidbNodeSetting {
    pub node_spec_key: String,
    pub node_spec_display_name: String,
    pub node_spec_version: String,
    pub tidb_node_groups: Vec<TidbNodeGroup>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TidbNodeGroup {
    pub name: String,
    pub tidb_node_group_id: String,
    pub cluster_id: String,
    pub display_name: String,
    pub node_count: i32,
    pub endpoints: Vec<Endpoint>,
    pub node_spec_key: String,
    pub node_spec_version: String,
    pub node_spec_display_name: String,
    pub is_default_group: bool,
    pub state: String,
    /// Present while TiProxy is enabled for the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiproxy_setting: Option<TiProxySetting>,
}

/// `dedicatedv1beta1TidbNodeGroupTiProxySetting` as answered.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TiProxySetting {
    pub node_spec_key: String,
    pub node_spec_version: String,
    pub node_count: i32,
    pub node_spec_display_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub host: String,
    pub port: i32,
    pub connection_type: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageNodeSetting {
    pub node_count: i32,
    pub node_spec_key: String,
    pub node_spec_version: String,
    pub storage_size_gi: i32,
    pub storage_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_store_iops: Option<i32>,
    pub node_spec_display_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PausePlan {
    pub pause_type: String,
}

// ---- request bodies -------------------------------------------------------------------------------------

/// Create body: a Cluster. Read-only fields are accepted and ignored (clients may echo an object back);
/// anything unknown is a 400.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCluster {
    pub display_name: Option<String>,
    pub region_id: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub tidb_node_setting: Option<TidbNodeSettingInput>,
    pub tikv_node_setting: Option<StorageNodeSettingInput>,
    pub tiflash_node_setting: Option<StorageNodeSettingInput>,
    pub port: Option<i32>,
    pub root_password: Option<String>,
    // read-only, ignored
    pub name: Option<serde_json::Value>,
    pub cluster_id: Option<serde_json::Value>,
    pub state: Option<serde_json::Value>,
    pub version: Option<serde_json::Value>,
    pub created_by: Option<serde_json::Value>,
    pub create_time: Option<serde_json::Value>,
    pub update_time: Option<serde_json::Value>,
    pub pause_plan: Option<serde_json::Value>,
    pub region_display_name: Option<serde_json::Value>,
    pub cloud_provider: Option<serde_json::Value>,
    pub annotations: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TidbNodeSettingInput {
    pub node_spec_key: Option<String>,
    pub tidb_node_groups: Option<Vec<TidbNodeGroupInput>>,
    pub node_spec_display_name: Option<serde_json::Value>,
    pub node_spec_version: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TidbNodeGroupInput {
    pub node_count: Option<i32>,
    pub display_name: Option<String>,
    pub tidb_node_group_id: Option<String>,
    pub node_spec_key: Option<String>,
    pub tiproxy_setting: Option<serde_json::Value>,
    // read-only, ignored
    pub name: Option<serde_json::Value>,
    pub cluster_id: Option<serde_json::Value>,
    pub endpoints: Option<serde_json::Value>,
    pub node_spec_version: Option<serde_json::Value>,
    pub node_spec_display_name: Option<serde_json::Value>,
    pub is_default_group: Option<serde_json::Value>,
    pub state: Option<serde_json::Value>,
    pub node_changing_progress: Option<serde_json::Value>,
    pub tiproxy_node_changing_progress: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageNodeSettingInput {
    pub node_count: Option<i32>,
    pub node_spec_key: Option<String>,
    pub storage_size_gi: Option<i32>,
    pub storage_type: Option<String>,
    pub raft_store_iops: Option<i32>,
    // read-only, ignored
    pub node_spec_version: Option<serde_json::Value>,
    pub node_spec_display_name: Option<serde_json::Value>,
    pub node_changing_progress: Option<serde_json::Value>,
}

/// PATCH body (`v1beta1UpdateClusterRequestCluster`). `regionId`, `port` and `rootPassword` are not part
/// of it; they are accepted here only to answer with a precise "immutable" message.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCluster {
    pub cluster_id: Option<String>,
    pub display_name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub tidb_node_setting: Option<TidbNodeSettingInput>,
    pub tikv_node_setting: Option<StorageNodeSettingInput>,
    pub tiflash_node_setting: Option<StorageNodeSettingInput>,
    pub region_id: Option<String>,
    pub port: Option<i32>,
    pub root_password: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetRootPassword {
    pub root_password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Empty {}
