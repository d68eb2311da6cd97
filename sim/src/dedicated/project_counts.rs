//! What IAM needs to know about Dedicated clusters: how many live in a project (`cluster_count`).
use super::Dedicated;
use super::clusters::LABEL_PROJECT;

impl crate::iam::ProjectClusters for Dedicated {
    /// The clusters of the project that the API still shows (every state, `DELETING` included, until they
    /// are gone): the `totalSize` of `GET /v1beta1/clusters?projectId=…`.
    fn cluster_count(&self, project_id: &str) -> i64 {
        self.state()
            .clusters
            .iter()
            .filter(|c| c.cluster.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project_id))
            .count() as i64
    }
}
