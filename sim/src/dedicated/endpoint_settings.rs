//! The public endpoint setting of a TiDB node group (`v1beta1PublicEndpointSetting`): whether the group's
//! `PUBLIC` endpoint exists, and its IP access list.
//!
//! Initial values: the default group's public endpoint is enabled (real default groups list a `PUBLIC`
//! endpoint with a host, reference Appendix A and §3.2), a new non-default group's is disabled (real
//! non-default groups show `PUBLIC` without a host and with port 0); the IP access list starts empty, which
//! the spec defines as "all IPs are allowed". A PATCH is partial: `enabled` null or absent and
//! `ipAccessList` absent leave that part unchanged; a given `ipAccessList` replaces the list (`[]` empties
//! it). The group's `PUBLIC` endpoint follows `enabled` at once.
use super::clusters::ClusterRecord;
use super::node_groups::group_endpoints;
use super::{Dedicated, check_id, timestamp};
use crate::api::{ApiRequest, ApiResponse};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// `v1beta1PublicEndpointSetting` as answered (every field always present).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PublicEndpointSetting {
    pub name: String,
    pub tidb_node_group_id: String,
    pub enabled: bool,
    pub ip_access_list: Vec<IpAccessEntry>,
}

/// `v1beta1PublicEndpointSettingIpAccessList`; `description` is always answered (`""` when not given).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpAccessEntry {
    #[serde(default)]
    pub cidr_notation: String,
    #[serde(default)]
    pub description: String,
}

impl PublicEndpointSetting {
    pub fn initial(group_id: &str, is_default: bool) -> PublicEndpointSetting {
        PublicEndpointSetting {
            name: format!("tidbNodeGroups/{group_id}/publicEndpointSetting"),
            tidb_node_group_id: group_id.to_string(),
            enabled: is_default,
            ip_access_list: Vec::new(),
        }
    }
}

/// PATCH body (read-only `name` accepted and ignored; `tidbNodeGroupId`, if given, must match the path).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // read-only fields are parsed only to be accepted
struct UpdatePublicEndpointSetting {
    enabled: Option<bool>,
    ip_access_list: Option<Vec<Option<IpAccessEntry>>>,
    tidb_node_group_id: Option<String>,
    name: Option<serde_json::Value>,
}

/// Checks an IPv4 CIDR block `a.b.c.d/n` (n 0–32, decimal octets without leading zeros).
fn check_cidr(i: usize, cidr: &str) -> Result<(), ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "ipAccessList[{i}].cidrNotation {cidr:?} is not an IPv4 CIDR block such as 203.0.113.0/24"
        ))
    };
    let (addr, len) = cidr.split_once('/').ok_or_else(bad)?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 3
            && s.bytes().all(|b| b.is_ascii_digit())
            && !(s.len() > 1 && s.starts_with('0'))
    };
    if !plain(len) || len.parse::<u8>().map_or(true, |n| n > 32) {
        return Err(bad());
    }
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() != 4
        || !octets
            .iter()
            .all(|o| plain(o) && o.parse::<u16>().is_ok_and(|n| n <= 255))
    {
        return Err(bad());
    }
    Ok(())
}

impl ClusterRecord {
    /// The group's setting (its initial one when never set).
    fn public_setting(&self, gid: &str) -> Result<PublicEndpointSetting, ApiError> {
        let g = self.group(gid)?;
        Ok(self
            .groups
            .public
            .get(gid)
            .cloned()
            .unwrap_or_else(|| PublicEndpointSetting::initial(gid, g.is_default_group)))
    }

    /// Resolves `-` to the default group.
    fn resolve_group(&self, gid: &str) -> Result<String, ApiError> {
        if gid == "-" {
            return self
                .default_group_id()
                .map(str::to_string)
                .ok_or_else(|| super::node_groups::not_found_group(&self.cluster.cluster_id, gid));
        }
        self.group(gid).map(|g| g.tidb_node_group_id.clone())
    }
}

