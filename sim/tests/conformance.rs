//! Conformance of the simulator's responses to the upstream TiDB Cloud API specs.
//!
//! The test drives every implemented operation and validates each response body against the response schema
//! that the upstream Swagger 2.0 documents declare for that (method, path template, status):
//! `dedicated-v1beta1.swagger.json` and `iam-v1beta1.swagger.json`, read at test time from
//! `../shared/reference/specs/tidbcloud/` (relative to the repository root) or from `$CLOUDDB_SPECS_DIR`.
//! Schemas are looked up in the spec, never copied here. Error bodies are validated too (`googlerpcStatus`,
//! `api.OpenApiError`).
//!
//! Imports, integrations and IAM API keys are not in those spec files; their documented shapes
//! (`tidbcloud-api.md` §5.1, §6, §10 item 13) are written below as small field tables.
//!
//! Without the spec files the test prints `conformance: SKIPPED — …` and passes, except under CI (`CI` set,
//! non-empty and not `false`), where it fails: in CI it must run.
//!
//! The validator (and why it is not the `jsonschema` crate) lives in `common/spec.rs`, shared with the
//! ClickHouse conformance test.
mod common;

use clouddb_sim::{ApiKey, Delays, QuotaConfig, SimConfig};
use common::spec::{Spec, is_instance_of, kind};
use common::{Client, Resp};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

const DEDICATED_FILE: &str = "dedicated-v1beta1.swagger.json";
const IAM_FILE: &str = "iam-v1beta1.swagger.json";

// ---- locating the specs ---------------------------------------------------------------------------------

/// `$CLOUDDB_SPECS_DIR` (either the `specs/` directory or its `tidbcloud/` subdirectory), else
/// `<repo>/../shared/reference/specs/tidbcloud`.
fn specs_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLOUDDB_SPECS_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        let nested = d.join("tidbcloud");
        return if nested.join(DEDICATED_FILE).is_file() {
            nested
        } else {
            d
        };
    }
    common::spec::specs_root().join("tidbcloud")
}

/// Both specs, or `None` (after saying so on stderr) when a file is missing outside CI.
fn load_specs() -> Option<Specs> {
    let dir = specs_dir();
    let dir = dir.canonicalize().unwrap_or(dir);
    let missing: Vec<String> = [DEDICATED_FILE, IAM_FILE]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        common::spec::skip_or_fail(&missing);
        return None;
    }
    Some(Specs {
        dedicated: Spec::load("dedicated", &dir.join(DEDICATED_FILE)),
        iam: Spec::load("iam", &dir.join(IAM_FILE)),
    })
}

struct Specs {
    dedicated: Spec,
    iam: Spec,
}

// ---- hand tables for operations missing from the spec files ----------------------------------------------

/// Expected JSON type of a documented field.
#[derive(Clone, Copy, Debug)]
enum Ty {
    Str,
    /// A proto int64/uint64: a decimal integer in a JSON string.
    Int64Str,
    Int32,
    /// An int32 within an inclusive range.
    Int32In(i64, i64),
    Bool,
    /// RFC 3339 string.
    DateTime,
    Object,
    Array,
    OneOf(&'static [&'static str]),
    /// A string matching the regex.
    Matches(&'static str),
}

impl Ty {
    fn check(self, v: &Value) -> Result<(), String> {
        let int = |v: &Value| v.as_i64().filter(|n| i32::try_from(*n).is_ok());
        let ok = match self {
            Ty::Str => v.is_string(),
            Ty::Int64Str => v
                .as_str()
                .is_some_and(|s| s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok()),
            Ty::Int32 => int(v).is_some(),
            Ty::Int32In(lo, hi) => int(v).is_some_and(|n| (lo..=hi).contains(&n)),
            Ty::Bool => v.is_boolean(),
            Ty::DateTime => v
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            Ty::Object => v.is_object(),
            Ty::Array => v.is_array(),
            Ty::OneOf(values) => v.as_str().is_some_and(|s| values.contains(&s)),
            Ty::Matches(re) => v
                .as_str()
                .is_some_and(|s| regex::Regex::new(re).expect("table regex").is_match(s)),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("expected {self:?}, got {} {v}", kind(v)))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    /// Always present (when its parent object is).
    Required,
    Optional,
    /// Input-only (a secret): must never be returned.
    Absent,
}
use Need::{Absent, Optional, Required};
use Ty::*;

/// (dotted path, type, presence). A child row applies only when its parent object is present.
type Table = &'static [(&'static str, Ty, Need)];

const IMPORT_STATES: &[&str] = &[
    "UNSPECIFIED",
    "PREPARING",
    "IMPORTING",
    "COMPLETED",
    "FAILED",
    "CANCELING",
    "CANCELED",
];

/// §5.1 `GET /clusters/{clusterId}/imports` → `{imports[], totalSize:int32, nextPageToken}`.
const IMPORT_LIST: Table = &[
    ("imports", Array, Required),
    ("totalSize", Int32, Required),
    ("nextPageToken", Str, Required),
];

