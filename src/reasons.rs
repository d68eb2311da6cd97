//! Every `reason` the operator writes: into status conditions (`Ready`, `Reconciling`, `Stalled`, `Available`)
//! and into Events. Code uses these constants, never a string literal (`tests/reasons.rs` scans `src/` for
//! one), and [`ALL`] says where each reason is used and which kinds emit it, so tests can check the docs
//! (`docs/<kind>.md`) and the Argo CD health script (`charts/clouddb-operator/files/argocd-health.lua`)
//! against it.

// ---- Ready=True: converged -----------------------------------------------------------------------------

/// Ready=True: converged on the spec (cluster `ACTIVE`, service running or idle).
pub const READY: &str = "Ready";
/// Ready=True: converged with `spec.paused: true` (TidbCloudCluster).
pub const PAUSED: &str = "Paused";
/// Ready=True: converged with `spec.stopped: true` (ClickHouseService).
pub const STOPPED: &str = "Stopped";
/// Ready=True: observe-only; differences from the spec are listed, not corrected.
pub const OBSERVING: &str = "Observing";
/// Ready=True and a Normal Event: the import is `COMPLETED`.
pub const COMPLETED: &str = "Completed";
/// Ready=True: the integration is `ACTIVE` (or `NONE`).
pub const ACTIVE: &str = "Active";

// ---- Ready=False, Reconciling=True: work in flight ----------------------------------------------------

/// Reconciling: the cloud resource is being created (create intent recorded, create call made).
pub const CREATING: &str = "Creating";
/// Reconciling (and a Normal Event): a change of the spec is being applied.
pub const UPDATING: &str = "Updating";
/// Reconciling (and a Normal Event): a branch is being reset to its parent's latest data (`:reset`, `RESTORING`).
pub const RESETTING: &str = "Resetting";
/// Reconciling (and a Normal Event): the cluster is being paused.
pub const PAUSING: &str = "Pausing";
/// Reconciling (and a Normal Event): the cluster is being resumed.
pub const RESUMING: &str = "Resuming";
/// Reconciling: the root password is being reset to the referenced Secret's value.
pub const RESETTING_PASSWORD: &str = "ResettingPassword";
/// Reconciling (and a Normal Event): the cloud resource is being deleted.
pub const DELETING: &str = "Deleting";
/// Reconciling: observe-only and the cloud resource does not exist (yet).
pub const NOT_FOUND: &str = "NotFound";
/// Reconciling: the cloud resource is in a transitional state the operator has no better name for.
pub const PROGRESSING: &str = "Progressing";
/// Reconciling (and a Normal Event): the service is being started.
pub const STARTING: &str = "Starting";
/// Reconciling (and a Normal Event): the service is being stopped (also before a deletion).
pub const STOPPING: &str = "Stopping";
/// Reconciling: the service's password is being set.
pub const SETTING_PASSWORD: &str = "SettingPassword";
/// Reconciling: an idle service is woken up to accept a change.
pub const WAKING: &str = "Waking";
/// Reconciling: the referenced TidbCloudCluster (or cloud cluster) is not Ready/`ACTIVE` yet.
pub const WAITING_FOR_CLUSTER: &str = "WaitingForCluster";
/// Reconciling: the import is `PREPARING`.
pub const PREPARING: &str = "Preparing";
/// Reconciling: the import is `IMPORTING`.
pub const IMPORTING: &str = "Importing";
/// Reconciling (and a Normal Event): the import is being canceled.
pub const CANCELING: &str = "Canceling";

// ---- Reconciling=True, Ready unchanged: transient ------------------------------------------------------

/// Reconciling: the cloud answered 429; retried at its hint. Never Stalled.
pub const THROTTLED: &str = "Throttled";
/// Reconciling: a transient cloud error (5xx, timeout, reset); retried with backoff. Never Stalled.
pub const RETRYING: &str = "Retrying";

// ---- Stalled=True (and a Warning Event when the stall is new) -------------------------------------------

