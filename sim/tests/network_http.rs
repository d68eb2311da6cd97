//! HTTP tests of the private networking routes (private link service, private endpoint connections,
//! network containers, VPC peerings) and the IAM SQL users, through the digest client of `common`.
//!
//! Each test starts its own simulator; waits are on conditions with timeouts (`wait_for`, `observe_until`).
mod common;

use clouddb_sim::{Delays, QuotaConfig, SimConfig, Simulator};
use common::{Client, Resp, cluster_body, observe_until, wait_for};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const STAGING_PROJECT: &str = "1372813089454525999";
const DEFAULT_PROJECT: &str = "1372813089454525346";
const CONTAINERS: &str = "/v1beta1/networkContainers";
const PEERINGS: &str = "/v1beta1/vpcPeerings";

// ---- helpers --------------------------------------------------------------------------------------------

fn config(delays: Delays) -> SimConfig {
    SimConfig {
        delays,
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        ..SimConfig::default()
    }
}

async fn sim_with(delays: Delays) -> (Simulator, Client) {
    let sim = common::start(config(delays)).await;
    let c = Client::new(&sim);
    (sim, c)
}

fn state_is(state: &'static str) -> impl Fn(&Resp) -> bool {
    move |r: &Resp| r.body["state"] == state
}

#[track_caller]
fn ok(r: &Resp) {
    assert_eq!(r.status.as_u16(), 200, "body {}", r.body);
}

fn s<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v}"))
}

/// The Dedicated error shape `{code, message, details: []}` with `status` and a message containing `text`.
#[track_caller]
fn rpc_error(r: &Resp, status: u16, text: &str) {
    assert_eq!(r.status.as_u16(), status, "status; body {}", r.body);
    let keys: BTreeSet<&str> = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", r.body))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["code", "message", "details"]),
        "{}",
        r.body
    );
    assert_eq!(r.body["code"], json!(status), "{}", r.body);
    assert!(r.message().contains(text), "{text:?} not in {}", r.body);
}

/// The IAM error shape `{code: "<status>", error, msgPrefix, status}`.
#[track_caller]
fn iam_error(r: &Resp, status: u16, text: &str) {
    assert_eq!(r.status.as_u16(), status, "status; body {}", r.body);
    assert_eq!(r.body["code"], json!(status.to_string()), "{}", r.body);
    assert_eq!(r.body["status"], json!(status), "{}", r.body);
    assert!(r.body["msgPrefix"].is_string(), "{}", r.body);
    let e = r.body["error"].as_str().unwrap_or_default();
    assert!(e.contains(text), "{text:?} not in {}", r.body);
}

/// Creates a cluster in `region` and waits until it is ACTIVE: `(clusterId, default node group id)`.
async fn active_cluster(c: &Client, name: &str, region: &str) -> (String, String) {
    let mut body = cluster_body(name);
    body["regionId"] = json!(region);
    let r = c.post("/v1beta1/clusters", body).await;
    ok(&r);
    let id = s(&r.body, "/clusterId").to_string();
    let gid = s(&r.body, "/tidbNodeSetting/tidbNodeGroups/0/tidbNodeGroupId").to_string();
    wait_for(
        c,
        &format!("/v1beta1/clusters/{id}"),
        WAIT,
        state_is("ACTIVE"),
    )
    .await;
    (id, gid)
}

fn pecs(cid: &str, gid: &str) -> String {
    format!("/v1beta1/clusters/{cid}/tidbNodeGroups/{gid}/privateEndpointConnections")
}

fn pls(cid: &str, gid: &str) -> String {
    format!("/v1beta1/clusters/{cid}/tidbNodeGroups/{gid}/privateLinkService")
}

fn sql_users(cid: &str) -> String {
    format!("/v1beta1/clusters/{cid}/sqlUsers")
}

const VPCE: &str = "vpce-0a1b2c3d4e5f6a7b8";
const AZURE_PE: &str = "/subscriptions/6f1c1c3e-2b7a-4f0e-9f61-0c2a4c1d2e3f/resourceGroups/app-rg/providers/Microsoft.Network/privateEndpoints/tidb-pe";

fn aws_peering(region: &str) -> Value {
    json!({
        "tidbCloudRegionId": region,
        "customerRegionId": "aws-us-west-2",
        "customerAccountId": "123456789012",
        "customerVpcId": "vpc-0123456789abcdef0",
        "customerVpcCidr": "10.0.0.0/16"
    })
}

// ---- private link service ---------------------------------------------------------------------------------