/// §5.1 Import.
const IMPORT: Table = &[
    (
        "name",
        Matches(r"^clusters/[0-9]+/imports/[0-9]+$"),
        Required,
    ),
    ("importId", Str, Required),
    ("clusterId", Str, Required),
    ("totalSize", Int64Str, Required),
    ("createTime", DateTime, Required),
    // Set once the import has ended (asserted separately on a canceled import).
    ("completeTime", DateTime, Optional),
    ("state", OneOf(IMPORT_STATES), Required),
    ("completePercent", Int32In(0, 100), Required),
    ("message", Str, Required),
    ("creator", Str, Required),
    ("creationDetails", Object, Required),
    ("creationDetails.importOptions", Object, Required),
    (
        "creationDetails.importOptions.fileType",
        OneOf(&["UNSPECIFIED", "CSV", "SQL", "AURORA_SNAPSHOT", "PARQUET"]),
        Required,
    ),
    ("creationDetails.importOptions.csvFormat", Object, Optional),
    (
        "creationDetails.importOptions.duplicationHandling",
        OneOf(&["UNSPECIFIED", "REPLACE", "IGNORE", "ERROR"]),
        Optional,
    ),
    ("creationDetails.importOptions.validateOnly", Bool, Optional),
    ("creationDetails.source", Object, Required),
    (
        "creationDetails.source.type",
        OneOf(&["UNSPECIFIED", "S3", "GCS", "AZURE_BLOB"]),
        Required,
    ),
    ("creationDetails.source.s3", Object, Optional),
    ("creationDetails.source.s3.uri", Str, Required),
    (
        "creationDetails.source.s3.authType",
        OneOf(&["UNSPECIFIED", "ROLE_ARN", "ACCESS_KEY"]),
        Required,
    ),
    ("creationDetails.source.s3.roleArn", Str, Optional),
    ("creationDetails.source.s3.accessKey", Object, Optional),
    ("creationDetails.source.s3.accessKey.id", Str, Required),
    ("creationDetails.source.s3.accessKey.secret", Str, Absent),
    ("creationDetails.source.gcs.serviceAccountKey", Str, Absent),
    ("creationDetails.source.azureBlob.sasToken", Str, Absent),
    ("creationDetails.targetTableInfos", Array, Optional),
    ("creationDetails.checkItems", Array, Optional),
];

/// §6 `GET /clusters/{clusterId}/integrations` → `{items: IntegrationStatusResp[], total: int32}`.
const INTEGRATION_LIST: Table = &[("items", Array, Required), ("total", Int32, Required)];

const VENDOR_STATES: &[&str] = &["NONE", "ACTIVE", "ERROR"];

/// §6 IntegrationStatusResp.
const INTEGRATION: Table = &[
    ("id", Int64Str, Required),
    (
        "type",
        OneOf(&["DATADOG", "NEWRELIC", "PROMETHEUS"]),
        Required,
    ),
    ("datadog", Object, Optional),
    ("datadog.state", OneOf(VENDOR_STATES), Required),
    ("datadog.statusReason", Str, Required),
    (
        "datadog.site",
        OneOf(&["US1", "US3", "US5", "EU1", "US1_FED", "AP1", "AP2"]),
        Required,
    ),
    ("datadog.siteUrl", Str, Required),
    ("datadog.dashboardUrl", Str, Required),
    ("datadog.maskedApiKey", Str, Required),
    ("datadog.apiKey", Str, Absent),
    ("newrelic", Object, Optional),
    ("newrelic.state", OneOf(VENDOR_STATES), Required),
    ("newrelic.statusReason", Str, Required),
    ("newrelic.site", OneOf(&["US_OTLP", "EU_OTLP"]), Required),
    ("newrelic.siteUrl", Str, Required),
    ("newrelic.dashboardUrl", Str, Required),
    ("newrelic.maskedApiKey", Str, Required),
    ("newrelic.apiKey", Str, Absent),
    ("prometheus", Object, Optional),
    ("prometheus.key", Str, Required),
    ("prometheus.queryEndpoint", Str, Required),
    ("createTime", DateTime, Required),
    ("updateTime", DateTime, Required),
    ("creator", Str, Required),
];

/// §10 item 13: IAM `GET /v1beta1/apikeys` → list key `apiKeys`.
const APIKEY_LIST: Table = &[
    ("apiKeys", Array, Required),
    ("nextPageToken", Str, Optional),
];

/// §10 item 13: `{name "orgs/1/apiKeys/2", accessKey, secretKey (masked), displayName, role}`, roles `org:*`/`project:*`.
const APIKEY: Table = &[
    ("name", Matches(r"^orgs/[^/]+/apiKeys/[^/]+$"), Required),
    ("accessKey", Str, Required),
    ("secretKey", Str, Required),
    ("displayName", Str, Required),
    ("role", Matches(r"^(org|project):"), Required),
];

fn check_table(v: &Value, table: Table, at: &str, out: &mut Vec<String>) {
    'rows: for &(path, ty, need) in table {
        let segs: Vec<&str> = path.split('.').collect();
        let mut cur = v;
        for (i, seg) in segs.iter().enumerate() {
            match cur.get(seg) {
                Some(next) => cur = next,
                None => {
                    if i + 1 == segs.len() && need == Required {
                        out.push(format!("{at}.{path}: missing (documented field)"));
                    }
                    continue 'rows;
                }
            }
        }
        if need == Absent {
            out.push(format!("{at}.{path}: input-only field is returned"));
        } else if let Err(e) = ty.check(cur) {
            out.push(format!("{at}.{path}: {e}"));
        }
    }
}

// ---- driving ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Api {
    Dedicated,
    Iam,
}

/// The shared checker (`common::spec::Checker`) with the two TiDB specs and the hand tables.
struct Checker<'a> {
    specs: &'a Specs,
    inner: common::spec::Checker,
}

impl std::ops::Deref for Checker<'_> {
    type Target = common::spec::Checker;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Checker<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl<'a> Checker<'a> {
    fn new(specs: &'a Specs) -> Self {
        Checker {
            specs,
            inner: common::spec::Checker::default(),
        }
    }

    /// A response of an operation the spec defines: validated against the spec's schema for that status.
    fn spec(
        &mut self,
        api: Api,
        method: &str,
        template: &str,
        uri: &str,
        resp: &Resp,
        status: u16,
    ) {
        let spec = match api {
            Api::Dedicated => &self.specs.dedicated,
            Api::Iam => &self.specs.iam,
        };
        self.inner.spec(spec, method, template, uri, resp, status);
    }

    /// A response of an operation missing from the spec files, checked against a documented field table.
    fn table(
        &mut self,
        section: &str,
        method: &str,
        template: &str,
        uri: &str,
        resp: &Resp,
        table: Table,
    ) {
        self.common(method, template, uri, resp, 200);
        let mut out = Vec::new();
        check_table(&resp.body, table, "$", &mut out);
        self.problems.extend(
            out.into_iter()
                .map(|p| format!("{method} {uri} (200) vs {section}: {p}")),
        );
    }

    /// A list response: the list table, then the item table on every element of `body[key]`.
    #[allow(clippy::too_many_arguments)]
    fn table_list(
        &mut self,
        section: &str,
        method: &str,
        template: &str,
        uri: &str,
        resp: &Resp,
        list: Table,
        key: &str,
        item: Table,
    ) {
        self.table(section, method, template, uri, resp, list);
        let mut out = Vec::new();
        for (i, v) in resp.body[key].as_array().into_iter().flatten().enumerate() {
            check_table(v, item, &format!("$.{key}[{i}]"), &mut out);
        }
        self.problems.extend(
            out.into_iter()
                .map(|p| format!("{method} {uri} (200) vs {section}: {p}")),
        );
    }

    /// A documented `{}` answer.
    fn empty(&mut self, section: &str, method: &str, template: &str, uri: &str, resp: &Resp) {
        self.common(method, template, uri, resp, 200);
        if resp.body != json!({}) {
            self.problems.push(format!(
                "{method} {uri} (200) vs {section}: expected {{}}, got {}",
                resp.body
            ));
        }
    }

    /// An error body of an operation the spec files lack (§5.1/§6: errors are `rpcStatus`).
    fn rpc_error(
        &mut self,
        section: &str,
        method: &str,
        template: &str,
        uri: &str,
        resp: &Resp,
        status: u16,
    ) {
        self.common(method, template, uri, resp, status);
        for p in self
            .specs
            .dedicated
            .validate_definition("googlerpcStatus", &resp.body)
        {
            self.problems.push(format!(
                "{method} {uri} ({status}) vs {section} googlerpcStatus: {p}"
            ));
        }
    }
}