/// Stalled: the spec cannot be satisfied (catalogue, password length).
pub const INVALID_SPEC: &str = "InvalidSpec";
/// Stalled: the cloud refused a request with 400.
pub const CLOUD_REJECTED: &str = "CloudRejected";
/// Stalled: any other permanent cloud error.
pub const CLOUD_ERROR: &str = "CloudError";
/// Stalled: the cloud answered 401/403, or the credentials cannot be used.
pub const CREDENTIALS_REJECTED: &str = "CredentialsRejected";
/// Stalled: the credentials Secret or one of its keys is missing.
pub const CREDENTIALS_MISSING: &str = "CredentialsMissing";
/// Stalled: the Secret (or key) of a password reference is missing.
pub const PASSWORD_SECRET_MISSING: &str = "PasswordSecretMissing";
/// Stalled: the id in the spec names a cloud resource that does not exist.
pub const CLOUD_RESOURCE_NOT_FOUND: &str = "CloudResourceNotFound";
/// Stalled (or, with `onCloudResourceGone: Recreate`, a Warning Event): the managed cloud resource vanished.
pub const CLOUD_RESOURCE_GONE: &str = "CloudResourceGone";
/// Stalled: the cloud contradicts the spec (another id, region, or an integration this resource did not make).
pub const CONFLICT: &str = "Conflict";
/// Stalled: several cloud resources match a create whose answer was lost.
pub const AMBIGUOUS_CREATE: &str = "AmbiguousCreate";
/// Stalled: the cloud resource (or referenced cluster) is managed by another resource / namespace.
pub const CLUSTER_MANAGED_ELSEWHERE: &str = "ClusterManagedElsewhere";
/// Stalled: deletion refused while `spec.deletionProtection` is true.
pub const DELETION_PROTECTED: &str = "DeletionProtected";
/// Stalled: `spec.clusterRef` / `spec.clusterId` are both or neither set, or the ref names another namespace.
pub const INVALID_CLUSTER_REF: &str = "InvalidClusterRef";
/// Stalled: the referenced TidbCloudCluster (or `spec.clusterId` cloud cluster) does not exist.
pub const CLUSTER_NOT_FOUND: &str = "ClusterNotFound";
/// Stalled: the referenced TidbCloudCluster is being deleted.
pub const CLUSTER_DELETING: &str = "ClusterDeleting";
/// Stalled: the cloud cluster the import / integration belongs to no longer exists.
pub const CLUSTER_GONE: &str = "ClusterGone";
/// Stalled: the import no longer exists in TiDB Cloud.
pub const IMPORT_NOT_FOUND: &str = "ImportNotFound";
/// Stalled: the import is `FAILED`.
pub const IMPORT_FAILED: &str = "ImportFailed";
/// Stalled (and a Normal Event on deletion): the import is `CANCELED`.
pub const CANCELED: &str = "Canceled";
/// Stalled: a Secret named in `spec.source` is missing.
pub const SOURCE_CREDENTIALS_MISSING: &str = "SourceCredentialsMissing";
/// Stalled: TiDB Cloud reports the integration in state `ERROR`.
pub const INTEGRATION_ERROR: &str = "IntegrationError";
/// Stalled: the vendor API key Secret (or key) is missing.
pub const API_KEY_MISSING: &str = "ApiKeyMissing";

// ---- Available ------------------------------------------------------------------------------------------

/// Available=True: the cloud resource serves connections. (Also the condition type's name.)
pub const AVAILABLE: &str = "Available";
/// Available=False: not serving (creating, paused, stopped, deleting...).
pub const NOT_AVAILABLE: &str = "NotAvailable";

// ---- Events only ----------------------------------------------------------------------------------------