#[tokio::test]
async fn private_link_service_follows_the_cluster_and_its_cloud() {
    let (_sim, c) = sim_with(Delays {
        cluster_create: Duration::from_secs(1),
        cluster_delete: Duration::from_secs(600),
        ..Delays::instant()
    })
    .await;
    let r = c.post("/v1beta1/clusters", cluster_body("pls-aws")).await;
    ok(&r);
    let cid = s(&r.body, "/clusterId").to_string();
    let gid = s(&r.body, "/tidbNodeSetting/tidbNodeGroups/0/tidbNodeGroupId").to_string();
    let uri = pls(&cid, &gid);
    let seen = observe_until(&c, &uri, WAIT, state_is("ACTIVE")).await;
    assert_eq!(
        seen[0].body["state"], "CREATING",
        "the service is CREATING with its cluster: {}",
        seen[0].body
    );
    let b = &seen.last().expect("seen").body;
    assert_eq!(
        b["name"],
        format!("tidbNodeGroups/{gid}/privateLinkService")
    );
    assert_eq!(b["tidbNodeGroupId"], gid.as_str());
    assert!(
        s(b, "/serviceName").starts_with("com.amazonaws.vpce.us-west-2.vpce-svc-"),
        "{b}"
    );
    assert!(
        s(b, "/serviceDnsName").ends_with(".clusters.tidb-cloud.com"),
        "{b}"
    );
    assert_eq!(
        b["availableZones"],
        json!(["usw2-az1", "usw2-az2", "usw2-az3"])
    );
    assert_eq!(
        (&b["regionId"], &b["regionDisplayName"], &b["cloudProvider"]),
        (
            &json!("aws-us-west-2"),
            &json!("Oregon (us-west-2)"),
            &json!("aws")
        )
    );
    // Stable between reads.
    assert_eq!(&c.get(&uri).await.body, b);

    let (gcid, ggid) = active_cluster(&c, "pls-gcp", "gcp-us-central1").await;
    let g = c.get(&pls(&gcid, &ggid)).await;
    ok(&g);
    assert!(
        s(&g.body, "/serviceName").starts_with("projects/"),
        "{}",
        g.body
    );
    assert!(
        g.body.get("availableZones").is_none(),
        "AWS only: {}",
        g.body
    );
    let (acid, agid) = active_cluster(&c, "pls-azure", "azure-eastus2").await;
    let a = c.get(&pls(&acid, &agid)).await;
    ok(&a);
    assert!(
        s(&a.body, "/serviceName").starts_with("/subscriptions/"),
        "{}",
        a.body
    );

    rpc_error(
        &c.get(&pls(&cid, "1234567890123456789")).await,
        404,
        "node group",
    );
    rpc_error(
        &c.get(&pls("1234567890123456789", &gid)).await,
        404,
        "cluster",
    );
    rpc_error(&c.get(&pls("abc", &gid)).await, 400, "clusterId");
    rpc_error(&c.post(&uri, json!({})).await, 405, "not allowed");

    c.delete(&format!("/v1beta1/clusters/{cid}")).await;
    assert_eq!(c.get(&uri).await.body["state"], "DELETING");
}

// ---- private endpoint connections -------------------------------------------------------------------------

#[tokio::test]
async fn private_endpoint_connection_goes_pending_active_deleting_gone() {
    let step = Duration::from_secs(1);
    let (_sim, c) = sim_with(Delays {
        private_endpoint_accept: step,
        private_endpoint_delete: step,
        ..Delays::instant()
    })
    .await;
    let (cid, gid) = active_cluster(&c, "pec-aws", "aws-us-west-2").await;
    let list = pecs(&cid, &gid);
    let r = c.post(&list, json!({"endpointId": VPCE})).await;
    ok(&r);
    let b = &r.body;
    assert_eq!(b["endpointState"], "PENDING", "{b}");
    let pid = s(b, "/privateEndpointConnectionId").to_string();
    assert_eq!(
        b["name"],
        format!("tidbNodeGroups/{gid}/privateEndpointConnections/{pid}")
    );
    assert_eq!(
        (
            &b["clusterId"],
            &b["tidbNodeGroupId"],
            &b["clusterDisplayName"]
        ),
        (&json!(cid), &json!(gid), &json!("pec-aws"))
    );
    assert_eq!(b["labels"], json!({"tidb.cloud/project": DEFAULT_PROJECT}));
    assert_eq!(b["message"], "");
    assert_eq!(b["port"], 4000);
    assert_eq!(b["tidbNodeGroupDisplayName"], "DefaultGroup");
    assert_eq!(b["privateLinkServiceState"], "ACTIVE");
    assert!(b.get("privateIpAddress").is_none(), "Azure only: {b}");
    assert!(b.get("accountId").is_none(), "Google Cloud only: {b}");
    let service = c.get(&pls(&cid, &gid)).await;
    assert_eq!(b["privateLinkServiceName"], service.body["serviceName"]);
    assert_eq!(b["host"], service.body["serviceDnsName"]);

    let one = format!("{list}/{pid}");
    let seen = observe_until(&c, &one, WAIT, |r| r.body["endpointState"] == "ACTIVE").await;
    assert!(seen.len() > 1, "PENDING is visible before ACTIVE");
    assert_eq!(seen[0].body["endpointState"], "PENDING");

    rpc_error(
        &c.post(&list, json!({"endpointId": VPCE})).await,
        400,
        "already exists",
    );

    // Lists: this group, every group of the cluster, across clusters of the project, filters.
    for uri in [
        list.clone(),
        pecs(&cid, "-"),
        pecs("-", "-"),
        format!("{}?projectId={DEFAULT_PROJECT}", pecs("-", "-")),
        format!("{list}?cloudProvider=aws"),
    ] {
        let r = c.get(&uri).await;
        ok(&r);
        assert_eq!(r.body["totalSize"], 1, "{uri}: {}", r.body);
        assert_eq!(
            r.body["privateEndpointConnections"][0]["privateEndpointConnectionId"],
            pid.as_str()
        );
    }
    for uri in [
        format!("{}?projectId={STAGING_PROJECT}", pecs("-", "-")),
        format!("{list}?cloudProvider=gcp"),
    ] {
        let r = c.get(&uri).await;
        ok(&r);
        assert_eq!(r.body["totalSize"], 0, "{uri}: {}", r.body);
    }
    rpc_error(
        &c.get(&format!("{list}?cloudProvider=ibm")).await,
        400,
        "cloudProvider",
    );
    rpc_error(
        &c.get(&pecs(&cid, "1234567890123456789")).await,
        404,
        "node group",
    );

    // A cluster rename shows in the connection.
    ok(&c
        .patch(
            &format!("/v1beta1/clusters/{cid}"),
            json!({"displayName": "pec-renamed"}),
        )
        .await);
    assert_eq!(c.get(&one).await.body["clusterDisplayName"], "pec-renamed");

    let d = c.delete(&one).await;
    ok(&d);
    assert_eq!(d.body, json!({}));
    let seen = observe_until(&c, &one, WAIT, |r| r.status.as_u16() == 404).await;
    assert_eq!(
        seen[0].body["endpointState"], "DELETING",
        "{}",
        seen[0].body
    );
    rpc_error(seen.last().expect("seen"), 404, "not found");
    rpc_error(&c.delete(&one).await, 404, "not found");
    assert_eq!(c.get(&list).await.body["totalSize"], 0);
}

