//! Private networking of Dedicated v1beta1 (`tidbcloud-api.md` §7.2–§7.4, the dedicated swagger's
//! `PrivateEndpointConnectionService` and `NetworkContainerService`):
//!
//! - the private link service of a TiDB node group (derived from the cluster: `CREATING` while the cluster
//!   is created, `DELETING` while it is deleted, `ACTIVE` otherwise);
//! - private endpoint connections of a node group: `PENDING` → `ACTIVE` after the
//!   `private_endpoint_accept` delay; DELETE → `DELETING` → gone after `private_endpoint_delete`; they go
//!   with their cluster or node group;
//! - network containers (a project's CIDR in a region): `INACTIVE` until a cluster of the project runs in
//!   the region, `ACTIVE` while one does; refused to delete while active or used by a VPC peering;
//! - VPC peerings (project level, on an active network container): `PENDING` until the customer side
//!   accepts it (`POST /_sim/dedicated/vpcPeerings/{id}:accept`), then `ACTIVE`.
use super::clusters::LABEL_PROJECT;
use super::model::TidbNodeGroup;
use super::{ClusterRecord, Dedicated, State, check_id, new_id};
use crate::api::{ApiRequest, ApiResponse, Method, Routed, method_not_allowed};
use crate::error::ApiError;
use crate::paging::paginate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::LazyLock;
use std::time::Instant;

const PROVIDERS: &[&str] = &["aws", "gcp", "azure", "alicloud"];

fn re(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).expect("static pattern compiles")
}