/// Every operation the simulator implements, with the statuses this test validates.
const EXPECTED_COVERAGE: &[&str] = &[
    // IAM v1beta1 spec
    "GET /v1beta1/projects 200",
    "GET /v1beta1/projects 400",
    // §10 item 13
    "GET /v1beta1/apikeys 200",
    // Dedicated v1beta1 spec
    "GET /v1beta1/clusters 200",
    "GET /v1beta1/clusters 401",
    "POST /v1beta1/clusters 200",
    "POST /v1beta1/clusters 400",
    "GET /v1beta1/clusters/{clusterId} 200",
    "GET /v1beta1/clusters/{clusterId} 400",
    "GET /v1beta1/clusters/{clusterId} 404",
    "PATCH /v1beta1/clusters/{cluster.clusterId} 200",
    "DELETE /v1beta1/clusters/{clusterId} 200",
    "POST /v1beta1/clusters/{clusterId}:pauseCluster 200",
    "POST /v1beta1/clusters/{clusterId}:resumeCluster 200",
    "POST /v1beta1/clusters/{clusterId}:resetRootPassword 200",
    "GET /v1beta1/clusters:showNodeQuota 200",
    "GET /v1beta1/regions 200",
    "GET /v1beta1/regions/{regionId} 200",
    "GET /v1beta1/regions/{regionId} 404",
    "GET /v1beta1/regions:showCloudProviders 200",
    "GET /v1beta1/regions/{regionId}/nodeSpecs 200",
    "GET /v1beta1/regions/{regionId}/nodeSpecs 400",
    "GET /v1beta1/regions/{regionId}/componentTypes/{componentType}/nodeSpecs/{nodeSpecKey} 200",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups 200",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId} 200",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId} 404",
    "POST /v1beta1/clusters/{tidbNodeGroup.clusterId}/tidbNodeGroups 200",
    "POST /v1beta1/clusters/{tidbNodeGroup.clusterId}/tidbNodeGroups 400",
    "PATCH /v1beta1/clusters/{tidbNodeGroup.clusterId}/tidbNodeGroups/{tidbNodeGroup.tidbNodeGroupId} 200",
    "PATCH /v1beta1/clusters/{tidbNodeGroup.clusterId}/tidbNodeGroups/{tidbNodeGroup.tidbNodeGroupId} 400",
    "DELETE /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId} 200",
    "DELETE /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId} 400",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting 200",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting 404",
    "PATCH /v1beta1/clusters/{clusterId}/tidbNodeGroups/{publicEndpointSetting.tidbNodeGroupId}/publicEndpointSetting 200",
    "PATCH /v1beta1/clusters/{clusterId}/tidbNodeGroups/{publicEndpointSetting.tidbNodeGroupId}/publicEndpointSetting 400",
    // §5.1
    "POST /v1beta1/clusters/{clusterId}/imports 200",
    "POST /v1beta1/clusters/{clusterId}/imports 400",
    "GET /v1beta1/clusters/{clusterId}/imports 200",
    "GET /v1beta1/clusters/{clusterId}/imports/{importId} 200",
    "GET /v1beta1/clusters/{clusterId}/imports/{importId} 404",
    "POST /v1beta1/clusters/{clusterId}/imports/{importId}:cancel 200",
    // §6
    "POST /v1beta1/clusters/{clusterId}/integrations 200",
    "POST /v1beta1/clusters/{clusterId}/integrations 400",
    "GET /v1beta1/clusters/{clusterId}/integrations 200",
    "DELETE /v1beta1/clusters/{clusterId}/integrations/{id} 200",
];

