//! Regions and node specs, served from the catalogue.
use super::Dedicated;
use crate::api::{ApiRequest, ApiResponse};
use crate::catalog::{NodeSpec, Region};
use crate::error::ApiError;
use crate::paging::paginate;
use serde::Serialize;

const COMPONENTS: &[&str] = &["TIDB", "TIKV", "TIFLASH", "PD", "TIPROXY"];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListRegions<'a> {
    regions: Vec<&'a Region>,
    total_size: i32,
    next_page_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListNodeSpecs<'a> {
    node_specs: Vec<&'a NodeSpec>,
    total_size: i32,
    next_page_token: String,
}

impl Dedicated {
    fn region_or_404(&self, rid: &str) -> Result<&Region, ApiError> {
        self.catalog
            .region(rid)
            .ok_or_else(|| ApiError::not_found(format!("region {rid} not found")))
    }

    pub(super) fn list_regions(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let cloud = req.query_one("cloudProvider").filter(|c| !c.is_empty());
        let items: Vec<&Region> = self
            .catalog
            .regions
            .iter()
            .filter(|r| cloud.is_none_or(|c| r.cloud_provider == c))
            .collect();
        let page = paginate(req, items, 20)?;
        ApiResponse::ok(&ListRegions {
            regions: page.items,
            total_size: page.total as i32,
            next_page_token: page.next_token,
        })
    }

    pub(super) fn get_region(&self, rid: &str) -> Result<ApiResponse, ApiError> {
        ApiResponse::ok(self.region_or_404(rid)?)
    }

    pub(super) fn show_cloud_providers(&self) -> Result<ApiResponse, ApiError> {
        let mut clouds: Vec<&str> = Vec::new();
        for r in &self.catalog.regions {
            if !clouds.contains(&r.cloud_provider.as_str()) {
                clouds.push(&r.cloud_provider);
            }
        }
        ApiResponse::ok(&serde_json::json!({ "cloudProviders": clouds }))
    }

    pub(super) fn list_node_specs(
        &self,
        rid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        self.region_or_404(rid)?;
        let component = req.query_one("componentType").filter(|c| !c.is_empty());
        if let Some(c) = component
            && !COMPONENTS.contains(&c)
        {
            return Err(ApiError::invalid(format!(
                "componentType {c:?} must be one of {}",
                COMPONENTS.join(", ")
            )));
        }
        let items: Vec<&NodeSpec> = self
            .catalog
            .node_specs
            .iter()
            .filter(|s| s.region_id == rid && component.is_none_or(|c| s.component_type == c))
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListNodeSpecs {
            node_specs: page.items,
            total_size: page.total as i32,
            next_page_token: page.next_token,
        })
    }

    pub(super) fn get_node_spec(
        &self,
        rid: &str,
        component: &str,
        key: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.region_or_404(rid)?;
        if !COMPONENTS.contains(&component) {
            return Err(ApiError::invalid(format!(
                "componentType {component:?} must be one of {}",
                COMPONENTS.join(", ")
            )));
        }
        let s = self.catalog.node_spec(rid, component, key).ok_or_else(|| {
            ApiError::not_found(format!(
                "node spec {key} for {component} not found in region {rid}"
            ))
        })?;
        ApiResponse::ok(s)
    }
}
