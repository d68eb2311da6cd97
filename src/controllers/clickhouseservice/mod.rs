//! The ClickHouseService reconciler, on the shared core: finalizer → credentials → desired password →
//! observe (shared per-organization list) → decide (pure) → act → connection Secret → status (server-side
//! apply, one field manager).
//!
//! Crash-safe create: the intent (name, time) is written to status before `POST /services`, and the service
//! carries the tag `clouddb.dev-uid=<metadata.uid>`. When the answer is lost (or the process dies), the next
//! reconcile finds the service by name and tag instead of creating a second one; since the generated password
//! came only in the lost answer, it sets a new password through the password endpoint.
//!
//! Deletion (policy `Delete`): stop the service, wait for `stopped`, `DELETE` (409 while it is not deletable
//! yet: retried), then wait until the service is gone (404).

pub mod decide;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use secrecy::{ExposeSecret, SecretString};

use self::decide::{Decision, Flags, Step};
use super::core::{self, Failure, Outcome, ReconcileError};
use crate::api::clickhouseservice::{
    ClickHouseService, ClickHouseServiceStatus, ServiceCreateIntent,
};
use crate::cloud::CloudError;
use crate::conditions::{AVAILABLE, Desired, READY, RECONCILING, STALLED};
use crate::providers::clickhouse::ClickHouseClient;
use crate::providers::clickhouse::models::{Command, Service};
use crate::providers::clickhouse::translate;

pub const KIND: &str = "ClickHouseService";
const CRD_NAME: &str = "clickhouseservices.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, AVAILABLE, RECONCILING, STALLED];
/// Shortest password accepted from `spec.password`.
const MIN_PASSWORD_CHARS: usize = 12;

crate::base_reconciler!(
    ClickHouseService,
    Run { service: None },
    default_clickhouse_credentials_ref,
    secrets_read
);

/// One reconcile: the shared [`core::Base`] (object, status, context) plus the service observed.
struct Run<'a> {
    base: core::Base<'a, ClickHouseService>,
    service: Option<Service>,
}

/// The password the service should have.
struct Password {
    value: Option<SecretString>,
    /// The service exists and its password must be set to `value`.
    differs: bool,
}

