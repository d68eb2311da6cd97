//! The pure heart of the TidbCloudImport reconciler: where the target cluster leaves a new import, where an
//! existing one stands, what deleting the resource still needs of it, and which imports a lost create may have
//! made. No I/O; unit-tested without any mock.

use crate::api::tidbcloudimport::{ImportCreateIntent, TidbCloudImportSpec};
use crate::controllers::clusterref::Target;
use crate::controllers::core;
use crate::providers::tidbcloud::models::Import;
use crate::providers::tidbcloud::translate;
use crate::providers::tidbcloud::translate_import;
use crate::reasons;

/// Clock skew allowed between the operator and the cloud when matching an import to a create intent.
const ADOPTION_SLACK: chrono::Duration = chrono::Duration::seconds(120);

pub use crate::model::tidbcloudimport::ObservedImport;

/// Import states after which nothing changes any more.
pub fn is_terminal(state: &str) -> bool {
    matches!(state, "COMPLETED" | "FAILED" | "CANCELED")
}

/// The next step of a resource whose import does not exist yet (the driver follows an existing one, and looks
/// for what an earlier create made, before asking).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the import in this cluster; `check_cloud` when no TidbCloudCluster vouches for the cluster being
    /// ACTIVE (spec.clusterId), so the cloud is asked first.
    Create {
        cluster_id: String,
        check_cloud: bool,
    },
    /// The target cluster is not usable yet.
    Wait { message: String },
    /// The target cluster cannot be used: a `Stalled` reason and message.
    Blocked {
        reason: &'static str,
        message: String,
    },
}

/// Decides how a new import starts, from where the reference points.
pub fn decide(target: &Target) -> Step {
    match target {
        Target::Id(id) => Step::Create {
            cluster_id: id.clone(),
            check_cloud: true,
        },
        Target::Ready { cluster_id, .. } => Step::Create {
            cluster_id: cluster_id.clone(),
            check_cloud: false,
        },
        Target::NotReady { why, .. } => Step::Wait {
            message: format!("{why}; the import starts once it is Ready"),
        },
        Target::Broken { reason, message } => Step::Blocked {
            reason,
            message: message.clone(),
        },
    }
}

/// Where an existing import stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Still running (or being canceled outside Kubernetes).
    Running {
        reason: &'static str,
        message: String,
    },
    Completed {
        message: String,
    },
    /// Failed; `message` is the service's explanation.
    Failed {
        message: String,
    },
    /// Canceled outside Kubernetes (a cancel on deletion never gets here).
    Canceled {
        message: String,
    },
}

/// The phase of import `id` as observed.
pub fn phase(id: &str, o: &ObservedImport) -> Phase {
    let size = human_bytes(&o.total_size);
    match o.state.as_str() {
        "PREPARING" => Phase::Running {
            reason: reasons::PREPARING,
            message: format!("import {id} is PREPARING ({size} to import)"),
        },
        "IMPORTING" => Phase::Running {
            reason: reasons::IMPORTING,
            message: format!(
                "import {id} is IMPORTING: {}% of {size}",
                o.complete_percent
            ),
        },
        "CANCELING" => Phase::Running {
            reason: reasons::CANCELING,
            message: format!("import {id} is being canceled"),
        },
        "COMPLETED" => Phase::Completed {
            message: format!("import {id} COMPLETED: {size} imported"),
        },
        "FAILED" => Phase::Failed {
            message: if o.message.is_empty() {
                format!(
                    "import {id} FAILED at {}% (TiDB Cloud gave no reason)",
                    o.complete_percent
                )
            } else {
                format!(
                    "import {id} FAILED at {}%: {}",
                    o.complete_percent, o.message
                )
            },
        },
        "CANCELED" => Phase::Canceled {
            message: format!(
                "import {id} was canceled outside Kubernetes at {}%",
                o.complete_percent
            ),
        },
        other => Phase::Running {
            reason: reasons::PROGRESSING,
            message: format!("import {id} is in state {other:?}"),
        },
    }
}

/// What deleting the resource still needs of the import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// The import is over: the finalizer may go.
    Done,
    /// Running: cancel it.
    Cancel,
    /// Being canceled: wait for `CANCELED`.
    WaitCanceled,
}

pub fn cleanup_step(o: &ObservedImport) -> Cleanup {
    match o.state.as_str() {
        s if is_terminal(s) => Cleanup::Done,
        "CANCELING" => Cleanup::WaitCanceled,
        _ => Cleanup::Cancel,
    }
}

/// Whether `import` may be what a create under `intent` made, with the API key `key_id`: same source URI,
/// created since the intent (minus clock skew), by this API key when the service says who created it. The
/// driver sets aside imports other resources follow and never guesses between several.
pub fn made_by(intent: &ImportCreateIntent, import: &Import, key_id: &str) -> bool {
    translate_import::source_uri(import) == Some(intent.source_uri.as_str())
        && core::created_since(&import.create_time, &intent.started_at, ADOPTION_SLACK)
        && (!import.creator.to_ascii_lowercase().starts_with("apikey-")
            || translate::created_by_key(&import.creator, key_id))
}

