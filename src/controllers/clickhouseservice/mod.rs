//! ClickHouseService on the one driver (`driver.rs`): how to connect, read (the shared per-organization
//! services list), recognise what a lost create made (name + the `clouddb.dev-uid` tag), converge (desired
//! password → pure `decide` → one step → connection Secret), create and delete a ClickHouse Cloud service.
//!
//! Crash-safe create: the driver writes the intent (name, time) to status before `POST /services`, and the
//! service carries the tag `clouddb.dev-uid=<metadata.uid>`. When the answer is lost (or the process dies), the
//! next reconcile finds the service by name and tag instead of creating a second one; since the generated
//! password came only in the lost answer, a new one is set through the password endpoint.
//!
//! Deletion (policy `Delete`) is sequenced by the pure [`decide::deletion_step`]: stop the service, wait for
//! `stopped`, `DELETE` (409 while it is not deletable yet: retried), then wait until it is gone (404).

pub mod decide;

use kube::ResourceExt;
use kube::runtime::events::EventType;
use secrecy::{ExposeSecret, SecretString};

use self::decide::{Decision, DeletionStep, Flags, Step};
use super::core::{self, Base, Failure, Outcome};
use super::decision::{Plan, Seen};
use super::driver::{self, CloudKind, Flow, Next, OnGone, Policy, Stop};
use super::ownership::CloudIdKind;
use crate::api::clickhouseservice::{
    ClickHouseService, ClickHouseServiceStatus, ServiceCreateIntent,
};
use crate::api::common::CloudResourceGonePolicy;
use crate::cloud::CloudError;
use crate::conditions::{AVAILABLE, Desired, READY, RECONCILING, STALLED};
use crate::config::RunConfig;
use crate::providers::clickhouse::ClickHouseClient;
use crate::providers::clickhouse::models::{Command, Service};
use crate::providers::clickhouse::translate;
use crate::reasons;

pub const KIND: &str = "ClickHouseService";
const CRD_NAME: &str = "clickhouseservices.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, AVAILABLE, RECONCILING, STALLED];
/// Shortest password accepted from `spec.password`.
const MIN_PASSWORD_CHARS: usize = 12;

/// The controller of the scope of `api`, with the scope's `shared` watches.
pub fn run(
    ctx: std::sync::Arc<super::Context>,
    api: kube::api::Api<ClickHouseService>,
    shared: &super::watch::Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> futures::future::BoxFuture<'static, ()> {
    driver::run::<ClickHouseService>(
        ctx,
        super::core::Primary::Own(Box::new(api)),
        shared,
        shutdown,
    )
}

type Run<'a> = Base<'a, ClickHouseService>;

/// The password the service should have.
struct Password {
    value: Option<SecretString>,
    /// The service exists and its password must be set to `value`.
    differs: bool,
}

impl CloudKind for ClickHouseService {
    type State = ClickHouseServiceStatus;
    type Client = ClickHouseClient;
    type Remote = Service;
    type Intent = ServiceCreateIntent;
    type CreateArgs = ();