/// Node groups (create, get, list, patch, delete) and public endpoint settings of cluster `ua`, whose
/// default group is `default_gid`; leaves the cluster with only its default group.
async fn node_groups_and_public_endpoints(
    c: &Client,
    ck: &mut Checker<'_>,
    ua: &str,
    default_gid: &str,
) {
    use Api::Dedicated as D;
    let wait = Duration::from_secs(15);
    let groups = format!("{ua}/tidbNodeGroups");
    let create_t = "/v1beta1/clusters/{tidbNodeGroup.clusterId}/tidbNodeGroups";
    let one_t = "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}";
    let patch_t = "/v1beta1/clusters/{tidbNodeGroup.clusterId}/tidbNodeGroups/{tidbNodeGroup.tidbNodeGroupId}";
    let pes_get_t =
        "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting";
    let pes_patch_t = "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{publicEndpointSetting.tidbNodeGroupId}/publicEndpointSetting";

    let uri = format!("{groups}?validateOnly=true");
    let r = c.post(&uri, json!({"nodeCount": 1})).await;
    ck.spec(D, "POST", create_t, &uri, &r, 200);
    let body = json!({"displayName": "conformance-g", "nodeCount": 1,
                      "tiproxySetting": {"nodeSpecKey": "2C4G", "nodeCount": 2}});
    let r = c.post(&groups, body).await;
    ck.spec(D, "POST", create_t, &groups, &r, 200);
    let ngid = str_at(&r.body, "/tidbNodeGroupId").to_string();
    let r = c.post(&groups, json!({"nodeCount": 0})).await;
    ck.spec(D, "POST", create_t, &groups, &r, 400);
    let one = format!("{groups}/{ngid}");
    let r = common::wait_for(c, &one, wait, |r| r.body["state"] == "ACTIVE").await;
    ck.spec(D, "GET", one_t, &one, &r, 200);
    let list_t = "/v1beta1/clusters/{clusterId}/tidbNodeGroups";
    for uri in [groups.clone(), format!("{groups}?pageSize=1")] {
        ck.spec(D, "GET", list_t, &uri, &c.get(&uri).await, 200);
    }
    let r = c
        .patch(
            &one,
            json!({"displayName": "conformance-g2", "nodeCount": 2}),
        )
        .await;
    ck.spec(D, "PATCH", patch_t, &one, &r, 200);
    let r = c.patch(&one, json!({"nodeCount": 0})).await;
    ck.spec(D, "PATCH", patch_t, &one, &r, 400);
    let r = common::wait_for(c, &one, wait, |r| r.body["state"] == "ACTIVE").await;
    ck.spec(D, "GET", one_t, &one, &r, 200);

    for g in [default_gid, ngid.as_str(), "-"] {
        let uri = format!("{groups}/{g}/publicEndpointSetting");
        ck.spec(D, "GET", pes_get_t, &uri, &c.get(&uri).await, 200);
    }
    let uri = format!("{groups}/{default_gid}/publicEndpointSetting");
    let body = json!({"enabled": true, "ipAccessList": [
        {"cidrNotation": "203.0.113.0/24", "description": "office"}, {"cidrNotation": "198.51.100.7/32"}]});
    ck.spec(
        D,
        "PATCH",
        pes_patch_t,
        &uri,
        &c.patch(&uri, body).await,
        200,
    );
    ck.spec(D, "GET", pes_get_t, &uri, &c.get(&uri).await, 200);
    let bad = json!({"ipAccessList": [{"cidrNotation": "203.0.113.0/33"}]});
    ck.spec(
        D,
        "PATCH",
        pes_patch_t,
        &uri,
        &c.patch(&uri, bad).await,
        400,
    );
    let uri = format!("{groups}/-/publicEndpointSetting?validateOnly=true");
    let r = c.patch(&uri, json!({"enabled": false})).await;
    ck.spec(D, "PATCH", pes_patch_t, &uri, &r, 200);
    let uri = format!("{groups}/{ngid}/publicEndpointSetting");
    let r = c.patch(&uri, json!({"enabled": true})).await;
    ck.spec(D, "PATCH", pes_patch_t, &uri, &r, 200);
    let uri = format!("{groups}/1234567890123456789/publicEndpointSetting");
    ck.spec(D, "GET", pes_get_t, &uri, &c.get(&uri).await, 404);

    let default_one = format!("{groups}/{default_gid}");
    let r = c.delete(&default_one).await;
    ck.spec(D, "DELETE", one_t, &default_one, &r, 400);
    ck.spec(D, "DELETE", one_t, &one, &c.delete(&one).await, 200);
    let r = common::wait_for(c, &one, wait, |r| r.status.as_u16() == 404).await;
    ck.spec(D, "GET", one_t, &one, &r, 404);
    common::wait_for(c, ua, wait, |r| r.body["state"] == "ACTIVE").await;

    // IAM: the projects count the clusters that the cluster list shows.
    let r = c.get("/v1beta1/projects").await;
    ck.spec(
        Api::Iam,
        "GET",
        "/v1beta1/projects",
        "/v1beta1/projects",
        &r,
        200,
    );
    for p in r.body["projects"].as_array().into_iter().flatten() {
        let id = str_at(p, "/id");
        let list = c.get(&format!("/v1beta1/clusters?projectId={id}")).await;
        if p["cluster_count"] != list.body["totalSize"] {
            ck.note(format!(
                "GET /v1beta1/projects: project {id} has cluster_count {} but the cluster list totals {}",
                p["cluster_count"], list.body["totalSize"]
            ));
        }
    }
}

const S51: &str = "tidbcloud-api.md §5.1";
const S6: &str = "tidbcloud-api.md §6";
const S10: &str = "tidbcloud-api.md §10 item 13";

fn str_at<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v}"))
}