/// The `Stalled` reason and message when import `import_id`, recorded in status, no longer exists in TiDB
/// Cloud: its whole cluster is gone (`cluster_gone`), or the import alone. A second import is never created.
pub fn gone(import_id: &str, cluster_id: &str, cluster_gone: bool) -> (&'static str, String) {
    if cluster_gone {
        (
            reasons::CLUSTER_GONE,
            format!(
                "cluster {cluster_id} no longer exists in TiDB Cloud: import {import_id} cannot finish"
            ),
        )
    } else {
        (
            reasons::IMPORT_NOT_FOUND,
            format!(
                "import {import_id} no longer exists in cluster {cluster_id}; delete this resource and create a new one \
                 to import again"
            ),
        )
    }
}

/// What differs between the spec and the import it started (`ran_uri`, `ran_cluster`: the import's source
/// URI and cluster, when known). A TidbCloudImport is one import: a change is reported, never re-run.
pub fn changed_since_start(
    spec: &TidbCloudImportSpec,
    ran_uri: Option<&str>,
    ran_cluster: Option<&str>,
) -> Option<String> {
    let mut changes = Vec::new();
    if let Some(uri) = ran_uri.filter(|u| *u != spec.source.uri) {
        changes.push(format!(
            "spec.source.uri is {} but the import reads {uri}",
            spec.source.uri
        ));
    }
    if let (Some(want), Some(ran)) = (spec.cluster_id.as_deref(), ran_cluster)
        && want != ran
    {
        changes.push(format!(
            "spec.clusterId is {want} but the import runs in cluster {ran}"
        ));
    }
    (!changes.is_empty()).then(|| {
        format!(
            "the spec changed after the import started ({}); an import runs once: create a new TidbCloudImport to \
             import again",
            changes.join("; ")
        )
    })
}

