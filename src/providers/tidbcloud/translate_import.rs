//! Translation between the `TidbCloudImport` spec/status and the Dedicated v1beta1 import wire models. Pure.

use secrecy::SecretString;

use super::models::{
    AzureBlobAuthType, AzureBlobSource, CreateImportRequest, CsvFormat, DuplicationHandling,
    GcsAuthType, GcsSource, Import, ImportCreationDetails, ImportFileType, ImportOptions,
    ImportSource, ImportSourceType, S3AccessKey, S3AuthType, S3Source, TargetTable,
    TargetTableInfo,
};
use crate::api::tidbcloudimport::{self as api, TidbCloudImportSpec, TidbCloudImportStatus};
use crate::model::tidbcloudimport::ObservedImport;

/// Object storage secrets read from the referenced Secrets just before the create call (never stored).
#[derive(Default)]
pub struct SourceSecrets {
    /// S3 access key: id and secret access key.
    pub access_key: Option<(String, SecretString)>,
    /// GCS service account key.
    pub service_account_key: Option<SecretString>,
    /// Azure SAS token.
    pub sas_token: Option<SecretString>,
}

/// `POST /clusters/{clusterId}/imports` body for `spec`, with the source secrets.
pub fn create_request(spec: &TidbCloudImportSpec, secrets: SourceSecrets) -> CreateImportRequest {
    let src = &spec.source;
    let uri = src.uri.clone();
    let source = match src.source_type {
        api::ImportSourceType::S3 => {
            let role_arn = src.s3.as_ref().and_then(|s| s.role_arn.clone());
            let (auth_type, access_key) = match (role_arn.is_some(), secrets.access_key) {
                (false, Some((id, secret))) => (
                    S3AuthType::AccessKey,
                    Some(S3AccessKey {
                        id,
                        secret: Some(secret),
                    }),
                ),
                _ => (S3AuthType::RoleArn, None),
            };
            ImportSource {
                source_type: ImportSourceType::S3,
                s3: Some(S3Source {
                    uri,
                    auth_type,
                    role_arn,
                    access_key,
                }),
                ..ImportSource::default()
            }
        }
        api::ImportSourceType::Gcs => ImportSource {
            source_type: ImportSourceType::Gcs,
            gcs: Some(GcsSource {
                uri,
                auth_type: GcsAuthType::ServiceAccountKey,
                service_account_key: secrets.service_account_key,
            }),
            ..ImportSource::default()
        },
        api::ImportSourceType::AzureBlob => ImportSource {
            source_type: ImportSourceType::AzureBlob,
            azure_blob: Some(AzureBlobSource {
                uri,
                auth_type: AzureBlobAuthType::SasToken,
                sas_token: secrets.sas_token,
            }),
            ..ImportSource::default()
        },
    };
    CreateImportRequest {
        creation_details: ImportCreationDetails {
            import_options: ImportOptions {
                file_type: file_type(spec.file_type),
                csv_format: spec.csv_format.as_ref().map(|c| CsvFormat {
                    separator: c.separator.clone(),
                    delimiter: c.delimiter.clone(),
                    header: c.header,
                    not_null: c.not_null,
                    null_value: c.null_value.clone(),
                    backslash_escape: c.backslash_escape,
                    trim_last_separator: c.trim_last_separator,
                }),
                duplication_handling: spec.duplication_handling.map(duplication),
            },
            source,
            target_table_infos: spec
                .target_table_infos
                .iter()
                .map(|t| TargetTableInfo {
                    target_table: TargetTable {
                        schema: t.target_table.schema.clone(),
                        table: t.target_table.table.clone(),
                    },
                    custom_file: t.custom_file.clone(),
                })
                .collect(),
        },
    }
}

fn file_type(t: api::ImportFileType) -> ImportFileType {
    match t {
        api::ImportFileType::Csv => ImportFileType::Csv,
        api::ImportFileType::Sql => ImportFileType::Sql,
        api::ImportFileType::Parquet => ImportFileType::Parquet,
        api::ImportFileType::AuroraSnapshot => ImportFileType::AuroraSnapshot,
    }
}

fn duplication(d: api::DuplicationHandling) -> DuplicationHandling {
    match d {
        api::DuplicationHandling::Replace => DuplicationHandling::Replace,
        api::DuplicationHandling::Ignore => DuplicationHandling::Ignore,
        api::DuplicationHandling::Error => DuplicationHandling::Error,
    }
}

/// The source URI an import was created with (whatever the storage type).
pub fn source_uri(i: &Import) -> Option<&str> {
    let s = &i.creation_details.source;
    s.s3.as_ref()
        .map(|x| x.uri.as_str())
        .or(s.gcs.as_ref().map(|x| x.uri.as_str()))
        .or(s.azure_blob.as_ref().map(|x| x.uri.as_str()))
}

/// What the decisions need from an import.
pub fn observed(i: &Import) -> ObservedImport {
    ObservedImport {
        state: i.state.as_str().to_string(),
        complete_percent: i.complete_percent,
        total_size: i.total_size.clone(),
        message: i.message.clone(),
    }
}