    const KIND: &'static str = KIND;
    const CRD_NAME: &'static str = CRD_NAME;
    const MANAGED: &'static [&'static str] = MANAGED_CONDITIONS;
    const NOUN: &'static str = "service";
    const CLOUD: &'static str = "ClickHouse Cloud";
    const ADOPT_FIELD: Option<&'static str> = Some("serviceId");
    const ID_KIND: CloudIdKind = CloudIdKind::ClickHouseService;
    const NAMESPACE_CREDENTIALS: Option<&'static str> =
        Some(crate::api::common::CLICKHOUSE_NAMESPACE_CREDENTIALS);

    fn spec_id(&self) -> Option<&str> {
        self.spec.service_id.as_deref()
    }
    fn status_id(status: &Self::State) -> Option<&str> {
        status.service_id.as_deref()
    }
    fn intent(status: &Self::State) -> Option<&ServiceCreateIntent> {
        status.create_intent.as_ref()
    }
    fn set_intent(status: &mut Self::State, intent: ServiceCreateIntent) {
        status.create_intent = Some(intent);
    }
    fn remote_id(s: &Service) -> &str {
        &s.id
    }
    fn record(status: &mut Self::State, s: &Service) {
        status.service_id = Some(s.id.clone());
        status.state = Some(s.state.clone());
        status.clickhouse_version = s.clickhouse_version.clone().filter(|v| !v.is_empty());
        status.name = Some(s.name.clone());
        status.endpoints = translate::endpoints(s);
        status.scaling = Some(translate::effective_scaling(s));
        status.private_endpoint_ids = s.private_endpoint_ids.clone();
        status.create_intent = None;
    }
    fn forget(status: &mut Self::State) {
        *status = ClickHouseServiceStatus {
            conditions: std::mem::take(&mut status.conditions),
            observed_generation: status.observed_generation,
            ..Default::default()
        };
    }
    fn policy(&self) -> Policy {
        Policy {
            deletion: self.spec.deletion_policy,
            protected: self.spec.deletion_protection,
            on_gone: match self.spec.on_cloud_resource_gone.unwrap_or_default() {
                CloudResourceGonePolicy::Report => OnGone::Report,
                CloudResourceGonePolicy::Recreate => OnGone::Recreate,
            },
        }
    }
    fn drift_policy(&self) -> crate::api::common::DriftPolicy {
        self.spec.drift_policy.unwrap_or_default()
    }
    fn connection_secret_name(&self) -> Option<String> {
        Some(ClickHouseService::connection_secret_name(self))
    }
    fn default_credentials(config: &RunConfig) -> (String, String) {
        config.default_clickhouse_credentials_ref()
    }
    fn credentials_secret(&self) -> Option<&str> {
        self.spec
            .credentials
            .as_ref()
            .map(|c| c.secret_ref.name.as_str())
    }
    /// Its password and its credentials.
    fn secrets_read(&self) -> Vec<String> {
        let spec = &self.spec;
        let mut names = Vec::with_capacity(2);
        names.extend(spec.password.as_ref().map(|p| p.secret_ref.name.clone()));
        names.extend(spec.credentials.as_ref().map(|c| c.secret_ref.name.clone()));
        names
    }
    fn identity_conflict(&self, s: &Service) -> Option<String> {
        let expected = (self.spec.provider.as_str(), self.spec.region.as_str());
        ((s.provider.as_str(), s.region.as_str()) != expected).then(|| {
            format!(
                "service {} runs on {}/{} but the spec asks for {}/{}; correct the spec",
                s.id, s.provider, s.region, expected.0, expected.1
            )
        })
    }
    /// That name, tagged with our UID, not being deleted.
    fn made_by(&self, intent: &ServiceCreateIntent, s: &Service, _key_id: &str) -> bool {
        s.name == intent.name
            && translate::tagged_with_uid(s, &self.uid().unwrap_or_default())
            && !matches!(
                s.state.as_str(),
                "terminating" | "terminated" | "softdeleting" | "softdeleted"
            )
    }

    async fn connect(run: &Run<'_>) -> Flow<ClickHouseClient> {
        let credentials = run.obj.spec.credentials.as_ref();
        run.ctx
            .connect(&run.ctx.providers.clickhouse, run.ns, credentials)
            .await?
            .map_err(Stop::Report)
    }
    fn key_id(client: &ClickHouseClient) -> String {
        client.key_id().to_string()
    }
    async fn read(
        run: &Run<'_>,
        client: &ClickHouseClient,
        id: &str,
    ) -> Result<Option<Service>, CloudError> {
        run.ctx
            .providers
            .clickhouse
            .observer
            .service(client, id)
            .await
    }
    async fn candidates(
        run: &Run<'_>,
        client: &ClickHouseClient,
        intent: &ServiceCreateIntent,
    ) -> Result<Vec<Service>, CloudError> {
        let observer = &run.ctx.providers.clickhouse.observer;
        let all = observer.services(client, true).await?;
        Ok(all
            .iter()
            .filter(|s| s.name == intent.name)
            .cloned()
            .collect())
    }
    async fn converge(
        run: &mut Run<'_>,
        client: &ClickHouseClient,
        service: Option<Service>,
    ) -> Flow<Next<Self>> {
        converge(run, client, service).await
    }
    async fn create(run: &mut Run<'_>, client: &ClickHouseClient, (): ()) -> Flow<Service> {
        let uid = run.obj.uid().ok_or(Stop::Fail(Failure::Internal(
            "object has no uid to tag the service with",
        )))?;
        let name = run.obj.effective_name();
        let req = translate::create_request(&run.obj.spec, &name, &uid);
        let created = run
            .ctx
            .providers
            .clickhouse
            .session(client)
            .create_service(&req)
            .await
            .map_err(driver::cloud("create the service"))?;
        let service = created.service;
        Self::record(&mut run.status, &service);
        // The generated password comes only in this answer: into the connection Secret at once.
        write_connection_secret(run, created.password.as_ref()).await?;
        Ok(service)
    }
    async fn delete(
        run: &mut Run<'_>,
        client: &ClickHouseClient,
        service: Service,
    ) -> Flow<Option<Outcome>> {
        delete(run, client, service).await
    }
    fn before_finish(run: &mut Run<'_>, _outcome: &Outcome) -> Vec<Desired> {
        available(&run.status).into_iter().collect()
    }
}