#[tokio::test]
async fn simulator_responses_conform_to_the_upstream_specs() {
    let Some(specs) = load_specs() else { return };
    use Api::{Dedicated as D, Iam as I};
    // Cluster transitions complete on the next read; an import runs long enough to be canceled, and its
    // cancellation completes on the next read.
    let delays = Delays {
        import_run: Duration::from_secs(600),
        ..Delays::instant()
    };
    let sim = common::start(SimConfig {
        delays,
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        ..Default::default()
    })
    .await;
    let c = Client::new(&sim);
    let mut ck = Checker::new(&specs);
    let wait = Duration::from_secs(15);

    // ---- IAM ----
    let r = c.get("/v1beta1/projects").await;
    ck.spec(I, "GET", "/v1beta1/projects", "/v1beta1/projects", &r, 200);
    assert!(
        r.body["projects"].as_array().is_some_and(|p| !p.is_empty()),
        "no projects: {}",
        r.body
    );
    let uri = "/v1beta1/projects?pageSize=1";
    ck.spec(I, "GET", "/v1beta1/projects", uri, &c.get(uri).await, 200);
    let uri = "/v1beta1/projects?pageSize=-1";
    ck.spec(I, "GET", "/v1beta1/projects", uri, &c.get(uri).await, 400);

    let r = c.get("/v1beta1/apikeys").await;
    ck.table_list(
        S10,
        "GET",
        "/v1beta1/apikeys",
        "/v1beta1/apikeys",
        &r,
        APIKEY_LIST,
        "apiKeys",
        APIKEY,
    );
    for k in r.body["apiKeys"].as_array().into_iter().flatten() {
        if k["secretKey"].as_str() == Some(sim.key().private_key.as_str()) {
            ck.note(format!(
                "GET /v1beta1/apikeys vs {S10}: secretKey reveals the private key (must be masked)"
            ));
        }
    }

    // ---- regions and node specs ----
    let r = c.get("/v1beta1/regions?pageSize=100").await;
    ck.spec(
        D,
        "GET",
        "/v1beta1/regions",
        "/v1beta1/regions?pageSize=100",
        &r,
        200,
    );
    let regions: Vec<String> = r.body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|x| str_at(x, "/regionId").to_string())
        .collect();
    assert!(regions.len() >= 2, "{}", r.body);
    for uri in [
        "/v1beta1/regions",
        "/v1beta1/regions?pageSize=2",
        "/v1beta1/regions?cloudProvider=gcp",
    ] {
        ck.spec(D, "GET", "/v1beta1/regions", uri, &c.get(uri).await, 200);
    }
    let uri = "/v1beta1/regions:showCloudProviders";
    ck.spec(D, "GET", uri, uri, &c.get(uri).await, 200);
    for rid in &regions {
        let uri = format!("/v1beta1/regions/{rid}");
        ck.spec(
            D,
            "GET",
            "/v1beta1/regions/{regionId}",
            &uri,
            &c.get(&uri).await,
            200,
        );
        let uri = format!("/v1beta1/regions/{rid}/nodeSpecs?pageSize=100");
        let r = c.get(&uri).await;
        ck.spec(
            D,
            "GET",
            "/v1beta1/regions/{regionId}/nodeSpecs",
            &uri,
            &r,
            200,
        );
        // Every spec of the first region, one of each component elsewhere.
        let mut seen = BTreeSet::new();
        for s in r.body["nodeSpecs"].as_array().expect("nodeSpecs") {
            let (ct, key) = (str_at(s, "/componentType"), str_at(s, "/nodeSpecKey"));
            if rid != &regions[0] && !seen.insert(ct.to_string()) {
                continue;
            }
            let uri = format!("/v1beta1/regions/{rid}/componentTypes/{ct}/nodeSpecs/{key}");
            let t = "/v1beta1/regions/{regionId}/componentTypes/{componentType}/nodeSpecs/{nodeSpecKey}";
            ck.spec(D, "GET", t, &uri, &c.get(&uri).await, 200);
        }
    }
    let uri = format!(
        "/v1beta1/regions/{}/nodeSpecs?componentType=TIKV&pageSize=2",
        regions[0]
    );
    ck.spec(
        D,
        "GET",
        "/v1beta1/regions/{regionId}/nodeSpecs",
        &uri,
        &c.get(&uri).await,
        200,
    );
    let uri = format!(
        "/v1beta1/regions/{}/nodeSpecs?componentType=GPU",
        regions[0]
    );
    ck.spec(
        D,
        "GET",
        "/v1beta1/regions/{regionId}/nodeSpecs",
        &uri,
        &c.get(&uri).await,
        400,
    );
    let uri = "/v1beta1/regions/aws-nowhere-1";
    ck.spec(
        D,
        "GET",
        "/v1beta1/regions/{regionId}",
        uri,
        &c.get(uri).await,
        404,
    );

    // ---- clusters ----
    let uri = "/v1beta1/clusters:showNodeQuota";
    ck.spec(D, "GET", uri, uri, &c.get(uri).await, 200);
    ck.spec(
        D,
        "GET",
        "/v1beta1/clusters",
        "/v1beta1/clusters",
        &c.get("/v1beta1/clusters").await,
        200,
    );
    let uri = "/v1beta1/clusters?validateOnly=true";
    ck.spec(
        D,
        "POST",
        "/v1beta1/clusters",
        uri,
        &c.post(uri, common::cluster_body("conformance-dry")).await,
        200,
    );
    ck.spec(
        D,
        "POST",
        "/v1beta1/clusters",
        "/v1beta1/clusters",
        &c.post("/v1beta1/clusters", json!({})).await,
        400,
    );

    let r = c
        .post("/v1beta1/clusters", common::cluster_body("conformance-a"))
        .await;
    ck.spec(D, "POST", "/v1beta1/clusters", "/v1beta1/clusters", &r, 200);
    let a = str_at(&r.body, "/clusterId").to_string();
    // A second cluster with the optional parts: TiFlash, Raft store IOPS, a project label.
    let project = {
        let p = c.get("/v1beta1/projects").await;
        str_at(&p.body, "/projects/0/id").to_string()
    };
    let mut body_b = common::cluster_body("conformance-b");
    body_b["labels"] = json!({ "tidb.cloud/project": project });
    body_b["tikvNodeSetting"]["raftStoreIops"] = json!(4000);
    body_b["tidbNodeSetting"]["tidbNodeGroups"][0]["tiproxySetting"] =
        json!({"nodeSpecKey": "2C4G", "nodeCount": 2});
    body_b["tiflashNodeSetting"] = json!({"nodeSpecKey": "8C64G", "nodeCount": 1, "storageSizeGi": 500, "storageType": "Standard"});
    let r = c.post("/v1beta1/clusters", body_b).await;
    ck.spec(D, "POST", "/v1beta1/clusters", "/v1beta1/clusters", &r, 200);
    let b = str_at(&r.body, "/clusterId").to_string();

    let get_t = "/v1beta1/clusters/{clusterId}";
    let (ua, ub) = (
        format!("/v1beta1/clusters/{a}"),
        format!("/v1beta1/clusters/{b}"),
    );
    let active = |r: &Resp| r.body["state"] == "ACTIVE";
    ck.spec(
        D,
        "GET",
        get_t,
        &ua,
        &common::wait_for(&c, &ua, wait, active).await,
        200,
    );
    let r = common::wait_for(&c, &ub, wait, active).await;
    ck.spec(D, "GET", get_t, &ub, &r, 200);
    assert!(
        r.body["tiflashNodeSetting"].is_object(),
        "no TiFlash setting: {}",
        r.body
    );
    for uri in ["/v1beta1/clusters", "/v1beta1/clusters?pageSize=1"] {
        ck.spec(D, "GET", "/v1beta1/clusters", uri, &c.get(uri).await, 200);
    }

    let uri = format!("{ua}/tidbNodeGroups");
    let r = c.get(&uri).await;
    ck.spec(
        D,
        "GET",
        "/v1beta1/clusters/{clusterId}/tidbNodeGroups",
        &uri,
        &r,
        200,
    );
    let gid = str_at(&r.body, "/tidbNodeGroups/0/tidbNodeGroupId").to_string();
    let uri = format!("{ua}/tidbNodeGroups/{gid}");
    ck.spec(
        D,
        "GET",
        "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}",
        &uri,
        &c.get(&uri).await,
        200,
    );
    node_groups_and_public_endpoints(&c, &mut ck, &ua, &gid).await;

    let r = c
        .patch(
            &ua,
            json!({"displayName": "conformance-a2", "tikvNodeSetting": {"nodeCount": 6}}),
        )
        .await;
    ck.spec(
        D,
        "PATCH",
        "/v1beta1/clusters/{cluster.clusterId}",
        &ua,
        &r,
        200,
    );
    ck.spec(
        D,
        "GET",
        get_t,
        &ua,
        &common::wait_for(&c, &ua, wait, active).await,
        200,
    );

    let uri = format!("{ua}:resetRootPassword");
    let r = c
        .post(&uri, json!({"rootPassword": "another-password-1"}))
        .await;
    ck.spec(
        D,
        "POST",
        "/v1beta1/clusters/{clusterId}:resetRootPassword",
        &uri,
        &r,
        200,
    );

    // ---- imports (§5.1) ----
    let imports = format!("{ua}/imports");
    let imports_t = "/v1beta1/clusters/{clusterId}/imports";
    let import_body = json!({"creationDetails": {"importOptions": {"fileType": "CSV"}, "source": {"type": "S3",
        "s3": {"uri": "s3://b/p/", "authType": "ROLE_ARN", "roleArn": "arn:aws:iam::1:role/x"}}}});
    let r = c.post(&imports, import_body).await;
    ck.table(S51, "POST", imports_t, &imports, &r, IMPORT);
    let iid = str_at(&r.body, "/importId").to_string();
    ck.rpc_error(
        S51,
        "POST",
        imports_t,
        &imports,
        &c.post(&imports, json!({"creationDetails": {}})).await,
        400,
    );
    ck.table_list(
        S51,
        "GET",
        imports_t,
        &imports,
        &c.get(&imports).await,
        IMPORT_LIST,
        "imports",
        IMPORT,
    );
    let one_t = "/v1beta1/clusters/{clusterId}/imports/{importId}";
    let one = format!("{imports}/{iid}");
    ck.table(S51, "GET", one_t, &one, &c.get(&one).await, IMPORT);
    let cancel = format!("{one}:cancel");
    ck.empty(
        S51,
        "POST",
        "/v1beta1/clusters/{clusterId}/imports/{importId}:cancel",
        &cancel,
        &c.post(&cancel, json!({})).await,
    );
    let r = common::wait_for(&c, &one, wait, |r| r.body["state"] == "CANCELED").await;
    ck.table(S51, "GET", one_t, &one, &r, IMPORT);
    if r.body.get("completeTime").is_none() {
        ck.note(format!(
            "GET {one} vs {S51}: a CANCELED import has no completeTime"
        ));
    }
    let missing = format!("{imports}/1234567890123456789");
    ck.rpc_error(S51, "GET", one_t, &missing, &c.get(&missing).await, 404);

    // ---- integrations (§6) ----
    let integ = format!("{ua}/integrations");
    let integ_t = "/v1beta1/clusters/{clusterId}/integrations";
    let del_t = "/v1beta1/clusters/{clusterId}/integrations/{id}";
    let dd_key = "0123456789abcdef";
    let mut ids = Vec::new();
    for body in [
        json!({"type": "DATADOG", "datadog": {"apiKey": dd_key, "site": "US1"}}),
        json!({"type": "PROMETHEUS", "prometheus": {}}),
    ] {
        let r = c.post(&integ, body.clone()).await;
        ck.table(S6, "POST", integ_t, &integ, &r, INTEGRATION);
        let ty = body["type"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !r.body[&ty].is_object() {
            ck.note(format!(
                "POST {integ} vs {S6}: type {ty} but no `{ty}` object in {}",
                r.body
            ));
        }
        if r.body.to_string().contains(dd_key) {
            ck.note(format!(
                "POST {integ} vs {S6}: the write-only apiKey is returned in {}",
                r.body
            ));
        }
        ids.push(str_at(&r.body, "/id").to_string());
    }
    let bad = json!({"type": "DATADOG", "datadog": {"apiKey": dd_key, "site": "MARS"}});
    ck.rpc_error(S6, "POST", integ_t, &integ, &c.post(&integ, bad).await, 400);
    let r = c.get(&integ).await;
    ck.table_list(
        S6,
        "GET",
        integ_t,
        &integ,
        &r,
        INTEGRATION_LIST,
        "items",
        INTEGRATION,
    );
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.body
    );
    for id in &ids {
        let uri = format!("{integ}/{id}");
        ck.empty(S6, "DELETE", del_t, &uri, &c.delete(&uri).await);
    }
    let r = c.get(&integ).await;
    ck.table_list(
        S6,
        "GET",
        integ_t,
        &integ,
        &r,
        INTEGRATION_LIST,
        "items",
        INTEGRATION,
    );

    // ---- pause / resume ----
    let uri = format!("{ua}:pauseCluster");
    ck.spec(
        D,
        "POST",
        "/v1beta1/clusters/{clusterId}:pauseCluster",
        &uri,
        &c.post(&uri, json!({})).await,
        200,
    );
    let r = common::wait_for(&c, &ua, wait, |r| r.body["state"] == "PAUSED").await;
    ck.spec(D, "GET", get_t, &ua, &r, 200);
    assert!(
        r.body["pausePlan"].is_object(),
        "a paused cluster has a pausePlan: {}",
        r.body
    );
    let uri = format!("{ua}:resumeCluster");
    ck.spec(
        D,
        "POST",
        "/v1beta1/clusters/{clusterId}:resumeCluster",
        &uri,
        &c.post(&uri, json!({})).await,
        200,
    );
    ck.spec(
        D,
        "GET",
        get_t,
        &ua,
        &common::wait_for(&c, &ua, wait, active).await,
        200,
    );

    // ---- delete, then the errors ----
    for uri in [&ua, &ub] {
        ck.spec(
            D,
            "DELETE",
            "/v1beta1/clusters/{clusterId}",
            uri,
            &c.delete(uri).await,
            200,
        );
    }
    // 404 is not declared for GetCluster: the `default` response (googlerpcStatus) applies.
    let r = common::wait_for(&c, &ua, wait, |r| r.status.as_u16() == 404).await;
    ck.spec(D, "GET", get_t, &ua, &r, 404);
    ck.spec(
        D,
        "GET",
        get_t,
        "/v1beta1/clusters/not-a-number",
        &c.get("/v1beta1/clusters/not-a-number").await,
        400,
    );
    let stranger = Client::with_key(&sim, ApiKey::random());
    ck.spec(
        D,
        "GET",
        "/v1beta1/clusters",
        "/v1beta1/clusters",
        &stranger.get("/v1beta1/clusters").await,
        401,
    );

    // ---- verdict ----
    ck.verdict(EXPECTED_COVERAGE);
}

