//! Wire models of the ClickHouse Cloud API v1 (`api.clickhouse.cloud/v1`), limited to services. Every
//! response field is optional on the wire (the spec's requiredness is unreliable): fields default, and
//! request fields that are `None` are left out of the JSON (sending zero values gets a 400).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The success envelope `{status, requestId, result}`.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    #[serde(default)]
    pub status: Option<f64>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default = "Option::default")]
    pub result: Option<T>,
}

/// A service as the API reports it.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub region: String,
    pub state: String,
    pub clickhouse_version: Option<String>,
    pub endpoints: Vec<ServiceEndpoint>,
    pub min_replica_memory_gb: Option<i64>,
    pub max_replica_memory_gb: Option<i64>,
    pub num_replicas: Option<i64>,
    pub idle_scaling: Option<bool>,
    pub idle_timeout_minutes: Option<i64>,
    pub ip_access_list: Vec<IpAccessEntry>,
    pub created_at: Option<String>,
    pub release_channel: Option<String>,
    pub tags: Vec<Tag>,
    pub current_scaling: Option<CurrentScaling>,
    /// Attached private endpoints.
    pub private_endpoint_ids: Vec<String>,
}

/// One endpoint of a service.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceEndpoint {
    /// `https`, `nativesecure` or `mysql`.
    pub protocol: String,
    pub host: String,
    pub port: i64,
    pub username: Option<String>,
}

/// An entry of the IP access list.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase", default)]
pub struct IpAccessEntry {
    pub source: String,
    pub description: String,
}

/// A resource tag.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase", default)]
pub struct Tag {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The scaling in effect now.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CurrentScaling {
    pub effective_min_replica_memory_gb: Option<i64>,
    pub effective_max_replica_memory_gb: Option<i64>,
    pub effective_min_replicas: Option<i64>,
    pub effective_max_replicas: Option<i64>,
    pub effective_idle_scaling: Option<bool>,
    pub effective_idle_timeout_minutes: Option<i64>,
}

/// A protocol endpoint switch (`mysql` only).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSwitch {
    pub protocol: String,
    pub enabled: bool,
}

/// `POST /services`.
#[derive(Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePostRequest {
    pub name: String,
    pub provider: String,
    pub region: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_access_list: Vec<IpAccessEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replica_memory_gb: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replica_memory_gb: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_replicas: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_scaling: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_channel: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointSwitch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// The `result` of `POST /services`: the service and its generated password (returned only here).
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ServicePostResponse {
    pub service: Service,
    #[serde(deserialize_with = "secret_string")]
    pub password: Option<SecretString>,
}

fn secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

/// An add/remove diff (`ipAccessList`, `tags`); the server applies `remove` before `add`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Diff<T> {
    pub add: Vec<T>,
    pub remove: Vec<T>,
}

impl<T> Default for Diff<T> {
    fn default() -> Self {
        Diff {
            add: Vec::new(),
            remove: Vec::new(),
        }
    }
}

impl<T> Diff<T> {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// `PATCH /services/{id}`.
#[derive(Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePatchRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_access_list: Option<Diff<IpAccessEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_channel: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointSwitch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Diff<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_endpoint_ids: Option<Diff<String>>,
}

/// `GET /services/{id}/privateEndpointConfig` (§3.7).
#[derive(Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct PrivateEndpointConfig {
    pub endpoint_service_id: String,
    pub private_dns_hostname: String,
}

/// `BackupConfiguration` (§4.1): the GET answer and, with only the fields to change, the PATCH body.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct BackupConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_period_in_hours: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_retention_period_in_hours: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_start_time: Option<String>,
}

/// `ServiceQueryAPIEndpoint` (§3.8): `allowedOrigins` is one comma-separated string.
#[derive(Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceQueryApiEndpoint {
    pub id: String,
    pub open_api_keys: Vec<String>,
    pub roles: Vec<String>,
    pub allowed_origins: Option<String>,
}

/// `POST /services/{id}/serviceQueryEndpoint` (an upsert).
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceQueryEndpointRequest {
    pub roles: Vec<String>,
    pub open_api_keys: Vec<String>,
    pub allowed_origins: String,
}

/// `PATCH /services/{id}/replicaScaling`.
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaScalingPatchRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replica_memory_gb: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replica_memory_gb: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_replicas: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_scaling: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_minutes: Option<i64>,
}

/// `PATCH /services/{id}/state`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StateCommand {
    pub command: Command,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Start,
    Stop,
    Awake,
}

/// `PATCH /services/{id}/password`: hashes of the new password (no hash: the server generates one).
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordPatchRequest {
    /// base64(sha256(password)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_password_hash: Option<String>,
    /// hex(sha1(sha1(password))), for the MySQL interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_double_sha1_hash: Option<String>,
}

/// The `result` of `PATCH /services/{id}/password`.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordPatchResponse {
    #[serde(deserialize_with = "secret_string")]
    pub password: Option<SecretString>,
}

/// An API key as `GET /keys` lists it (only the id is read; the list never holds a secret).
#[derive(Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiKey {
    pub id: String,
}