static AWS_VPCE: LazyLock<regex::Regex> = LazyLock::new(|| re(r"^vpce-[0-9a-f]{8}([0-9a-f]{9})?$"));
static AWS_VPC: LazyLock<regex::Regex> = LazyLock::new(|| re(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$"));
static AWS_ACCOUNT: LazyLock<regex::Regex> = LazyLock::new(|| re(r"^[0-9]{12}$"));
static AWS_REGION: LazyLock<regex::Regex> =
    LazyLock::new(|| re(r"^aws-[a-z]{2}(-gov)?-[a-z]+-[0-9]$"));
static GCP_REGION: LazyLock<regex::Regex> = LazyLock::new(|| re(r"^gcp-[a-z]+-[a-z]+[0-9]$"));
static GCP_NAME: LazyLock<regex::Regex> =
    LazyLock::new(|| re(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"));
static GCP_PROJECT: LazyLock<regex::Regex> =
    LazyLock::new(|| re(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$"));
static GCP_FORWARDING_RULE: LazyLock<regex::Regex> = LazyLock::new(|| {
    re(
        r"^projects/([a-z][-a-z0-9]{4,28}[a-z0-9])/regions/([a-z0-9-]+)/forwardingRules/([a-z]([-a-z0-9]{0,61}[a-z0-9])?)$",
    )
});
static AZURE_ENDPOINT: LazyLock<regex::Regex> = LazyLock::new(|| {
    re(
        r"(?i)^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/resourceGroups/[-\w.()]{1,90}/providers/Microsoft\.Network/privateEndpoints/([A-Za-z0-9][-A-Za-z0-9_.]{0,78}[A-Za-z0-9_])$",
    )
});
static PEERING_ID: LazyLock<regex::Regex> =
    LazyLock::new(|| re(r"^(aws|gcp|azure|alicloud)-[0-9a-z]{1,40}$"));

// ---- wire models --------------------------------------------------------------------------------------------

/// `dedicatedv1beta1PrivateLinkService` (all fields output only).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateLinkService {
    pub name: String,
    pub tidb_node_group_id: String,
    pub service_name: String,
    pub service_dns_name: String,
    /// AWS only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub available_zones: Vec<String>,
    pub state: String,
    pub region_id: String,
    pub region_display_name: String,
    pub cloud_provider: String,
}

/// `dedicatedv1beta1PrivateEndpointConnection`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointConnection {
    pub name: String,
    pub tidb_node_group_id: String,
    pub private_endpoint_connection_id: String,
    pub cluster_id: String,
    pub cluster_display_name: String,
    pub labels: BTreeMap<String, String>,
    pub endpoint_id: String,
    /// Azure only (x-nullable): omitted elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
    pub endpoint_state: String,
    pub message: String,
    pub region_id: String,
    pub region_display_name: String,
    pub cloud_provider: String,
    pub private_link_service_name: String,
    pub private_link_service_state: String,
    pub tidb_node_group_display_name: String,
    /// Google Cloud only (x-nullable): omitted elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub host: String,
    pub port: i32,
}

#[derive(Debug, Clone)]
pub struct PecRecord {
    pub pec: PrivateEndpointConnection,
    /// At `.0` the connection becomes `.1` (`None`: it disappears).
    pending: Option<(Instant, Option<&'static str>)>,
    gone: bool,
}

impl PecRecord {
    fn advance(&mut self, now: Instant) {
        let Some((at, to)) = self.pending else { return };
        if now < at {
            return;
        }
        match to {
            None => self.gone = true,
            Some(state) => self.pec.endpoint_state = state.to_string(),
        }
        self.pending = None;
    }
}

/// `v1beta1NetworkContainer`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkContainer {
    pub name: String,
    pub network_container_id: String,
    pub labels: BTreeMap<String, String>,
    pub region_id: String,
    pub cidr_notation: String,
    pub cloud_provider: String,
    pub state: String,
    pub region_display_name: String,
    pub vpc_id: String,
}

/// `dedicatedv1beta1VpcPeering`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcPeering {
    pub name: String,
    pub vpc_peering_id: String,
    pub labels: BTreeMap<String, String>,
    pub tidb_cloud_region_id: String,
    pub customer_region_id: String,
    pub customer_account_id: String,
    pub customer_vpc_id: String,
    pub customer_vpc_cidr: String,
    pub tidb_cloud_cloud_provider: String,
    pub tidb_cloud_account_id: String,
    pub tidb_cloud_vpc_id: String,
    pub tidb_cloud_vpc_cidr: String,
    pub state: String,
    /// AWS only; never sent as `null` (the Terraform provider would dereference it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_vpc_peering_connection_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct VpcPeeringRecord {
    pub peering: VpcPeering,
    /// The network container whose VPC is peered.
    pub network_container_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListPecs<'a> {
    private_endpoint_connections: Vec<&'a PrivateEndpointConnection>,
    total_size: i32,
    next_page_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListNetworkContainers<'a> {
    network_containers: Vec<&'a NetworkContainer>,
    total_size: i32,
    next_page_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListVpcPeerings<'a> {
    vpc_peerings: Vec<&'a VpcPeering>,
    total_size: i32,
    next_page_token: String,
}

// ---- request bodies (read-only fields accepted and ignored, anything unknown is a 400) -------------------

// Read-only fields are parsed (so that an echoed object is accepted) and never read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreatePec {
    endpoint_id: Option<String>,
    tidb_node_group_id: Option<String>,
    private_ip_address: Option<String>,
    name: Option<serde_json::Value>,
    private_endpoint_connection_id: Option<serde_json::Value>,
    cluster_id: Option<serde_json::Value>,
    cluster_display_name: Option<serde_json::Value>,
    labels: Option<serde_json::Value>,
    endpoint_state: Option<serde_json::Value>,
    message: Option<serde_json::Value>,
    region_id: Option<serde_json::Value>,
    region_display_name: Option<serde_json::Value>,
    cloud_provider: Option<serde_json::Value>,
    private_link_service_name: Option<serde_json::Value>,
    private_link_service_state: Option<serde_json::Value>,
    tidb_node_group_display_name: Option<serde_json::Value>,
    account_id: Option<serde_json::Value>,
    host: Option<serde_json::Value>,
    port: Option<serde_json::Value>,
}

// Read-only fields are parsed (so that an echoed object is accepted) and never read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateNetworkContainer {
    region_id: Option<String>,
    cidr_notation: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<serde_json::Value>,
    network_container_id: Option<serde_json::Value>,
    cloud_provider: Option<serde_json::Value>,
    state: Option<serde_json::Value>,
    region_display_name: Option<serde_json::Value>,
    vpc_id: Option<serde_json::Value>,
}

// Read-only fields are parsed (so that an echoed object is accepted) and never read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateVpcPeering {
    tidb_cloud_region_id: Option<String>,
    customer_region_id: Option<String>,
    customer_account_id: Option<String>,
    customer_vpc_id: Option<String>,
    customer_vpc_cidr: Option<String>,
    /// Read-only in the spec; `tidb.cloud/project` is honoured (as on the other creates) to pick a project.
    labels: Option<BTreeMap<String, String>>,
    name: Option<serde_json::Value>,
    vpc_peering_id: Option<serde_json::Value>,
    tidb_cloud_cloud_provider: Option<serde_json::Value>,
    tidb_cloud_account_id: Option<serde_json::Value>,
    tidb_cloud_vpc_id: Option<serde_json::Value>,
    tidb_cloud_vpc_cidr: Option<serde_json::Value>,
    state: Option<serde_json::Value>,
    aws_vpc_peering_connection_id: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FailBody {
    message: Option<String>,
}

// ---- helpers --------------------------------------------------------------------------------------------------

/// Lower-case hex SHA-256 of `seed`: stable made-up identifiers.
fn hex_of(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(seed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `us-west-2` of `aws-us-west-2`.
fn region_code(region_id: &str) -> &str {
    region_id.split_once('-').map_or(region_id, |(_, c)| c)
}

fn tail(id: &str, n: usize) -> &str {
    &id[id.len().saturating_sub(n)..]
}

/// AWS availability zone ids of a region: `us-west-2` → `usw2-az1`, `usw2-az2`, `usw2-az3`.
fn aws_zone_ids(code: &str) -> Vec<String> {
    let parts: Vec<&str> = code.split('-').collect();
    let abbr = match parts.as_slice() {
        [geo, dir, n] => {
            let d = match *dir {
                "northeast" => "ne",
                "southeast" => "se",
                "northwest" => "nw",
                "southwest" => "sw",
                "central" => "c",
                other => other.get(..1).unwrap_or_default(),
            };
            format!("{geo}{d}{n}")
        }
        _ => code.replace('-', ""),
    };
    (1..=3).map(|i| format!("{abbr}-az{i}")).collect()
}

fn uuid_from_hex(h: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn pls_state(cluster_state: &str) -> &'static str {
    match cluster_state {
        "CREATING" => "CREATING",
        "DELETING" => "DELETING",
        _ => "ACTIVE",
    }
}

fn node_group<'a>(c: &'a ClusterRecord, gid: &str) -> Option<&'a TidbNodeGroup> {
    c.cluster
        .tidb_node_setting
        .tidb_node_groups
        .iter()
        .find(|g| g.tidb_node_group_id == gid)
}

fn node_group_or_404<'a>(c: &'a ClusterRecord, gid: &str) -> Result<&'a TidbNodeGroup, ApiError> {
    node_group(c, gid).ok_or_else(|| {
        ApiError::not_found(format!(
            "TiDB node group {gid} not found in cluster {}",
            c.cluster.cluster_id
        ))
    })
}

fn cluster_project(c: &ClusterRecord) -> &str {
    c.cluster
        .labels
        .get(LABEL_PROJECT)
        .map(String::as_str)
        .unwrap_or_default()
}

fn private_link_service(c: &ClusterRecord, g: &TidbNodeGroup) -> PrivateLinkService {
    let cid = &c.cluster.cluster_id;
    let gid = &g.tidb_node_group_id;
    let provider = c.cluster.cloud_provider.as_str();
    let code = region_code(&c.cluster.region_id);
    let h = hex_of(&format!("private-link-service:{gid}"));
    let tag = tail(cid, 8);
    let (service_name, service_dns_name, available_zones) = match provider {
        "aws" => (
            format!("com.amazonaws.vpce.{code}.vpce-svc-{}", &h[..17]),
            format!(
                "privatelink-{}.{tag}.clusters.tidb-cloud.com",
                tail(gid, 10)
            ),
            aws_zone_ids(code),
        ),
        "gcp" => (
            format!(
                "projects/tidbcloud-dp-{}/regions/{code}/serviceAttachments/tidb-{gid}",
                &h[..8]
            ),
            format!("{tag}.{code}.gcp.clusters.tidb-cloud.com"),
            Vec::new(),
        ),
        "azure" => (
            format!(
                "/subscriptions/{}/resourceGroups/tidbcloud-{code}/providers/Microsoft.Network/privateLinkServices/tidb-{gid}",
                uuid_from_hex(&h)
            ),
            format!("{tag}.{code}.azure.clusters.tidb-cloud.com"),
            Vec::new(),
        ),
        other => (
            format!("{other}-pls-{}", &h[..17]),
            format!(
                "privatelink-{}.{tag}.clusters.tidb-cloud.com",
                tail(gid, 10)
            ),
            Vec::new(),
        ),
    };
    PrivateLinkService {
        name: format!("tidbNodeGroups/{gid}/privateLinkService"),
        tidb_node_group_id: gid.clone(),
        service_name,
        service_dns_name,
        available_zones,
        state: pls_state(&c.cluster.state).to_string(),
        region_id: c.cluster.region_id.clone(),
        region_display_name: c.cluster.region_display_name.clone(),
        cloud_provider: c.cluster.cloud_provider.clone(),
    }
}