/// Normal Event: the create call returned; the cloud resource is being created.
pub const CREATED: &str = "Created";
/// Normal Event: an existing cloud resource (by id, or made by an earlier attempt) is now managed.
pub const ADOPTED: &str = "Adopted";
/// Normal Event: the cloud resource is gone; the deletion is done.
pub const DELETED: &str = "Deleted";
/// Normal Event: deletion keeps the cloud resource (policy, namespace or CRD deletion).
pub const RETAINED: &str = "Retained";
/// Warning Event: the object cannot be parsed by this operator version (e.g. written under a looser, older
/// CRD); it is never reconciled and never stops the watch of its kind.
pub const INVALID_OBJECT: &str = "InvalidObject";
/// Normal Event: an observe-only resource was deleted; the cloud resource is left untouched.
pub const RELEASED: &str = "Released";
/// Normal Event: the namespace is deleted; the connection Secret was copied out of it.
pub const CONNECTION_SECRET_RETAINED: &str = "ConnectionSecretRetained";
/// Warning Event: the cloud resource was changed outside Kubernetes; the spec is being restored.
pub const DRIFT_CORRECTED: &str = "DriftCorrected";
/// Annotation `clouddb.dev/reconcile: paused`: no cloud call for the object until it is removed.
pub const RECONCILE_PAUSED: &str = "ReconcilePaused";
/// `driftPolicy: Report`: the cloud was changed outside Kubernetes; reported, not corrected.
pub const DRIFTED: &str = "Drifted";
/// Adopting an existing resource whose state differs from the spec: waits for approval.
pub const ADOPTION_PENDING: &str = "AdoptionPending";
/// The adoption diff was approved (`clouddb.dev/approve-adoption`): the spec is applied.
pub const ADOPTION_APPROVED: &str = "AdoptionApproved";
/// Normal Event: the root password was reset to the referenced Secret's value.
pub const PASSWORD_RESET: &str = "PasswordReset";
/// Normal Event: the service's password was set.
pub const PASSWORD_SET: &str = "PasswordSet";
/// Normal Event: the integration is deleted and created again (the API cannot update one).
pub const RECREATING: &str = "Recreating";
/// Warning Event: the referenced TidbCloudCluster now points at another cloud cluster.
pub const CLUSTER_REPLACED: &str = "ClusterReplaced";

// ---- the table ------------------------------------------------------------------------------------------

/// A kind that emits reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    TidbCloudCluster,
    ClickHouseService,
    TidbCloudImport,
    TidbCloudIntegration,
    TidbCloudServerlessCluster,
    TidbCloudSqlUser,
    TidbCloudBranch,
}

impl Kind {
    pub const ALL: &[Kind] = &[
        Kind::TidbCloudCluster,
        Kind::ClickHouseService,
        Kind::TidbCloudImport,
        Kind::TidbCloudIntegration,
        Kind::TidbCloudServerlessCluster,
        Kind::TidbCloudSqlUser,
        Kind::TidbCloudBranch,
    ];

    /// The kind's name (`kind:` of its objects).
    pub fn name(self) -> &'static str {
        match self {
            Kind::TidbCloudCluster => "TidbCloudCluster",
            Kind::ClickHouseService => "ClickHouseService",
            Kind::TidbCloudImport => "TidbCloudImport",
            Kind::TidbCloudIntegration => "TidbCloudIntegration",
            Kind::TidbCloudServerlessCluster => "TidbCloudServerlessCluster",
            Kind::TidbCloudSqlUser => "TidbCloudSqlUser",
            Kind::TidbCloudBranch => "TidbCloudBranch",
        }
    }

    /// The kind's reference page under `docs/`.
    pub fn doc(self) -> &'static str {
        match self {
            Kind::TidbCloudCluster => "docs/tidbcloudcluster.md",
            Kind::ClickHouseService => "docs/clickhouseservice.md",
            Kind::TidbCloudImport => "docs/tidbcloudimport.md",
            Kind::TidbCloudIntegration => "docs/tidbcloudintegration.md",
            Kind::TidbCloudServerlessCluster => "docs/tidbcloudserverlesscluster.md",
            Kind::TidbCloudSqlUser => "docs/tidbcloudsqluser.md",
            Kind::TidbCloudBranch => "docs/tidbcloudbranch.md",
        }
    }
}

/// Where a reason is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    /// `Ready=True` (`core::Outcome::Converged`).
    Ready,
    /// `Ready=False` and `Reconciling=True` (`core::Outcome::Progressing`).
    Progressing,
    /// `Reconciling=True`, `Ready` unchanged (`core::Outcome::Transient`).
    Transient,
    /// `Ready=False` and `Stalled=True` (`core::Outcome::Stalled`), plus a Warning Event when the stall is new.
    Stalled,
    /// The kind-specific `Available` condition.
    Available,
    /// `Suspended=True`, `Ready` unchanged (`core::Outcome::Suspended`).
    Suspended,
    /// The `Drifted` condition (`driftPolicy: Report`), with `Ready=True`.
    Drifted,
    /// An Event of this type (other than the Warning of a new stall).
    Event(EventType),
}

