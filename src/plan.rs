//! `clouddb-operator plan` (also `kubectl clouddb plan`): what the operator would do with a set of manifests,
//! before they are applied — create, the field diff it would apply, delete, nothing — found by the same
//! observe / `decide` / deletion code the controllers run ([`driver::preview`]), with every write held back.
//!
//! Read-only three times over: the driver holds every write back ([`Hold::Plan`](crate::controllers::core::Hold)),
//! the [`Context`] is a plan context (no status, Event, Secret or finalizer write), and both transports refuse
//! writes: the cloud transport refuses anything but `GET` ([`forbid_writes`]), the Kubernetes client anything
//! but reads and server-side dry-runs ([`ReadOnlyLayer`]).
//!
//! Each manifest is server-side applied with `dryRun=All` to get what the API server would store (schema
//! defaults and validation, the existing status with the cloud id and create intent); an identity that may not
//! patch, or a namespace that does not exist yet, falls back to the manifest as written plus the stored status.
//!
//! Exit codes (like `terraform plan -detailed-exitcode`): 0 no change would be written, 2 changes, 1 errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures::future::BoxFuture;
use kube::api::{Api, Patch, PatchParams};
use secrecy::SecretString;
use serde::Serialize;

use crate::api::clickhouseservice::ClickHouseService;
use crate::api::tidbcloudbranch::TidbCloudBranch;
use crate::api::tidbcloudcluster::TidbCloudCluster;
use crate::api::tidbcloudimport::TidbCloudImport;
use crate::api::tidbcloudintegration::TidbCloudIntegration;
use crate::api::tidbcloudserverlesscluster::TidbCloudServerlessCluster;
use crate::api::tidbcloudsqluser::TidbCloudSqlUser;
use crate::cloud::http::forbid_writes;
use crate::config::RunConfig;
use crate::controllers::driver::{self, CloudKind, Preview};
use crate::controllers::{Context, PlanMode};
use crate::metrics::Metrics;
use crate::providers::Providers;

/// The field manager of the dry-run applies.
const FIELD_MANAGER: &str = "clouddb-plan";

/// `clouddb-operator plan` arguments.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Manifest file or directory (multi-document YAML or JSON; a directory is read recursively for *.yaml,
    /// *.yml and *.json); repeatable; `-` reads standard input.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// The kubeconfig context to read the objects' status and the credentials Secrets from (default: the
    /// current context).
    #[arg(long, conflicts_with = "offline")]
    pub context: Option<String>,
    /// Plan without a Kubernetes cluster: every object as new (the ids of what the operator already created
    /// are in its status, which is unknown here), every Secret as missing, no schema validation. Needs
    /// `--credentials`. For CI against the simulator, or to preview the creates of new manifests.
    #[arg(long)]
    pub offline: bool,
    /// Namespace of manifests that name none (default: the context's namespace).
    #[arg(
        id = "plan_namespace",
        short = 'n',
        long = "namespace",
        value_name = "NAMESPACE"
    )]
    pub namespace: Option<String>,
    /// Output: `text` for people, `json` for CI bots.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Show what deleting the objects would do (deletion policy, protection) instead of applying them.
    #[arg(long)]
    pub destroy: bool,
    /// API key for a provider, instead of the credentials Secrets in the cluster: `<secret-name>=<env-file>`,
    /// where `<secret-name>` is the provider's namespace default (`tidbcloud-credentials`,
    /// `clickhouse-credentials`) and the file holds its keys as `key=value` lines (the format of `kubectl
    /// create secret generic --from-env-file`). Repeatable.
    #[arg(long = "credentials", value_name = "NAME=FILE")]
    pub credentials: Vec<String>,
    /// The operator's settings (API URLs, default credentials Secrets, rate limits) as the operator has them.
    #[command(flatten)]
    pub run: RunConfig,
}

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// Why the plan could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a Kubernetes manifest: {message}")]
    Manifest { path: String, message: String },
    #[error(
        "--credentials {0}: expected <secret-name>=<env-file> with secret-name one of {1} (the keys it needs: {2})"
    )]
    Credentials(String, String, String),
    #[error("--credentials {name}=<file>: cannot read the file: {source}")]
    CredentialsFile {
        name: String,
        source: std::io::Error,
    },
    #[error("--credentials {name}: file {file} has no key {key} (it needs: {keys})")]
    CredentialsKey {
        name: String,
        file: String,
        key: String,
        keys: String,
    },
    #[error(
        "--offline reads no Secret: give every provider's key with --credentials <secret-name>=<env-file>"
    )]
    OfflineWithoutCredentials,
    #[error("cannot reach Kubernetes (kubeconfig context {context}): {source}")]
    Kube {
        context: String,
        source: Box<kube::Error>,
    },
    #[error("Kubernetes configuration: {0}")]
    KubeConfig(String),
    #[error("cloud client configuration: {0}")]
    Cloud(#[from] crate::cloud::CloudError),
}