/// What an endpoint id says: `(accountId, endpoint name)`.
fn check_endpoint_id(
    provider: &str,
    code: &str,
    id: &str,
) -> Result<(Option<String>, String), ApiError> {
    let bad = |what: &str| {
        ApiError::invalid(format!(
            "endpointId {id:?} is not a valid {what} for a private endpoint connection on {provider}"
        ))
    };
    match provider {
        "aws" => {
            if !AWS_VPCE.is_match(id) {
                return Err(bad(
                    "AWS VPC endpoint ID (vpce- followed by 8 or 17 lower-case hexadecimal digits)",
                ));
            }
            Ok((None, id.to_string()))
        }
        "gcp" => {
            if let Some(caps) = GCP_FORWARDING_RULE.captures(id) {
                let region = caps.get(2).map_or("", |m| m.as_str());
                if region != code {
                    return Err(ApiError::invalid(format!(
                        "endpointId {id:?} is in region {region}, but the cluster is in {code}"
                    )));
                }
                let project = caps.get(1).map_or("", |m| m.as_str()).to_string();
                let name = caps.get(3).map_or("", |m| m.as_str()).to_string();
                return Ok((Some(project), name));
            }
            if GCP_NAME.is_match(id) {
                return Ok((None, id.to_string()));
            }
            Err(bad(
                "Private Service Connect endpoint (projects/{project}/regions/{region}/forwardingRules/{name}, or the endpoint name)",
            ))
        }
        "azure" => match AZURE_ENDPOINT.captures(id) {
            Some(caps) => Ok((None, caps.get(1).map_or("", |m| m.as_str()).to_string())),
            None => Err(bad(
                "Azure private endpoint resource ID (/subscriptions/{uuid}/resourceGroups/{group}/providers/Microsoft.Network/privateEndpoints/{name})",
            )),
        },
        _ => {
            if id.is_empty() || id.len() > 255 || id.chars().any(char::is_whitespace) {
                return Err(bad("endpoint ID"));
            }
            Ok((None, id.to_string()))
        }
    }
}

/// An IPv4 CIDR block: `(network address, prefix length)`; host bits must be zero.
fn parse_cidr(field: &str, s: &str) -> Result<(u32, u8), ApiError> {
    let bad =
        |why: &str| ApiError::invalid(format!("{field} {s:?} is not a valid CIDR block: {why}"));
    let (addr, len) = s
        .split_once('/')
        .ok_or_else(|| bad("expected an IPv4 address, '/', and a prefix length"))?;
    let ip: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| bad("the prefix length must be 0 to 32"))?;
    let ip = u32::from(ip);
    if ip & !mask(len) != 0 {
        return Err(bad(&format!(
            "host bits are set (the network address is {}/{len})",
            Ipv4Addr::from(ip & mask(len))
        )));
    }
    Ok((ip, len))
}

fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

fn overlaps(a: (u32, u8), b: (u32, u8)) -> bool {
    let k = a.1.min(b.1);
    a.0 & mask(k) == b.0 & mask(k)
}

fn cidr_string(c: (u32, u8)) -> String {
    format!("{}/{}", Ipv4Addr::from(c.0), c.1)
}

/// An IPv4 block: network address and prefix length.
type Block = (u32, u8);

/// The project CIDR rules of a cloud provider.
struct CidrRules {
    /// Blocks a project CIDR must lie in.
    ranges: &'static [Block],
    /// Allowed prefix lengths.
    lengths: std::ops::RangeInclusive<u8>,
    /// The region's default block.
    default: Block,
}

/// The project CIDR rules of the TiDB Cloud console ("Set a CIDR for a region", pingcap/docs
/// `tidb-cloud/set-up-vpc-peering-connections.md`).
fn cidr_rules(provider: &str) -> CidrRules {
    const AWS: &[Block] = &[
        (0x0AFA_0000, 15), // 10.250.0.0 - 10.251.255.255
        (0xAC10_0000, 12), // 172.16.0.0 - 172.31.255.255
        (0xC0A8_0000, 16), // 192.168.0.0 - 192.168.255.255
    ];
    const GCP: &[Block] = &[
        (0x0AFA_0000, 15), // 10.250.0.0 - 10.251.255.255
        (0xAC10_0000, 15), // 172.16.0.0 - 172.17.255.255
        (0xAC1E_0000, 15), // 172.30.0.0 - 172.31.255.255
    ];
    match provider {
        "gcp" => CidrRules {
            ranges: GCP,
            lengths: 19..=20,
            default: (0xAC10_0000, 19),
        },
        _ => CidrRules {
            ranges: AWS,
            lengths: 16..=23,
            default: (0xAC10_0000, 21),
        },
    }
}

fn check_provider_filter(req: &ApiRequest) -> Result<Option<String>, ApiError> {
    match req.query_one("cloudProvider").filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) if PROVIDERS.contains(&p) => Ok(Some(p.to_string())),
        Some(p) => Err(ApiError::invalid(format!(
            "cloudProvider {p:?} must be one of {}",
            PROVIDERS.join(", ")
        ))),
    }
}

fn check_peering_id(id: &str) -> Result<(), ApiError> {
    if !PEERING_ID.is_match(id) {
        return Err(ApiError::invalid(format!(
            "invalid vpcPeeringId {id:?}: it must look like {{cloud_provider}}-{{suffix}}, e.g. aws-1234567890123456789"
        )));
    }
    Ok(())
}