/// `1.5 GiB` for a byte count sent as a decimal string; the string itself when it is not a number.
fn human_bytes(bytes: &str) -> String {
    let Ok(n) = bytes.parse::<u64>() else {
        return if bytes.is_empty() {
            "an unknown size".into()
        } else {
            format!("{bytes} bytes")
        };
    };
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::CredentialsSpec;

    fn observed(state: &str, pct: i32, message: &str) -> ObservedImport {
        ObservedImport {
            state: state.into(),
            complete_percent: pct,
            total_size: "1610612736".into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_ready_cluster_or_a_cluster_id_gets_the_import() {
        let ready = Target::Ready {
            cluster_id: "7".into(),
            credentials: None,
        };
        assert_eq!(
            decide(&ready),
            Step::Create {
                cluster_id: "7".into(),
                check_cloud: false
            }
        );
        assert_eq!(
            decide(&Target::Id("8".into())),
            Step::Create {
                cluster_id: "8".into(),
                check_cloud: true
            }
        );
    }

    #[test]
    fn not_ready_clusters_are_waited_for_and_broken_references_stall() {
        let waiting = Target::NotReady {
            cluster_id: Some("7".into()),
            credentials: Some(CredentialsSpec {
                secret_ref: crate::api::SecretNameRef { name: "k".into() },
            }),
            why: "waiting for TidbCloudCluster orders: it is not Ready yet".into(),
        };
        match decide(&waiting) {
            Step::Wait { message } => assert!(message.contains("starts once it is Ready")),
            other => panic!("{other:?}"),
        }
        let broken = Target::Broken {
            reason: reasons::INVALID_CLUSTER_REF,
            message: "other namespace".into(),
        };
        assert_eq!(
            decide(&broken),
            Step::Blocked {
                reason: reasons::INVALID_CLUSTER_REF,
                message: "other namespace".into()
            }
        );
    }

    #[test]
    fn phases_follow_the_service_state() {
        assert_eq!(
            phase("9", &observed("IMPORTING", 40, "")),
            Phase::Running {
                reason: reasons::IMPORTING,
                message: "import 9 is IMPORTING: 40% of 1.5 GiB".into()
            }
        );
        assert!(matches!(
            phase("9", &observed("PREPARING", 0, "")),
            Phase::Running {
                reason: reasons::PREPARING,
                ..
            }
        ));
        assert!(matches!(
            phase("9", &observed("COMPLETED", 100, "")),
            Phase::Completed { .. }
        ));
        match phase("9", &observed("FAILED", 40, "access denied")) {
            Phase::Failed { message } => {
                assert_eq!(message, "import 9 FAILED at 40%: access denied")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            phase("9", &observed("CANCELED", 10, "")),
            Phase::Canceled { .. }
        ));
        assert!(matches!(
            phase("9", &observed("SOMETHING_NEW", 0, "")),
            Phase::Running {
                reason: reasons::PROGRESSING,
                ..
            }
        ));
    }

    #[test]
    fn deletion_cancels_running_imports_and_waits_for_canceled() {
        assert_eq!(cleanup_step(&observed("IMPORTING", 5, "")), Cleanup::Cancel);
        assert_eq!(cleanup_step(&observed("PREPARING", 0, "")), Cleanup::Cancel);
        assert_eq!(
            cleanup_step(&observed("CANCELING", 5, "")),
            Cleanup::WaitCanceled
        );
        for s in ["CANCELED", "COMPLETED", "FAILED"] {
            assert_eq!(cleanup_step(&observed(s, 5, "")), Cleanup::Done);
        }
    }

    fn import(id: &str, uri: &str, created: &str, creator: &str) -> Import {
        serde_json::from_value(serde_json::json!({
            "importId": id, "clusterId": "7", "createTime": created, "creator": creator, "state": "PREPARING",
            "creationDetails": {"importOptions": {"fileType": "CSV"}, "source": {"type": "S3", "s3": {"uri": uri, "authType": "ROLE_ARN"}}},
        }))
        .expect("import")
    }

    #[test]
    fn adoption_matches_uri_time_creator_and_skips_claimed_imports() {
        use crate::controllers::ownership::{Found, pick};
        use std::collections::BTreeSet;
        let intent = ImportCreateIntent {
            cluster_id: "7".into(),
            source_uri: "s3://b/orders/".into(),
            started_at: "2025-01-01T12:00:00.000Z".into(),
        };
        let key = "abcdefghijkl";
        let imports = vec![
            import(
                "1",
                "s3://b/orders/",
                "2025-01-01T11:00:00Z",
                "apikey-ABCDEFGH",
            ), // long before
            import(
                "2",
                "s3://b/other/",
                "2025-01-01T12:00:01Z",
                "apikey-ABCDEFGH",
            ), // other URI
            import(
                "3",
                "s3://b/orders/",
                "2025-01-01T12:00:02Z",
                "apikey-ZZZZZZZZ",
            ), // other key
            import(
                "4",
                "s3://b/orders/",
                "2025-01-01T12:00:03Z",
                "apikey-ABCDEFGH",
            ),
            import(
                "5",
                "s3://b/orders/",
                "2025-01-01T12:00:04Z",
                "someone@example.com",
            ),
        ];
        let matching = |imports: &[Import]| -> Vec<Import> {
            imports
                .iter()
                .filter(|i| made_by(&intent, i, key))
                .cloned()
                .collect()
        };
        let id = |i: &Import| i.import_id.clone();
        assert_eq!(
            matching(&imports).iter().map(id).collect::<Vec<_>>(),
            ["4", "5"]
        );
        let picked = |claimed: &BTreeSet<String>, imports: &[Import]| match pick(
            matching(imports),
            |i| i.import_id.as_str(),
            claimed,
        ) {
            Found::One(i) => Found::One(i.import_id),
            Found::Nothing => Found::Nothing,
            Found::Ambiguous(ids) => Found::Ambiguous(ids),
        };
        // Two unclaimed matches: the operator never guesses.
        assert_eq!(
            picked(&BTreeSet::new(), &imports),
            Found::Ambiguous(vec!["4".into(), "5".into()])
        );
        // An import another resource follows is never taken.
        let claimed: BTreeSet<String> = ["4".to_string()].into();
        assert_eq!(picked(&claimed, &imports), Found::One("5".into()));
        assert_eq!(picked(&BTreeSet::new(), &imports[..3]), Found::Nothing);
    }

    #[test]
    fn a_vanished_import_says_whether_its_cluster_went_with_it() {
        let (reason, message) = gone("9", "7", true);
        assert_eq!(reason, reasons::CLUSTER_GONE);
        assert!(
            message.contains("cluster 7") && message.contains("import 9"),
            "{message}"
        );
        let (reason, message) = gone("9", "7", false);
        assert_eq!(reason, reasons::IMPORT_NOT_FOUND);
        assert!(message.contains("create a new one"), "{message}");
    }

    #[test]
    fn a_spec_change_after_the_start_is_reported_not_rerun() {
        let mut spec: TidbCloudImportSpec = serde_json::from_value(serde_json::json!({
            "clusterId": "7", "fileType": "CSV",
            "source": {"type": "S3", "uri": "s3://b/orders/", "s3": {"roleArn": "arn:aws:iam::1:role/r"}},
        }))
        .expect("spec");
        assert_eq!(
            changed_since_start(&spec, Some("s3://b/orders/"), Some("7")),
            None
        );
        assert_eq!(changed_since_start(&spec, None, None), None);
        spec.source.uri = "s3://b/other/".into();
        spec.cluster_id = Some("8".into());
        let note = changed_since_start(&spec, Some("s3://b/orders/"), Some("7")).expect("a change");
        assert!(
            note.contains("s3://b/orders/")
                && note.contains("cluster 7")
                && note.contains("runs once"),
            "{note}"
        );
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes("512"), "512 B");
        assert_eq!(human_bytes("1048576"), "1.0 MiB");
        assert_eq!(human_bytes(""), "an unknown size");
        assert_eq!(human_bytes("lots"), "lots bytes");
    }
}