// ---- the validator itself can fail ------------------------------------------------------------------------

/// A cluster as the real service returns it (reference Appendix A), valid against the spec.
fn appendix_a_cluster() -> Value {
    json!({"name":"clusters/10526169210080596964","clusterId":"10526169210080596964","displayName":"test-tf",
     "regionId":"aws-us-west-2","labels":{"tidb.cloud/organization":"60000","tidb.cloud/project":"3100000"},
     "tidbNodeSetting":{"nodeSpecKey":"8C16G","nodeSpecDisplayName":"8 vCPU, 16 GiB","tidbNodeGroups":[
       {"name":"tidbNodeGroups/1932002964533000000","tidbNodeGroupId":"1932002964533000000","clusterId":"10526169210080596964",
        "displayName":"DefaultGroup","nodeCount":2,"nodeSpecKey":"8C16G","nodeSpecDisplayName":"8 vCPU, 16 GiB",
        "isDefaultGroup":true,"state":"ACTIVE","endpoints":[
          {"host":"tidb.abc123.clusters.tidb-cloud.com","port":4000,"connectionType":"PUBLIC"},
          {"host":"","port":4000,"connectionType":"PRIVATE_ENDPOINT"}]}]},
     "tikvNodeSetting":{"nodeCount":3,"nodeSpecKey":"8C32G","storageSizeGi":200,"storageType":"Standard","nodeSpecDisplayName":"8 vCPU, 32 GiB"},
     "port":4000,"rootPassword":"","state":"ACTIVE","version":"v7.5.6","createdBy":"apikey-K1R3JIC0",
     "createTime":"2025-06-06T09:12:55.396Z","updateTime":"2025-06-06T14:15:29.609Z",
     "regionDisplayName":"Oregon (us-west-2)","cloudProvider":"aws",
     "annotations":{"tidb.cloud/has-set-password":"false"}})
}