fn empty() -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
}

impl State {
    /// Applies due private endpoint transitions, drops what went with its cluster or node group, and
    /// refreshes the fields derived from the cluster (display names, private link service state, port,
    /// network container state).
    pub(super) fn tick_network(&mut self, now: Instant) {
        for p in self.private_endpoints.iter_mut() {
            p.advance(now);
        }
        let clusters = &self.clusters;
        self.private_endpoints.retain(|p| {
            !p.gone
                && clusters.iter().any(|c| {
                    c.cluster.cluster_id == p.pec.cluster_id
                        && node_group(c, &p.pec.tidb_node_group_id).is_some()
                })
        });
        for p in self.private_endpoints.iter_mut() {
            let Some(c) = clusters
                .iter()
                .find(|c| c.cluster.cluster_id == p.pec.cluster_id)
            else {
                continue;
            };
            p.pec.cluster_display_name = c.cluster.display_name.clone();
            p.pec.private_link_service_state = pls_state(&c.cluster.state).to_string();
            p.pec.port = c.cluster.port;
            if let Some(g) = node_group(c, &p.pec.tidb_node_group_id) {
                p.pec.tidb_node_group_display_name = g.display_name.clone();
            }
        }
        for n in self.network_containers.iter_mut() {
            let project = n.labels.get(LABEL_PROJECT).map(String::as_str);
            let active = clusters.iter().any(|c| {
                c.cluster.region_id == n.region_id
                    && Some(cluster_project(c)) == project
                    && c.cluster.state != "DELETING"
            });
            n.state = if active { "ACTIVE" } else { "INACTIVE" }.to_string();
        }
    }
}

impl Dedicated {
    /// The project named by a create's `labels` (only `tidb.cloud/project` is accepted), else the default.
    fn project_of(&self, labels: Option<&BTreeMap<String, String>>) -> Result<String, ApiError> {
        let mut project = None;
        for (k, v) in labels.into_iter().flatten() {
            if k != LABEL_PROJECT {
                return Err(ApiError::invalid(format!(
                    "label {k:?} is not allowed: only {LABEL_PROJECT} can be set on create"
                )));
            }
            if !v.is_empty() {
                project = Some(v.clone());
            }
        }
        match project {
            None => Ok(self.catalog.default_project().id.clone()),
            Some(p) => self
                .catalog
                .project(&p)
                .map(|p| p.id.clone())
                .ok_or_else(|| {
                    ApiError::invalid(format!("project {p:?} does not exist in this organization"))
                }),
        }
    }

