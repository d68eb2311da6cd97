//! The bridge the legacy v1beta restore uses to put a new cluster into the Dedicated store: the cluster is
//! created exactly as `POST /v1beta1/clusters` would create it (same validation, node quota, defaults), then
//! shows `RESTORING` until the restore is over, so it appears in v1beta1 lists and GETs at once. (Between the
//! create and the switch to `RESTORING` the state lock is released for a moment: a concurrent read may see
//! the cluster `CREATING` once, a state clients already treat as in progress.)
use super::Dedicated;
use super::clusters::Pending;
use crate::api::{ApiRequest, Method};
use crate::error::ApiError;
use std::time::{Duration, Instant};

impl Dedicated {
    /// Creates a cluster from a v1beta1 create body (`body`, camelCase) on behalf of `public_key`; it stays
    /// `RESTORING` for `restore` and then becomes `ACTIVE`. Answers the new cluster id.
    pub(crate) fn create_restored_cluster(
        &self,
        body: &serde_json::Value,
        public_key: &str,
        restore: Duration,
    ) -> Result<String, ApiError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ApiError::internal(format!("encoding the restore body: {e}")))?;
        let req = ApiRequest {
            method: Method::Post,
            path: "/v1beta1/clusters".into(),
            query: Vec::new(),
            body: bytes::Bytes::from(bytes),
            public_key: public_key.to_string(),
        };
        let created = self.create_cluster(&req)?;
        let id = created.body["clusterId"]
            .as_str()
            .ok_or_else(|| ApiError::internal("the created cluster has no clusterId"))?
            .to_string();
        let mut s = self.state();
        let rec = s.cluster_mut(&id)?;
        rec.cluster.state = "RESTORING".into();
        rec.pending = Some(Pending {
            at: Instant::now() + restore,
            to: Some("ACTIVE"),
        });
        Ok(id)
    }
}
