//! What the TidbCloudImport decide step reads: an import reduced to what decisions need.

use crate::api::tidbcloudimport::TidbCloudImportStatus;

/// What the cloud says about an import, reduced to what decisions need.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ObservedImport {
    pub state: String,
    pub complete_percent: i32,
    /// Bytes, as the service sends it (a decimal string).
    pub total_size: String,
    pub message: String,
}

impl ObservedImport {
    /// The import as last recorded in status.
    pub fn from_status(status: &TidbCloudImportStatus) -> ObservedImport {
        ObservedImport {
            state: status.state.clone().unwrap_or_default(),
            complete_percent: status.complete_percent.unwrap_or(0),
            total_size: status.total_size.clone().unwrap_or_default(),
            message: status.message.clone().unwrap_or_default(),
        }
    }
}