async fn converge(
    run: &mut Run<'_>,
    client: &ClickHouseClient,
    service: Option<Service>,
) -> Flow<Next<ClickHouseService>> {
    // Observe-only, or writes held back by the driver (adoption review, drift report, plan).
    // A create is still decided under a plan (it shows it; the driver never makes it there).
    let observe_only = match service {
        Some(_) => run.writes_held(),
        None => run.obj.observe_only(),
    };
    let password = desired_password(run).await?;
    // A service found again after a lost create answer (or whose connection Secret lost the password) gets a
    // fresh password: the generated one is unknown. An adopted service keeps its own.
    let password = match password {
        Password { value: None, .. }
            if service.is_some() && run.obj.spec.service_id.is_none() && !observe_only =>
        {
            Password {
                value: Some(core::generate_password()),
                differs: true,
            }
        }
        p => p,
    };
    let name = run.obj.effective_name();
    let flags = Flags {
        password_differs: password.differs && service.is_some(),
        observe_only,
    };
    let seen = match service {
        Some(s) => {
            let mut view = translate::observed(&s);
            read_extras(run, client, &s, &mut view).await?;
            Some(Seen { view, remote: s })
        }
        None => None,
    };
    let decision = decide::decide(&run.obj.spec, &name, seen, flags);
    tracing::debug!(object = %run.key, ?decision, "decided");
    let outcome = match decision {
        Decision::Create => {
            let started_at = core::intent_started_at(
                run.status
                    .create_intent
                    .as_ref()
                    .map(|i| i.started_at.as_str()),
            );
            return Ok(Next::Create(ServiceCreateIntent { name, started_at }, ()));
        }
        Decision::Wait { state } => {
            if !flags.password_differs {
                write_connection_secret(run, password.value.as_ref()).await?;
            }
            run.progressing(
                wait_reason(&state),
                format!("waiting for the service to leave state {state}"),
            )
        }
        Decision::Act { plan, on } => act(run, client, on.remote, plan, password.value).await?,
        Decision::Differs { plan, .. } => run.observing(plan.iter().map(Step::describe).collect()),
        Decision::Converged if run.obj.observe_only() => core::observing(&[]),
        Decision::Converged => {
            write_connection_secret(run, password.value.as_ref()).await?;
            let status = &run.status;
            let ready = format!(
                "service {} is {} and matches the spec",
                status.service_id.as_deref().unwrap_or_default(),
                status.state.as_deref().unwrap_or_default()
            );
            let resting = run.obj.spec.stopped;
            core::converged(
                resting.then_some((reasons::STOPPED, "the service is stopped as requested")),
                ready,
            )
        }
    };
    Ok(Next::Done(outcome))
}

