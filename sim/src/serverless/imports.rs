//! Imports (reference §5.2) on the shared import state machine (`crate::import_run`), and the local-file
//! uploads a `LOCAL` import reads: `imports:startUpload` → presigned part URLs and an `uploadId`;
//! `imports:completeUpload` with the parts' ETags; `imports:cancelUpload`. The part URLs are not served (no
//! data moves); completing the upload is what makes the `uploadId` usable.
use super::model::*;
use super::{Serverless, random_string, require_active};
use crate::api::{ApiRequest, ApiResponse};
use crate::dedicated::{check_id, created_by, new_id, timestamp};
use crate::error::ApiError;
use crate::import_run::{FAILURE_MESSAGE, ImportRun, Phase};
use crate::paging::paginate;
use serde::Serialize;
use std::time::Instant;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    Started,
    Completed,
    Canceled,
    /// Read by an import.
    Used,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub cluster_id: String,
    pub file_name: String,
    pub target_database: String,
    pub target_table: String,
    pub parts: i32,
    pub state: UploadState,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListImports {
    imports: Vec<Import>,
    total_size: i64,
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

fn nonempty(field: &str, v: Option<&str>) -> Result<String, ApiError> {
    match v {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(ApiError::invalid(format!("{field} is required"))),
    }
}

fn uri_with(field: &str, uri: Option<&str>, schemes: &[&str]) -> Result<String, ApiError> {
    let uri = uri.unwrap_or_default();
    if !schemes.iter().any(|s| uri.starts_with(s)) {
        return Err(ApiError::invalid(format!(
            "{field} {uri:?} must start with {}",
            schemes.join(" or ")
        )));
    }
    Ok(uri.to_string())
}

fn access_key(field: &str, k: Option<&AccessKey>) -> Result<(), ApiError> {
    let k = k.ok_or_else(|| ApiError::invalid(format!("{field} is required for ACCESS_KEY")))?;
    nonempty(&format!("{field}.id"), k.id.as_deref())?;
    nonempty(&format!("{field}.secret"), k.secret.as_deref())?;
    Ok(())
}

/// Validates a cloud-storage source and returns its URI (`LOCAL` is checked against the uploads).
fn validate_remote(kind: &str, src: &ImportSource) -> Result<String, ApiError> {
    let p = "source";
    let missing = |f: &str| ApiError::invalid(format!("{p}.{f} is required when type is {kind}"));
    match kind {
        "S3" => {
            let s3 = src.s3.as_ref().ok_or_else(|| missing("s3"))?;
            let uri = uri_with(&format!("{p}.s3.uri"), s3.uri.as_deref(), &["s3://"])?;
            match one_of(
                &format!("{p}.s3.authType"),
                s3.auth_type.as_deref(),
                &["ROLE_ARN", "ACCESS_KEY"],
            )?
            .as_str()
            {
                "ROLE_ARN" => {
                    nonempty(&format!("{p}.s3.roleArn"), s3.role_arn.as_deref())?;
                }
                _ => access_key(&format!("{p}.s3.accessKey"), s3.access_key.as_ref())?,
            }
            Ok(uri)
        }
        "GCS" => {
            let g = src.gcs.as_ref().ok_or_else(|| missing("gcs"))?;
            let uri = uri_with(&format!("{p}.gcs.uri"), g.uri.as_deref(), &["gs://"])?;
            one_of(
                &format!("{p}.gcs.authType"),
                g.auth_type.as_deref(),
                &["SERVICE_ACCOUNT_KEY"],
            )?;
            nonempty(
                &format!("{p}.gcs.serviceAccountKey"),
                g.service_account_key.as_deref(),
            )?;
            Ok(uri)
        }
        "AZURE_BLOB" => {
            let a = src
                .azure_blob
                .as_ref()
                .ok_or_else(|| missing("azureBlob"))?;
            let uri = uri_with(
                &format!("{p}.azureBlob.uri"),
                a.uri.as_deref(),
                &["azure://", "https://"],
            )?;
            one_of(
                &format!("{p}.azureBlob.authType"),
                a.auth_type.as_deref(),
                &["SAS_TOKEN"],
            )?;
            nonempty(&format!("{p}.azureBlob.sasToken"), a.sas_token.as_deref())?;
            Ok(uri)
        }
        "S3_COMPATIBLE" => {
            let c = src
                .s3_compatible
                .as_ref()
                .ok_or_else(|| missing("s3Compatible"))?;
            let uri = uri_with(
                &format!("{p}.s3Compatible.uri"),
                c.uri.as_deref(),
                &["s3://"],
            )?;
            one_of(
                &format!("{p}.s3Compatible.authType"),
                c.auth_type.as_deref(),
                &["ACCESS_KEY"],
            )?;
            access_key(
                &format!("{p}.s3Compatible.accessKey"),
                c.access_key.as_ref(),
            )?;
            if let Some(e) = c.endpoint.as_deref().filter(|e| !e.is_empty())
                && !e.starts_with("https://")
            {
                return Err(ApiError::invalid(format!(
                    "{p}.s3Compatible.endpoint {e:?} must be an https:// URL"
                )));
            }
            Ok(uri)
        }
        _ => {
            let o = src.oss.as_ref().ok_or_else(|| missing("oss"))?;
            if o.endpoint.is_some() {
                return Err(ApiError::invalid(format!(
                    "{p}.oss.endpoint is not a field of an OSS source"
                )));
            }
            let uri = uri_with(&format!("{p}.oss.uri"), o.uri.as_deref(), &["oss://"])?;
            one_of(
                &format!("{p}.oss.authType"),
                o.auth_type.as_deref(),
                &["ACCESS_KEY"],
            )?;
            access_key(&format!("{p}.oss.accessKey"), o.access_key.as_ref())?;
            Ok(uri)
        }
    }
}

impl Serverless {
    pub(super) fn list_imports(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let desc = match req.query_one("orderBy").map(str::trim) {
            None | Some("") => false,
            Some(o) => match o.split_whitespace().collect::<Vec<_>>()[..] {
                ["create_time" | "createTime"] => false,
                ["create_time" | "createTime", d] if d.eq_ignore_ascii_case("desc") => true,
                ["create_time" | "createTime", a] if a.eq_ignore_ascii_case("asc") => false,
                _ => {
                    return Err(ApiError::invalid(format!(
                        "invalid orderBy {o:?}: create_time, optionally followed by desc"
                    )));
                }
            },
        };
        let s = self.state();
        s.cluster(cid)?;
        let mut items: Vec<&ImportRecord> = s
            .imports
            .iter()
            .filter(|i| i.import.cluster_id == cid)
            .collect();
        if desc {
            items.reverse();
        }
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListImports {
            imports: page.items.into_iter().map(|i| i.import.clone()).collect(),
            total_size: page.total as i64,
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
        let opts = body
            .import_options
            .ok_or_else(|| ApiError::invalid("importOptions is required"))?;
        let file_type = one_of(
            "importOptions.fileType",
            opts.file_type.as_deref(),
            &["CSV", "SQL", "AURORA_SNAPSHOT", "PARQUET"],
        )?;
        if opts.csv_format.is_some() && file_type != "CSV" {
            return Err(ApiError::invalid(
                "importOptions.csvFormat is only valid when fileType is CSV",
            ));
        }
        let mut src = body
            .source
            .ok_or_else(|| ApiError::invalid("source is required"))?;
        let kind = one_of(
            "source.type",
            src.kind.as_deref(),
            &["LOCAL", "S3", "GCS", "AZURE_BLOB", "S3_COMPATIBLE", "OSS"],
        )?;
        let mut s = self.state();
        require_active(s.cluster(cid)?, "imports can be created")?;
        let (marker_text, size, upload) = if kind == "LOCAL" {
            let l = src
                .local
                .as_mut()
                .ok_or_else(|| ApiError::invalid("source.local is required when type is LOCAL"))?;
            let uid = nonempty("source.local.uploadId", l.upload_id.as_deref())?;
            let db = nonempty("source.local.targetDatabase", l.target_database.as_deref())?;
            let table = nonempty("source.local.targetTable", l.target_table.as_deref())?;
            let up = s
                .uploads
                .iter()
                .find(|u| u.id == uid && u.cluster_id == cid)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "source.local.uploadId {uid:?} is not an upload of cluster {cid} (see imports:startUpload)"
                    ))
                })?;
            if up.state != UploadState::Completed {
                return Err(ApiError::invalid(format!(
                    "upload {uid} is {}: only a completed upload can be imported",
                    match up.state {
                        UploadState::Started => "not completed (call imports:completeUpload)",
                        UploadState::Canceled => "canceled",
                        _ => "already imported",
                    }
                )));
            }
            if up.target_database != db || up.target_table != table {
                return Err(ApiError::invalid(format!(
                    "source.local targets {db}.{table}, but upload {uid} was started for {}.{}",
                    up.target_database, up.target_table
                )));
            }
            l.file_name = Some(up.file_name.clone());
            (
                up.file_name.clone(),
                (up.parts as u64).saturating_mul(5 << 20),
                Some(uid),
            )
        } else {
            let uri = validate_remote(&kind, &src)?;
            let size = (((uri.len() as u64) * 7919) % 900 + 100).saturating_mul(1 << 20);
            (uri, size, None)
        };
        if let Some(uid) = &upload
            && let Some(u) = s.uploads.iter_mut().find(|u| &u.id == uid)
        {
            u.state = UploadState::Used;
        }
        let id = new_id();
        let import = Import {
            id: id.clone(),
            name: format!("clusters/{cid}/imports/{id}"),
            cluster_id: cid.to_string(),
            total_size: size.to_string(),
            create_time: timestamp(),
            complete_time: None,
            state: "PREPARING".into(),
            complete_percent: 0,
            message: String::new(),
            created_by: created_by(&req.public_key),
            creation_details: CreationDetails {
                import_options: opts,
                source: src,
            },
            import_id: id,
        };
        let d = &self.import_delays;
        let record = ImportRecord {
            import,
            run: ImportRun::new(
                Instant::now(),
                d.import_prepare,
                d.import_run,
                d.import_cancel,
                !self.import_fail_marker.is_empty()
                    && marker_text.contains(&self.import_fail_marker),
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
        let _: crate::dedicated::model::Empty = req.json()?;
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

    pub(super) fn start_upload(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let file = nonempty("fileName", req.query_one("fileName"))?;
        let parts = req
            .query_i32("partNumber")?
            .ok_or_else(|| ApiError::invalid("partNumber is required"))?;
        if !(1..=10_000).contains(&parts) {
            return Err(ApiError::invalid(format!(
                "partNumber must be between 1 and 10000, got {parts}"
            )));
        }
        let db = nonempty("targetDatabase", req.query_one("targetDatabase"))?;
        let table = nonempty("targetTable", req.query_one("targetTable"))?;
        let mut s = self.state();
        require_active(s.cluster(cid)?, "files can be uploaded")?;
        let id = format!(
            "upload-{}",
            random_string(24, b"abcdefghijklmnopqrstuvwxyz0123456789")
        );
        let enc = |v: &str| {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let urls: Vec<String> = (1..=parts)
            .map(|n| {
                format!(
                    "https://tidbcloud-import-sim.s3.amazonaws.com/{cid}/{id}/{}?partNumber={n}&uploadId={id}&X-Amz-Expires=3600",
                    enc(&file)
                )
            })
            .collect();
        s.uploads.push(Upload {
            id: id.clone(),
            cluster_id: cid.to_string(),
            file_name: file,
            target_database: db,
            target_table: table,
            parts,
            state: UploadState::Started,
        });
        Ok(ApiResponse::ok(&serde_json::json!({"uploadUrl": urls, "uploadId": id}))?.committed())
    }

    fn upload_mut<'a>(
        s: &'a mut super::State,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<&'a mut Upload, ApiError> {
        let uid = nonempty("uploadId", req.query_one("uploadId"))?;
        s.cluster(cid)?;
        s.uploads
            .iter_mut()
            .find(|u| u.id == uid && u.cluster_id == cid)
            .ok_or_else(|| ApiError::not_found(format!("upload {uid} not found in cluster {cid}")))
    }

    pub(super) fn complete_upload(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let parts: Vec<CompletePart> = if req.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ApiError::invalid(
                "the body is required: the uploaded parts [{\"partNumber\", \"etag\"}]",
            ));
        } else {
            req.json()?
        };
        let mut s = self.state();
        let up = Self::upload_mut(&mut s, cid, req)?;
        if up.state != UploadState::Started {
            return Err(ApiError::invalid(format!(
                "upload {} is not in progress",
                up.id
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in parts.iter().enumerate() {
            let n = p
                .part_number
                .ok_or_else(|| ApiError::invalid(format!("parts[{i}].partNumber is required")))?;
            if !(1..=up.parts).contains(&n) || !seen.insert(n) {
                return Err(ApiError::invalid(format!(
                    "parts[{i}].partNumber {n} must be one of 1..={} and listed once",
                    up.parts
                )));
            }
            nonempty(&format!("parts[{i}].etag"), p.etag.as_deref())?;
        }
        if seen.len() != up.parts as usize {
            return Err(ApiError::invalid(format!(
                "{} of the upload's {} parts are listed: every part is required",
                seen.len(),
                up.parts
            )));
        }
        up.state = UploadState::Completed;
        Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
    }

    pub(super) fn cancel_upload(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let mut s = self.state();
        let up = Self::upload_mut(&mut s, cid, req)?;
        match up.state {
            UploadState::Started | UploadState::Canceled => up.state = UploadState::Canceled,
            _ => {
                return Err(ApiError::invalid(format!(
                    "upload {} is already completed: it cannot be canceled",
                    up.id
                )));
            }
        }
        Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
    }
}