#[tokio::test]
async fn private_endpoint_ids_are_validated_per_cloud_provider() {
    let (_sim, c) = sim_with(Delays::instant()).await;
    let (cid, gid) = active_cluster(&c, "pec-ids-aws", "aws-us-west-2").await;
    let list = pecs(&cid, &gid);
    for bad in [
        json!({}),
        json!({"endpointId": ""}),
        json!({"endpointId": "vpce-xyz"}),
        json!({"endpointId": "vpce-0A1B2C3D4E5F6A7B8"}),
        json!({"endpointId": AZURE_PE}),
        json!({"endpointId": VPCE, "privateIpAddress": "10.0.0.4"}),
        json!({"endpointId": VPCE, "tidbNodeGroupId": "1234567890123456789"}),
        json!({"endpointId": VPCE, "color": "blue"}),
        json!({"endpointId": 5}),
        json!([VPCE]),
    ] {
        let r = c.post(&list, bad.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.body);
    }
    rpc_error(
        &c.post(
            &format!("{list}?validateOnly=true"),
            json!({"endpointId": VPCE}),
        )
        .await,
        400,
        "Azure only",
    );
    // The short (8-digit) form, and read-only fields echoed back are accepted.
    let r = c
        .post(
            &list,
            json!({"endpointId": "vpce-0a1b2c3d", "endpointState": "ACTIVE", "host": "x", "tidbNodeGroupId": gid}),
        )
        .await;
    ok(&r);
    assert_eq!(r.body["endpointState"], "PENDING");

    let (gcid, ggid) = active_cluster(&c, "pec-ids-gcp", "gcp-us-central1").await;
    let glist = pecs(&gcid, &ggid);
    let path = "projects/my-app-project/regions/us-central1/forwardingRules/tidb-endpoint";
    let r = c.post(&glist, json!({"endpointId": path})).await;
    ok(&r);
    assert_eq!(r.body["accountId"], "my-app-project");
    assert!(
        s(&r.body, "/host").starts_with("tidb-endpoint."),
        "{}",
        r.body
    );
    rpc_error(
        &c.post(
            &glist,
            json!({"endpointId": "projects/my-app-project/regions/europe-west1/forwardingRules/x"}),
        )
        .await,
        400,
        "europe-west1",
    );
    rpc_error(
        &c.post(&glist, json!({"endpointId": "Bad_Name"})).await,
        400,
        "endpointId",
    );

    let (acid, agid) = active_cluster(&c, "pec-ids-azure", "azure-eastus2").await;
    let alist = pecs(&acid, &agid);
    let dry = c
        .post(
            &format!("{alist}?validateOnly=true"),
            json!({"endpointId": AZURE_PE, "privateIpAddress": "10.1.2.3"}),
        )
        .await;
    ok(&dry);
    assert_eq!(
        c.get(&alist).await.body["totalSize"],
        0,
        "validateOnly creates nothing"
    );
    let r = c
        .post(
            &alist,
            json!({"endpointId": AZURE_PE, "privateIpAddress": "10.1.2.3"}),
        )
        .await;
    ok(&r);
    assert_eq!(r.body["privateIpAddress"], "10.1.2.3");
    rpc_error(
        &c.post(
            &alist,
            json!({"endpointId": AZURE_PE.replace("tidb-pe", "pe2"), "privateIpAddress": "10.1.2"}),
        )
        .await,
        400,
        "privateIpAddress",
    );
    rpc_error(
        &c.post(&alist, json!({"endpointId": VPCE})).await,
        400,
        "Azure private endpoint",
    );
}