/// Reads what the services list does not carry, only for the fields the spec sets (one GET each, and none
/// while the service is in a transitional state, when nothing is decided anyway), into `view` and status:
/// - `privateEndpointConfig`, once: it does not change, so it is kept in status while the field is set;
/// - `backupConfiguration`, every reconcile while the field is set (to see drift);
/// - `serviceQueryEndpoint`, every reconcile while the field is set, and while status still records one the
///   operator applied after the field was removed (so that it can be deleted).
async fn read_extras(
    run: &mut Run<'_>,
    client: &ClickHouseClient,
    service: &Service,
    view: &mut decide::Observed,
) -> Flow<()> {
    let spec = &run.obj.spec;
    let id = service.id.as_str();
    let settled = decide::is_started(&service.state) || service.state == decide::STOPPED;
    if spec.private_endpoint_ids.is_none() {
        run.status.private_endpoint_config = None;
    } else if settled && run.status.private_endpoint_config.is_none() {
        let c = client
            .get_private_endpoint_config(id)
            .await
            .map_err(driver::cloud("read the private endpoint configuration"))?;
        run.status.private_endpoint_config = Some(translate::private_endpoint_config(&c));
    }
    if spec.backup_configuration.is_none() {
        run.status.backup_configuration = None;
    } else if settled {
        let b = client
            .get_backup_configuration(id)
            .await
            .map_err(driver::cloud("read the backup configuration"))?;
        let settings = translate::backup_settings(&b);
        run.status.backup_configuration = Some(translate::backup_status(&settings));
        view.backup = Some(settings);
    }
    let query_endpoint_wanted =
        spec.query_api_endpoints.is_some() || run.status.query_api_endpoint.is_some();
    if settled && query_endpoint_wanted {
        let e = client
            .get_query_endpoint(id)
            .await
            .map_err(driver::cloud("read the query API endpoint"))?;
        run.status.query_api_endpoint = e.as_ref().map(translate::query_endpoint_status);
        view.query_endpoint = Some(e.as_ref().map(translate::query_endpoint));
    }
    Ok(())
}

/// Does `plan.now` to `service` (the rest follows in later reconciles).
async fn act(
    run: &mut Run<'_>,
    client: &ClickHouseClient,
    service: Service,
    plan: Plan<Step>,
    password: Option<SecretString>,
) -> Flow<Outcome> {
    let id = service.id.clone();
    // Each write is recorded before the call (a list taken while it is in flight must not answer for it) and
    // after it, whatever its result.
    let session = run.ctx.providers.clickhouse.session(client);
    // This generation converged before: whatever differs now was changed outside Kubernetes.
    let drift = run.status.observed_generation == run.obj.metadata.generation;
    let step = &plan.now;
    let description = step.describe();
    let then: Vec<&str> = plan.then.iter().map(Step::verb).collect();
    if let Step::CreateQueryEndpoint(q) | Step::ReplaceQueryEndpoint(q) = step {
        check_api_keys(client, q).await?;
    }
    let result = match step {
        Step::Update(change) => session
            .update_service(&id, &translate::patch_request(change))
            .await
            .map(Some),
        Step::PrivateEndpoints(change) => session
            .update_service(&id, &translate::endpoint_ids_request(change))
            .await
            .map(Some),
        // The sub-resources are not in the services list: their writes need no list bookkeeping.
        Step::Backup(change) => client
            .update_backup_configuration(&id, &translate::backup_request(change))
            .await
            .map(|b| {
                let settings = translate::backup_settings(&b);
                run.status.backup_configuration = Some(translate::backup_status(&settings));
                None
            }),
        Step::CreateQueryEndpoint(q) | Step::ReplaceQueryEndpoint(q) => client
            .upsert_query_endpoint(&id, &translate::query_endpoint_request(q))
            .await
            .map(|e| {
                run.status.query_api_endpoint = Some(translate::query_endpoint_status(&e));
                None
            }),
        Step::DeleteQueryEndpoint => client.delete_query_endpoint(&id).await.map(|()| {
            run.status.query_api_endpoint = None;
            None
        }),
        Step::Scale(change) => session
            .update_replica_scaling(&id, &translate::scaling_request(change))
            .await
            .map(Some),
        Step::Stop => session.set_state(&id, Command::Stop).await.map(Some),
        Step::Start => session.set_state(&id, Command::Start).await.map(Some),
        Step::SetPassword => {
            let Some(pw) = password.as_ref() else {
                return Err(Stop::Fail(Failure::Internal("no password to set")));
            };
            session.set_password(&id, pw).await.map(|()| None)
        }
    };
    let updated = match result {
        Ok(u) => u,
        // An idle service refuses some changes until it is awake (424): wake it and try again.
        Err(CloudError::FailedPrecondition { status: 424, .. })
            if service.state == decide::IDLE =>
        {
            client
                .set_state(&id, Command::Awake)
                .await
                .map_err(driver::cloud("wake the idle service"))?;
            return Ok(run.progressing(
                reasons::WAKING,
                format!("waking the idle service to {description}"),
            ));
        }
        Err(e) => return Err(Stop::Fail(Failure::cloud(e, &description))),
    };
    let (reason, event_reason) = match step {
        s if s.is_setting() => (
            reasons::UPDATING,
            if drift {
                reasons::DRIFT_CORRECTED
            } else {
                reasons::UPDATING
            },
        ),
        Step::SetPassword => (reasons::SETTING_PASSWORD, reasons::PASSWORD_SET),
        Step::Stop => (reasons::STOPPING, reasons::STOPPING),
        Step::Start => (reasons::STARTING, reasons::STARTING),
        _ => (reasons::UPDATING, reasons::UPDATING),
    };
    if matches!(step, Step::SetPassword) {
        write_connection_secret(run, password.as_ref()).await?;
    }
    let note = match event_reason {
        reasons::DRIFT_CORRECTED => {
            format!("the service was changed outside Kubernetes; restoring the spec: {description}")
        }
        reasons::PASSWORD_SET => {
            "the service's password was set; the connection Secret holds it".to_string()
        }
        _ => description.clone(),
    };
    let type_ = if event_reason == reasons::DRIFT_CORRECTED {
        EventType::Warning
    } else {
        EventType::Normal
    };
    run.event(type_, event_reason, step.verb(), note).await;
    if let Some(s) = updated {
        <ClickHouseService as CloudKind>::record(&mut run.status, &s);
    }
    let message = if then.is_empty() {
        description
    } else {
        format!("{description} (then {})", then.join(", "))
    };
    Ok(run.progressing(reason, message))
}