/// Copies what TiDB Cloud reports about the import into status.
pub fn record(status: &mut TidbCloudImportStatus, i: &Import) {
    let non_empty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    status.import_id = Some(i.import_id.clone());
    status.cluster_id = non_empty(&i.cluster_id).or(status.cluster_id.take());
    status.state = non_empty(i.state.as_str());
    status.complete_percent = Some(i.complete_percent);
    status.total_size = non_empty(&i.total_size);
    status.message = non_empty(&i.message);
    status.start_time = non_empty(&i.create_time);
    status.completion_time = i.complete_time.as_deref().and_then(non_empty);
    status.create_intent = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn spec(extra: serde_json::Value) -> TidbCloudImportSpec {
        let mut v = serde_json::json!({
            "clusterRef": {"name": "orders"},
            "fileType": "CSV",
            "source": {"type": "S3", "uri": "s3://bucket/orders/", "s3": {"roleArn": "arn:aws:iam::123456789012:role/import"}},
        });
        if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        serde_json::from_value(v).expect("valid spec")
    }

    #[test]
    fn role_arn_source_with_csv_options_and_tables() {
        let s = spec(serde_json::json!({
            "csvFormat": {"separator": ";", "header": false},
            "duplicationHandling": "REPLACE",
            "targetTableInfos": [{"targetTable": {"schema": "shop", "table": "orders"}, "customFile": "s3://bucket/orders/o.*.csv"}],
        }));
        let json =
            serde_json::to_value(create_request(&s, SourceSecrets::default())).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"creationDetails": {
                "importOptions": {"fileType": "CSV", "csvFormat": {"separator": ";", "header": false}, "duplicationHandling": "REPLACE"},
                "source": {"type": "S3", "s3": {"uri": "s3://bucket/orders/", "authType": "ROLE_ARN", "roleArn": "arn:aws:iam::123456789012:role/import"}},
                "targetTableInfos": [{"targetTable": {"schema": "shop", "table": "orders"}, "customFile": "s3://bucket/orders/o.*.csv"}],
            }})
        );
    }

    #[test]
    fn secrets_go_only_into_the_body_and_never_into_debug() {
        let s = spec(serde_json::json!({
            "fileType": "PARQUET",
            "source": {"type": "S3", "uri": "s3://b/p/", "s3": {"accessKey": {"secretRef": {"name": "aws"}}}},
        }));
        let req = create_request(
            &s,
            SourceSecrets {
                access_key: Some(("AKIAEXAMPLE".into(), SecretString::from("wJalr-secret"))),
                ..SourceSecrets::default()
            },
        );
        let json = serde_json::to_value(&req).expect("json");
        assert_eq!(
            json["creationDetails"]["source"]["s3"]["authType"],
            "ACCESS_KEY"
        );
        assert_eq!(
            json["creationDetails"]["source"]["s3"]["accessKey"],
            serde_json::json!({"id": "AKIAEXAMPLE", "secret": "wJalr-secret"})
        );
        assert!(!format!("{req:?}").contains("wJalr-secret"));

        let gcs = spec(serde_json::json!({
            "source": {"type": "GCS", "uri": "gs://b/p/", "gcs": {"serviceAccountKey": {"secretRef": {"name": "g", "key": "k"}}}},
        }));
        let req = create_request(
            &gcs,
            SourceSecrets {
                service_account_key: Some(SecretString::from("{sa}")),
                ..SourceSecrets::default()
            },
        );
        let src = &req.creation_details.source;
        assert_eq!(src.source_type.as_str(), "GCS");
        assert_eq!(
            src.gcs
                .as_ref()
                .and_then(|g| g.service_account_key.as_ref())
                .map(|k| k.expose_secret().to_string())
                .as_deref(),
            Some("{sa}")
        );

        let azure = spec(serde_json::json!({
            "fileType": "SQL",
            "source": {"type": "AZURE_BLOB", "uri": "azure://acct.blob.core.windows.net/c/p/", "azureBlob": {"sasToken": {"secretRef": {"name": "a", "key": "t"}}}},
        }));
        let json = serde_json::to_value(create_request(
            &azure,
            SourceSecrets {
                sas_token: Some(SecretString::from("sv=2024&sig=x")),
                ..SourceSecrets::default()
            },
        ))
        .expect("json");
        assert_eq!(
            json["creationDetails"]["source"],
            serde_json::json!({"type": "AZURE_BLOB", "azureBlob": {"uri": "azure://acct.blob.core.windows.net/c/p/", "authType": "SAS_TOKEN", "sasToken": "sv=2024&sig=x"}})
        );
    }

    #[test]
    fn record_copies_progress_and_clears_the_intent() {
        let i: Import = serde_json::from_value(serde_json::json!({
            "importId": "9", "clusterId": "7", "totalSize": "1048576", "createTime": "2025-01-01T00:00:00Z",
            "state": "IMPORTING", "completePercent": 40, "message": "",
            "creationDetails": {"importOptions": {"fileType": "CSV"}, "source": {"type": "S3", "s3": {"uri": "s3://b/p/", "authType": "ROLE_ARN"}}},
        }))
        .expect("import");
        let mut status = TidbCloudImportStatus {
            create_intent: Some(api::ImportCreateIntent {
                cluster_id: "7".into(),
                source_uri: "s3://b/p/".into(),
                started_at: "2025-01-01T00:00:00Z".into(),
            }),
            ..Default::default()
        };
        record(&mut status, &i);
        assert_eq!(status.import_id.as_deref(), Some("9"));
        assert_eq!(status.state.as_deref(), Some("IMPORTING"));
        assert_eq!(status.complete_percent, Some(40));
        assert_eq!(status.total_size.as_deref(), Some("1048576"));
        assert_eq!(status.message, None);
        assert_eq!(status.completion_time, None);
        assert_eq!(status.create_intent, None);
        assert_eq!(source_uri(&i), Some("s3://b/p/"));
        assert_eq!(observed(&i).complete_percent, 40);
    }
}