/// One object of the plan.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The manifest it came from.
    pub source: String,
    #[serde(flatten)]
    pub preview: Preview,
}

/// The whole plan.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub objects: Vec<Entry>,
    /// Manifests of other kinds (Secrets, Namespaces, ...) that were not planned.
    pub skipped: Vec<String>,
    /// What the plan could not check (e.g. a kind it may not list for the ownership check).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub summary: Summary,
}

/// Counts per action.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub create: usize,
    pub change: usize,
    pub delete: usize,
    /// Nothing to write (matches, in progress, retained on delete, paused, held back).
    pub unchanged: usize,
    pub blocked: usize,
    pub errors: usize,
}

impl Report {
    fn count(&mut self) {
        let mut s = Summary::default();
        for e in &self.objects {
            match &e.preview {
                Preview::Create { .. } => s.create += 1,
                Preview::Change { held: None, .. } => s.change += 1,
                Preview::Delete { .. } => s.delete += 1,
                Preview::Blocked { .. } => s.blocked += 1,
                Preview::Error { .. } => s.errors += 1,
                _ => s.unchanged += 1,
            }
        }
        self.summary = s;
    }

    /// 1 when any object could not be planned or would be stopped, else 2 when anything would be written, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.objects.iter().any(|e| e.preview.failed()) {
            1
        } else if self.objects.iter().any(|e| e.preview.writes()) {
            2
        } else {
            0
        }
    }

    /// The plan for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for e in &self.objects {
            let head = format!("{} {}/{}", e.kind, e.namespace, e.name);
            let line = match &e.preview {
                Preview::Create { what } => format!("+ {head}: {what}"),
                Preview::Change { id, changes, held } => {
                    let mut s = match held {
                        None => format!("~ {head}: change {id}:"),
                        Some(why) => format!("= {head}: {id} differs, not written ({why}):"),
                    };
                    for c in changes {
                        s.push_str(&format!("\n    - {c}"));
                    }
                    s
                }
                Preview::Nothing { message, .. } => format!("= {head}: no change ({message})"),
                Preview::Delete { what, .. } => format!("- {head}: {what}"),
                Preview::Keep { message, .. } => format!("= {head}: kept in the cloud ({message})"),
                Preview::Paused { message } => format!("= {head}: paused ({message})"),
                Preview::Blocked { reason, message } => format!("! {head}: {reason}: {message}"),
                Preview::Error { message } => format!("! {head}: error: {message}"),
            };
            out.push_str(&line);
            out.push('\n');
        }
        if !self.skipped.is_empty() {
            out.push_str(&format!(
                "(not planned, not clouddb.dev kinds: {})\n",
                self.skipped.join(", ")
            ));
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        let s = &self.summary;
        out.push_str(&format!(
            "\nPlan: {} to create, {} to change, {} to delete, {} unchanged, {} blocked, {} errors.\n",
            s.create, s.change, s.delete, s.unchanged, s.blocked, s.errors
        ));
        out
    }
}

/// A manifest: its document and where it came from.
pub struct Manifest {
    pub source: String,
    pub value: serde_json::Value,
}

