//! Translation between the `TidbCloudCluster` spec/status and the Dedicated v1beta1 wire models. Pure.

use secrecy::SecretString;

use super::models::{
    Cluster, ConnectionType, CreateClusterRequest, StorageNodeSetting, StorageNodeSettingRequest,
    StorageNodeSettingUpdate, StorageType, TidbNodeGroupUpdate, TidbNodeSettingRequest,
    TidbNodeSettingUpdate, UpdateClusterRequest,
};
use super::models::{IpAccessListEntry, PublicEndpointSetting};
use crate::api::tidbcloudcluster::{
    Endpoint, IpAccessEntry, PublicEndpointSpec, PublicEndpointStatus, StorageNodesSpec,
    TidbCloudClusterSpec,
};
use crate::model::tidbcloudcluster::{Change, Observed, PublicEndpointObserved, StorageObserved};

/// What the decide step needs from a cloud cluster.
pub fn observed(c: &Cluster) -> Observed {
    Observed {
        state: c.state.as_str().to_string(),
        display_name: c.display_name.clone(),
        tidb_node_spec_key: c.tidb_node_setting.node_spec_key.clone(),
        tidb_node_count: default_group(c).map(|g| g.node_count).unwrap_or(0),
        tikv: storage_observed(&c.tikv_node_setting),
        tiflash: c
            .tiflash_node_setting
            .as_ref()
            .filter(|t| t.node_count > 0)
            .map(storage_observed),
        public_endpoint: None,
    }
}

/// The public endpoint setting as the decide step reads it (`enabled` null: the API's default, enabled).
pub fn public_endpoint_observed(s: &PublicEndpointSetting) -> PublicEndpointObserved {
    PublicEndpointObserved {
        enabled: s.enabled.unwrap_or(true),
        ip_access_list: s
            .ip_access_list
            .iter()
            .map(|e| IpAccessEntry {
                cidr: e.cidr_notation.clone(),
                description: e.description.clone(),
            })
            .collect(),
    }
}

/// The PATCH body that makes the setting equal to `wanted` (the whole list: the API replaces it).
pub fn public_endpoint_request(wanted: &PublicEndpointSpec) -> PublicEndpointSetting {
    PublicEndpointSetting {
        enabled: Some(wanted.enabled),
        ip_access_list: wanted
            .ip_access_list
            .iter()
            .map(|e| IpAccessListEntry {
                cidr_notation: e.cidr.clone(),
                description: e.description.clone(),
            })
            .collect(),
        ..PublicEndpointSetting::default()
    }
}

/// status.publicEndpoint.
pub fn public_endpoint_status(o: &PublicEndpointObserved) -> PublicEndpointStatus {
    PublicEndpointStatus {
        enabled: o.enabled,
        ip_access_list: o.ip_access_list.clone(),
    }
}

fn default_group(c: &Cluster) -> Option<&super::models::TidbNodeGroup> {
    let groups = &c.tidb_node_setting.tidb_node_groups;
    groups
        .iter()
        .find(|g| g.is_default_group)
        .or_else(|| groups.first())
}

fn storage_observed(s: &StorageNodeSetting) -> StorageObserved {
    StorageObserved {
        node_spec_key: s.node_spec_key.clone(),
        node_count: s.node_count,
        storage_size_gi: s.storage_size_gi,
        storage_type: Some(s.storage_type.as_str().to_string()).filter(|t| !t.is_empty()),
        raft_store_iops: s.raft_store_iops,
    }
}

/// `POST /clusters` body for `spec`.
pub fn create_request(
    spec: &TidbCloudClusterSpec,
    display_name: &str,
    root_password: Option<SecretString>,
) -> CreateClusterRequest {
    let req = CreateClusterRequest {
        display_name: display_name.to_string(),
        region_id: spec.region_id.clone(),
        labels: Default::default(),
        tidb_node_setting: TidbNodeSettingRequest::new(
            spec.tidb.node_spec_key.clone(),
            spec.tidb.node_count,
        ),
        tikv_node_setting: storage_request(&spec.tikv),
        tiflash_node_setting: spec.tiflash.as_ref().map(storage_request),
        port: Some(spec.port),
        root_password,
    };
    match spec.project_id.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => req.with_project(p),
        None => req,
    }
}

fn storage_request(s: &StorageNodesSpec) -> StorageNodeSettingRequest {
    StorageNodeSettingRequest {
        node_spec_key: s.node_spec_key.clone(),
        node_count: s.node_count,
        storage_size_gi: s.storage_size_gi,
        storage_type: s.storage_type.as_deref().map(StorageType::from),
        raft_store_iops: s.raft_store_iops,
    }
}

/// `PATCH /clusters/{id}` body carrying exactly `change`.
pub fn update_request(change: &Change) -> UpdateClusterRequest {
    UpdateClusterRequest {
        display_name: change.display_name.clone(),
        tidb_node_setting: change
            .tidb
            .as_ref()
            .map(|(key, count)| TidbNodeSettingUpdate {
                node_spec_key: Some(key.clone()),
                tidb_node_groups: vec![TidbNodeGroupUpdate {
                    tidb_node_group_id: None,
                    node_count: Some(*count),
                }],
            }),
        tikv_node_setting: change.tikv.as_ref().map(storage_update),
        tiflash_node_setting: if change.tiflash_remove {
            Some(StorageNodeSettingUpdate::remove())
        } else {
            change.tiflash.as_ref().map(storage_update)
        },
    }
}

