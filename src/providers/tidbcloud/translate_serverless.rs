//! TidbCloudServerlessCluster spec ⇄ Serverless v1beta1 wire models, pure.

use std::collections::BTreeMap;

use secrecy::SecretString;

use super::serverless_models::*;
use crate::api::tidbcloudserverlesscluster::{IpRange, TidbCloudServerlessClusterSpec};
use crate::model::tidbcloudserverlesscluster::{Change, Observed};

/// The label naming the project a cluster is created in.
pub const LABEL_PROJECT: &str = "tidb.cloud/project";

/// Whether a label is the user's to manage (not the cloud's nor the operator's).
pub fn user_label(key: &str) -> bool {
    !key.starts_with(SYSTEM_LABEL_PREFIX) && key != UID_LABEL
}

fn range_of(n: &AuthorizedNetwork) -> IpRange {
    IpRange {
        start_ip_address: n.start_ip_address.clone(),
        end_ip_address: n.end_ip_address.clone(),
        display_name: n.display_name.clone(),
    }
}

fn network_of(r: &IpRange) -> AuthorizedNetwork {
    AuthorizedNetwork {
        start_ip_address: r.start_ip_address.clone(),
        end_ip_address: r.end_ip_address.clone(),
        display_name: r.display_name.clone(),
    }
}

/// A cluster as `decide` reads it.
pub fn observed(c: &ServerlessCluster) -> Observed {
    Observed {
        state: c.state.clone(),
        display_name: c.display_name.clone(),
        labels: c
            .labels
            .iter()
            .filter(|(k, _)| user_label(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        spending_limit: c.spending_limit.map(|s| s.monthly),
        auto_scaling: c.auto_scaling.map(|a| (a.min_rcu, a.max_rcu)),
        public: c.public().map(|p| {
            let mut list: Vec<IpRange> = p.authorized_networks.iter().map(range_of).collect();
            list.sort();
            (p.disabled, list)
        }),
    }
}

/// `POST /clusters` for `spec`, named `display_name`, labelled with the creating object's `uid`.
pub fn create_request(
    spec: &TidbCloudServerlessClusterSpec,
    display_name: &str,
    uid: &str,
    root_password: Option<SecretString>,
) -> CreateServerlessCluster {
    let mut labels: BTreeMap<String, String> = spec.labels.clone().unwrap_or_default();
    labels.insert(UID_LABEL.to_string(), uid.to_string());
    if let Some(p) = &spec.project_id {
        labels.insert(LABEL_PROJECT.to_string(), p.clone());
    }
    CreateServerlessCluster {
        display_name: display_name.to_string(),
        region: ServerlessRegion {
            name: format!("regions/{}", spec.region),
            ..ServerlessRegion::default()
        },
        spending_limit: spec
            .spending_limit
            .map(|s| SpendingLimit { monthly: s.monthly }),
        auto_scaling: spec.auto_scaling.map(|a| AutoScaling {
            min_rcu: a.min_rcu,
            max_rcu: a.max_rcu,
        }),
        endpoints: spec.public_endpoint.as_ref().map(|p| EndpointsInput {
            public: PublicEndpointInput {
                disabled: Some(p.disabled),
                authorized_networks: p
                    .ip_access_list
                    .as_ref()
                    .map(|l| l.iter().map(network_of).collect()),
            },
        }),
        root_password,
        labels,
    }
}

/// The PATCH of one change. Labels keep the operator's uid label (the API keeps its own `tidb.cloud/*`).
pub fn patch_request(change: &Change, uid_label: Option<&str>) -> PatchServerlessClusterRequest {
    let mut cluster = PatchServerlessCluster::default();
    match change {
        Change::DisplayName(n) => cluster.display_name = Some(n.clone()),
        Change::Labels(l) => {
            let mut labels = l.clone();
            if let Some(uid) = uid_label {
                labels.insert(UID_LABEL.to_string(), uid.to_string());
            }
            cluster.labels = Some(labels);
        }
        Change::SpendingLimit(m) => cluster.spending_limit = Some(SpendingLimit { monthly: *m }),
        Change::AutoScaling { min_rcu, max_rcu } => {
            cluster.auto_scaling = Some(AutoScaling {
                min_rcu: *min_rcu,
                max_rcu: *max_rcu,
            })
        }
        Change::PublicEndpoint {
            disabled,
            ip_access_list,
        } => {
            cluster.endpoints = Some(EndpointsInput {
                public: PublicEndpointInput {
                    disabled: Some(*disabled),
                    authorized_networks: ip_access_list
                        .as_ref()
                        .map(|l| l.iter().map(network_of).collect()),
                },
            })
        }
    }
    PatchServerlessClusterRequest {
        cluster,
        update_mask: change.mask().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TidbCloudServerlessClusterSpec {
        serde_json::from_value(serde_json::json!({
            "region": "aws-us-east-1",
            "labels": {"env": "preview"},
            "spendingLimit": {"monthly": 500},
            "publicEndpoint": {"ipAccessList": [{"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.9"}]},
        }))
        .unwrap()
    }

    #[test]
    fn create_requests_carry_the_uid_label_region_name_and_plan() {
        let req = create_request(&spec(), "preview-1", "u-1", None);
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v["region"],
            serde_json::json!({"name": "regions/aws-us-east-1"})
        );
        assert_eq!(v["labels"]["clouddb.dev/uid"], "u-1");
        assert_eq!(v["labels"]["env"], "preview");
        assert_eq!(v["spendingLimit"]["monthly"], 500);
        assert!(v.get("autoScaling").is_none() && v.get("rootPassword").is_none());
        assert_eq!(
            v["endpoints"]["public"]["authorizedNetworks"][0]["startIpAddress"],
            "10.0.0.1"
        );
    }

    #[test]
    fn observed_hides_system_and_uid_labels_and_patches_keep_the_uid_label() {
        let c = ServerlessCluster {
            labels: [
                ("tidb.cloud/project".to_string(), "1".to_string()),
                (UID_LABEL.to_string(), "u".to_string()),
                ("env".to_string(), "x".to_string()),
            ]
            .into(),
            ..ServerlessCluster::default()
        };
        assert_eq!(observed(&c).labels.len(), 1);
        assert_eq!(observed(&c).public, None);
        let p = patch_request(&Change::Labels(BTreeMap::new()), Some("u"));
        assert_eq!(p.update_mask, "labels");
        assert_eq!(p.cluster.labels.unwrap()[UID_LABEL], "u");
        let p = patch_request(
            &Change::PublicEndpoint {
                disabled: true,
                ip_access_list: None,
            },
            None,
        );
        assert_eq!(p.update_mask, "endpoints.public.disabled");
    }
}