    /// Routes of this file; `None` when the path is not one of them.
    pub(super) fn network_route(&self, req: &ApiRequest) -> Option<Routed> {
        let segs = req.segments();
        let m = req.method;
        let routed = |route: &'static str, result: Result<ApiResponse, ApiError>| {
            Some(Routed { route, result })
        };
        match &segs[..] {
            [
                "v1beta1",
                "clusters",
                cid,
                "tidbNodeGroups",
                gid,
                "privateLinkService",
            ] => {
                const T: &str = "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateLinkService";
                match m {
                    Method::Get => routed(T, self.get_private_link_service(cid, gid)),
                    _ => Some(method_not_allowed(T, req)),
                }
            }
            [
                "v1beta1",
                "clusters",
                cid,
                "tidbNodeGroups",
                gid,
                "privateEndpointConnections",
            ] => {
                const T: &str = "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections";
                match m {
                    Method::Get => routed(T, self.list_private_endpoints(cid, gid, req)),
                    Method::Post => routed(T, self.create_private_endpoint(cid, gid, req)),
                    _ => Some(method_not_allowed(T, req)),
                }
            }
            [
                "v1beta1",
                "clusters",
                cid,
                "tidbNodeGroups",
                gid,
                "privateEndpointConnections",
                pid,
            ] => {
                const T: &str = "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections/{privateEndpointConnectionId}";
                match m {
                    Method::Get => routed(T, self.get_private_endpoint(cid, gid, pid)),
                    Method::Delete => routed(T, self.delete_private_endpoint(cid, gid, pid)),
                    _ => Some(method_not_allowed(T, req)),
                }
            }
            ["v1beta1", "networkContainers"] => {
                const T: &str = "/v1beta1/networkContainers";
                match m {
                    Method::Get => routed(T, self.list_network_containers(req)),
                    Method::Post => routed(T, self.create_network_container(req)),
                    _ => Some(method_not_allowed(T, req)),
                }
            }
            ["v1beta1", "networkContainers", id] => {
                const T: &str = "/v1beta1/networkContainers/{networkContainerId}";
                match m {
                    Method::Get => routed(T, self.get_network_container(id)),
                    Method::Delete => routed(T, self.delete_network_container(id)),
                    _ => Some(method_not_allowed(T, req)),
                }
            }
            ["v1beta1", "vpcPeerings"] => {
                const T: &str = "/v1beta1/vpcPeerings";
                match m {
                    Method::Get => routed(T, self.list_vpc_peerings(req)),
                    Method::Post => routed(T, self.create_vpc_peering(req)),
                    _ => Some(method_not_allowed(T, req)),
                }
            }
            ["v1beta1", "vpcPeerings", id] => {
                const T: &str = "/v1beta1/vpcPeerings/{vpcPeeringId}";
                match m {
                    Method::Get => routed(T, self.get_vpc_peering(id)),
                    Method::Delete => routed(T, self.delete_vpc_peering(id)),
                    _ => Some(method_not_allowed(T, req)),
                }
            }
            _ => None,
        }
    }

    /// `POST /_sim/dedicated/vpcPeerings/{id}:accept` (the customer accepts the peering: `PENDING` →
    /// `ACTIVE`), `POST /_sim/dedicated/vpcPeerings/{id}:fail` (`PENDING` → `FAILED`),
    /// `POST /_sim/dedicated/privateEndpointConnections/{id}:fail {"message"?}` (→ `FAILED`).
    pub(super) fn network_admin(&self, req: &ApiRequest) -> Option<Routed> {
        let segs = req.segments();
        match (req.method, &segs[..]) {
            (Method::Post, ["dedicated", "vpcPeerings", seg]) => {
                let (id, verb) = seg.rsplit_once(':')?;
                let (route, to) = match verb {
                    "accept" => (
                        "/_sim/dedicated/vpcPeerings/{vpcPeeringId}:accept",
                        "ACTIVE",
                    ),
                    "fail" => ("/_sim/dedicated/vpcPeerings/{vpcPeeringId}:fail", "FAILED"),
                    _ => return None,
                };
                Some(Routed {
                    route,
                    result: self.settle_vpc_peering(id, to),
                })
            }
            (Method::Post, ["dedicated", "privateEndpointConnections", seg]) => {
                let id = seg.strip_suffix(":fail")?;
                Some(Routed {
                    route: "/_sim/dedicated/privateEndpointConnections/{privateEndpointConnectionId}:fail",
                    result: self.fail_private_endpoint(id, req),
                })
            }
            _ => None,
        }
    }

    // ---- private link service and private endpoint connections ----------------------------------------------

    fn get_private_link_service(&self, cid: &str, gid: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        check_id("tidbNodeGroupId", gid)?;
        let s = self.state();
        let c = s.cluster(cid)?;
        let g = node_group_or_404(c, gid)?;
        ApiResponse::ok(&private_link_service(c, g))
    }

    fn create_private_endpoint(
        &self,
        cid: &str,
        gid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        check_id("tidbNodeGroupId", gid)?;
        let body: CreatePec = req.json()?;
        let validate_only = req.query_bool("validateOnly")?;
        if let Some(b) = body.tidb_node_group_id.as_deref().filter(|b| !b.is_empty())
            && b != gid
        {
            return Err(ApiError::invalid(format!(
                "tidbNodeGroupId {b:?} in the body does not match the path ({gid})"
            )));
        }
        let endpoint_id = body
            .endpoint_id
            .clone()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| ApiError::invalid("endpointId is required"))?;
        let mut s = self.state();
        let c = s.cluster(cid)?;
        let g = node_group_or_404(c, gid)?;
        let pls = private_link_service(c, g);
        let provider = c.cluster.cloud_provider.clone();
        let code = region_code(&c.cluster.region_id);
        let (account_id, endpoint_name) = check_endpoint_id(&provider, code, &endpoint_id)?;
        let private_ip = match body.private_ip_address.as_deref().filter(|a| !a.is_empty()) {
            None => None,
            Some(a) if provider == "azure" => Some(
                a.parse::<Ipv4Addr>()
                    .map_err(|_| {
                        ApiError::invalid(format!("privateIpAddress {a:?} is not an IPv4 address"))
                    })?
                    .to_string(),
            ),
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "privateIpAddress is for Azure only; the cluster is on {provider}"
                )));
            }
        };
        if validate_only && provider != "azure" {
            return Err(ApiError::invalid(format!(
                "validateOnly is supported for Azure only; the cluster is on {provider}"
            )));
        }
        if pls.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "the private link service of TiDB node group {gid} is {}: private endpoint connections \
                 can be created once the cluster is created",
                pls.state
            )));
        }
        if s.private_endpoints.iter().any(|p| {
            p.pec.tidb_node_group_id == gid
                && p.pec.endpoint_id == endpoint_id
                && p.pec.endpoint_state != "DELETING"
        }) {
            return Err(ApiError::invalid(format!(
                "a private endpoint connection for endpoint {endpoint_id} already exists in TiDB node group {gid}"
            )));
        }
        let id = new_id();
        let host = match provider.as_str() {
            "gcp" => format!("{endpoint_name}.{}", pls.service_dns_name),
            "azure" => format!(
                "{endpoint_name}-{}.{}",
                &hex_of(&id)[..6],
                pls.service_dns_name
            ),
            _ => pls.service_dns_name.clone(),
        };
        let pec = PrivateEndpointConnection {
            name: format!("tidbNodeGroups/{gid}/privateEndpointConnections/{id}"),
            tidb_node_group_id: gid.to_string(),
            private_endpoint_connection_id: id,
            cluster_id: cid.to_string(),
            cluster_display_name: c.cluster.display_name.clone(),
            labels: BTreeMap::from([(LABEL_PROJECT.to_string(), cluster_project(c).to_string())]),
            endpoint_id,
            private_ip_address: private_ip,
            endpoint_state: "PENDING".into(),
            message: String::new(),
            region_id: c.cluster.region_id.clone(),
            region_display_name: c.cluster.region_display_name.clone(),
            cloud_provider: provider,
            private_link_service_name: pls.service_name,
            private_link_service_state: pls.state,
            tidb_node_group_display_name: g.display_name.clone(),
            account_id,
            host,
            port: c.cluster.port,
        };
        if validate_only {
            return ApiResponse::ok(&pec);
        }
        let out = ApiResponse::ok(&pec)?.committed();
        s.private_endpoints.push(PecRecord {
            pec,
            pending: Some((
                Instant::now() + self.delays.private_endpoint_accept,
                Some("ACTIVE"),
            )),
            gone: false,
        });
        Ok(out)
    }

    fn list_private_endpoints(
        &self,
        cid: &str,
        gid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        if cid != "-" {
            check_id("clusterId", cid)?;
        }
        if gid != "-" {
            check_id("tidbNodeGroupId", gid)?;
        }
        let provider = check_provider_filter(req)?;
        let project = req
            .query_one("projectId")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .or_else(|| (cid == "-").then(|| self.catalog.default_project().id.clone()));
        let s = self.state();
        if cid != "-" {
            let c = s.cluster(cid)?;
            if gid != "-" {
                node_group_or_404(c, gid)?;
            }
        }
        let items: Vec<&PrivateEndpointConnection> = s
            .private_endpoints
            .iter()
            .map(|p| &p.pec)
            .filter(|p| cid == "-" || p.cluster_id == cid)
            .filter(|p| gid == "-" || p.tidb_node_group_id == gid)
            .filter(|p| {
                project
                    .as_deref()
                    .is_none_or(|pr| p.labels.get(LABEL_PROJECT).map(String::as_str) == Some(pr))
            })
            .filter(|p| provider.as_deref().is_none_or(|pr| p.cloud_provider == pr))
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListPecs {
            private_endpoint_connections: page.items,
            total_size: page.total as i32,
            next_page_token: page.next_token,
        })
    }

    fn find_pec<'a>(
        s: &'a State,
        cid: &str,
        gid: &str,
        pid: &str,
    ) -> Result<&'a PecRecord, ApiError> {
        check_id("clusterId", cid)?;
        check_id("tidbNodeGroupId", gid)?;
        check_id("privateEndpointConnectionId", pid)?;
        let c = s.cluster(cid)?;
        node_group_or_404(c, gid)?;
        s.private_endpoints
            .iter()
            .find(|p| {
                p.pec.cluster_id == cid
                    && p.pec.tidb_node_group_id == gid
                    && p.pec.private_endpoint_connection_id == pid
            })
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "private endpoint connection {pid} not found in TiDB node group {gid}"
                ))
            })
    }

    fn get_private_endpoint(
        &self,
        cid: &str,
        gid: &str,
        pid: &str,
    ) -> Result<ApiResponse, ApiError> {
        let s = self.state();
        ApiResponse::ok(&Self::find_pec(&s, cid, gid, pid)?.pec)
    }

    fn delete_private_endpoint(
        &self,
        cid: &str,
        gid: &str,
        pid: &str,
    ) -> Result<ApiResponse, ApiError> {
        let delay = self.delays.private_endpoint_delete;
        let mut s = self.state();
        Self::find_pec(&s, cid, gid, pid)?;
        let Some(p) = s
            .private_endpoints
            .iter_mut()
            .find(|p| p.pec.private_endpoint_connection_id == pid)
        else {
            return Err(ApiError::not_found(format!(
                "private endpoint connection {pid} not found"
            )));
        };
        if p.pec.endpoint_state == "DELETING" {
            return ApiResponse::ok(&serde_json::json!({}));
        }
        p.pec.endpoint_state = "DELETING".into();
        p.pending = Some((Instant::now() + delay, None));
        empty()
    }

    fn fail_private_endpoint(&self, pid: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        check_id("privateEndpointConnectionId", pid)?;
        let body: FailBody = req.json()?;
        let mut s = self.state();
        let p = s
            .private_endpoints
            .iter_mut()
            .find(|p| p.pec.private_endpoint_connection_id == pid)
            .ok_or_else(|| {
                ApiError::not_found(format!("private endpoint connection {pid} not found"))
            })?;
        p.pec.endpoint_state = "FAILED".into();
        p.pec.message = body.message.filter(|m| !m.is_empty()).unwrap_or_else(|| {
            format!("The VPC Endpoint Id '{}' does not exist", p.pec.endpoint_id)
        });
        p.pending = None;
        ApiResponse::ok(&p.pec)
    }

    // ---- network containers -----------------------------------------------------------------------------------

    fn create_network_container(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: CreateNetworkContainer = req.json()?;
        let validate_only = req.query_bool("validateOnly")?;
        let region_id = body
            .region_id
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiError::invalid("regionId is required"))?;
        let region = self.catalog.region(&region_id).ok_or_else(|| {
            ApiError::invalid(format!(
                "regionId {region_id:?} is not a region (see GET /v1beta1/regions)"
            ))
        })?;
        let project = self.project_of(body.labels.as_ref())?;
        let provider = region.cloud_provider.clone();
        let CidrRules {
            ranges,
            lengths,
            default,
        } = cidr_rules(&provider);
        let mut s = self.state();
        let taken: Vec<(u32, u8)> = s
            .network_containers
            .iter()
            .filter(|n| n.labels.get(LABEL_PROJECT) == Some(&project))
            .filter_map(|n| parse_cidr("cidrNotation", &n.cidr_notation).ok())
            .collect();
        if let Some(n) = s
            .network_containers
            .iter()
            .find(|n| n.region_id == region_id && n.labels.get(LABEL_PROJECT) == Some(&project))
        {
            return Err(ApiError::invalid(format!(
                "project {project} already has network container {} ({}) in region {region_id}",
                n.network_container_id, n.cidr_notation
            )));
        }
        let cidr = match body.cidr_notation.as_deref().filter(|c| !c.is_empty()) {
            Some(text) => {
                let cidr = parse_cidr("cidrNotation", text)?;
                if !lengths.contains(&cidr.1) {
                    return Err(ApiError::invalid(format!(
                        "cidrNotation {text:?}: the block size must be between /{} and /{} on {provider}",
                        lengths.start(),
                        lengths.end()
                    )));
                }
                if !ranges
                    .iter()
                    .any(|r| cidr.1 >= r.1 && cidr.0 & mask(r.1) == r.0)
                {
                    return Err(ApiError::invalid(format!(
                        "cidrNotation {text:?} is outside the ranges supported on {provider}: {}",
                        ranges
                            .iter()
                            .map(|r| cidr_string(*r))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                if let Some(t) = taken.iter().find(|t| overlaps(**t, cidr)) {
                    return Err(ApiError::invalid(format!(
                        "cidrNotation {text:?} overlaps {} of another network container of project {project}",
                        cidr_string(*t)
                    )));
                }
                cidr
            }
            None => {
                // The region's default block, or the next free one of its size.
                // Blocks of that size, from the default on, inside the allowed range that holds it.
                let size = 1u32 << (32 - default.1);
                let range_end = ranges
                    .iter()
                    .find(|r| default.0 & mask(r.1) == r.0)
                    .map_or(default.0, |r| r.0 | !mask(r.1));
                let mut candidate = default;
                while taken.iter().any(|t| overlaps(*t, candidate)) {
                    candidate.0 = candidate.0.saturating_add(size);
                    if candidate.0 > range_end || candidate.0 == u32::MAX {
                        return Err(ApiError::invalid(format!(
                            "no free default CIDR left for project {project}: set cidrNotation"
                        )));
                    }
                }
                candidate
            }
        };
        let id = new_id();
        let h = hex_of(&format!("network-container:{id}"));
        let code = region_code(&region_id);
        let vpc_id = match provider.as_str() {
            "aws" => format!("vpc-{}", &h[..17]),
            "gcp" => format!("tidbcloud-{code}-{}", &h[..8]),
            "azure" => format!("tidbcloud-vnet-{code}-{}", &h[..8]),
            other => format!("{other}-vpc-{}", &h[..12]),
        };
        let container = NetworkContainer {
            name: format!("networkContainers/{id}"),
            network_container_id: id,
            labels: BTreeMap::from([(LABEL_PROJECT.to_string(), project.clone())]),
            region_id: region_id.clone(),
            cidr_notation: cidr_string(cidr),
            cloud_provider: provider,
            state: "INACTIVE".into(),
            region_display_name: region.display_name.clone(),
            vpc_id,
        };
        if validate_only {
            return ApiResponse::ok(&container);
        }
        s.network_containers.push(container);
        s.tick_network(Instant::now());
        let Some(created) = s.network_containers.last() else {
            return Err(ApiError::internal("network container vanished"));
        };
        Ok(ApiResponse::ok(created)?.committed())
    }

    fn list_network_containers(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let provider = check_provider_filter(req)?;
        let project = req
            .query_one("projectId")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| self.catalog.default_project().id.clone());
        let s = self.state();
        let items: Vec<&NetworkContainer> = s
            .network_containers
            .iter()
            .filter(|n| n.labels.get(LABEL_PROJECT) == Some(&project))
            .filter(|n| provider.as_deref().is_none_or(|p| n.cloud_provider == p))
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListNetworkContainers {
            network_containers: page.items,
            total_size: page.total as i32,
            next_page_token: page.next_token,
        })
    }

    fn get_network_container(&self, id: &str) -> Result<ApiResponse, ApiError> {
        check_id("networkContainerId", id)?;
        let s = self.state();
        let n = s
            .network_containers
            .iter()
            .find(|n| n.network_container_id == id)
            .ok_or_else(|| ApiError::not_found(format!("network container {id} not found")))?;
        ApiResponse::ok(n)
    }

    fn delete_network_container(&self, id: &str) -> Result<ApiResponse, ApiError> {
        check_id("networkContainerId", id)?;
        let mut s = self.state();
        let n = s
            .network_containers
            .iter()
            .find(|n| n.network_container_id == id)
            .ok_or_else(|| ApiError::not_found(format!("network container {id} not found")))?;
        if n.state == "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "Network container can not be deleted: it is ACTIVE, a cluster of project {} runs in region {}",
                n.labels
                    .get(LABEL_PROJECT)
                    .map(String::as_str)
                    .unwrap_or_default(),
                n.region_id
            )));
        }
        let peerings: Vec<&str> = s
            .vpc_peerings
            .iter()
            .filter(|p| p.network_container_id == id)
            .map(|p| p.peering.vpc_peering_id.as_str())
            .collect();
        if !peerings.is_empty() {
            return Err(ApiError::invalid(format!(
                "Network container can not be deleted: VPC peering(s) {} use it",
                peerings.join(", ")
            )));
        }
        s.network_containers
            .retain(|n| n.network_container_id != id);
        empty()
    }

    // ---- VPC peerings -----------------------------------------------------------------------------------------

    fn create_vpc_peering(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: CreateVpcPeering = req.json()?;
        let required = |v: &Option<String>, name: &str| {
            v.clone()
                .filter(|x| !x.is_empty())
                .ok_or_else(|| ApiError::invalid(format!("{name} is required")))
        };
        let region_id = required(&body.tidb_cloud_region_id, "tidbCloudRegionId")?;
        let account = required(&body.customer_account_id, "customerAccountId")?;
        let vpc = required(&body.customer_vpc_id, "customerVpcId")?;
        let cidr_text = required(&body.customer_vpc_cidr, "customerVpcCidr")?;
        let region = self.catalog.region(&region_id).ok_or_else(|| {
            ApiError::invalid(format!(
                "tidbCloudRegionId {region_id:?} is not a region (see GET /v1beta1/regions)"
            ))
        })?;
        let provider = region.cloud_provider.clone();
        let customer_region = body.customer_region_id.clone().unwrap_or_default();
        match provider.as_str() {
            "aws" => {
                if customer_region.is_empty() {
                    return Err(ApiError::invalid(
                        "customerRegionId is required for an AWS VPC peering",
                    ));
                }
                if !AWS_REGION.is_match(&customer_region) {
                    return Err(ApiError::invalid(format!(
                        "customerRegionId {customer_region:?} is not an AWS region id ({{cloud_provider}}-{{region_code}}, e.g. aws-us-west-2)"
                    )));
                }
                if !AWS_ACCOUNT.is_match(&account) {
                    return Err(ApiError::invalid(format!(
                        "customerAccountId {account:?} is not an AWS account ID (12 digits)"
                    )));
                }
                if !AWS_VPC.is_match(&vpc) {
                    return Err(ApiError::invalid(format!(
                        "customerVpcId {vpc:?} is not an AWS VPC ID (vpc- followed by 8 or 17 lower-case hexadecimal digits)"
                    )));
                }
            }
            "gcp" => {
                if !customer_region.is_empty() && !GCP_REGION.is_match(&customer_region) {
                    return Err(ApiError::invalid(format!(
                        "customerRegionId {customer_region:?} is not a Google Cloud region id ({{cloud_provider}}-{{region_code}}, e.g. gcp-us-central1)"
                    )));
                }
                if !GCP_PROJECT.is_match(&account) {
                    return Err(ApiError::invalid(format!(
                        "customerAccountId {account:?} is not a Google Cloud project ID"
                    )));
                }
                if !GCP_NAME.is_match(&vpc) {
                    return Err(ApiError::invalid(format!(
                        "customerVpcId {vpc:?} is not a Google Cloud network name"
                    )));
                }
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "VPC peering is available on AWS and Google Cloud only; region {region_id} is on {other}"
                )));
            }
        }
        let customer_cidr = parse_cidr("customerVpcCidr", &cidr_text)?;
        let project = self.project_of(body.labels.as_ref())?;
        let mut s = self.state();
        let container = s
            .network_containers
            .iter()
            .find(|n| n.region_id == region_id && n.labels.get(LABEL_PROJECT) == Some(&project))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "project {project} has no network container (project CIDR) in region {region_id}: \
                     create one first (POST /v1beta1/networkContainers)"
                ))
            })?
            .clone();
        if container.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "the network container {} of region {region_id} is INACTIVE: it becomes ACTIVE once a \
                 cluster of project {project} is created in the region",
                container.network_container_id
            )));
        }
        let ours = parse_cidr("cidrNotation", &container.cidr_notation)?;
        if overlaps(ours, customer_cidr) {
            return Err(ApiError::invalid(format!(
                "customerVpcCidr {cidr_text} overlaps the TiDB Cloud VPC CIDR {}",
                container.cidr_notation
            )));
        }
        if let Some(p) = s.vpc_peerings.iter().find(|p| {
            p.network_container_id == container.network_container_id
                && p.peering.customer_account_id == account
                && p.peering.customer_vpc_id == vpc
        }) {
            return Err(ApiError::invalid(format!(
                "VPC {vpc} of account {account} is already peered with region {region_id} ({})",
                p.peering.vpc_peering_id
            )));
        }
        let id = format!("{provider}-{}", new_id());
        let h = hex_of(&format!("vpc-peering:{id}"));
        let tidb_account = match provider.as_str() {
            "aws" => {
                let digits: String = hex_of(&format!("aws-account:{project}"))
                    .bytes()
                    .map(|b| char::from(b'0' + b % 10))
                    .take(11)
                    .collect();
                format!("3{digits}")
            }
            _ => format!("tidbcloud-prod-{}", &hex_of(&format!("gcp:{project}"))[..6]),
        };
        let peering = VpcPeering {
            name: format!("vpcPeerings/{id}"),
            vpc_peering_id: id,
            labels: BTreeMap::from([(LABEL_PROJECT.to_string(), project)]),
            tidb_cloud_region_id: region_id,
            customer_region_id: customer_region,
            customer_account_id: account,
            customer_vpc_id: vpc,
            customer_vpc_cidr: cidr_string(customer_cidr),
            tidb_cloud_cloud_provider: provider.clone(),
            tidb_cloud_account_id: tidb_account,
            tidb_cloud_vpc_id: container.vpc_id.clone(),
            tidb_cloud_vpc_cidr: container.cidr_notation.clone(),
            state: "PENDING".into(),
            aws_vpc_peering_connection_id: (provider == "aws").then(|| format!("pcx-{}", &h[..17])),
        };
        let out = ApiResponse::ok(&peering)?.committed();
        s.vpc_peerings.push(VpcPeeringRecord {
            peering,
            network_container_id: container.network_container_id,
        });
        Ok(out)
    }

    fn list_vpc_peerings(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let provider = check_provider_filter(req)?;
        let project = req
            .query_one("projectId")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| self.catalog.default_project().id.clone());
        let s = self.state();
        let items: Vec<&VpcPeering> = s
            .vpc_peerings
            .iter()
            .map(|p| &p.peering)
            .filter(|p| p.labels.get(LABEL_PROJECT) == Some(&project))
            .filter(|p| {
                provider
                    .as_deref()
                    .is_none_or(|pr| p.tidb_cloud_cloud_provider == pr)
            })
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListVpcPeerings {
            vpc_peerings: page.items,
            total_size: page.total as i32,
            next_page_token: page.next_token,
        })
    }

    fn get_vpc_peering(&self, id: &str) -> Result<ApiResponse, ApiError> {
        check_peering_id(id)?;
        let s = self.state();
        let p = s
            .vpc_peerings
            .iter()
            .find(|p| p.peering.vpc_peering_id == id)
            .ok_or_else(|| ApiError::not_found(format!("VPC peering {id} not found")))?;
        ApiResponse::ok(&p.peering)
    }

    fn delete_vpc_peering(&self, id: &str) -> Result<ApiResponse, ApiError> {
        check_peering_id(id)?;
        let mut s = self.state();
        let before = s.vpc_peerings.len();
        s.vpc_peerings.retain(|p| p.peering.vpc_peering_id != id);
        if s.vpc_peerings.len() == before {
            return Err(ApiError::not_found(format!("VPC peering {id} not found")));
        }
        empty()
    }

    fn settle_vpc_peering(&self, id: &str, to: &str) -> Result<ApiResponse, ApiError> {
        check_peering_id(id)?;
        let mut s = self.state();
        let p = s
            .vpc_peerings
            .iter_mut()
            .find(|p| p.peering.vpc_peering_id == id)
            .ok_or_else(|| ApiError::not_found(format!("VPC peering {id} not found")))?;
        if p.peering.state != "PENDING" {
            return Err(ApiError::invalid(format!(
                "VPC peering {id} is {}: only a PENDING peering can be accepted or failed",
                p.peering.state
            )));
        }
        p.peering.state = to.to_string();
        ApiResponse::ok(&p.peering)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_overlap() {
        assert_eq!(
            parse_cidr("f", "172.16.0.0/21").ok(),
            Some((0xAC10_0000, 21))
        );
        for bad in [
            "172.16.0.1/21",
            "172.16.0.0",
            "172.16.0.0/33",
            "300.1.1.1/8",
            "",
            "/",
            "a/b",
        ] {
            assert!(parse_cidr("f", bad).is_err(), "{bad}");
        }
        assert!(overlaps((0xAC10_0000, 21), (0xAC10_0000, 12)));
        assert!(!overlaps((0xAC10_0000, 21), (0xAC10_0800, 21)));
    }

    #[test]
    fn endpoint_ids_follow_each_provider() {
        assert!(check_endpoint_id("aws", "us-west-2", "vpce-0a1b2c3d4e5f6a7b8").is_ok());
        assert!(check_endpoint_id("aws", "us-west-2", "vpce-0a1b2c3d").is_ok());
        assert!(check_endpoint_id("aws", "us-west-2", "vpce-xyz").is_err());
        let (account, name) = check_endpoint_id(
            "gcp",
            "us-central1",
            "projects/my-project/regions/us-central1/forwardingRules/ep-1",
        )
        .expect("gcp path");
        assert_eq!(
            (account.as_deref(), name.as_str()),
            (Some("my-project"), "ep-1")
        );
        assert!(
            check_endpoint_id(
                "gcp",
                "us-central1",
                "projects/my-project/regions/europe-west1/forwardingRules/ep-1"
            )
            .is_err()
        );
        assert!(check_endpoint_id("azure", "eastus2", "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe1").is_ok());
        assert!(check_endpoint_id("azure", "eastus2", "pe1").is_err());
    }

    #[test]
    fn aws_zone_ids_abbreviate_the_region() {
        assert_eq!(aws_zone_ids("us-west-2")[0], "usw2-az1");
        assert_eq!(aws_zone_ids("ap-northeast-1")[2], "apne1-az3");
        assert_eq!(aws_zone_ids("eu-central-1")[0], "euc1-az1");
    }
}