impl Run<'_> {
    // ---- apply ------------------------------------------------------------------------------------------

    /// Whether the cloud id is known (else the status is re-read before anything could create).
    fn cloud_id_known(&self) -> bool {
        self.status.service_id.is_some()
    }

    async fn apply_inner(&mut self) -> Result<Outcome, Failure> {
        let credentials = self.obj.spec.credentials.as_ref();
        let client = match self.ctx.clickhouse_client(self.ns, credentials).await? {
            Err(problem) => return Ok(problem),
            Ok(c) => c,
        };
        let observe_only = self.obj.observe_only();
        let password = match self.desired_password().await? {
            Ok(p) => p,
            Err(outcome) => return Ok(outcome),
        };
        if let Some(outcome) = self.observe(&client).await? {
            return Ok(outcome);
        }
        // A service found again after a lost create answer (or whose connection Secret lost the password)
        // gets a fresh password: the generated one is unknown.
        let password = match password {
            Password { value: None, .. }
                if self.service.is_some() && self.status_owned() && !observe_only =>
            {
                Password {
                    value: Some(core::generate_password()),
                    differs: true,
                }
            }
            p => p,
        };
        let name = self.obj.effective_name();
        let observed = self.service.as_ref().map(translate::observed);
        let flags = Flags {
            password_differs: password.differs && self.service.is_some(),
            observe_only,
        };
        let decision = decide::decide(&self.obj.spec, &name, observed.as_ref(), flags);
        tracing::debug!(object = %self.key, ?decision, "decided");
        match decision {
            Decision::Create => self.create(&client, &name).await,
            Decision::Wait { state } => {
                if !flags.password_differs {
                    self.write_connection_secret(password.value.as_ref())
                        .await?;
                }
                Ok(self.progressing(
                    wait_reason(&state),
                    format!("waiting for the service to leave state {state}"),
                ))
            }
            Decision::Act { steps } => match self.service.clone() {
                Some(service) => self.act(&client, (service, steps), password.value).await,
                None => Err(Failure::Internal("no observed service to act on")),
            },
            Decision::Differs { steps } => Ok(core::observing(
                &steps.iter().map(Step::describe).collect::<Vec<_>>(),
            )),
            Decision::Converged if observe_only => Ok(core::observing(&[])),
            Decision::Converged => {
                self.write_connection_secret(password.value.as_ref())
                    .await?;
                let status = &self.status;
                let ready = format!(
                    "service {} is {} and matches the spec",
                    status.service_id.as_deref().unwrap_or_default(),
                    status.state.as_deref().unwrap_or_default()
                );
                let resting = self.obj.spec.stopped;
                Ok(core::converged(
                    resting.then_some(("Stopped", "the service is stopped as requested")),
                    ready,
                ))
            }
        }
    }

    /// Whether this resource created (or already manages) the service, as opposed to adopting it by
    /// `spec.serviceId` (an adopted service keeps its password unless `spec.password` says otherwise).
    fn status_owned(&self) -> bool {
        self.obj.spec.service_id.is_none()
    }

    /// Reads the cloud service into `self.service` (by id, or by the recorded create intent).
    async fn observe(&mut self, client: &ClickHouseClient) -> Result<Option<Outcome>, Failure> {
        let adopted = self.obj.spec.service_id.clone().filter(|s| !s.is_empty());
        let status_id = self.status.service_id.as_ref();
        let conflict = core::Base::<ClickHouseService>::adoption_conflict(
            adopted.as_ref(),
            status_id,
            "serviceId",
            "service",
        );
        if conflict.is_some() {
            return Ok(conflict);
        }
        if let Some(id) = self.status.service_id.clone().or(adopted.clone()) {
            let found = self
                .ctx
                .clickhouse_observer
                .service(client, &id)
                .await
                .map_err(|e| Failure::cloud(e, "read the service"))?;
            let Some(s) = found else {
                if adopted.as_deref() == Some(id.as_str()) {
                    return Ok(Some(Outcome::Stalled {
                        reason: "ServiceNotFound",
                        message: format!(
                            "service {id} named in spec.serviceId does not exist (or is not visible to these credentials); correct spec.serviceId"
                        ),
                        requeue: Some(self.ctx.config.poll_steady),
                    }));
                }
                self.event(
                    EventType::Warning,
                    "ServiceGone",
                    "Observe",
                    format!("service {id} no longer exists in ClickHouse Cloud; a new one will be created"),
                )
                .await;
                self.status = ClickHouseServiceStatus {
                    conditions: std::mem::take(&mut self.status.conditions),
                    observed_generation: self.status.observed_generation,
                    ..Default::default()
                };
                self.persist_status().await?;
                return Ok(None);
            };
            let expected = (
                self.obj.spec.provider.as_str(),
                self.obj.spec.region.as_str(),
            );
            if (s.provider.as_str(), s.region.as_str()) != expected {
                return Ok(Some(Outcome::Stalled {
                    reason: "Conflict",
                    message: format!(
                        "service {id} runs on {}/{} but the spec asks for {}/{}; correct the spec",
                        s.provider, s.region, expected.0, expected.1
                    ),
                    requeue: None,
                }));
            }
            self.adopted(self.status.service_id.is_none(), "service", &id, &s.name)
                .await;
            self.record(&s);
            self.service = Some(s);
            return Ok(None);
        }
        // No id: was a create attempted whose answer we never saw?
        if let Some(intent) = self.status.create_intent.clone()
            && let Some(s) = self.find_created(client, &intent.name).await?
        {
            let note = format!(
                "found service {} created by an earlier attempt; adopting it (and setting a new password) instead of creating another",
                s.id
            );
            self.event(EventType::Normal, "Adopted", "Create", note)
                .await;
            self.record(&s);
            self.service = Some(s);
            self.persist_status().await?;
        }
        Ok(None)
    }

    fn record(&mut self, s: &Service) {
        self.status.service_id = Some(s.id.clone());
        self.status.state = Some(s.state.clone());
        self.status.clickhouse_version = s.clickhouse_version.clone().filter(|v| !v.is_empty());
        self.status.name = Some(s.name.clone());
        self.status.endpoints = translate::endpoints(s);
        self.status.scaling = Some(translate::effective_scaling(s));
        self.status.create_intent = None;
    }

    /// The service created for this resource under a create intent for `name`: that name, tagged with our
    /// UID (the oldest, should there be several).
    async fn find_created(
        &self,
        client: &ClickHouseClient,
        name: &str,
    ) -> Result<Option<Service>, Failure> {
        let uid = self.obj.uid().unwrap_or_default();
        let services = self
            .ctx
            .clickhouse_observer
            .services(client, true)
            .await
            .map_err(|e| Failure::cloud(e, "list services to find an earlier create"))?;
        let mut candidates: Vec<&Service> = services
            .iter()
            .filter(|s| s.name == name && translate::tagged_with_uid(s, &uid))
            .filter(|s| {
                !matches!(
                    s.state.as_str(),
                    "terminating" | "terminated" | "softdeleting" | "softdeleted"
                )
            })
            .collect();
        candidates.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        if candidates.len() > 1 {
            tracing::warn!(object = %self.key, count = candidates.len(), "several services match the create intent; adopting the oldest");
        }
        Ok(candidates.first().map(|s| (*s).clone()))
    }

    async fn create(&mut self, client: &ClickHouseClient, name: &str) -> Result<Outcome, Failure> {
        let uid = self.obj.uid().ok_or(Failure::Internal(
            "object has no uid to tag the service with",
        ))?;
        // Record the intent first: after a crash or a lost answer, the next reconcile looks before creating.
        let started_at = core::intent_started_at(
            self.status
                .create_intent
                .as_ref()
                .map(|i| i.started_at.as_str()),
        );
        self.status.create_intent = Some(ServiceCreateIntent {
            name: name.to_string(),
            started_at,
        });
        self.persist_creating("creating the service in ClickHouse Cloud")
            .await?;
        let req = translate::create_request(&self.obj.spec, name, &uid);
        let created = client
            .create_service(&req)
            .await
            .map_err(|e| Failure::cloud(e, "create the service"))?;
        let service = created.service;
        self.ctx.clickhouse_observer.wrote(&service.id);
        self.record(&service);
        // The generated password comes only in this answer: into the connection Secret at once.
        self.write_connection_secret(created.password.as_ref())
            .await?;
        self.persist_status().await?;
        let note = format!(
            "creating service {} ({name}) on {}/{}",
            service.id, service.provider, service.region
        );
        self.event(EventType::Normal, "Created", "Create", note)
            .await;
        self.service = Some(service);
        Ok(self.progressing("Creating", "the service is being provisioned".into()))
    }

    /// Does `steps[0]` to `service` (the rest follows in later reconciles).
    async fn act(
        &mut self,
        client: &ClickHouseClient,
        (service, steps): (Service, Vec<Step>),
        password: Option<SecretString>,
    ) -> Result<Outcome, Failure> {
        let id = service.id.clone();
        let observer = &self.ctx.clickhouse_observer;
        // Recorded before the call: a list taken while the write is in flight must not answer for it.
        observer.wrote(&id);
        // This generation converged before: whatever differs now was changed outside Kubernetes.
        let drift = self.status.observed_generation == self.obj.metadata.generation;
        let step = &steps[0];
        let description = step.describe();
        let then: Vec<&str> = steps[1..].iter().map(Step::verb).collect();
        let result = match step {
            Step::Update(change) => client
                .update_service(&id, &translate::patch_request(change))
                .await
                .map(Some),
            Step::Scale(change) => client
                .update_replica_scaling(&id, &translate::scaling_request(change))
                .await
                .map(Some),
            Step::Stop => client.set_state(&id, Command::Stop).await.map(Some),
            Step::Start => client.set_state(&id, Command::Start).await.map(Some),
            Step::SetPassword => {
                let Some(pw) = password.as_ref() else {
                    return Err(Failure::Internal("no password to set"));
                };
                client.set_password(&id, pw).await.map(|()| None)
            }
        };
        observer.wrote(&id);
        let updated = match result {
            Ok(u) => u,
            // An idle service refuses some changes until it is awake (424): wake it and try again.
            Err(CloudError::FailedPrecondition { status: 424, .. })
                if service.state == decide::IDLE =>
            {
                client
                    .set_state(&id, Command::Awake)
                    .await
                    .map_err(|e| Failure::cloud(e, "wake the idle service"))?;
                return Ok(self.progressing(
                    "Waking",
                    format!("waking the idle service to {description}"),
                ));
            }
            Err(e) => return Err(Failure::cloud(e, &description)),
        };
        let (reason, event_reason) = match step {
            Step::Update(_) | Step::Scale(_) => (
                "Updating",
                if drift { "DriftCorrected" } else { "Updating" },
            ),
            Step::SetPassword => ("SettingPassword", "PasswordSet"),
            Step::Stop => ("Stopping", "Stopping"),
            Step::Start => ("Starting", "Starting"),
        };
        if matches!(step, Step::SetPassword) {
            self.write_connection_secret(password.as_ref()).await?;
        }
        let note = match event_reason {
            "DriftCorrected" => format!(
                "the service was changed outside Kubernetes; restoring the spec: {description}"
            ),
            "PasswordSet" => {
                "the service's password was set; the connection Secret holds it".to_string()
            }
            _ => description.clone(),
        };
        let type_ = if event_reason == "DriftCorrected" {
            EventType::Warning
        } else {
            EventType::Normal
        };
        self.event(type_, event_reason, step.verb(), note).await;
        if let Some(s) = updated {
            self.record(&s);
            self.service = Some(s);
        }
        let message = if then.is_empty() {
            description
        } else {
            format!("{description} (then {})", then.join(", "))
        };
        Ok(self.progressing(reason, message))
    }

    // ---- passwords and the connection Secret ----------------------------------------------------------

    fn secret(&self) -> core::ConnectionSecret<'_, ClickHouseService> {
        self.connection(self.obj.connection_secret_name())
    }

    async fn desired_password(&self) -> Result<Result<Password, Outcome>, Failure> {
        let current = self
            .secret()
            .get()
            .await?
            .as_ref()
            .and_then(|s| core::value_of(s, "password"));
        let Some(r) = &self.obj.spec.password else {
            return Ok(Ok(Password {
                value: current,
                differs: false,
            }));
        };
        let value = match self.password_from(&r.secret_ref, "spec.password").await? {
            Err(stalled) => return Ok(Err(stalled)),
            Ok(v) => v,
        };
        let len = value.expose_secret().chars().count();
        if len < MIN_PASSWORD_CHARS {
            return Ok(Err(Outcome::Stalled {
                reason: "InvalidSpec",
                message: format!(
                    "spec.password: the value in Secret {} key {:?} must have at least {MIN_PASSWORD_CHARS} characters (it has {len})",
                    r.secret_ref.name, r.secret_ref.key
                ),
                requeue: None,
            }));
        }
        let differs = current
            .as_ref()
            .is_none_or(|c| c.expose_secret() != value.expose_secret());
        Ok(Ok(Password {
            value: Some(value),
            differs,
        }))
    }

    /// Writes the connection Secret: user `default`, the password, and per endpoint `host-<protocol>`,
    /// `port-<protocol>` and `uri-<protocol>`; `host`, `port` and `uri` name the HTTPS endpoint.
    async fn write_connection_secret(
        &self,
        password: Option<&SecretString>,
    ) -> Result<(), Failure> {
        let mut data = core::SecretData::default();
        data.put("username", translate::USERNAME);
        let pw = password.map(|p| p.expose_secret().to_string());
        if let Some(pw) = &pw {
            data.put("password", pw);
        }
        for e in &self.status.endpoints {
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
        match self.obj.observe_only() {
            true => Ok(()),
            false => self.secret().write(data.0).await,
        }
    }

    // ---- deletion -------------------------------------------------------------------------------------

    /// `Ok(None)` = done, the finalizer may go.
    async fn cleanup_inner(&mut self) -> Result<Option<Outcome>, Failure> {
        let spec = &self.obj.spec;
        let id = self.status.service_id.clone().or(spec.service_id.clone());
        let pending = self.status.create_intent.is_some();
        let preamble = self
            .base
            .deletion_preamble(core::Deletion {
                noun: "service",
                cloud: "ClickHouse Cloud",
                id: id.as_deref(),
                create_pending: pending,
                policy: spec.deletion_policy.as_ref(),
                protected: spec.deletion_protection,
                observe_only: self.obj.observe_only(),
                connection: self.obj.connection_secret_name(),
            })
            .await?;
        if let Some(done) = preamble {
            return Ok(done);
        }
        let credentials = self.obj.spec.credentials.as_ref();
        let client = match self.ctx.clickhouse_client(self.ns, credentials).await? {
            Err(problem) => return Ok(Some(problem)),
            Ok(c) => c,
        };
        let service = match id {
            Some(id) => self
                .ctx
                .clickhouse_observer
                .service(&client, &id)
                .await
                .map_err(|e| Failure::cloud(e, "read the service before deleting it"))?,
            None => match self.status.create_intent.clone() {
                Some(intent) => self.find_created(&client, &intent.name).await?,
                None => None,
            },
        };
        let Some(service) = service else {
            return self.gone("service").await;
        };
        self.record(&service);
        let id = service.id.clone();
        let observer = &self.ctx.clickhouse_observer;
        let (reason, message) = match service.state.as_str() {
            // Started: stop first (a running service cannot be deleted).
            "running" | "idle" | "partially_running" | "degraded" => {
                observer.wrote(&id);
                let stopped = client.set_state(&id, Command::Stop).await;
                observer.wrote(&id);
                match stopped {
                    Ok(s) => self.record(&s),
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(Failure::cloud(e, "stop the service before deleting it")),
                }
                self.event(
                    EventType::Normal,
                    "Stopping",
                    "Delete",
                    format!("stopping service {id} before deleting it"),
                )
                .await;
                ("Stopping", "stopping the service before deleting it")
            }
            "stopped" | "failed" => {
                observer.wrote(&id);
                let deleted = client.delete_service(&id).await;
                observer.wrote(&id);
                match deleted {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => return Ok(None),
                    // 409: not deletable yet (the API may say so for a while after `stopped`): retry.
                    Err(e @ CloudError::FailedPrecondition { .. }) => {
                        tracing::debug!(object = %self.key, error = %e, "delete refused for now; retrying");
                        return Ok(Some(Outcome::Progressing {
                            reason: "Deleting",
                            message: format!(
                                "ClickHouse Cloud refused the deletion for now ({e}); retrying"
                            ),
                            requeue: self.ctx.config.poll_transitional,
                        }));
                    }
                    Err(e) => return Err(Failure::cloud(e, "delete the service")),
                }
                self.event(
                    EventType::Normal,
                    "Deleting",
                    "Delete",
                    format!("deleting service {id}"),
                )
                .await;
                (
                    "Deleting",
                    "waiting for ClickHouse Cloud to delete the service",
                )
            }
            // stopping, starting, provisioning, awaking, terminating...: wait.
            _ => ("Deleting", "waiting for the service to stop or disappear"),
        };
        Ok(Some(self.progressing(reason, message.to_string())))
    }

    // ---- status ---------------------------------------------------------------------------------------

    async fn finish(&mut self, outcome: Outcome) -> Result<Action, ReconcileError> {
        let extra: Vec<Desired> = self.available().into_iter().collect();
        self.base.finish(outcome, extra).await
    }

    /// `Available`: the service serves queries (`running`, or `idle`, which wakes on the first query).
    fn available(&self) -> Option<Desired> {
        let state = self.status.state.as_deref()?;
        let serving = decide::is_started(state);
        Some(Desired::new(
            AVAILABLE,
            serving.into(),
            if serving { "Available" } else { "NotAvailable" },
            format!("service state is {state}"),
        ))
    }
}

/// The Secrets a ClickHouseService reads besides the default credentials: its password and its credentials.
fn secrets_read(o: &ClickHouseService) -> Vec<String> {
    let spec = &o.spec;
    let mut names = Vec::with_capacity(2);
    names.extend(spec.password.as_ref().map(|p| p.secret_ref.name.clone()));
    names.extend(spec.credentials.as_ref().map(|c| c.secret_ref.name.clone()));
    names
}

fn wait_reason(state: &str) -> &'static str {
    match state {
        "provisioning" => "Creating",
        "starting" | "awaking" => "Starting",
        "stopping" => "Stopping",
        "terminating" | "softdeleting" => "Deleting",
        "NotFound" => "NotFound",
        _ => "Progressing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_reasons_name_the_transition() {
        assert_eq!(wait_reason("provisioning"), "Creating");
        assert_eq!(wait_reason("awaking"), "Starting");
        assert_eq!(wait_reason("degraded"), "Progressing");
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