#[test]
fn validator_reports_a_missing_required_field_and_a_mistyped_one_in_a_cluster() {
    let Some(specs) = load_specs() else { return };
    let spec = &specs.dedicated;
    let schema = spec
        .response_schema("GET", "/v1beta1/clusters/{clusterId}", 200)
        .expect("GetCluster schema");
    let good = appendix_a_cluster();
    assert_eq!(
        spec.validate(schema, &good),
        Vec::<String>::new(),
        "Appendix A is a valid cluster"
    );

    let mut bad = good;
    bad.as_object_mut().expect("object").remove("regionId");
    bad["port"] = json!("4000");
    let problems = spec.validate(schema, &bad);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("$:") && p.contains("missing required property `regionId`")),
        "missing regionId not reported: {problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("$.port:")
            && p.contains("expected integer")
            && p.contains("got string")),
        "string port not reported: {problems:#?}"
    );
    assert_eq!(
        problems.len(),
        2,
        "exactly the two planted problems: {problems:#?}"
    );

    // Deeper: through $ref → allOf → array items → enum, and a null where the spec does not allow it.
    let mut deep = appendix_a_cluster();
    deep["tidbNodeSetting"]["tidbNodeGroups"][0]["endpoints"][1]["connectionType"] =
        json!("CARRIER_PIGEON");
    deep["tikvNodeSetting"]["raftStoreIops"] = Value::Null; // x-nullable: allowed
    deep["tikvNodeSetting"]["storageSizeGi"] = Value::Null; // not nullable
    let problems = spec.validate(schema, &deep);
    assert!(
        problems
            .iter()
            .any(|p| p
                .starts_with("$.tidbNodeSetting.tidbNodeGroups[0].endpoints[1].connectionType:")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("$.tikvNodeSetting.storageSizeGi: null")),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
}