#[tokio::test]
async fn a_cluster_takes_its_endpoints_and_sql_users_with_it() {
    let (sim, c) = sim_with(Delays {
        cluster_delete: Duration::from_millis(300),
        private_endpoint_accept: Duration::from_secs(600),
        ..Delays::instant()
    })
    .await;
    let (cid, gid) = active_cluster(&c, "goes-away", "aws-us-west-2").await;
    let (other, ogid) = active_cluster(&c, "stays", "aws-us-west-2").await;
    let r = c.post(&pecs(&cid, &gid), json!({"endpointId": VPCE})).await;
    ok(&r);
    let pid = s(&r.body, "/privateEndpointConnectionId").to_string();
    ok(&c
        .post(&pecs(&other, &ogid), json!({"endpointId": VPCE}))
        .await);
    let user =
        json!({"userName": "app", "password": "app-password-1", "builtinRole": "role_readwrite"});
    ok(&c.post(&sql_users(&cid), user.clone()).await);
    ok(&c.post(&sql_users(&other), user).await);

    // The admin API can fail a connection, with the service's kind of message.
    let f = c
        .admin(
            Method::POST,
            &format!("dedicated/privateEndpointConnections/{pid}:fail"),
            None,
        )
        .await;
    ok(&f);
    assert_eq!(f.body["endpointState"], "FAILED");
    assert!(s(&f.body, "/message").contains(VPCE), "{}", f.body);

    ok(&c.delete(&format!("/v1beta1/clusters/{cid}")).await);
    wait_for(&c, &format!("/v1beta1/clusters/{cid}"), WAIT, |r| {
        r.status.as_u16() == 404
    })
    .await;
    let all = c.get(&pecs("-", "-")).await;
    ok(&all);
    assert_eq!(all.body["totalSize"], 1, "{}", all.body);
    assert_eq!(
        all.body["privateEndpointConnections"][0]["clusterId"],
        other.as_str()
    );
    iam_error(&c.get(&sql_users(&cid)).await, 404, "cluster");
    let r = c.get(&sql_users(&other)).await;
    ok(&r);
    assert_eq!(r.body["sqlUsers"].as_array().map(Vec::len), Some(1));
    rpc_error(
        &c.admin(
            Method::POST,
            &format!("dedicated/privateEndpointConnections/{pid}:fail"),
            None,
        )
        .await,
        404,
        "not found",
    );
    drop(sim);
}

// ---- network containers -----------------------------------------------------------------------------------

