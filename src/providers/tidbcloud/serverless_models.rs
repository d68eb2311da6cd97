//! Wire models of the TiDB Cloud Serverless (Starter / Essential) v1beta1 cluster API
//! (`serverless-cluster-v1beta1.swagger.json`, host `serverless.tidbapi.com`): camelCase JSON; the proto
//! int64 fields (`autoScaling.minRcu`/`maxRcu`, `totalSize`) are read as a JSON number or a decimal string.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The label a cluster created by the operator carries: the uid of the Kubernetes object that made it (how a
/// lost create answer is found again, and only what that object made).
pub const UID_LABEL: &str = "clouddb.dev/uid";
/// System labels the API adds and keeps (never compared with the spec's labels).
pub const SYSTEM_LABEL_PREFIX: &str = "tidb.cloud/";

/// Cluster states (`v1beta1ClusterState`).
pub const ACTIVE: &str = "ACTIVE";
pub const DELETING: &str = "DELETING";
pub const DELETED: &str = "DELETED";

/// A serverless cluster (`v1beta1Cluster`), as answered (unknown fields ignored).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerlessCluster {
    pub cluster_id: String,
    pub display_name: String,
    pub region: ServerlessRegion,
    pub spending_limit: Option<SpendingLimit>,
    pub auto_scaling: Option<AutoScaling>,
    pub endpoints: Option<ClusterEndpoints>,
    pub version: String,
    pub created_by: String,
    pub user_prefix: String,
    pub state: String,
    pub labels: BTreeMap<String, String>,
    pub create_time: String,
    /// `STARTER` or `ESSENTIAL`.
    pub cluster_plan: String,
    /// `Starter` or `Essential`.
    pub service_plan: String,
}

impl ServerlessCluster {
    /// `aws-us-east-1` from `regions/aws-us-east-1`.
    pub fn region_id(&self) -> &str {
        let name = self.region.name.as_str();
        name.strip_prefix("regions/").unwrap_or(name)
    }

    /// The public endpoint, if the answer has one (the `BASIC` view has none).
    pub fn public(&self) -> Option<&PublicEndpoint> {
        self.endpoints.as_ref().and_then(|e| e.public.as_ref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerlessRegion {
    /// `regions/<regionId>`.
    pub name: String,
    #[serde(skip_serializing)]
    pub region_id: String,
    #[serde(skip_serializing)]
    pub cloud_provider: String,
}

/// Starter: the monthly spending limit in US cents (0: free).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SpendingLimit {
    pub monthly: i32,
}

/// Essential: the request capacity units the cluster scales between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AutoScaling {
    #[serde(deserialize_with = "int64", serialize_with = "int64_string")]
    pub min_rcu: i64,
    #[serde(deserialize_with = "int64", serialize_with = "int64_string")]
    pub max_rcu: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterEndpoints {
    pub public: Option<PublicEndpoint>,
    pub private: Option<PrivateEndpoint>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PublicEndpoint {
    pub host: String,
    pub port: i32,
    pub disabled: bool,
    pub authorized_networks: Vec<AuthorizedNetwork>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrivateEndpoint {
    pub host: String,
    pub port: i32,
}

/// One entry of the public endpoint's IP access list: an IPv4 range.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizedNetwork {
    pub start_ip_address: String,
    pub end_ip_address: String,
    pub display_name: String,
}

/// A page of `GET /clusters` (`v1beta1ListClustersResponse`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerlessClusterPage {
    pub clusters: Vec<ServerlessCluster>,
    pub next_page_token: String,
}

/// `GET /clusters:batchGet` (`v1beta1BatchGetClustersResponse`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchGetClusters {
    pub clusters: Vec<ServerlessCluster>,
}

/// The body of `POST /clusters`: a `v1beta1Cluster` with the fields a client sets.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateServerlessCluster {
    pub display_name: String,
    pub region: ServerlessRegion,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spending_limit: Option<SpendingLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScaling>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<EndpointsInput>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    pub root_password: Option<SecretString>,
    pub labels: BTreeMap<String, String>,
}

/// `endpoints` in a create or PATCH body: only the public endpoint's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointsInput {
    pub public: PublicEndpointInput,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicEndpointInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorized_networks: Option<Vec<AuthorizedNetwork>>,
}

/// The `cluster` of a PATCH body (`v1beta1PartialUpdateClusterRequestPartialUpdateCluster`): what the update
/// mask names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchServerlessCluster {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spending_limit: Option<SpendingLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScaling>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<EndpointsInput>,
}

/// `PATCH /clusters/{clusterId}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchServerlessClusterRequest {
    pub cluster: PatchServerlessCluster,
    /// Comma-separated field paths.
    pub update_mask: String,
}

/// `PUT /clusters/{clusterId}/password`.
#[derive(Serialize)]
pub struct ChangePassword<'a> {
    #[serde(serialize_with = "expose")]
    pub password: &'a SecretString,
}

fn expose<S: Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    s.serialize_str(v.expose_secret())
}

fn expose_opt<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => expose(v, s),
        None => s.serialize_none(),
    }
}

/// A proto int64: a JSON number or a decimal string.
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(i64),
        Str(String),
    }
    match N::deserialize(d)? {
        N::Num(n) => Ok(n),
        N::Str(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an int64"))),
    }
}

/// protojson writes an int64 as a decimal string.
fn int64_string<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_fields_read_numbers_and_strings_and_write_strings() {
        let a: AutoScaling = serde_json::from_str(r#"{"minRcu": 2000, "maxRcu": "4000"}"#).unwrap();
        assert_eq!((a.min_rcu, a.max_rcu), (2000, 4000));
        assert_eq!(
            serde_json::to_value(a).unwrap(),
            serde_json::json!({"minRcu": "2000", "maxRcu": "4000"})
        );
    }

    #[test]
    fn region_id_drops_the_collection_prefix_and_passwords_serialize_only_in_bodies() {
        let c: ServerlessCluster = serde_json::from_value(serde_json::json!({
            "clusterId": "1", "region": {"name": "regions/aws-us-east-1", "regionId": "aws-us-east-1"},
            "unknownField": true
        }))
        .unwrap();
        assert_eq!(c.region_id(), "aws-us-east-1");
        let pw = SecretString::from("s3cret-pass".to_string());
        let body = serde_json::to_value(ChangePassword { password: &pw }).unwrap();
        assert_eq!(body["password"], "s3cret-pass");
    }
}
