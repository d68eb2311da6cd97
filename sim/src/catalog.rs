//! The catalogue of regions, node specs, projects and quotas, loaded from a JSON data file
//! (`sim/data/catalog.json` is built in; `--catalog` loads another).
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const BUILTIN: &str = include_str!("../data/catalog.json");
const BUILTIN_PATH: &str = "<built-in sim/data/catalog.json>";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("reading catalogue file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("catalogue {path} is not valid: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "catalogue {path}: region {region} names node spec family {family}, which is not defined"
    )]
    UnknownFamily {
        path: String,
        region: String,
        family: String,
    },
    #[error("catalogue {path}: exactly one project must have \"default\": true")]
    DefaultProject { path: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogFile {
    pub tidb_version: String,
    pub organization: Organization,
    pub projects: Vec<Project>,
    pub node_quota: BTreeMap<String, i32>,
    pub node_spec_families: BTreeMap<String, Vec<NodeSpecTemplate>>,
    pub regions: Vec<RegionTemplate>,
    /// Regions of the Serverless API (Starter / Essential); the built-in list when absent.
    #[serde(default)]
    pub serverless_regions: Option<Vec<ServerlessRegionTemplate>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerlessRegionTemplate {
    pub region_id: String,
    pub display_name: String,
    pub service_plans: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub default: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionTemplate {
    pub region_id: String,
    pub display_name: String,
    pub node_spec_family: String,
    #[serde(default)]
    pub service_plans: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpecTemplate {
    pub component_type: String,
    pub node_spec_key: String,
    pub v_cpu: i32,
    pub memory_size_gi: i32,
    pub default_node_count: i32,
    #[serde(default)]
    pub default: bool,
    pub min_storage_size_gi: Option<i32>,
    pub max_storage_size_gi: Option<i32>,
    pub default_storage_size_gi: Option<i32>,
    #[serde(default)]
    pub storage_types: Vec<String>,
    pub min_raft_store_iops: Option<i32>,
    pub max_raft_store_iops: Option<i32>,
    pub default_raft_store_iops: Option<i32>,
}

/// Region as the API returns it (`commonv1beta1Region`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub name: String,
    pub region_id: String,
    pub cloud_provider: String,
    pub display_name: String,
    pub service_plans: Vec<String>,
}

/// Node spec as the API returns it (`v1beta1NodeSpec`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    pub name: String,
    pub region_id: String,
    pub component_type: String,
    pub node_spec_key: String,
    pub display_name: String,
    pub v_cpu: i32,
    pub memory_size_gi: i32,
    pub default_storage_size_gi: i32,
    pub max_storage_size_gi: i32,
    pub min_storage_size_gi: i32,
    pub default_node_count: i32,
    pub storage_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_raft_store_iops: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_raft_store_iops: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_raft_store_iops: Option<i32>,
    pub version: String,
    pub default: bool,
}

/// The loaded catalogue.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub tidb_version: String,
    pub organization: Organization,
    pub projects: Vec<Project>,
    pub node_quota: BTreeMap<String, i32>,
    pub regions: Vec<Region>,
    /// Node specs of every region, in catalogue order.
    pub node_specs: Vec<NodeSpec>,
    /// Regions of the Serverless API, with the service plans each offers.
    pub serverless_regions: Vec<Region>,
}

impl Catalog {
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Self::parse(BUILTIN, BUILTIN_PATH)
    }

    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: p.clone(),
            source,
        })?;
        Self::parse(&text, &p)
    }

    fn parse(text: &str, path: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile =
            serde_json::from_str(text).map_err(|source| CatalogError::Parse {
                path: path.into(),
                source,
            })?;
        if file.projects.iter().filter(|p| p.default).count() != 1 {
            return Err(CatalogError::DefaultProject { path: path.into() });
        }
        let mut regions = Vec::new();
        let mut node_specs = Vec::new();
        for r in &file.regions {
            let family = file
                .node_spec_families
                .get(&r.node_spec_family)
                .ok_or_else(|| CatalogError::UnknownFamily {
                    path: path.into(),
                    region: r.region_id.clone(),
                    family: r.node_spec_family.clone(),
                })?;
            let cloud = r
                .region_id
                .split('-')
                .next()
                .unwrap_or_default()
                .to_string();
            regions.push(Region {
                name: format!("regions/{}", r.region_id),
                region_id: r.region_id.clone(),
                cloud_provider: cloud,
                display_name: r.display_name.clone(),
                service_plans: r.service_plans.clone(),
            });
            for t in family {
                node_specs.push(NodeSpec {
                    name: format!(
                        "regions/{}/componentTypes/{}/nodeSpecs/{}",
                        r.region_id, t.component_type, t.node_spec_key
                    ),
                    region_id: r.region_id.clone(),
                    component_type: t.component_type.clone(),
                    node_spec_key: t.node_spec_key.clone(),
                    display_name: format!("{} vCPU, {} GiB", t.v_cpu, t.memory_size_gi),
                    v_cpu: t.v_cpu,
                    memory_size_gi: t.memory_size_gi,
                    default_storage_size_gi: t.default_storage_size_gi.unwrap_or(0),
                    max_storage_size_gi: t.max_storage_size_gi.unwrap_or(0),
                    min_storage_size_gi: t.min_storage_size_gi.unwrap_or(0),
                    default_node_count: t.default_node_count,
                    storage_types: t.storage_types.clone(),
                    max_raft_store_iops: t.max_raft_store_iops,
                    min_raft_store_iops: t.min_raft_store_iops,
                    default_raft_store_iops: t.default_raft_store_iops,
                    version: "v1".into(),
                    default: t.default,
                });
            }
        }
        let serverless_regions = match file.serverless_regions {
            Some(list) => list,
            None if path != BUILTIN_PATH => Self::builtin()?
                .serverless_regions
                .into_iter()
                .map(|r| ServerlessRegionTemplate {
                    region_id: r.region_id,
                    display_name: r.display_name,
                    service_plans: r.service_plans,
                })
                .collect(),
            None => Vec::new(),
        }
        .into_iter()
        .map(|r| Region {
            name: format!("regions/{}", r.region_id),
            cloud_provider: r
                .region_id
                .split('-')
                .next()
                .unwrap_or_default()
                .to_string(),
            region_id: r.region_id,
            display_name: r.display_name,
            service_plans: r.service_plans,
        })
        .collect();
        Ok(Catalog {
            serverless_regions,
            tidb_version: file.tidb_version,
            organization: file.organization,
            projects: file.projects,
            node_quota: file.node_quota,
            regions,
            node_specs,
        })
    }

    pub fn region(&self, region_id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.region_id == region_id)
    }

    pub fn node_spec(&self, region_id: &str, component: &str, key: &str) -> Option<&NodeSpec> {
        self.node_specs.iter().find(|s| {
            s.region_id == region_id && s.component_type == component && s.node_spec_key == key
        })
    }

    /// A Serverless region by id.
    pub fn serverless_region(&self, region_id: &str) -> Option<&Region> {
        self.serverless_regions
            .iter()
            .find(|r| r.region_id == region_id)
    }

    pub fn default_project(&self) -> &Project {
        // parse() guarantees exactly one default project.
        self.projects
            .iter()
            .find(|p| p.default)
            .unwrap_or(&self.projects[0])
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_loads_with_specs_for_every_component() {
        let c = Catalog::builtin().expect("built-in catalogue");
        assert!(c.regions.len() >= 6);
        for cloud in ["aws", "gcp", "azure"] {
            assert!(
                c.regions.iter().any(|r| r.cloud_provider == cloud),
                "no {cloud} region"
            );
        }
        for r in &c.regions {
            for comp in ["TIDB", "TIKV", "TIFLASH"] {
                let n = c
                    .node_specs
                    .iter()
                    .filter(|s| s.region_id == r.region_id && s.component_type == comp)
                    .count();
                assert!(n >= 2, "{} has {n} {comp} specs", r.region_id);
            }
        }
        assert!(c.serverless_region("aws-us-east-1").is_some());
        assert!(
            c.serverless_regions
                .iter()
                .all(|r| !r.service_plans.is_empty())
        );
        let s = c.node_spec("aws-us-west-2", "TIKV", "8C32G").expect("spec");
        assert!(s.min_storage_size_gi < s.max_storage_size_gi);
        assert_eq!(s.display_name, "8 vCPU, 32 GiB");
    }
}