#[tokio::test]
async fn network_containers_validate_region_and_cidr() {
    let (_sim, c) = sim_with(Delays::instant()).await;
    let r = c
        .post(CONTAINERS, json!({"regionId": "aws-us-west-2"}))
        .await;
    ok(&r);
    let b = &r.body;
    let id = s(b, "/networkContainerId").to_string();
    assert_eq!(b["name"], format!("networkContainers/{id}"));
    assert_eq!(b["cidrNotation"], "172.16.0.0/21", "the region's default");
    assert_eq!(b["state"], "INACTIVE", "no cluster in the region yet");
    assert_eq!(b["cloudProvider"], "aws");
    assert_eq!(b["regionDisplayName"], "Oregon (us-west-2)");
    assert_eq!(b["labels"], json!({"tidb.cloud/project": DEFAULT_PROJECT}));
    assert!(s(b, "/vpcId").starts_with("vpc-"), "{b}");

    // The next default block of the project does not overlap the first.
    let r = c
        .post(CONTAINERS, json!({"regionId": "aws-us-east-1"}))
        .await;
    ok(&r);
    assert_eq!(r.body["cidrNotation"], "172.16.8.0/21");
    // Google Cloud's default is a /19, past the project's blocks, inside Google Cloud's ranges.
    let r = c
        .post(CONTAINERS, json!({"regionId": "gcp-europe-west1"}))
        .await;
    ok(&r);
    assert_eq!(r.body["cidrNotation"], "172.16.32.0/19");
    assert!(s(&r.body, "/vpcId").starts_with("tidbcloud-"), "{}", r.body);
    rpc_error(
        &c.post(
            CONTAINERS,
            json!({"regionId": "aws-us-west-2", "cidrNotation": "10.250.0.0/16"}),
        )
        .await,
        400,
        "already has network container",
    );

    for (body, text) in [
        (json!({}), "regionId is required"),
        (json!({"regionId": "aws-mars-1"}), "not a region"),
        (
            json!({"regionId": "aws-eu-central-1", "cidrNotation": "172.16.0.1/21"}),
            "host bits",
        ),
        (
            json!({"regionId": "aws-eu-central-1", "cidrNotation": "172.16.0.0/24"}),
            "/16 and /23",
        ),
        (
            json!({"regionId": "aws-eu-central-1", "cidrNotation": "8.8.0.0/16"}),
            "outside the ranges",
        ),
        (
            json!({"regionId": "aws-eu-central-1", "cidrNotation": "10.0.0.0/16"}),
            "outside the ranges",
        ),
        (
            json!({"regionId": "aws-eu-central-1", "cidrNotation": "172.16.4.0/22"}),
            "overlaps",
        ),
        (
            json!({"regionId": "aws-eu-central-1", "cidrNotation": "not-a-cidr"}),
            "not a valid CIDR",
        ),
        (
            json!({"regionId": "gcp-us-central1", "cidrNotation": "172.16.64.0/21"}),
            "/19 and /20",
        ),
        (
            json!({"regionId": "gcp-us-central1", "cidrNotation": "192.168.0.0/19"}),
            "outside the ranges",
        ),
        (
            json!({"regionId": "aws-eu-central-1", "labels": {"team": "a"}}),
            "not allowed",
        ),
        (
            json!({"regionId": "aws-eu-central-1", "labels": {"tidb.cloud/project": "42"}}),
            "does not exist",
        ),
        (
            json!({"regionId": "aws-eu-central-1", "size": 3}),
            "unknown field",
        ),
    ] {
        rpc_error(&c.post(CONTAINERS, body.clone()).await, 400, text);
    }
    let r = c
        .post(
            &format!("{CONTAINERS}?validateOnly=true"),
            json!({"regionId": "gcp-us-central1", "cidrNotation": "172.30.0.0/19"}),
        )
        .await;
    ok(&r);
    assert_eq!(r.body["cloudProvider"], "gcp");
    let r = c
        .post(
            CONTAINERS,
            json!({"regionId": "gcp-us-central1", "cidrNotation": "10.250.0.0/20", "labels": {"tidb.cloud/project": STAGING_PROJECT}}),
        )
        .await;
    ok(&r);
    let staging_id = s(&r.body, "/networkContainerId").to_string();

    let l = c.get(CONTAINERS).await;
    ok(&l);
    assert_eq!(l.body["totalSize"], 3, "default project only: {}", l.body);
    let l = c
        .get(&format!("{CONTAINERS}?projectId={STAGING_PROJECT}"))
        .await;
    assert_eq!(l.body["totalSize"], 1, "{}", l.body);
    assert_eq!(
        l.body["networkContainers"][0]["networkContainerId"],
        staging_id.as_str()
    );
    let l = c.get(&format!("{CONTAINERS}?cloudProvider=gcp")).await;
    assert_eq!(l.body["totalSize"], 1, "{}", l.body);
    let l = c.get(&format!("{CONTAINERS}?cloudProvider=azure")).await;
    assert_eq!(l.body["totalSize"], 0, "{}", l.body);
    let l = c.get(&format!("{CONTAINERS}?pageSize=1")).await;
    assert_eq!(
        l.body["networkContainers"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(!s(&l.body, "/nextPageToken").is_empty());
    rpc_error(
        &c.get(&format!("{CONTAINERS}?cloudProvider=AWS")).await,
        400,
        "cloudProvider",
    );

    let one = format!("{CONTAINERS}/{id}");
    let g = c.get(&one).await;
    ok(&g);
    assert_eq!(g.body["networkContainerId"], id.as_str());
    rpc_error(
        &c.get(&format!("{CONTAINERS}/abc")).await,
        400,
        "networkContainerId",
    );
    rpc_error(
        &c.get(&format!("{CONTAINERS}/1234567890123456789")).await,
        404,
        "not found",
    );
    rpc_error(&c.patch(&one, json!({})).await, 405, "not allowed");
    let d = c.delete(&one).await;
    ok(&d);
    assert_eq!(d.body, json!({}));
    rpc_error(&c.get(&one).await, 404, "not found");
}

#[tokio::test]
async fn a_network_container_in_use_cannot_be_deleted() {
    let (_sim, c) = sim_with(Delays {
        cluster_delete: Duration::from_millis(200),
        ..Delays::instant()
    })
    .await;
    let r = c
        .post(
            CONTAINERS,
            json!({"regionId": "aws-us-west-2", "cidrNotation": "192.168.0.0/20"}),
        )
        .await;
    ok(&r);
    let one = format!("{CONTAINERS}/{}", s(&r.body, "/networkContainerId"));
    let (cid, _) = active_cluster(&c, "uses-the-cidr", "aws-us-west-2").await;
    assert_eq!(c.get(&one).await.body["state"], "ACTIVE");
    rpc_error(
        &c.delete(&one).await,
        400,
        "Network container can not be deleted",
    );
    let p = c.post(PEERINGS, aws_peering("aws-us-west-2")).await;
    ok(&p);
    assert_eq!(p.body["tidbCloudVpcCidr"], "192.168.0.0/20");
    let peering = format!("{PEERINGS}/{}", s(&p.body, "/vpcPeeringId"));

    ok(&c.delete(&format!("/v1beta1/clusters/{cid}")).await);
    wait_for(&c, &one, WAIT, state_is("INACTIVE")).await;
    rpc_error(&c.delete(&one).await, 400, "VPC peering");
    ok(&c.delete(&peering).await);
    ok(&c.delete(&one).await);
    rpc_error(&c.get(&one).await, 404, "not found");
}

// ---- VPC peerings -----------------------------------------------------------------------------------------

#[tokio::test]
async fn a_vpc_peering_is_pending_until_the_customer_accepts_it() {
    let (_sim, c) = sim_with(Delays::instant()).await;
    ok(&c
        .post(CONTAINERS, json!({"regionId": "aws-us-west-2"}))
        .await);
    active_cluster(&c, "peered", "aws-us-west-2").await;
    let r = c.post(PEERINGS, aws_peering("aws-us-west-2")).await;
    ok(&r);
    let b = r.body.clone();
    let id = s(&b, "/vpcPeeringId").to_string();
    assert!(id.starts_with("aws-"), "{id}");
    assert_eq!(b["name"], format!("vpcPeerings/{id}"));
    assert_eq!(b["state"], "PENDING");
    assert_eq!(b["tidbCloudCloudProvider"], "aws");
    assert_eq!(b["tidbCloudVpcCidr"], "172.16.0.0/21");
    assert!(s(&b, "/tidbCloudVpcId").starts_with("vpc-"), "{b}");
    assert!(
        s(&b, "/tidbCloudAccountId").len() == 12,
        "an AWS account id: {b}"
    );
    assert!(
        s(&b, "/awsVpcPeeringConnectionId").starts_with("pcx-"),
        "the customer accepts this id: {b}"
    );
    assert_eq!(b["labels"], json!({"tidb.cloud/project": DEFAULT_PROJECT}));
    assert_eq!(
        (
            &b["customerRegionId"],
            &b["customerAccountId"],
            &b["customerVpcId"],
            &b["customerVpcCidr"]
        ),
        (
            &json!("aws-us-west-2"),
            &json!("123456789012"),
            &json!("vpc-0123456789abcdef0"),
            &json!("10.0.0.0/16")
        )
    );

    let one = format!("{PEERINGS}/{id}");
    // Nothing happens by itself: still PENDING on later reads.
    for _ in 0..3 {
        assert_eq!(c.get(&one).await.body["state"], "PENDING");
    }
    let a = c
        .admin(
            Method::POST,
            &format!("dedicated/vpcPeerings/{id}:accept"),
            None,
        )
        .await;
    ok(&a);
    assert_eq!(a.body["state"], "ACTIVE");
    assert_eq!(c.get(&one).await.body["state"], "ACTIVE");
    rpc_error(
        &c.admin(
            Method::POST,
            &format!("dedicated/vpcPeerings/{id}:accept"),
            None,
        )
        .await,
        400,
        "only a PENDING peering",
    );
    rpc_error(
        &c.admin(
            Method::POST,
            "dedicated/vpcPeerings/aws-1234567890123456789:accept",
            None,
        )
        .await,
        404,
        "not found",
    );

    let l = c.get(PEERINGS).await;
    ok(&l);
    assert_eq!(l.body["totalSize"], 1);
    assert_eq!(l.body["vpcPeerings"][0]["vpcPeeringId"], id.as_str());
    for uri in [
        format!("{PEERINGS}?cloudProvider=gcp"),
        format!("{PEERINGS}?projectId={STAGING_PROJECT}"),
    ] {
        assert_eq!(c.get(&uri).await.body["totalSize"], 0, "{uri}");
    }
    let d = c.delete(&one).await;
    ok(&d);
    assert_eq!(d.body, json!({}));
    rpc_error(&c.get(&one).await, 404, "not found");
    rpc_error(&c.delete(&one).await, 404, "not found");
}

#[tokio::test]
async fn google_cloud_peerings_have_no_aws_connection_id_and_can_fail() {
    let (_sim, c) = sim_with(Delays::instant()).await;
    ok(&c
        .post(CONTAINERS, json!({"regionId": "gcp-us-central1"}))
        .await);
    active_cluster(&c, "peered-gcp", "gcp-us-central1").await;
    let r = c
        .post(
            PEERINGS,
            json!({"tidbCloudRegionId": "gcp-us-central1", "customerAccountId": "my-gcp-project",
                   "customerVpcId": "app-network", "customerVpcCidr": "10.10.0.0/16"}),
        )
        .await;
    ok(&r);
    assert_eq!(r.body["tidbCloudVpcCidr"], "172.16.0.0/19");
    assert!(
        r.body.get("awsVpcPeeringConnectionId").is_none(),
        "AWS only, never null: {}",
        r.body
    );
    assert_eq!(r.body["customerRegionId"], "");
    let id = s(&r.body, "/vpcPeeringId").to_string();
    assert!(id.starts_with("gcp-"), "{id}");
    let f = c
        .admin(
            Method::POST,
            &format!("dedicated/vpcPeerings/{id}:fail"),
            None,
        )
        .await;
    ok(&f);
    assert_eq!(
        c.get(&format!("{PEERINGS}/{id}")).await.body["state"],
        "FAILED"
    );
}

#[tokio::test]
async fn vpc_peering_input_is_validated() {
    let (_sim, c) = sim_with(Delays::instant()).await;
    let base = aws_peering("aws-us-west-2");
    rpc_error(
        &c.post(PEERINGS, base.clone()).await,
        400,
        "no network container",
    );
    ok(&c
        .post(CONTAINERS, json!({"regionId": "aws-us-west-2"}))
        .await);
    rpc_error(&c.post(PEERINGS, base.clone()).await, 400, "INACTIVE");
    active_cluster(&c, "validated", "aws-us-west-2").await;
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().expect("object").remove(k);
        b
    };
    for (body, text) in [
        (
            without("tidbCloudRegionId"),
            "tidbCloudRegionId is required",
        ),
        (
            without("customerAccountId"),
            "customerAccountId is required",
        ),
        (without("customerVpcId"), "customerVpcId is required"),
        (without("customerVpcCidr"), "customerVpcCidr is required"),
        (without("customerRegionId"), "customerRegionId is required"),
        (
            with("tidbCloudRegionId", json!("aws-mars-1")),
            "not a region",
        ),
        (
            with("tidbCloudRegionId", json!("azure-eastus2")),
            "AWS and Google Cloud only",
        ),
        (
            with("customerRegionId", json!("us-west-2")),
            "customerRegionId",
        ),
        (
            with("customerRegionId", json!("gcp-us-central1")),
            "customerRegionId",
        ),
        (with("customerAccountId", json!("12345")), "AWS account ID"),
        (with("customerVpcId", json!("vpc-xyz")), "AWS VPC ID"),
        (with("customerVpcCidr", json!("10.0.0.1/16")), "host bits"),
        (with("customerVpcCidr", json!("172.16.0.0/16")), "overlaps"),
        (with("peer", json!(true)), "unknown field"),
    ] {
        rpc_error(&c.post(PEERINGS, body.clone()).await, 400, text);
    }
    ok(&c.post(PEERINGS, base.clone()).await);
    rpc_error(&c.post(PEERINGS, base).await, 400, "already peered");
    rpc_error(
        &c.get(&format!("{PEERINGS}/12345")).await,
        400,
        "vpcPeeringId",
    );
    rpc_error(
        &c.get(&format!("{PEERINGS}/aws-1234567890123456789")).await,
        404,
        "not found",
    );
    rpc_error(
        &c.patch(&format!("{PEERINGS}/aws-1"), json!({})).await,
        405,
        "not allowed",
    );
    rpc_error(
        &c.get(&format!("{PEERINGS}?cloudProvider=oracle")).await,
        400,
        "cloudProvider",
    );
}

// ---- SQL users (IAM) --------------------------------------------------------------------------------------

#[tokio::test]
async fn sql_users_are_created_read_updated_and_deleted_with_a_write_only_password() {
    let (_sim, c) = sim_with(Delays::instant()).await;
    let (cid, _) = active_cluster(&c, "sql-users", "aws-us-west-2").await;
    let list = sql_users(&cid);
    let password = "first-Passw0rd";
    let r = c
        .post(
            &list,
            json!({"userName": "app", "password": password, "builtinRole": "role_readwrite",
                   "customRoles": ["reporting"], "authMethod": "mysql_native_password", "autoPrefix": false}),
        )
        .await;
    ok(&r);
    assert_eq!(
        r.body,
        json!({"userName": "app", "authMethod": "mysql_native_password", "builtinRole": "role_readwrite", "customRoles": ["reporting"]})
    );
    // authMethod defaults to the one method; customRoles to [].
    let r = c
        .post(
            &list,
            json!({"userName": "reader", "password": "reader-password", "builtinRole": "role_readonly"}),
        )
        .await;
    ok(&r);
    assert_eq!(r.body["authMethod"], "mysql_native_password");
    assert_eq!(r.body["customRoles"], json!([]));

    let one = format!("{list}/app");
    let g = c.get(&one).await;
    ok(&g);
    assert_eq!(g.body["builtinRole"], "role_readwrite");
    let l = c.get(&list).await;
    ok(&l);
    assert_eq!(l.body["sqlUsers"].as_array().map(Vec::len), Some(2));
    assert_eq!(l.body["nextPageToken"], "");
    let p1 = c.get(&format!("{list}?pageSize=1")).await;
    assert_eq!(p1.body["sqlUsers"].as_array().map(Vec::len), Some(1));
    let token = s(&p1.body, "/nextPageToken").to_string();
    assert!(!token.is_empty());
    let p2 = c.get(&format!("{list}?pageSize=1&pageToken={token}")).await;
    assert_eq!(p2.body["sqlUsers"][0]["userName"], "reader");

    let verify = |pw: &str| {
        let body = json!({"password": pw});
        let path = format!("iam/clusters/{cid}/sqlUsers/app:verifyPassword");
        let c = &c;
        async move { c.admin(Method::POST, &path, Some(body)).await.body["match"].clone() }
    };
    assert_eq!(verify(password).await, json!(true));
    let u = c
        .patch(
            &one,
            json!({"password": "second-Passw0rd", "builtinRole": "role_admin", "customRoles": []}),
        )
        .await;
    ok(&u);
    assert_eq!(
        u.body,
        json!({"userName": "app", "authMethod": "mysql_native_password", "builtinRole": "role_admin", "customRoles": []})
    );
    assert_eq!(verify(password).await, json!(false));
    assert_eq!(verify("second-Passw0rd").await, json!(true));
    // An empty PATCH changes nothing.
    let u = c.patch(&one, json!({})).await;
    ok(&u);
    assert_eq!(u.body["builtinRole"], "role_admin");

    for r in [&g, &l, &u] {
        assert!(!r.body.to_string().contains("Passw0rd"), "{}", r.body);
    }

    let d = c.delete(&one).await;
    ok(&d);
    assert_eq!(d.body, json!({"code": 200, "message": "OK"}));
    iam_error(&c.get(&one).await, 404, "not found");
    iam_error(&c.delete(&one).await, 404, "not found");
    iam_error(&c.patch(&one, json!({})).await, 404, "not found");
}

#[tokio::test]
async fn sql_user_names_roles_and_cluster_state_are_validated() {
    let (_sim, c) = sim_with(Delays {
        cluster_create: Duration::from_secs(600),
        ..Delays::instant()
    })
    .await;
    let r = c
        .post("/v1beta1/clusters", cluster_body("still-creating"))
        .await;
    ok(&r);
    let creating = s(&r.body, "/clusterId").to_string();
    let good = json!({"userName": "app", "password": "app-password", "builtinRole": "role_admin"});
    iam_error(
        &c.post(&sql_users(&creating), good.clone()).await,
        400,
        "CREATING",
    );
    ok(&c.get(&sql_users(&creating)).await);
    iam_error(&c.get(&sql_users("abc")).await, 400, "clusterId");
    iam_error(
        &c.get(&sql_users("1234567890123456789")).await,
        404,
        "cluster",
    );
    iam_error(
        &c.send(Method::PUT, &sql_users(&creating), Some(&json!({})))
            .await,
        405,
        "not allowed",
    );

    // Input validation, on an ACTIVE cluster of a simulator with instant transitions.
    let (_sim2, c2) = sim_with(Delays::instant()).await;
    let (cid, _) = active_cluster(&c2, "validates", "aws-us-west-2").await;
    let list = sql_users(&cid);
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, text) in [
        (with("userName", json!("")), "userName is required"),
        (with("userName", json!("bad name")), "not valid"),
        (with("userName", json!("x".repeat(33))), "not valid"),
        (with("userName", json!("root")), "already exists"),
        (with("password", json!("")), "password is required"),
        (with("password", json!("short")), "8 to 64"),
        (with("builtinRole", json!("")), "builtinRole is required"),
        (
            with("builtinRole", json!("role_owner")),
            "role_admin, role_readonly, role_readwrite",
        ),
        (
            with("authMethod", json!("caching_sha2_password")),
            "mysql_native_password",
        ),
        (with("customRoles", json!(["ok", "ok"])), "twice"),
        (
            with("customRoles", json!(["role_readonly"])),
            "builtin role",
        ),
        (
            with("customRoles", json!(["no way"])),
            "not a valid role name",
        ),
        (with("host", json!("%")), "unknown field"),
        (json!(["app"]), "invalid"),
    ] {
        iam_error(&c2.post(&list, body.clone()).await, 400, text);
    }
    ok(&c2.post(&list, good.clone()).await);
    iam_error(&c2.post(&list, good).await, 400, "already exists");
    let one = format!("{list}/app");
    iam_error(
        &c2.patch(&one, json!({"builtinRole": "role_root"})).await,
        400,
        "builtinRole",
    );
    iam_error(
        &c2.patch(&one, json!({"password": "x"})).await,
        400,
        "8 to 64",
    );
    iam_error(
        &c2.patch(&one, json!({"userName": "other"})).await,
        400,
        "unknown field",
    );
    // Unchanged by the refused patches.
    assert_eq!(c2.get(&one).await.body["builtinRole"], "role_admin");
}