/// The simulator's node group and public endpoint setting answers pass the spec, and the same answers with
/// planted mistakes (an undefined field, a missing required one, a value outside an enum, a wrong type) fail.
#[tokio::test]
async fn validator_catches_planted_mistakes_in_node_group_and_public_endpoint_answers() {
    let Some(specs) = load_specs() else { return };
    let spec = &specs.dedicated;
    let sim = common::start(SimConfig {
        delays: Delays::instant(),
        ..Default::default()
    })
    .await;
    let c = Client::new(&sim);
    let r = c
        .post(
            "/v1beta1/clusters",
            common::cluster_body("conformance-plant"),
        )
        .await;
    let ua = format!("/v1beta1/clusters/{}", str_at(&r.body, "/clusterId"));
    common::wait_for(&c, &ua, Duration::from_secs(15), |r| {
        r.body["state"] == "ACTIVE"
    })
    .await;
    let r = c
        .post(
            &format!("{ua}/tidbNodeGroups"),
            json!({"displayName": "planted", "nodeCount": 1}),
        )
        .await;
    let gid = str_at(&r.body, "/tidbNodeGroupId").to_string();
    let group = c.get(&format!("{ua}/tidbNodeGroups/{gid}")).await.body;
    let setting_uri = format!("{ua}/tidbNodeGroups/{gid}/publicEndpointSetting");
    c.patch(
        &setting_uri,
        json!({"ipAccessList": [{"cidrNotation": "10.0.0.0/8"}]}),
    )
    .await;
    let setting = c.get(&setting_uri).await.body;
    let group_schema = spec
        .response_schema(
            "GET",
            "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}",
            200,
        )
        .expect("GetTidbNodeGroup schema");
    let setting_schema = spec
        .response_schema(
            "GET",
            "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting",
            200,
        )
        .expect("GetPublicEndpointSetting schema");
    assert_eq!(spec.validate(group_schema, &group), Vec::<String>::new());
    assert_eq!(
        spec.validate(setting_schema, &setting),
        Vec::<String>::new()
    );

    let mut bad = group.clone();
    bad.as_object_mut().expect("object").remove("nodeCount");
    bad["state"] = json!("CREATING");
    bad["endpoints"][0]["connectionType"] = json!("LAN");
    bad["nodeCnt"] = json!(1);
    let problems = spec.validate(group_schema, &bad);
    for want in [
        "$: missing required property `nodeCount`",
        "$.state: \"CREATING\" is not one of the enum values",
        "$.endpoints[0].connectionType: \"LAN\" is not one of the enum values",
        "$.nodeCnt: property not defined by the spec",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{want:?} not in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 4, "{problems:#?}");

    let mut bad = setting.clone();
    bad.as_object_mut()
        .expect("object")
        .remove("tidbNodeGroupId");
    bad["enabled"] = json!("yes");
    bad["ipAccessList"][0] = json!({"cidr": "10.0.0.0/8"});
    let problems = spec.validate(setting_schema, &bad);
    for want in [
        "$: missing required property `tidbNodeGroupId`",
        "$.enabled: expected boolean",
        "$.ipAccessList[0]: missing required property `cidrNotation`",
        "$.ipAccessList[0].cidr: property not defined by the spec",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{want:?} not in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

/// Runs without the spec files: the validator on a small inline Swagger document.
#[test]
fn validator_handles_swagger_specifics_on_an_inline_spec() {
    let spec = Spec::from_value(
        "inline",
        json!({"swagger": "2.0", "basePath": "/v9", "paths": {"/things/{id}": {"get": {"responses": {
            "200": {"schema": {"$ref": "#/definitions/Thing"}},
            "default": {"schema": {"$ref": "#/definitions/Err"}}}}}},
          "definitions": {
            "Thing": {"type": "object", "required": ["id", "kind"], "properties": {
                "id": {"type": "string", "format": "int64"},
                "kind": {"allOf": [{"$ref": "#/definitions/Kind"}]},
                "at": {"type": "string", "format": "date-time"},
                "count": {"type": "integer", "format": "int32"},
                "maybe": {"type": "integer", "format": "int32", "x-nullable": true},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                "parts": {"type": "array", "items": {"type": "object", "$ref": "#/definitions/Part"}}}},
            "Kind": {"type": "string", "enum": ["A", "B"]},
            "Part": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
            "Err": {"type": "object", "properties": {"code": {"type": "integer"}}}}}),
    );
    let schema = spec
        .response_schema("GET", "/v9/things/{id}", 200)
        .expect("200 schema");
    let ok = json!({"id": "18446744073709551", "kind": "A", "at": "2025-01-01T00:00:00.5Z", "count": 7, "maybe": null,
                    "tags": {"a": "b"}, "parts": [{"n": 1}]});
    assert_eq!(spec.validate(schema, &ok), Vec::<String>::new());
    let bad = json!({"id": 5, "kind": "C", "at": "yesterday", "count": 3_000_000_000u64, "tags": {"a": 1},
                     "parts": [{}], "extra": true});
    let problems = spec.validate(schema, &bad);
    for want in [
        "$.id: expected string (int64), got integer",
        "$.kind: \"C\" is not one of the enum values",
        "$.at: \"yesterday\" is not an RFC 3339 date-time",
        "$.count: 3000000000 is out of the int32 range",
        "$.tags.a: expected string, got integer",
        "$.parts[0]: missing required property `n`",
        "$.extra: property not defined by the spec",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{want:?} not in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 7, "{problems:#?}");
    let string_id = json!({"id": "12x", "kind": "B"});
    assert!(
        spec.validate(schema, &string_id)[0]
            .starts_with("$.id: \"12x\" is not an int64 decimal string")
    );
    // Undeclared statuses fall back to `default`; unknown operations are reported.
    assert!(spec.response_schema("GET", "/v9/things/{id}", 404).is_ok());
    assert!(
        spec.response_schema("POST", "/v9/things/{id}", 200)
            .is_err()
    );

    // The hand tables can fail too.
    let mut out = Vec::new();
    check_table(
        &json!({"id": 5, "type": "DATADOG", "datadog": {"state": "ACTIVE", "apiKey": "secret"}, "createTime": "x"}),
        INTEGRATION,
        "$",
        &mut out,
    );
    for want in [
        "$.id: expected Int64Str",
        "$.datadog.site: missing",
        "$.datadog.apiKey: input-only",
        "$.createTime: expected DateTime",
        "$.creator: missing",
    ] {
        assert!(
            out.iter().any(|p| p.starts_with(want)),
            "{want:?} not in {out:#?}"
        );
    }
}

#[test]
fn template_instances_are_recognised() {
    assert!(is_instance_of(
        "/v1beta1/clusters/{clusterId}:pauseCluster",
        "/v1beta1/clusters/123:pauseCluster"
    ));
    assert!(is_instance_of(
        "/v1beta1/clusters/{cluster.clusterId}",
        "/v1beta1/clusters/123?validateOnly=true"
    ));
    assert!(!is_instance_of(
        "/v1beta1/clusters/{clusterId}",
        "/v1beta1/clusters/1:pauseCluster"
    ));
    assert!(!is_instance_of(
        "/v1beta1/regions/{regionId}",
        "/v1beta1/regions:showCloudProviders"
    ));
}
