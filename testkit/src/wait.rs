//! Waiting with timeouts: every helper names what it waited for when it gives up.

use std::fmt::{Debug, Display};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{self, Condition, conditions};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Field manager used by the helpers that apply objects.
pub const FIELD_MANAGER: &str = "clouddb-testkit";

/// Watches `name` through `api` until `cond` holds, for at most `timeout`.
///
/// A thin wrapper over [`kube::runtime::wait::await_condition`]: `Ok(None)` means the condition held for an
/// absent object. On timeout the error names `what`.
pub async fn await_condition<K>(
    api: Api<K>,
    name: &str,
    what: impl Display,
    timeout: Duration,
    cond: impl Condition<K>,
) -> Result<Option<K>>
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(timeout, wait::await_condition(api, name, cond)).await {
        Ok(Ok(obj)) => Ok(obj),
        Ok(Err(source)) => Err(Error::Watch {
            what: what.to_string(),
            source,
        }),
        Err(_) => Err(Error::Timeout {
            what: what.to_string(),
            timeout,
            last_error: None,
        }),
    }
}

/// Like [`await_condition`], for a condition that needs the object to exist: returns it.
pub async fn await_object<K>(
    api: Api<K>,
    name: &str,
    what: impl Display,
    timeout: Duration,
    cond: impl Condition<K>,
) -> Result<K>
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    let what = what.to_string();
    await_condition(api, name, &what, timeout, cond)
        .await?
        .ok_or(Error::Deleted { what })
}

/// Waits until the object is gone (or replaced by one with another uid). Returns at once if it does not exist.
pub async fn await_deleted<K>(api: Api<K>, name: &str, timeout: Duration) -> Result<()>
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    let what = format!("{}/{name} to be deleted", api.resource_url());
    let Some(obj) = api
        .get_opt(name)
        .await
        .map_err(|e| Error::kube(format!("get {name}"), e))?
    else {
        return Ok(());
    };
    let uid = obj.uid().unwrap_or_default();
    await_condition(api, name, what, timeout, conditions::is_deleted(&uid)).await?;
    Ok(())
}

/// Retries `attempt` until it returns `Ok`, for at most `timeout` (first retry after 50 ms, then doubling up to
/// 1 s). For states that cannot be watched, such as an RBAC grant taking effect. On timeout the error carries
/// `what` and the last error.
///
/// ```no_run
/// # async fn t(api: kube::Api<k8s_openapi::api::core::v1::Secret>) -> clouddb_testkit::Result<()> {
/// use std::time::Duration;
/// let list = clouddb_testkit::eventually("secrets to be listable", Duration::from_secs(30), async || {
///     api.list(&Default::default()).await
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn eventually<T, E: Display>(
    what: impl Display,
    timeout: Duration,
    mut attempt: impl AsyncFnMut() -> std::result::Result<T, E>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    let mut last_error = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        match tokio::time::timeout(remaining, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => last_error = Some(e.to_string()),
            Err(_) => break,
        }
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
    Err(Error::Timeout {
        what: what.to_string(),
        timeout,
        last_error,
    })
}

/// Server-side applies a CustomResourceDefinition given as YAML and waits until it is Established.
pub async fn apply_crd_yaml(
    client: &Client,
    yaml: &str,
    timeout: Duration,
) -> Result<CustomResourceDefinition> {
    let crd: CustomResourceDefinition =
        serde_saphyr::from_str(yaml).map_err(|e| Error::CrdYaml(e.to_string()))?;
    apply_crd(client, &crd, timeout).await
}

/// Server-side applies a CustomResourceDefinition and waits until it is Established.
pub async fn apply_crd(
    client: &Client,
    crd: &CustomResourceDefinition,
    timeout: Duration,
) -> Result<CustomResourceDefinition> {
    let name = crd
        .metadata
        .name
        .clone()
        .ok_or_else(|| Error::CrdYaml("metadata.name is missing".into()))?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crd = crd.clone();
    crd.metadata.managed_fields = None;
    crd.metadata.resource_version = None;
    crd.status = None;
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .map_err(|e| Error::kube(format!("apply CustomResourceDefinition {name}"), e))?;
    await_crd_established(client, &name, timeout).await
}

/// Waits until the CustomResourceDefinition `name` has condition Established=True.
pub async fn await_crd_established(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<CustomResourceDefinition> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    await_object(
        api,
        name,
        format!("CustomResourceDefinition {name} to be Established"),
        timeout,
        conditions::is_crd_established(),
    )
    .await
}
