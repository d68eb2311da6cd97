//! What the TidbCloudServerlessCluster decide step reads and decides: a Serverless cluster reduced to what
//! decisions need, and the one field group a PATCH changes (the API takes an update mask; one path a call, as
//! the TiDB Cloud Terraform provider sends them).

use std::collections::BTreeMap;

use crate::api::tidbcloudserverlesscluster::IpRange;

/// What we read from the cloud (built by the provider's translation).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Observed {
    pub state: String,
    pub display_name: String,
    /// The labels a user may set (without the cloud's `tidb.cloud/*` and the operator's uid label).
    pub labels: BTreeMap<String, String>,
    /// Starter: the monthly limit in US cents.
    pub spending_limit: Option<i32>,
    /// Essential: (min, max) RCU.
    pub auto_scaling: Option<(i64, i64)>,
    /// The public endpoint: (disabled, IP access list, sorted); `None` when the answer had no endpoints.
    pub public: Option<(bool, Vec<IpRange>)>,
}

/// One PATCH: the field group named by `mask()`, with its new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    DisplayName(String),
    /// The user labels in full (the API replaces them and keeps its own).
    Labels(BTreeMap<String, String>),
    SpendingLimit(i32),
    AutoScaling {
        min_rcu: i64,
        max_rcu: i64,
    },
    PublicEndpoint {
        disabled: bool,
        /// `None`: the list is not managed (only `disabled` is sent).
        ip_access_list: Option<Vec<IpRange>>,
    },
}

impl Change {
    /// The `updateMask` path.
    pub fn mask(&self) -> &'static str {
        match self {
            Change::DisplayName(_) => "displayName",
            Change::Labels(_) => "labels",
            Change::SpendingLimit(_) => "spendingLimit",
            Change::AutoScaling { .. } => "autoScaling",
            Change::PublicEndpoint {
                ip_access_list: None,
                ..
            } => "endpoints.public.disabled",
            Change::PublicEndpoint { .. } => "endpoints.public",
        }
    }

    /// Human summary for Events and conditions (no secrets in any of it).
    pub fn summary(&self) -> String {
        match self {
            Change::DisplayName(n) => format!("display name → {n:?}"),
            Change::Labels(l) => format!(
                "labels → {{{}}}",
                l.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Change::SpendingLimit(c) => format!("monthly spending limit → {c} US cents"),
            Change::AutoScaling { min_rcu, max_rcu } => {
                format!("auto scaling → {min_rcu}–{max_rcu} RCU")
            }
            Change::PublicEndpoint {
                disabled,
                ip_access_list,
            } => {
                let mut s = format!(
                    "public endpoint → {}",
                    if *disabled { "disabled" } else { "enabled" }
                );
                if let Some(list) = ip_access_list {
                    let ranges: Vec<String> = list
                        .iter()
                        .map(|r| format!("{}-{}", r.start_ip_address, r.end_ip_address))
                        .collect();
                    s += &format!(", IP access list [{}]", ranges.join(", "));
                }
                s
            }
        }
    }
}