/// Before a query endpoint upsert: every key id of the spec must be an API key of the organization (one
/// `GET /keys`), else `Stalled` (`InvalidSpec`) without writing.
async fn check_api_keys(client: &ClickHouseClient, q: &decide::QueryEndpoint) -> Flow<()> {
    if q.open_api_keys.is_empty() {
        return Ok(());
    }
    let known = client
        .list_api_key_ids()
        .await
        .map_err(driver::cloud("list the organization's API keys"))?;
    let missing: Vec<&str> = q
        .open_api_keys
        .iter()
        .filter(|k| !known.iter().any(|x| x.eq_ignore_ascii_case(k)))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    driver::report(Outcome::Stalled {
        reason: reasons::INVALID_SPEC,
        message: format!(
            "spec.queryApiEndpoints.openApiKeys: no API key of the organization has the id {} (use the ids GET /organizations/{{id}}/keys lists, not the key id used to log in)",
            missing.join(", ")
        ),
        requeue: None,
    })
}

// ---- passwords and the connection Secret --------------------------------------------------------------

fn secret<'a>(run: &Run<'a>) -> core::ConnectionSecret<'a, ClickHouseService> {
    run.connection(run.obj.connection_secret_name())
}

async fn desired_password(run: &Run<'_>) -> Flow<Password> {
    let current = secret(run)
        .get()
        .await?
        .as_ref()
        .and_then(|s| core::value_of(s, "password"));
    let Some(r) = &run.obj.spec.password else {
        return Ok(Password {
            value: current,
            differs: false,
        });
    };
    let value = run
        .password_from(&r.secret_ref, "spec.password")
        .await?
        .map_err(Stop::Report)?;
    let len = value.expose_secret().chars().count();
    if len < MIN_PASSWORD_CHARS {
        return driver::report(Outcome::Stalled {
            reason: reasons::INVALID_SPEC,
            message: format!(
                "spec.password: the value in Secret {} key {:?} must have at least {MIN_PASSWORD_CHARS} characters (it has {len})",
                r.secret_ref.name, r.secret_ref.key
            ),
            requeue: None,
        });
    }
    let differs = current
        .as_ref()
        .is_none_or(|c| c.expose_secret() != value.expose_secret());
    Ok(Password {
        value: Some(value),
        differs,
    })
}

