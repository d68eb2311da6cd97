//! The TiDB Cloud Serverless (Starter / Essential) v1beta1 cluster calls, on host `serverless.tidbapi.com`
//! (`--tidbcloud-serverless-url`). They are methods of [`TidbCloudClient`]: one client per API key, so the
//! digest authentication, the connection pool, the metrics and **the key's one budget** are shared with the
//! Dedicated calls (TiDB Cloud's quota is per key across its APIs).

use reqwest::Method;

use super::client::{MAX_PAGES, TidbCloudClient, next_token, too_many_pages};
use super::serverless_models::*;
use crate::cloud::http::{Call, check_id};
use crate::cloud::{CloudError, ExposeSecret, SecretString};

/// The most ids one `clusters:batchGet` takes.
pub const BATCH_GET_MAX: usize = 1000;

impl TidbCloudClient {
    /// One page of serverless clusters matching `filter` (AIP-160 subset: `key=value` terms joined by `AND`).
    pub async fn list_serverless_clusters(
        &self,
        filter: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<ServerlessClusterPage, CloudError> {
        let mut call = Call::new(Method::GET, "GET serverless /clusters", &["clusters"])
            .query("pageSize", self.page_size_u32());
        if let Some(f) = filter.filter(|f| !f.is_empty()) {
            call = call.query("filter", f);
        }
        if let Some(t) = page_token.filter(|t| !t.is_empty()) {
            call = call.query("pageToken", t);
        }
        self.execute_serverless(call).await
    }

    /// Every serverless cluster matching `filter`, handed to `each` one page at a time as the pages arrive.
    pub async fn for_each_serverless_page(
        &self,
        filter: Option<&str>,
        mut each: impl FnMut(Vec<ServerlessCluster>),
    ) -> Result<(), CloudError> {
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_serverless_clusters(filter, token.as_deref())
                .await?;
            each(page.clusters);
            match next_token(
                token.as_deref(),
                page.next_page_token,
                "GET serverless /clusters",
            )? {
                Some(t) => token = Some(t),
                None => return Ok(()),
            }
        }
        Err(too_many_pages("GET serverless /clusters"))
    }

    /// Every serverless cluster matching `filter`.
    pub async fn list_all_serverless_clusters(
        &self,
        filter: Option<&str>,
    ) -> Result<Vec<ServerlessCluster>, CloudError> {
        let mut out = Vec::new();
        self.for_each_serverless_page(filter, |page| out.extend(page))
            .await?;
        Ok(out)
    }

    /// `GET /clusters:batchGet`: the clusters `ids` (at most [`BATCH_GET_MAX`]), all or nothing (an unknown id
    /// is a 404 naming it).
    pub async fn batch_get_serverless_clusters(
        &self,
        ids: &[String],
    ) -> Result<Vec<ServerlessCluster>, CloudError> {
        if ids.len() > BATCH_GET_MAX {
            return Err(CloudError::config(format!(
                "{} cluster ids in one clusters:batchGet: at most {BATCH_GET_MAX}",
                ids.len()
            )));
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = Call::new(
            Method::GET,
            "GET serverless /clusters:batchGet",
            &["clusters:batchGet"],
        );
        for id in ids {
            check_id("cluster id", id)?;
            call = call.query("clusterIds", id);
        }
        let answer: BatchGetClusters = self.execute_serverless(call).await?;
        Ok(answer.clusters)
    }

    pub async fn get_serverless_cluster(&self, id: &str) -> Result<ServerlessCluster, CloudError> {
        check_id("cluster id", id)?;
        self.execute_serverless(Call::new(
            Method::GET,
            "GET serverless /clusters/{clusterId}",
            &["clusters", id],
        ))
        .await
    }

    pub async fn create_serverless_cluster(
        &self,
        req: &CreateServerlessCluster,
    ) -> Result<ServerlessCluster, CloudError> {
        let mut call =
            Call::new(Method::POST, "POST serverless /clusters", &["clusters"]).json(req)?;
        if let Some(p) = &req.root_password {
            call = call.secret(p.expose_secret());
        }
        self.execute_serverless(call).await
    }

    pub async fn update_serverless_cluster(
        &self,
        id: &str,
        req: &PatchServerlessClusterRequest,
    ) -> Result<ServerlessCluster, CloudError> {
        check_id("cluster id", id)?;
        let call = Call::new(
            Method::PATCH,
            "PATCH serverless /clusters/{clusterId}",
            &["clusters", id],
        )
        .json(req)?;
        self.execute_serverless(call).await
    }

    pub async fn delete_serverless_cluster(
        &self,
        id: &str,
    ) -> Result<ServerlessCluster, CloudError> {
        check_id("cluster id", id)?;
        self.execute_serverless(Call::new(
            Method::DELETE,
            "DELETE serverless /clusters/{clusterId}",
            &["clusters", id],
        ))
        .await
    }

    /// `PUT /clusters/{clusterId}/password`: the root user's password.
    pub async fn set_serverless_password(
        &self,
        id: &str,
        password: &SecretString,
    ) -> Result<(), CloudError> {
        check_id("cluster id", id)?;
        let call = Call::new(
            Method::PUT,
            "PUT serverless /clusters/{clusterId}/password",
            &["clusters", id, "password"],
        )
        .json(&ChangePassword { password })?
        .secret(password.expose_secret());
        let _: serde_json::Value = self.execute_serverless(call).await?;
        Ok(())
    }
}
