//! Imports (§5.1): PREPARING → IMPORTING (completePercent rising) → COMPLETED, or FAILED with a message,
//! or CANCELING → CANCELED. Source credentials are input-only: never returned.
use super::{Dedicated, check_id, created_by, new_id, timestamp};
use crate::api::{ApiRequest, ApiResponse};
use crate::error::ApiError;
use crate::import_run::{FAILURE_MESSAGE, ImportRun, Phase};
use crate::paging::paginate;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    pub name: String,
    pub import_id: String,
    pub cluster_id: String,
    pub total_size: String,
    pub create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<String>,
    pub state: String,
    pub complete_percent: i32,
    pub message: String,
    pub creator: String,
    pub creation_details: CreationDetails,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreationDetails {
    pub import_options: Option<ImportOptions>,
    pub source: Option<Source>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_table_infos: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_items: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportOptions {
    pub file_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_format: Option<CsvFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplication_handling: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_only: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CsvFormat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_null: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backslash_escape: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim_last_separator: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_blob: Option<AzureSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Source {
    pub uri: Option<String>,
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<AccessKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessKey {
    pub id: Option<String>,
    /// Input only.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcsSource {
    pub uri: Option<String>,
    pub auth_type: Option<String>,
    /// Input only.
    #[serde(default, skip_serializing)]
    pub service_account_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSource {
    pub uri: Option<String>,
    pub auth_type: Option<String>,
    /// Input only.
    #[serde(default, skip_serializing)]
    pub sas_token: Option<String>,
}

// Read-only fields are accepted (and ignored) so that a client may echo an import back.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateImport {
    creation_details: Option<CreationDetails>,
    // read-only fields a client may echo back
    name: Option<serde_json::Value>,
    import_id: Option<serde_json::Value>,
    cluster_id: Option<serde_json::Value>,
    total_size: Option<serde_json::Value>,
    create_time: Option<serde_json::Value>,
    complete_time: Option<serde_json::Value>,
    state: Option<serde_json::Value>,
    complete_percent: Option<serde_json::Value>,
    message: Option<serde_json::Value>,
    creator: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub import: Import,
    run: ImportRun,
}

impl ImportRecord {
    pub fn advance(&mut self, now: Instant) {
        let i = &mut self.import;
        if matches!(i.state.as_str(), "COMPLETED" | "FAILED" | "CANCELED") {
            return;
        }
        let phase = self.run.phase(now);
        i.state = phase.state().into();
        if phase != Phase::Canceling && phase != Phase::Canceled {
            i.complete_percent = phase.percent().into();
        }
        if let Phase::Failed(_) = phase {
            i.message = FAILURE_MESSAGE.into();
        }
        if phase.is_final() {
            i.complete_time = Some(timestamp());
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListImports<'a> {
    imports: Vec<&'a Import>,
    total_size: i32,
    next_page_token: String,
}

fn one_of(field: &str, v: Option<&str>, allowed: &[&str]) -> Result<String, ApiError> {
    match v {
        Some(v) if allowed.contains(&v) => Ok(v.to_string()),
        Some(v) => Err(ApiError::invalid(format!(
            "{field} {v:?} must be one of {}",
            allowed.join(", ")
        ))),
        None => Err(ApiError::invalid(format!(
            "{field} is required (one of {})",
            allowed.join(", ")
        ))),
    }
}

fn nonempty(field: &str, v: &Option<String>) -> Result<(), ApiError> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(()),
        _ => Err(ApiError::invalid(format!("{field} is required"))),
    }
}

/// Validates the source and returns its URI.
fn validate_source(src: &Source) -> Result<String, ApiError> {
    let p = "creationDetails.source";
    let kind = one_of(
        &format!("{p}.type"),
        src.kind.as_deref(),
        &["S3", "GCS", "AZURE_BLOB"],
    )?;
    match kind.as_str() {
        "S3" => {
            let s3 = src
                .s3
                .as_ref()
                .ok_or_else(|| ApiError::invalid(format!("{p}.s3 is required when type is S3")))?;
            let uri = s3.uri.clone().unwrap_or_default();
            if !uri.starts_with("s3://") {
                return Err(ApiError::invalid(format!(
                    "{p}.s3.uri {uri:?} must start with s3://"
                )));
            }
            match one_of(
                &format!("{p}.s3.authType"),
                s3.auth_type.as_deref(),
                &["ROLE_ARN", "ACCESS_KEY"],
            )?
            .as_str()
            {
                "ROLE_ARN" => nonempty(&format!("{p}.s3.roleArn"), &s3.role_arn)?,
                _ => {
                    let k = s3.access_key.as_ref().ok_or_else(|| {
                        ApiError::invalid(format!("{p}.s3.accessKey is required for ACCESS_KEY"))
                    })?;
                    nonempty(&format!("{p}.s3.accessKey.id"), &k.id)?;
                    nonempty(&format!("{p}.s3.accessKey.secret"), &k.secret)?;
                }
            }
            Ok(uri)
        }
        "GCS" => {
            let g = src.gcs.as_ref().ok_or_else(|| {
                ApiError::invalid(format!("{p}.gcs is required when type is GCS"))
            })?;
            let uri = g.uri.clone().unwrap_or_default();
            if !uri.starts_with("gs://") {
                return Err(ApiError::invalid(format!(
                    "{p}.gcs.uri {uri:?} must start with gs://"
                )));
            }
            one_of(
                &format!("{p}.gcs.authType"),
                g.auth_type.as_deref(),
                &["SERVICE_ACCOUNT_KEY"],
            )?;
            nonempty(
                &format!("{p}.gcs.serviceAccountKey"),
                &g.service_account_key,
            )?;
            Ok(uri)
        }
        _ => {
            let a = src.azure_blob.as_ref().ok_or_else(|| {
                ApiError::invalid(format!("{p}.azureBlob is required when type is AZURE_BLOB"))
            })?;
            let uri = a.uri.clone().unwrap_or_default();
            if !(uri.starts_with("azure://") || uri.starts_with("https://")) {
                return Err(ApiError::invalid(format!(
                    "{p}.azureBlob.uri {uri:?} must start with azure:// or https://"
                )));
            }
            one_of(
                &format!("{p}.azureBlob.authType"),
                a.auth_type.as_deref(),
                &["SAS_TOKEN"],
            )?;
            nonempty(&format!("{p}.azureBlob.sasToken"), &a.sas_token)?;
            Ok(uri)
        }
    }
}

impl Dedicated {
    pub(super) fn list_imports(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let s = self.state();
        s.cluster(cid)?;
        let items: Vec<&Import> = s
            .imports
            .iter()
            .filter(|i| i.import.cluster_id == cid)
            .map(|i| &i.import)
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListImports {
            imports: page.items,
            total_size: page.total as i32,
            next_page_token: page.next_token,
        })
    }

    pub(super) fn get_import(&self, cid: &str, iid: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let s = self.state();
        s.cluster(cid)?;
        let i = s
            .imports
            .iter()
            .find(|i| i.import.cluster_id == cid && i.import.import_id == iid)
            .ok_or_else(|| {
                ApiError::not_found(format!("import {iid} not found in cluster {cid}"))
            })?;
        ApiResponse::ok(&i.import)
    }

    pub(super) fn create_import(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: CreateImport = req.json()?;
        let details = body
            .creation_details
            .ok_or_else(|| ApiError::invalid("creationDetails is required"))?;
        let opts = details
            .import_options
            .as_ref()
            .ok_or_else(|| ApiError::invalid("creationDetails.importOptions is required"))?;
        let file_type = one_of(
            "creationDetails.importOptions.fileType",
            opts.file_type.as_deref(),
            &["CSV", "SQL", "AURORA_SNAPSHOT", "PARQUET"],
        )?;
        if let Some(d) = opts
            .duplication_handling
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "UNSPECIFIED")
        {
            one_of(
                "creationDetails.importOptions.duplicationHandling",
                Some(d),
                &["REPLACE", "IGNORE", "ERROR"],
            )?;
        }
        if opts.csv_format.is_some() && file_type != "CSV" {
            return Err(ApiError::invalid(
                "creationDetails.importOptions.csvFormat is only valid when fileType is CSV",
            ));
        }
        let src = details
            .source
            .as_ref()
            .ok_or_else(|| ApiError::invalid("creationDetails.source is required"))?;
        let uri = validate_source(src)?;
        let mut s = self.state();
        let state = s.cluster(cid)?.cluster.state.clone();
        if state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "cluster {cid} is {state}: imports can be created only when it is ACTIVE"
            )));
        }
        let id = new_id();
        let import = Import {
            name: format!("clusters/{cid}/imports/{id}"),
            import_id: id,
            cluster_id: cid.to_string(),
            total_size: (((uri.len() as u64) * 7919) % 900 + 100)
                .saturating_mul(1 << 20)
                .to_string(),
            create_time: timestamp(),
            complete_time: None,
            state: "PREPARING".into(),
            complete_percent: 0,
            message: String::new(),
            creator: created_by(&req.public_key),
            creation_details: details.clone(),
        };
        if opts.validate_only == Some(true) {
            return ApiResponse::ok(&import);
        }
        let record = ImportRecord {
            import,
            run: ImportRun::new(
                Instant::now(),
                self.delays.import_prepare,
                self.delays.import_run,
                self.delays.import_cancel,
                !self.import_fail_marker.is_empty() && uri.contains(&self.import_fail_marker),
            ),
        };
        let out = ApiResponse::ok(&record.import)?.committed();
        s.imports.push(record);
        Ok(out)
    }

    pub(super) fn cancel_import(
        &self,
        cid: &str,
        iid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        if req.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ApiError::invalid("request body is required: send {}"));
        }
        let _: super::model::Empty = req.json()?;
        let mut s = self.state();
        s.cluster(cid)?;
        let i = s
            .imports
            .iter_mut()
            .find(|i| i.import.cluster_id == cid && i.import.import_id == iid)
            .ok_or_else(|| {
                ApiError::not_found(format!("import {iid} not found in cluster {cid}"))
            })?;
        let now = Instant::now();
        i.run.cancel(now).map_err(|e| {
            ApiError::invalid(format!(
                "import {iid} is {}: only a running import can be canceled",
                e.0.state()
            ))
        })?;
        i.advance(now);
        Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
    }
}