impl Dedicated {
    pub(super) fn get_public_endpoint_setting(
        &self,
        cid: &str,
        gid: &str,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let s = self.state();
        let record = s.cluster(cid)?;
        let gid = record.resolve_group(gid)?;
        ApiResponse::ok(&record.public_setting(&gid)?)
    }

    pub(super) fn update_public_endpoint_setting(
        &self,
        cid: &str,
        gid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: UpdatePublicEndpointSetting = req.json()?;
        let validate_only = req.query_bool("validateOnly")?;
        let mut s = self.state();
        let record = s.cluster(cid)?;
        let gid = record.resolve_group(gid)?;
        if let Some(b) = body.tidb_node_group_id.as_deref().filter(|b| !b.is_empty())
            && b != gid
        {
            return Err(ApiError::invalid(format!(
                "tidbNodeGroupId {b:?} in the body does not match the path ({gid})"
            )));
        }
        let state = record.cluster.state.as_str();
        if state != "ACTIVE" && state != "MODIFYING" {
            return Err(ApiError::invalid(format!(
                "cluster {cid} is {state}: the public endpoint can be changed only when the cluster is ACTIVE"
            )));
        }
        let mut next = record.public_setting(&gid)?;
        if let Some(e) = body.enabled {
            next.enabled = e;
        }
        if let Some(list) = body.ip_access_list {
            let mut entries = Vec::with_capacity(list.len());
            for (i, e) in list.into_iter().enumerate() {
                let e = e.ok_or_else(|| {
                    ApiError::invalid(format!("ipAccessList[{i}] must be an object, not null"))
                })?;
                if e.cidr_notation.is_empty() {
                    return Err(ApiError::invalid(format!(
                        "ipAccessList[{i}].cidrNotation is required"
                    )));
                }
                check_cidr(i, &e.cidr_notation)?;
                if entries
                    .iter()
                    .any(|x: &IpAccessEntry| x.cidr_notation == e.cidr_notation)
                {
                    return Err(ApiError::invalid(format!(
                        "ipAccessList[{i}].cidrNotation {:?} is listed twice",
                        e.cidr_notation
                    )));
                }
                entries.push(e);
            }
            next.ip_access_list = entries;
        }
        if validate_only {
            return ApiResponse::ok(&next);
        }
        let record = s.cluster_mut(cid)?;
        let changed = record.public_setting(&gid)? != next;
        let (port, cluster_id) = (record.cluster.port, record.cluster.cluster_id.clone());
        if let Some(g) = record
            .cluster
            .tidb_node_setting
            .tidb_node_groups
            .iter_mut()
            .find(|g| g.tidb_node_group_id == gid)
        {
            let fresh = group_endpoints(&cluster_id, &gid, g.is_default_group, port, next.enabled);
            if let (Some(old), Some(new)) = (
                g.endpoints
                    .iter_mut()
                    .find(|e| e.connection_type == "PUBLIC"),
                fresh.into_iter().find(|e| e.connection_type == "PUBLIC"),
            ) {
                *old = new;
            }
        }
        record.groups.public.insert(gid.clone(), next.clone());
        if changed {
            record.cluster.update_time = timestamp();
        }
        let out = ApiResponse::ok(&next)?;
        Ok(if changed { out.committed() } else { out })
    }
}

#[cfg(test)]
mod tests {
    use super::check_cidr;

    #[test]
    fn cidr_blocks_are_checked() {
        for ok in [
            "0.0.0.0/0",
            "203.0.113.0/24",
            "10.1.2.3/32",
            "255.255.255.255/32",
        ] {
            assert!(check_cidr(0, ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.256/8",
            "010.0.0.0/8",
            "a.b.c.d/8",
            "10.0.0.0/-1",
            "10.0.0.0/08",
            "::1/128",
            "10.0.0.0/8/8",
            " 10.0.0.0/8",
        ] {
            assert!(check_cidr(0, bad).is_err(), "{bad:?}");
        }
    }
}