// ---- the binary never logs a SQL user's password ----------------------------------------------------------

/// Runs the `clouddb-sim` binary (plain HTTP, `RUST_LOG=trace`), creates and changes SQL users with
/// passwords (also in refused bodies), and checks that no password appears in its output.
#[tokio::test]
async fn the_binary_never_logs_sql_user_passwords() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let dir = std::env::temp_dir().join(format!(
        "clouddb-sim-sqlusers-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let key = clouddb_sim::ApiKey {
        public_key: "SQLKEY01".into(),
        private_key: "sql-key-private-1d2e3f".into(),
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clouddb-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--profile",
            "instant",
        ])
        .arg("--state-dir")
        .arg(&dir)
        .args(["--api-key", "SQLKEY01:sql-key-private-1d2e3f"])
        .env("RUST_LOG", "trace")
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn clouddb-sim");
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    });
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut out = String::new();
    let base = loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("banner in time")
            .expect("read stdout")
            .unwrap_or_else(|| panic!("clouddb-sim exited early: {out}"));
        out.push_str(&line);
        out.push('\n');
        if let Some(url) = line.strip_prefix("clouddb-sim listening on ") {
            break url.trim().to_string();
        }
    };
    let stdout = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(l)) = lines.next_line().await {
            rest.push_str(&l);
            rest.push('\n');
        }
        rest
    });
    let c = Client::connect(base, None, key);
    let (cid, _) = active_cluster(&c, "logs-no-passwords", "aws-us-west-2").await;
    let users = sql_users(&cid);
    let passwords = [
        "sql-password-at-create-1",
        "sql-password-after-patch-2",
        "sql-password-in-refused-body-3",
    ];
    ok(&c
        .post(
            &users,
            json!({"userName": "app", "password": passwords[0], "builtinRole": "role_admin"}),
        )
        .await);
    ok(&c
        .patch(&format!("{users}/app"), json!({"password": passwords[1]}))
        .await);
    iam_error(
        &c.post(
            &users,
            json!({"userName": "bad name", "password": passwords[2], "builtinRole": "role_admin"}),
        )
        .await,
        400,
        "not valid",
    );
    iam_error(
        &c.patch(
            &format!("{users}/app"),
            json!({"password": passwords[2], "host": "%"}),
        )
        .await,
        400,
        "unknown field",
    );
    let pid = child.id().expect("running").to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("clouddb-sim stops on SIGTERM")
        .expect("wait");
    let all = out + &stdout.await.expect("stdout") + &stderr.await.expect("stderr");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        all.contains("sqlUsers"),
        "requests are logged (so the check below means something): {all}"
    );
    for p in passwords {
        assert!(!all.contains(p), "{p} appears in the output:\n{all}");
    }
}