fn storage_update(s: &StorageNodesSpec) -> StorageNodeSettingUpdate {
    StorageNodeSettingUpdate {
        node_spec_key: Some(s.node_spec_key.clone()),
        node_count: Some(s.node_count),
        storage_size_gi: Some(s.storage_size_gi),
        storage_type: s.storage_type.as_deref().map(StorageType::from),
        raft_store_iops: s.raft_store_iops,
    }
}

/// Endpoints of the default TiDB node group (those with a host).
pub fn endpoints(c: &Cluster) -> Vec<Endpoint> {
    default_group(c)
        .map(|g| {
            g.endpoints
                .iter()
                .filter(|e| !e.host.is_empty())
                .map(|e| Endpoint {
                    connection_type: e.connection_type.as_str().to_string(),
                    host: e.host.clone(),
                    port: if e.port > 0 { e.port } else { c.port },
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The preferred endpoint for the plain `host`/`uri` keys: public first, then private endpoint, then peering.
pub fn primary_endpoint(endpoints: &[Endpoint]) -> Option<&Endpoint> {
    [
        ConnectionType::Public,
        ConnectionType::PrivateEndpoint,
        ConnectionType::VpcPeering,
    ]
    .iter()
    .find_map(|t| endpoints.iter().find(|e| e.connection_type == t.as_str()))
    .or_else(|| endpoints.first())
}

/// Whether `created_by` (`apikey-XXXXXXXX`, the first eight characters of the public key) names this key.
pub fn created_by_key(created_by: &str, public_key: &str) -> bool {
    let head: String = public_key.chars().take(8).collect();
    !head.is_empty() && created_by.eq_ignore_ascii_case(&format!("apikey-{head}"))
}

/// The project a cluster belongs to (its `tidb.cloud/project` label).
pub fn project_of(c: &Cluster) -> Option<&str> {
    c.labels
        .get(super::models::LABEL_PROJECT)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TidbCloudClusterSpec {
        serde_json::from_value(serde_json::json!({
            "regionId": "aws-us-west-2",
            "projectId": "123",
            "tidb": {"nodeSpecKey": "8C16G", "nodeCount": 2},
            "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500, "storageType": "Standard"},
        }))
        .expect("valid spec")
    }

    #[test]
    fn create_request_carries_project_label_port_and_password() {
        let req = create_request(&spec(), "db", Some(SecretString::from("pw-12345678")));
        let json = serde_json::to_value(&req).expect("serializes");
        assert_eq!(json["labels"]["tidb.cloud/project"], "123");
        assert_eq!(json["port"], 4000);
        assert_eq!(json["tidbNodeSetting"]["tidbNodeGroups"][0]["nodeCount"], 2);
        assert_eq!(json["tikvNodeSetting"]["storageType"], "Standard");
        assert_eq!(json["rootPassword"], "pw-12345678");
        assert!(json.get("tiflashNodeSetting").is_none());
        assert!(
            !format!("{req:?}").contains("pw-12345678"),
            "Debug must not show the password"
        );
    }

    #[test]
    fn update_request_sends_only_the_change() {
        let change = Change {
            tiflash_remove: true,
            ..Change::default()
        };
        let json = serde_json::to_value(update_request(&change)).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"tiflashNodeSetting": {"nodeCount": 0}})
        );
        let change = Change {
            tidb: Some(("4C16G".into(), 3)),
            ..Change::default()
        };
        let json = serde_json::to_value(update_request(&change)).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"tidbNodeSetting": {"nodeSpecKey": "4C16G", "tidbNodeGroups": [{"nodeCount": 3}]}})
        );
    }

    #[test]
    fn created_by_matches_key_prefix_case_insensitively() {
        assert!(created_by_key("apikey-ABCDEFGH", "abcdefghijkl"));
        assert!(!created_by_key("apikey-ABCDEFGH", "zzzzzzzzzz"));
        assert!(!created_by_key("someone@example.com", "abcdefgh"));
    }

    #[test]
    fn observed_reads_default_group_and_ignores_empty_tiflash() {
        let c: Cluster = serde_json::from_value(serde_json::json!({
            "clusterId": "1", "displayName": "db", "regionId": "aws-us-west-2", "port": 4000, "state": "ACTIVE",
            "tidbNodeSetting": {"nodeSpecKey": "8C16G", "tidbNodeGroups": [
                {"nodeCount": 2, "isDefaultGroup": true, "endpoints": [
                    {"host": "", "port": 0, "connectionType": "PRIVATE_ENDPOINT"},
                    {"host": "db.example", "port": 4000, "connectionType": "PUBLIC"}]}]},
            "tikvNodeSetting": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500, "storageType": "Standard"},
            "tiflashNodeSetting": {"nodeSpecKey": "8C64G", "nodeCount": 0, "storageSizeGi": 200},
        }))
        .expect("decodes");
        let o = observed(&c);
        assert_eq!(o.tidb_node_count, 2);
        assert!(o.tiflash.is_none());
        let eps = endpoints(&c);
        assert_eq!(eps.len(), 1);
        assert_eq!(
            primary_endpoint(&eps).map(|e| e.host.as_str()),
            Some("db.example")
        );
    }
}