/// The type of an Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// One reason: its name, where it is written and which kinds write it.
#[derive(Clone, Copy, Debug)]
pub struct Reason {
    pub name: &'static str,
    pub uses: &'static [Where],
    pub kinds: &'static [Kind],
}

impl Reason {
    /// Whether the reason is written as `at` (by any kind).
    pub fn is(&self, at: Where) -> bool {
        self.uses.contains(&at)
    }
}

use EventType::{Normal, Warning};
use Kind::{
    ClickHouseService as Chs, TidbCloudBranch as Br, TidbCloudCluster as Tcc,
    TidbCloudImport as Imp, TidbCloudIntegration as Int, TidbCloudServerlessCluster as Tcsc,
    TidbCloudSqlUser as Usr,
};
use Where::{
    Available as Avail, Drifted as Drift, Event, Progressing as Prog, Ready as Conv,
    Stalled as Stall, Suspended as Susp, Transient,
};

const EVERY: &[Kind] = &[Tcc, Chs, Imp, Int, Tcsc, Usr, Br];
const SERVICES: &[Kind] = &[Tcc, Chs, Tcsc];
const ON_CLUSTER: &[Kind] = &[Imp, Int, Usr, Br];

const fn r(name: &'static str, uses: &'static [Where], kinds: &'static [Kind]) -> Reason {
    Reason { name, uses, kinds }
}

/// Every reason, with where it is used and by which kinds.
pub const ALL: &[Reason] = &[
    r(READY, &[Conv], &[Tcc, Chs, Tcsc, Usr, Br]),
    r(PAUSED, &[Conv], &[Tcc]),
    r(STOPPED, &[Conv], &[Chs]),
    r(OBSERVING, &[Conv], SERVICES),
    r(COMPLETED, &[Conv, Event(Normal)], &[Imp]),
    r(ACTIVE, &[Conv], &[Int]),
    r(CREATING, &[Prog], EVERY),
    r(UPDATING, &[Prog, Event(Normal)], SERVICES),
    r(UPDATING, &[Event(Normal)], &[Usr]),
    r(PAUSING, &[Prog, Event(Normal)], &[Tcc]),
    r(RESUMING, &[Prog, Event(Normal)], &[Tcc]),
    r(RESETTING_PASSWORD, &[Prog], &[Tcc]),
    r(DELETING, &[Prog, Event(Normal)], SERVICES),
    r(NOT_FOUND, &[Prog], SERVICES),
    r(PROGRESSING, &[Prog], &[Tcc, Chs, Imp, Tcsc, Br]),
    r(RESETTING, &[Prog, Event(Normal)], &[Br]),
    r(STARTING, &[Prog, Event(Normal)], &[Chs]),
    r(STOPPING, &[Prog, Event(Normal)], &[Chs]),
    r(SETTING_PASSWORD, &[Prog], &[Chs, Tcsc]),
    r(WAKING, &[Prog], &[Chs]),
    r(WAITING_FOR_CLUSTER, &[Prog], ON_CLUSTER),
    r(PREPARING, &[Prog], &[Imp]),
    r(IMPORTING, &[Prog], &[Imp]),
    r(CANCELING, &[Prog, Event(Normal)], &[Imp]),
    r(THROTTLED, &[Transient], EVERY),
    r(RETRYING, &[Transient], EVERY),
    r(INVALID_SPEC, &[Stall], &[Tcc, Chs, Tcsc, Usr, Br]),
    r(CLOUD_REJECTED, &[Stall], EVERY),
    r(CLOUD_ERROR, &[Stall], EVERY),
    r(CREDENTIALS_REJECTED, &[Stall], EVERY),
    r(CREDENTIALS_MISSING, &[Stall], EVERY),
    r(
        PASSWORD_SECRET_MISSING,
        &[Stall],
        &[Tcc, Chs, Tcsc, Usr, Br],
    ),
    r(CLOUD_RESOURCE_NOT_FOUND, &[Stall], SERVICES),
    r(CLOUD_RESOURCE_GONE, &[Stall], &[Tcc, Chs, Tcsc, Br]),
    r(
        CLOUD_RESOURCE_GONE,
        &[Event(Warning)],
        &[Tcc, Chs, Int, Tcsc, Usr],
    ),
    r(CONFLICT, &[Stall], &[Tcc, Chs, Int, Tcsc, Usr]),
    r(AMBIGUOUS_CREATE, &[Stall], EVERY),
    r(CLUSTER_MANAGED_ELSEWHERE, &[Stall], EVERY),
    r(DELETION_PROTECTED, &[Stall], SERVICES),
    r(INVALID_CLUSTER_REF, &[Stall], ON_CLUSTER),
    r(CLUSTER_NOT_FOUND, &[Stall], ON_CLUSTER),
    r(CLUSTER_DELETING, &[Stall], ON_CLUSTER),
    r(CLUSTER_GONE, &[Stall], ON_CLUSTER),
    r(IMPORT_NOT_FOUND, &[Stall], &[Imp]),
    r(IMPORT_FAILED, &[Stall], &[Imp]),
    r(CANCELED, &[Stall, Event(Normal)], &[Imp]),
    r(SOURCE_CREDENTIALS_MISSING, &[Stall], &[Imp]),
    r(INTEGRATION_ERROR, &[Stall], &[Int]),
    r(API_KEY_MISSING, &[Stall], &[Int]),
    r(AVAILABLE, &[Avail], SERVICES),
    r(NOT_AVAILABLE, &[Avail], SERVICES),
    r(CREATED, &[Event(Normal)], EVERY),
    r(ADOPTED, &[Event(Normal)], EVERY),
    r(DELETED, &[Event(Normal)], EVERY),
    r(INVALID_OBJECT, &[Event(Warning)], EVERY),
    r(RETAINED, &[Event(Normal)], EVERY),
    r(RELEASED, &[Event(Normal)], &[Tcc, Chs, Tcsc, Usr, Br]),
    r(
        CONNECTION_SECRET_RETAINED,
        &[Event(Normal)],
        &[Tcc, Chs, Tcsc, Usr, Br],
    ),
    r(DRIFT_CORRECTED, &[Event(Warning)], &[Tcc, Chs, Tcsc, Usr]),
    r(RECONCILE_PAUSED, &[Susp], EVERY),
    r(DRIFTED, &[Conv, Drift, Event(Warning)], SERVICES),
    r(ADOPTION_PENDING, &[Stall], SERVICES),
    r(ADOPTION_APPROVED, &[Event(Normal)], SERVICES),
    r(PASSWORD_RESET, &[Event(Normal)], &[Tcc]),
    r(PASSWORD_SET, &[Event(Normal)], &[Chs, Tcsc, Usr, Br]),
    r(RECREATING, &[Event(Normal)], &[Int]),
    r(CLUSTER_REPLACED, &[Event(Warning)], &[Int, Usr]),
];