/// Reads every manifest of `paths` (files, directories, `-`), in order; `kind: List` items are unpacked.
pub fn read_manifests(paths: &[PathBuf]) -> Result<Vec<Manifest>, PlanError> {
    let mut files = Vec::new();
    for p in paths {
        collect_files(p, &mut files)?;
    }
    let mut out = Vec::new();
    for path in files {
        let shown = path.display().to_string();
        let text = if shown == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(&path)
        }
        .map_err(|source| PlanError::Read {
            path: shown.clone(),
            source,
        })?;
        for (i, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let value =
                <serde_json::Value as serde::Deserialize>::deserialize(doc).map_err(|e| {
                    PlanError::Manifest {
                        path: shown.clone(),
                        message: e.to_string(),
                    }
                })?;
            let source = format!("{shown}#{i}");
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::Object(ref m)
                    if m.get("kind").and_then(|k| k.as_str()) == Some("List") =>
                {
                    for item in m
                        .get("items")
                        .and_then(|i| i.as_array())
                        .into_iter()
                        .flatten()
                    {
                        out.push(Manifest {
                            source: source.clone(),
                            value: item.clone(),
                        });
                    }
                }
                serde_json::Value::Object(_) => out.push(Manifest { source, value }),
                _ => {
                    return Err(PlanError::Manifest {
                        path: source,
                        message: "a document is not an object".into(),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), PlanError> {
    if path.as_os_str() == "-" || !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let read = |e| PlanError::Read {
        path: path.display().to_string(),
        source: e,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// The values of `--credentials` arguments, by provider namespace-Secret name, in the provider's key order.
fn fixed_credentials(
    args: &[String],
) -> Result<BTreeMap<&'static str, Vec<SecretString>>, PlanError> {
    let known = Providers::CREDENTIALS;
    let names = || known.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let mut out = BTreeMap::new();
    for arg in args {
        let Some((name, file)) = arg.split_once('=') else {
            return Err(PlanError::Credentials(arg.clone(), names(), String::new()));
        };
        let Some((name, keys)) = known.iter().find(|(n, _)| *n == name) else {
            return Err(PlanError::Credentials(arg.clone(), names(), String::new()));
        };
        // The path is not echoed: a key pasted where the file goes must not be printed.
        let text = std::fs::read_to_string(file).map_err(|source| PlanError::CredentialsFile {
            name: name.to_string(),
            source,
        })?;
        let pairs: BTreeMap<&str, &str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .collect();
        let mut values = Vec::new();
        for key in *keys {
            let Some(v) = pairs.get(key) else {
                return Err(PlanError::CredentialsKey {
                    name: name.to_string(),
                    file: file.to_string(),
                    key: key.to_string(),
                    keys: keys.join(", "),
                });
            };
            values.push(SecretString::from(v.to_string()));
        }
        out.insert(*name, values);
    }
    Ok(out)
}

/// Runs the plan: reads the manifests, previews each clouddb.dev object, and returns the report.
pub async fn plan(args: PlanArgs) -> Result<Report, PlanError> {
    forbid_writes();
    let manifests = read_manifests(&args.files)?;
    let credentials = fixed_credentials(&args.credentials)?;
    let (kube, default_ns) = if args.offline {
        if credentials.is_empty() {
            return Err(PlanError::OfflineWithoutCredentials);
        }
        (empty_cluster(), "default".to_string())
    } else {
        read_only_client(args.context.as_deref()).await?
    };
    let namespace = args.namespace.clone().unwrap_or(default_ns);
    let extra_ca_pem = match &args.run.extra_ca_file {
        Some(ca) => Some(crate::cloud::http::read_ca_file(ca)?),
        None => None,
    };
    let mut ctx = Context::new(kube, args.run.clone(), Metrics::new(), extra_ca_pem)?;
    ctx.plan = Some(PlanMode { credentials });
    let ctx = Arc::new(ctx);
    let mut report = Report::default();
    if !args.offline {
        // Who claims which cloud id, as the operator's caches know it: one list per kind.
        claims::<TidbCloudCluster>(&ctx, &mut report).await;
        claims::<TidbCloudServerlessCluster>(&ctx, &mut report).await;
        claims::<ClickHouseService>(&ctx, &mut report).await;
        claims::<TidbCloudImport>(&ctx, &mut report).await;
        claims::<TidbCloudIntegration>(&ctx, &mut report).await;
        claims::<TidbCloudSqlUser>(&ctx, &mut report).await;
        claims::<TidbCloudBranch>(&ctx, &mut report).await;
    }
    for m in manifests {
        let api_version = m.value["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = m.value["kind"].as_str().unwrap_or_default().to_string();
        let name = m.value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = m.value["metadata"]["namespace"]
            .as_str()
            .map_or_else(|| namespace.clone(), str::to_string);
        if !api_version.starts_with(&format!("{}/", crate::api::GROUP)) {
            report.skipped.push(format!("{kind}/{name}"));
            continue;
        }
        let preview = if name.is_empty() {
            Preview::Error {
                message: "metadata.name is missing".into(),
            }
        } else {
            preview_manifest(&ctx, &kind, &ns, &m.value, args.destroy).await
        };
        report.objects.push(Entry {
            kind,
            namespace: ns,
            name,
            source: m.source,
            preview,
        });
    }
    report.count();
    Ok(report)
}

/// Lists every `K` of the cluster into the plan's ownership index (as the operator's caches feed it), so an
/// object adopting an id another object manages is shown blocked, as the operator would stop. A list this
/// identity may not make is noted in the report's `skipped`.
async fn claims<K: CloudKind>(ctx: &Context, report: &mut Report) {
    let api = Api::<K>::all(ctx.kube.clone());
    match api.list(&kube::api::ListParams::default()).await {
        Ok(list) => {
            let (reader, mut writer) = kube::runtime::reflector::store();
            for o in list.items {
                writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(o));
            }
            ctx.claims.register(K::KIND, reader, |o: &K| o.claims());
        }
        Err(e) => report.notes.push(format!(
            "ownership check of {} (cannot list them: {e})",
            K::KIND
        )),
    }
}

/// One line per kind: the kinds `plan` knows.
async fn preview_manifest(
    ctx: &Context,
    kind: &str,
    ns: &str,
    value: &serde_json::Value,
    destroy: bool,
) -> Preview {
    match kind {
        "TidbCloudCluster" => preview_as::<TidbCloudCluster>(ctx, ns, value, destroy).await,
        "TidbCloudImport" => preview_as::<TidbCloudImport>(ctx, ns, value, destroy).await,
        "TidbCloudIntegration" => preview_as::<TidbCloudIntegration>(ctx, ns, value, destroy).await,
        "ClickHouseService" => preview_as::<ClickHouseService>(ctx, ns, value, destroy).await,
        "TidbCloudServerlessCluster" => {
            preview_as::<TidbCloudServerlessCluster>(ctx, ns, value, destroy).await
        }
        "TidbCloudSqlUser" => preview_as::<TidbCloudSqlUser>(ctx, ns, value, destroy).await,
        "TidbCloudBranch" => preview_as::<TidbCloudBranch>(ctx, ns, value, destroy).await,
        other => Preview::Error {
            message: format!("unknown kind {other} in group {}", crate::api::GROUP),
        },
    }
}

/// The object the API server would store for `value` (dry-run apply), then its preview.
async fn preview_as<K: CloudKind>(
    ctx: &Context,
    ns: &str,
    value: &serde_json::Value,
    destroy: bool,
) -> Preview {
    let mut value = value.clone();
    value["metadata"]["namespace"] = ns.into();
    let name = value["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let api = Api::<K>::namespaced(ctx.kube.clone(), ns);
    let params = PatchParams::apply(FIELD_MANAGER).dry_run().force();
    let obj = match api.patch(&name, &params, &Patch::Apply(&value)).await {
        Ok(obj) => obj,
        // Refused by the schema, CEL or admission: exactly what `kubectl apply` would be told.
        Err(kube::Error::Api(e)) if e.code == 422 || e.code == 400 => {
            return Preview::Blocked {
                reason: crate::reasons::INVALID_SPEC.into(),
                message: format!("the API server refuses the manifest: {}", e.message),
            };
        }
        // May not patch (a read-only CI identity) or the namespace does not exist yet: the manifest as written,
        // with what the cluster stores about it.
        Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => {
            match local_object::<K>(&api, &name, value).await {
                Ok(obj) => obj,
                Err(message) => return Preview::Error { message },
            }
        }
        Err(e) => {
            return Preview::Error {
                message: format!("dry-run apply: {e}"),
            };
        }
    };
    driver::preview(ctx, &obj, destroy).await
}

/// The manifest as written (serde defaults), with the stored object's identity and status.
async fn local_object<K: CloudKind>(
    api: &Api<K>,
    name: &str,
    value: serde_json::Value,
) -> Result<K, String> {
    let mut obj: K = serde_json::from_value(value).map_err(|e| format!("invalid manifest: {e}"))?;
    let stored = match api.get_opt(name).await {
        Ok(s) => s,
        // Cannot read it either (or the namespace is new): plan as a new object.
        Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => None,
        Err(e) => return Err(format!("read the stored object: {e}")),
    };
    if let Some(stored) = stored {
        // As the API server would store it: a changed spec is a new generation; annotations set outside the
        // manifest (pause, observe-only, an approval) stay.
        let spec_changed = serde_json::to_value(&obj).ok().map(|v| v["spec"].clone())
            != serde_json::to_value(&stored)
                .ok()
                .map(|v| v["spec"].clone());
        let meta = obj.meta_mut();
        let s = stored.meta();
        meta.uid = s.uid.clone();
        meta.generation = s.generation.map(|g| g + i64::from(spec_changed));
        meta.deletion_timestamp = s.deletion_timestamp.clone();
        meta.finalizers = s.finalizers.clone();
        let mut annotations = s.annotations.clone().unwrap_or_default();
        annotations.extend(meta.annotations.take().unwrap_or_default());
        meta.annotations = Some(annotations);
        *obj.status_mut() = stored.status().cloned();
    }
    if obj.meta().uid.is_none() {
        // A new object (offline, or not visible to this identity): the uid the API server would give it is
        // unknown; kinds that salt or tag with it get a stand-in.
        obj.meta_mut().uid = Some(format!("plan-{name}"));
    }
    Ok(obj)
}

/// A Kubernetes client for `context` that can only read (and server-side dry-run), and the context's namespace.
async fn read_only_client(context: Option<&str>) -> Result<(kube::Client, String), PlanError> {
    let shown = context.unwrap_or("(current)").to_string();
    let kube_err = |e: kube::Error| PlanError::Kube {
        context: shown.clone(),
        source: Box::new(e),
    };
    let config = match context {
        Some(c) => kube::Config::from_kubeconfig(&kube::config::KubeConfigOptions {
            context: Some(c.to_string()),
            ..Default::default()
        })
        .await
        .map_err(|e| PlanError::KubeConfig(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| PlanError::KubeConfig(e.to_string()))?,
    };
    let ns = config.default_namespace.clone();
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(kube_err)?
        .with_layer(&ReadOnlyLayer)
        .build();
    Ok((client, ns))
}

/// A Kubernetes API that holds nothing (`--offline`): every request is answered 404 Not Found, so every object
/// is planned as new, every Secret and referenced cluster as missing; nothing leaves the process.
fn empty_cluster() -> kube::Client {
    let service = tower::service_fn(|req: http::Request<kube::client::Body>| async move {
        let body = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
            "message": format!("--offline: no Kubernetes API ({} {})", req.method(), req.uri().path()),
        });
        let mut resp = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )));
        *resp.status_mut() = http::StatusCode::NOT_FOUND;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok::<_, std::convert::Infallible>(resp)
    });
    kube::Client::new(service, "default")
}

/// A tower layer refusing every Kubernetes request that could change something: only `GET` (and `HEAD`), and
/// requests carrying `dryRun=All`, pass.
#[derive(Clone, Copy, Debug)]
pub struct ReadOnlyLayer;

impl<S> tower::Layer<S> for ReadOnlyLayer {
    type Service = ReadOnly<S>;
    fn layer(&self, inner: S) -> ReadOnly<S> {
        ReadOnly(inner)
    }
}

/// See [`ReadOnlyLayer`].
#[derive(Clone, Debug)]
pub struct ReadOnly<S>(S);

/// Whether a request with `method` and `query` may pass a [`ReadOnlyLayer`].
pub fn read_only_allows(method: &http::Method, query: Option<&str>) -> bool {
    *method == http::Method::GET
        || *method == http::Method::HEAD
        || query.is_some_and(|q| q.split('&').any(|p| p == "dryRun=All"))
}

impl<S, B> tower::Service<http::Request<B>> for ReadOnly<S>
where
    S: tower::Service<http::Request<B>>,
    S::Error: Into<tower::BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = tower::BoxError;
    type Future = BoxFuture<'static, Result<S::Response, tower::BoxError>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if read_only_allows(req.method(), req.uri().query()) {
            let fut = self.0.call(req);
            Box::pin(async move { fut.await.map_err(Into::into) })
        } else {
            let refused = format!(
                "{} {} refused: plan is read-only",
                req.method(),
                req.uri().path()
            );
            Box::pin(async move { Err(refused.into()) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_and_dry_runs_pass() {
        assert!(read_only_allows(&http::Method::GET, None));
        assert!(read_only_allows(
            &http::Method::PATCH,
            Some("fieldManager=clouddb-plan&dryRun=All&force=true")
        ));
        assert!(!read_only_allows(
            &http::Method::PATCH,
            Some("fieldManager=x")
        ));
        assert!(!read_only_allows(&http::Method::POST, None));
        assert!(!read_only_allows(
            &http::Method::DELETE,
            Some("dryRun=None")
        ));
        assert!(!read_only_allows(&http::Method::PUT, None));
    }

    #[test]
    fn manifests_from_multi_document_yaml_and_lists() {
        let dir = std::env::temp_dir().join(format!("clouddb-plan-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(
            dir.join("a.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n---\napiVersion: clouddb.dev/v1alpha1\nkind: TidbCloudCluster\nmetadata: {name: c}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("sub/b.yml"),
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: clouddb.dev/v1alpha1, kind: ClickHouseService, metadata: {name: x}}\n",
        )
        .unwrap();
        std::fs::write(dir.join("README.md"), "not a manifest").unwrap();
        let m = read_manifests(std::slice::from_ref(&dir)).unwrap();
        let kinds: Vec<&str> = m
            .iter()
            .map(|m| m.value["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["Secret", "TidbCloudCluster", "ClickHouseService"]);
        std::fs::write(dir.join("bad.yaml"), "- a\n- b\n").unwrap();
        assert!(matches!(
            read_manifests(std::slice::from_ref(&dir)),
            Err(PlanError::Manifest { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn credentials_files_name_a_provider_and_hold_its_keys() {
        let file = std::env::temp_dir().join(format!("clouddb-plan-cred-{}", std::process::id()));
        std::fs::write(&file, "# key\npublicKey=pub\nprivateKey=priv\n").unwrap();
        let ok = fixed_credentials(&[format!("tidbcloud-credentials={}", file.display())]).unwrap();
        assert_eq!(ok["tidbcloud-credentials"].len(), 2);
        let unknown = fixed_credentials(&[format!("nope={}", file.display())]);
        assert!(matches!(unknown, Err(PlanError::Credentials(..))));
        let missing = fixed_credentials(&[format!("clickhouse-credentials={}", file.display())]);
        let Err(PlanError::CredentialsKey { key, .. }) = missing else {
            panic!("expected a missing key");
        };
        assert_eq!(key, "keyId");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn exit_codes_follow_terraform_detailed_exitcode() {
        let entry = |preview| Entry {
            kind: "TidbCloudCluster".into(),
            namespace: "ns".into(),
            name: "n".into(),
            source: "f#0".into(),
            preview,
        };
        let nothing = Preview::Nothing {
            id: Some("1".into()),
            message: "matches".into(),
        };
        let held = Preview::Change {
            id: "1".into(),
            changes: vec!["x".into()],
            held: Some("driftPolicy: Report".into()),
        };
        let mut r = Report {
            objects: vec![entry(nothing.clone()), entry(held)],
            ..Report::default()
        };
        r.count();
        assert_eq!(r.exit_code(), 0);
        r.objects.push(entry(Preview::Create {
            what: "create".into(),
        }));
        r.count();
        assert_eq!(r.exit_code(), 2);
        assert_eq!(r.summary.create, 1);
        assert!(r.text().contains("Plan: 1 to create, 0 to change"));
        r.objects.push(entry(Preview::Error {
            message: "boom".into(),
        }));
        r.count();
        assert_eq!(r.exit_code(), 1);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["objects"][2]["action"], "create");
        assert_eq!(json["summary"]["errors"], 1);
    }
}
