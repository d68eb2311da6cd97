//! What the ClickHouseService decide step reads and decides: a cloud service reduced to what decisions need,
//! and the changes one settings or scaling PATCH sends.

use std::collections::BTreeMap;

use crate::api::clickhouseservice::IpAccessEntry;

/// What we read from the cloud, reduced to what decisions need (built by the provider's translation).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Observed {
    pub state: String,
    pub name: String,
    pub ip_access_list: Vec<IpAccessEntry>,
    pub min_replica_memory_gb: Option<i64>,
    pub max_replica_memory_gb: Option<i64>,
    pub num_replicas: Option<i64>,
    pub idle_scaling: Option<bool>,
    pub idle_timeout_minutes: Option<i64>,
    pub release_channel: Option<String>,
    pub mysql_endpoint: bool,
    /// Tags other than the operator's UID tag.
    pub tags: BTreeMap<String, String>,
    /// Attached private endpoints (from the services list), sorted.
    pub private_endpoint_ids: Vec<String>,
    /// The backup settings, when read (`None`: not read, because the spec does not set them).
    pub backup: Option<BackupSettings>,
    /// The query API endpoint, when read: `Some(None)` is "there is none"; `None`: not read.
    pub query_endpoint: Option<Option<QueryEndpoint>>,
}

/// Backup settings (read: what the cloud has; in a change: only what to send).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BackupSettings {
    pub period_hours: Option<i64>,
    pub retention_hours: Option<i64>,
    pub start_time: Option<String>,
}

impl BackupSettings {
    pub fn is_empty(&self) -> bool {
        self == &BackupSettings::default()
    }

    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.period_hours {
            parts.push(format!("period {p} h"));
        }
        if let Some(r) = self.retention_hours {
            parts.push(format!("retention {r} h"));
        }
        if let Some(t) = &self.start_time {
            parts.push(format!("start {t} UTC"));
        }
        parts.join(", ")
    }
}

/// A query API endpoint's settings (roles and key ids sorted, key ids lower-case).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryEndpoint {
    pub roles: Vec<String>,
    pub open_api_keys: Vec<String>,
    pub allowed_origins: String,
}

impl QueryEndpoint {
    pub fn summary(&self) -> String {
        format!(
            "roles [{}], {} API key(s), origins {:?}",
            self.roles.join(", "),
            self.open_api_keys.len(),
            self.allowed_origins
        )
    }
}

/// Private endpoints to attach and detach in one `PATCH /services/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EndpointIdsChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl EndpointIdsChange {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    pub fn summary(&self) -> String {
        let mut s = String::from("private endpoints");
        if !self.add.is_empty() {
            s += &format!(" +[{}]", self.add.join(", "));
        }
        if !self.remove.is_empty() {
            s += &format!(" -[{}]", self.remove.join(", "));
        }
        s
    }
}

/// Changes to send in one `PATCH /services/{id}`; empty parts are left out.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServiceChange {
    pub name: Option<String>,
    pub ip_add: Vec<IpAccessEntry>,
    pub ip_remove: Vec<IpAccessEntry>,
    pub release_channel: Option<String>,
    pub mysql_endpoint: Option<bool>,
    pub tags_add: Vec<(String, String)>,
    pub tags_remove: Vec<(String, String)>,
}

impl ServiceChange {
    pub fn is_empty(&self) -> bool {
        self == &ServiceChange::default()
    }

    /// Human summary for Events and conditions.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(format!("name → {n:?}"));
        }
        if !self.ip_add.is_empty() || !self.ip_remove.is_empty() {
            let list = |l: &[IpAccessEntry]| {
                l.iter()
                    .map(|e| e.source.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut s = String::from("IP access list");
            if !self.ip_add.is_empty() {
                s += &format!(" +[{}]", list(&self.ip_add));
            }
            if !self.ip_remove.is_empty() {
                s += &format!(" -[{}]", list(&self.ip_remove));
            }
            parts.push(s);
        }
        if let Some(c) = &self.release_channel {
            parts.push(format!("release channel → {c}"));
        }
        if let Some(m) = self.mysql_endpoint {
            parts.push(format!("MySQL endpoint {}", if m { "on" } else { "off" }));
        }
        if !self.tags_add.is_empty() || !self.tags_remove.is_empty() {
            parts.push("tags".to_string());
        }
        parts.join(", ")
    }
}

/// Changes to send in one `PATCH /services/{id}/replicaScaling`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScalingChange {
    pub min_replica_memory_gb: Option<i64>,
    pub max_replica_memory_gb: Option<i64>,
    pub num_replicas: Option<i64>,
    pub idle_scaling: Option<bool>,
    pub idle_timeout_minutes: Option<i64>,
}

impl ScalingChange {
    pub fn is_empty(&self) -> bool {
        self == &ScalingChange::default()
    }

    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.min_replica_memory_gb.is_some() || self.max_replica_memory_gb.is_some() {
            parts.push(format!(
                "memory per replica {}–{} GiB",
                opt(self.min_replica_memory_gb),
                opt(self.max_replica_memory_gb)
            ));
        }
        if let Some(n) = self.num_replicas {
            parts.push(format!("{n} replicas"));
        }
        if let Some(i) = self.idle_scaling {
            parts.push(format!("idle scaling {}", if i { "on" } else { "off" }));
        }
        if let Some(t) = self.idle_timeout_minutes {
            parts.push(format!("idle timeout {t} min"));
        }
        parts.join(", ")
    }
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "=".into())
}