/// Writes the connection Secret: user `default`, the password, and per endpoint `host-<protocol>`,
/// `port-<protocol>` and `uri-<protocol>`; `host`, `port` and `uri` name the HTTPS endpoint.
async fn write_connection_secret(
    run: &Run<'_>,
    password: Option<&SecretString>,
) -> Result<(), Failure> {
    let mut data = core::SecretData::default();
    data.put("username", translate::USERNAME);
    let pw = password.map(|p| p.expose_secret().to_string());
    if let Some(pw) = &pw {
        data.put("password", pw);
    }
    for e in &run.status.endpoints {
        let uri = translate::uri(e, pw.as_deref());
        data.put(&format!("host-{}", e.protocol), &e.host);
        data.put(&format!("port-{}", e.protocol), &e.port.to_string());
        data.put(&format!("uri-{}", e.protocol), &uri);
        if e.protocol == "https" {
            data.put("host", &e.host);
            data.put("port", &e.port.to_string());
            data.put("uri", &uri);
        }
    }
    match run.obj.observe_only() {
        true => Ok(()),
        false => secret(run).write(data.0).await,
    }
}

// ---- deletion -----------------------------------------------------------------------------------------

/// One step of deleting `service`, as [`decide::deletion_step`] sequences it.
async fn delete(
    run: &mut Run<'_>,
    client: &ClickHouseClient,
    service: Service,
) -> Flow<Option<Outcome>> {
    let id = service.id.clone();
    let session = run.ctx.providers.clickhouse.session(client);
    let (reason, message) = match decide::deletion_step(&service.state) {
        DeletionStep::Stop => {
            match session.set_state(&id, Command::Stop).await {
                Ok(s) => <ClickHouseService as CloudKind>::record(&mut run.status, &s),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(driver::cloud("stop the service before deleting it")(e)),
            }
            let text = format!("stopping service {id} before deleting it");
            run.event(EventType::Normal, reasons::STOPPING, "Delete", text)
                .await;
            (reasons::STOPPING, "stopping the service before deleting it")
        }
        DeletionStep::Delete => {
            match session.delete_service(&id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => return Ok(None),
                // 409: not deletable yet (the API may say so for a while after `stopped`): retry.
                Err(e @ CloudError::FailedPrecondition { .. }) => {
                    tracing::debug!(object = %run.key, error = %e, "delete refused for now; retrying");
                    return Ok(Some(run.progressing(
                        reasons::DELETING,
                        format!("ClickHouse Cloud refused the deletion for now ({e}); retrying"),
                    )));
                }
                Err(e) => return Err(driver::cloud("delete the service")(e)),
            }
            let text = format!("deleting service {id}");
            run.event(EventType::Normal, reasons::DELETING, "Delete", text)
                .await;
            (
                reasons::DELETING,
                "waiting for ClickHouse Cloud to delete the service",
            )
        }
        DeletionStep::Wait => (
            reasons::DELETING,
            "waiting for the service to stop or disappear",
        ),
    };
    Ok(Some(run.progressing(reason, message.to_string())))
}

/// `Available`: the service serves queries (`running`, or `idle`, which wakes on the first query).
fn available(status: &ClickHouseServiceStatus) -> Option<Desired> {
    let state = status.state.as_deref()?;
    let serving = decide::is_started(state);
    Some(Desired::new(
        AVAILABLE,
        serving.into(),
        if serving {
            reasons::AVAILABLE
        } else {
            reasons::NOT_AVAILABLE
        },
        format!("service state is {state}"),
    ))
}

fn wait_reason(state: &str) -> &'static str {
    match state {
        "provisioning" => reasons::CREATING,
        "starting" | "awaking" => reasons::STARTING,
        "stopping" => reasons::STOPPING,
        "terminating" | "softdeleting" => reasons::DELETING,
        "NotFound" => reasons::NOT_FOUND,
        _ => reasons::PROGRESSING,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_reasons_name_the_transition() {
        assert_eq!(wait_reason("provisioning"), reasons::CREATING);
        assert_eq!(wait_reason("awaking"), reasons::STARTING);
        assert_eq!(wait_reason("degraded"), reasons::PROGRESSING);
    }

    #[test]
    fn the_crd_name_matches_the_generated_crd() {
        use kube::CustomResourceExt;
        assert_eq!(
            ClickHouseService::crd().metadata.name.as_deref(),
            Some(CRD_NAME)
        );
    }
}