/// The reasons `kind` writes as `at`.
pub fn of(kind: Kind, at: Where) -> impl Iterator<Item = &'static str> {
    ALL.iter()
        .filter(move |r| r.kinds.contains(&kind) && r.is(at))
        .map(|r| r.name)
}

/// Whether `name` is a known reason.
pub fn is_known(name: &str) -> bool {
    ALL.iter().any(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_camel_case_and_nonempty() {
        for r in ALL {
            assert!(
                r.name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
                    && r.name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{r:?}"
            );
            assert!(!r.uses.is_empty() && !r.kinds.is_empty(), "{r:?}");
        }
    }

    #[test]
    fn a_reason_is_listed_once_per_use_and_kind() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                if a.name != b.name {
                    continue;
                }
                for u in a.uses {
                    for k in a.kinds {
                        assert!(
                            !(b.uses.contains(u) && b.kinds.contains(k)),
                            "{} listed twice for {u:?} / {k:?}",
                            a.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn transient_reasons_never_stall() {
        for r in ALL.iter().filter(|r| r.is(Transient)) {
            assert!(!r.is(Stall), "{}", r.name);
        }
    }

    #[test]
    fn every_kind_has_a_ready_and_a_stalled_reason() {
        for &k in Kind::ALL {
            assert!(of(k, Conv).next().is_some(), "{k:?}");
            assert!(of(k, Stall).next().is_some(), "{k:?}");
            assert!(of(k, Prog).any(|r| r == CREATING), "{k:?}");
        }
    }

    #[test]
    fn condition_type_names_agree() {
        assert_eq!(READY, crate::conditions::READY);
        assert_eq!(AVAILABLE, crate::conditions::AVAILABLE);
        assert!(is_known(RETRYING) && !is_known("Nope"));
    }
}
