//! Conformance of the private networking routes (private link service, private endpoint connections,
//! network containers, VPC peerings) and the IAM SQL users to the upstream Swagger documents
//! (`dedicated-v1beta1.swagger.json`, `iam-v1beta1.swagger.json`), with the validator of `common/spec.rs`:
//! every response of every new operation, success and error, is validated against the schema the spec
//! declares for it (undefined properties reported too). Errors the IAM spec does not declare (404, 405) are
//! validated against its error definition `api.OpenApiError`.
//!
//! Without the spec files the tests print `conformance: SKIPPED — …` and pass, except under CI.
mod common;

use clouddb_sim::{Delays, QuotaConfig, SimConfig};
use common::spec::{Checker, Spec};
use common::{Client, Resp, cluster_body, wait_for};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const DEDICATED_FILE: &str = "dedicated-v1beta1.swagger.json";
const IAM_FILE: &str = "iam-v1beta1.swagger.json";
const WAIT: Duration = Duration::from_secs(15);

/// `$CLOUDDB_SPECS_DIR` (the `specs/` directory or its `tidbcloud/` subdirectory), else the shared
/// reference next to the repository.
fn specs_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLOUDDB_SPECS_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        let nested = d.join("tidbcloud");
        return if nested.join(DEDICATED_FILE).is_file() {
            nested
        } else {
            d
        };
    }
    common::spec::specs_root().join("tidbcloud")
}

fn load_specs() -> Option<(Spec, Spec)> {
    let dir = specs_dir();
    let dir = dir.canonicalize().unwrap_or(dir);
    let missing: Vec<String> = [DEDICATED_FILE, IAM_FILE]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        common::spec::skip_or_fail(&missing);
        return None;
    }
    Some((
        Spec::load("dedicated", &dir.join(DEDICATED_FILE)),
        Spec::load("iam", &dir.join(IAM_FILE)),
    ))
}

fn s<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v}"))
}

/// Validates IAM error bodies of statuses the IAM spec does not declare against `api.OpenApiError`.
fn iam_undeclared_error(
    ck: &mut Checker,
    iam: &Spec,
    method: &str,
    template: &str,
    uri: &str,
    resp: &Resp,
    status: u16,
) {
    ck.common(method, template, uri, resp, status);
    for p in iam.validate_definition("api.OpenApiError", &resp.body) {
        ck.note(format!(
            "{method} {uri} ({status}) vs iam api.OpenApiError: {p}"
        ));
    }
}

const PLS_T: &str =
    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateLinkService";
const PEC_POST_T: &str = "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{privateEndpointConnection.tidbNodeGroupId}/privateEndpointConnections";
const PEC_LIST_T: &str =
    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections";
const PEC_ONE_T: &str = "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections/{privateEndpointConnectionId}";
const NC_T: &str = "/v1beta1/networkContainers";
const NC_ONE_T: &str = "/v1beta1/networkContainers/{networkContainerId}";
const VP_T: &str = "/v1beta1/vpcPeerings";
const VP_ONE_T: &str = "/v1beta1/vpcPeerings/{vpcPeeringId}";
const SU_T: &str = "/v1beta1/clusters/{clusterId}/sqlUsers";
const SU_ONE_T: &str = "/v1beta1/clusters/{clusterId}/sqlUsers/{userName}";

const EXPECTED_COVERAGE: &[&str] = &[
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateLinkService 200",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateLinkService 400",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateLinkService 404",
    "POST /v1beta1/clusters/{clusterId}/tidbNodeGroups/{privateEndpointConnection.tidbNodeGroupId}/privateEndpointConnections 200",
    "POST /v1beta1/clusters/{clusterId}/tidbNodeGroups/{privateEndpointConnection.tidbNodeGroupId}/privateEndpointConnections 400",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections 200",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections 400",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections/{privateEndpointConnectionId} 200",
    "GET /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections/{privateEndpointConnectionId} 404",
    "DELETE /v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/privateEndpointConnections/{privateEndpointConnectionId} 200",
    "POST /v1beta1/networkContainers 200",
    "POST /v1beta1/networkContainers 400",
    "GET /v1beta1/networkContainers 200",
    "GET /v1beta1/networkContainers/{networkContainerId} 200",
    "GET /v1beta1/networkContainers/{networkContainerId} 400",
    "GET /v1beta1/networkContainers/{networkContainerId} 404",
    "DELETE /v1beta1/networkContainers/{networkContainerId} 200",
    "DELETE /v1beta1/networkContainers/{networkContainerId} 400",
    "POST /v1beta1/vpcPeerings 200",
    "POST /v1beta1/vpcPeerings 400",
    "GET /v1beta1/vpcPeerings 200",
    "GET /v1beta1/vpcPeerings/{vpcPeeringId} 200",
    "GET /v1beta1/vpcPeerings/{vpcPeeringId} 404",
    "DELETE /v1beta1/vpcPeerings/{vpcPeeringId} 200",
    "GET /v1beta1/clusters/{clusterId}/sqlUsers 200",
    "GET /v1beta1/clusters/{clusterId}/sqlUsers 400",
    "POST /v1beta1/clusters/{clusterId}/sqlUsers 200",
    "POST /v1beta1/clusters/{clusterId}/sqlUsers 400",
    "GET /v1beta1/clusters/{clusterId}/sqlUsers/{userName} 200",
    "GET /v1beta1/clusters/{clusterId}/sqlUsers/{userName} 404",
    "PATCH /v1beta1/clusters/{clusterId}/sqlUsers/{userName} 200",
    "PATCH /v1beta1/clusters/{clusterId}/sqlUsers/{userName} 400",
    "DELETE /v1beta1/clusters/{clusterId}/sqlUsers/{userName} 200",
];

async fn start() -> clouddb_sim::Simulator {
    common::start(SimConfig {
        // Clusters and endpoint transitions complete on the next read, except an endpoint deletion (so that
        // DELETING can be validated) and an endpoint acceptance (so that PENDING can).
        delays: Delays {
            private_endpoint_accept: Duration::from_millis(500),
            private_endpoint_delete: Duration::from_secs(600),
            ..Delays::instant()
        },
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        ..Default::default()
    })
    .await
}

/// An ACTIVE cluster in `region`: `(clusterId, default group id)`.
async fn cluster(c: &Client, name: &str, region: &str) -> (String, String) {
    let mut body = cluster_body(name);
    body["regionId"] = json!(region);
    let r = c.post("/v1beta1/clusters", body).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let id = s(&r.body, "/clusterId").to_string();
    let gid = s(&r.body, "/tidbNodeSetting/tidbNodeGroups/0/tidbNodeGroupId").to_string();
    wait_for(c, &format!("/v1beta1/clusters/{id}"), WAIT, |r| {
        r.body["state"] == "ACTIVE"
    })
    .await;
    (id, gid)
}

#[tokio::test]
async fn networking_and_sql_user_responses_conform_to_the_upstream_specs() {
    let Some((ded, iam)) = load_specs() else {
        return;
    };
    let sim = start().await;
    let c = Client::new(&sim);
    let mut ck = Checker::default();

    // ---- private link service and private endpoint connections, on each cloud ----
    let mut pecs = Vec::new();
    for (name, region, endpoint) in [
        ("conf-aws", "aws-us-west-2", "vpce-0a1b2c3d4e5f6a7b8"),
        (
            "conf-gcp",
            "gcp-us-central1",
            "projects/my-app-project/regions/us-central1/forwardingRules/tidb-endpoint",
        ),
        (
            "conf-azure",
            "azure-eastus2",
            "/subscriptions/6f1c1c3e-2b7a-4f0e-9f61-0c2a4c1d2e3f/resourceGroups/app-rg/providers/Microsoft.Network/privateEndpoints/tidb-pe",
        ),
    ] {
        let (cid, gid) = cluster(&c, name, region).await;
        let uri = format!("/v1beta1/clusters/{cid}/tidbNodeGroups/{gid}/privateLinkService");
        ck.spec(&ded, "GET", PLS_T, &uri, &c.get(&uri).await, 200);
        let list =
            format!("/v1beta1/clusters/{cid}/tidbNodeGroups/{gid}/privateEndpointConnections");
        let mut body = json!({"endpointId": endpoint});
        if region.starts_with("azure") {
            body["privateIpAddress"] = json!("10.1.2.3");
            let dry = format!("{list}?validateOnly=true");
            ck.spec(
                &ded,
                "POST",
                PEC_POST_T,
                &dry,
                &c.post(&dry, body.clone()).await,
                200,
            );
        }
        let r = c.post(&list, body).await;
        ck.spec(&ded, "POST", PEC_POST_T, &list, &r, 200);
        let pid = s(&r.body, "/privateEndpointConnectionId").to_string();
        ck.spec(&ded, "GET", PEC_LIST_T, &list, &c.get(&list).await, 200);
        let one = format!("{list}/{pid}");
        ck.spec(&ded, "GET", PEC_ONE_T, &one, &c.get(&one).await, 200);
        let r = wait_for(&c, &one, WAIT, |r| r.body["endpointState"] == "ACTIVE").await;
        ck.spec(&ded, "GET", PEC_ONE_T, &one, &r, 200);
        pecs.push((cid, gid, list, one, pid));
    }
    let (cid, gid, list, one, pid) = pecs[0].clone();
    for uri in [
        "/v1beta1/clusters/-/tidbNodeGroups/-/privateEndpointConnections".to_string(),
        "/v1beta1/clusters/-/tidbNodeGroups/-/privateEndpointConnections?pageSize=1".to_string(),
        "/v1beta1/clusters/-/tidbNodeGroups/-/privateEndpointConnections?cloudProvider=azure"
            .to_string(),
        format!("/v1beta1/clusters/{cid}/tidbNodeGroups/-/privateEndpointConnections"),
    ] {
        ck.spec(&ded, "GET", PEC_LIST_T, &uri, &c.get(&uri).await, 200);
    }
    let uri = format!("{list}?cloudProvider=ibm");
    ck.spec(&ded, "GET", PEC_LIST_T, &uri, &c.get(&uri).await, 400);
    ck.spec(
        &ded,
        "POST",
        PEC_POST_T,
        &list,
        &c.post(&list, json!({"endpointId": "vpce-nope"})).await,
        400,
    );
    let uri = format!("/v1beta1/clusters/{cid}/tidbNodeGroups/{gid}/privateLinkService");
    let bad = uri.replace(&cid, "not-a-number");
    ck.spec(&ded, "GET", PLS_T, &bad, &c.get(&bad).await, 400);
    let missing = uri.replace(&gid, "1234567890123456789");
    ck.spec(&ded, "GET", PLS_T, &missing, &c.get(&missing).await, 404);
    let admin = format!("dedicated/privateEndpointConnections/{}:fail", pecs[1].4);
    assert_eq!(
        c.admin(Method::POST, &admin, None).await.status.as_u16(),
        200
    );
    ck.spec(
        &ded,
        "GET",
        PEC_ONE_T,
        &pecs[1].3,
        &c.get(&pecs[1].3).await,
        200,
    );
    ck.spec(&ded, "DELETE", PEC_ONE_T, &one, &c.delete(&one).await, 200);
    let r = c.get(&one).await;
    assert_eq!(r.body["endpointState"], "DELETING", "{}", r.body);
    ck.spec(&ded, "GET", PEC_ONE_T, &one, &r, 200);
    let gone = one.replace(&pid, "1234567890123456789");
    ck.spec(&ded, "GET", PEC_ONE_T, &gone, &c.get(&gone).await, 404);

    // ---- network containers ----
    let r = c.post(NC_T, json!({"regionId": "aws-us-west-2"})).await;
    ck.spec(&ded, "POST", NC_T, NC_T, &r, 200);
    let nc_aws = format!("{NC_T}/{}", s(&r.body, "/networkContainerId"));
    let r = c
        .post(
            NC_T,
            json!({"regionId": "gcp-us-central1", "cidrNotation": "172.30.0.0/19"}),
        )
        .await;
    ck.spec(&ded, "POST", NC_T, NC_T, &r, 200);
    let uri = format!("{NC_T}?validateOnly=true");
    ck.spec(
        &ded,
        "POST",
        NC_T,
        &uri,
        &c.post(&uri, json!({"regionId": "azure-eastus2"})).await,
        200,
    );
    ck.spec(
        &ded,
        "POST",
        NC_T,
        NC_T,
        &c.post(
            NC_T,
            json!({"regionId": "aws-eu-central-1", "cidrNotation": "8.8.8.0/21"}),
        )
        .await,
        400,
    );
    for uri in [
        NC_T,
        "/v1beta1/networkContainers?cloudProvider=gcp&pageSize=1",
    ] {
        ck.spec(&ded, "GET", NC_T, uri, &c.get(uri).await, 200);
    }
    let r = c.get(&nc_aws).await;
    assert_eq!(
        r.body["state"], "ACTIVE",
        "a cluster runs in the region: {}",
        r.body
    );
    ck.spec(&ded, "GET", NC_ONE_T, &nc_aws, &r, 200);
    let uri = format!("{NC_T}/abc");
    ck.spec(&ded, "GET", NC_ONE_T, &uri, &c.get(&uri).await, 400);
    let uri = format!("{NC_T}/1234567890123456789");
    ck.spec(&ded, "GET", NC_ONE_T, &uri, &c.get(&uri).await, 404);
    ck.spec(
        &ded,
        "DELETE",
        NC_ONE_T,
        &nc_aws,
        &c.delete(&nc_aws).await,
        400,
    );
    let r = c.post(NC_T, json!({"regionId": "aws-eu-central-1"})).await;
    ck.spec(&ded, "POST", NC_T, NC_T, &r, 200);
    let unused = format!("{NC_T}/{}", s(&r.body, "/networkContainerId"));
    ck.spec(
        &ded,
        "DELETE",
        NC_ONE_T,
        &unused,
        &c.delete(&unused).await,
        200,
    );

    // ---- VPC peerings ----
    let aws = json!({"tidbCloudRegionId": "aws-us-west-2", "customerRegionId": "aws-us-east-1",
        "customerAccountId": "123456789012", "customerVpcId": "vpc-0123456789abcdef0", "customerVpcCidr": "10.0.0.0/16"});
    let r = c.post(VP_T, aws.clone()).await;
    ck.spec(&ded, "POST", VP_T, VP_T, &r, 200);
    let vp_aws = format!("{VP_T}/{}", s(&r.body, "/vpcPeeringId"));
    let gcp = json!({"tidbCloudRegionId": "gcp-us-central1", "customerAccountId": "my-gcp-project",
        "customerVpcId": "app-network", "customerVpcCidr": "10.10.0.0/16"});
    let r = c.post(VP_T, gcp).await;
    ck.spec(&ded, "POST", VP_T, VP_T, &r, 200);
    let vp_gcp_id = s(&r.body, "/vpcPeeringId").to_string();
    let mut bad = aws.clone();
    bad["customerVpcCidr"] = json!("172.16.0.0/16");
    ck.spec(&ded, "POST", VP_T, VP_T, &c.post(VP_T, bad).await, 400);
    ck.spec(&ded, "GET", VP_ONE_T, &vp_aws, &c.get(&vp_aws).await, 200);
    let accept = format!(
        "dedicated/vpcPeerings/{}:accept",
        vp_aws.rsplit('/').next().unwrap_or("")
    );
    assert_eq!(
        c.admin(Method::POST, &accept, None).await.status.as_u16(),
        200
    );
    ck.spec(&ded, "GET", VP_ONE_T, &vp_aws, &c.get(&vp_aws).await, 200);
    let fail = format!("dedicated/vpcPeerings/{vp_gcp_id}:fail");
    assert_eq!(
        c.admin(Method::POST, &fail, None).await.status.as_u16(),
        200
    );
    let vp_gcp = format!("{VP_T}/{vp_gcp_id}");
    ck.spec(&ded, "GET", VP_ONE_T, &vp_gcp, &c.get(&vp_gcp).await, 200);
    for uri in [VP_T, "/v1beta1/vpcPeerings?cloudProvider=aws&pageSize=1"] {
        ck.spec(&ded, "GET", VP_T, uri, &c.get(uri).await, 200);
    }
    let uri = format!("{VP_T}/aws-1234567890123456789");
    ck.spec(&ded, "GET", VP_ONE_T, &uri, &c.get(&uri).await, 404);
    ck.spec(
        &ded,
        "DELETE",
        VP_ONE_T,
        &vp_gcp,
        &c.delete(&vp_gcp).await,
        200,
    );

    // ---- SQL users (IAM) ----
    let users = format!("/v1beta1/clusters/{cid}/sqlUsers");
    let r = c
        .post(
            &users,
            json!({"userName": "app", "password": "app-password-1", "builtinRole": "role_readwrite", "customRoles": ["reporting"]}),
        )
        .await;
    ck.spec(&iam, "POST", SU_T, &users, &r, 200);
    ck.spec(
        &iam,
        "POST",
        SU_T,
        &users,
        &c.post(
            &users,
            json!({"userName": "x", "password": "short", "builtinRole": "role_admin"}),
        )
        .await,
        400,
    );
    for uri in [users.clone(), format!("{users}?pageSize=1")] {
        ck.spec(&iam, "GET", SU_T, &uri, &c.get(&uri).await, 200);
    }
    let uri = "/v1beta1/clusters/abc/sqlUsers";
    ck.spec(&iam, "GET", SU_T, uri, &c.get(uri).await, 400);
    let user = format!("{users}/app");
    ck.spec(&iam, "GET", SU_ONE_T, &user, &c.get(&user).await, 200);
    let r = c
        .patch(
            &user,
            json!({"builtinRole": "role_admin", "customRoles": [], "password": "new-password-2"}),
        )
        .await;
    ck.spec(&iam, "PATCH", SU_ONE_T, &user, &r, 200);
    ck.spec(
        &iam,
        "PATCH",
        SU_ONE_T,
        &user,
        &c.patch(&user, json!({"builtinRole": "role_god"})).await,
        400,
    );
    ck.spec(&iam, "DELETE", SU_ONE_T, &user, &c.delete(&user).await, 200);
    iam_undeclared_error(
        &mut ck,
        &iam,
        "GET",
        SU_ONE_T,
        &user,
        &c.get(&user).await,
        404,
    );

    ck.verdict(EXPECTED_COVERAGE);
}

/// The validator catches a wrong field planted in each new response shape (so the test above can fail).
#[tokio::test]
async fn a_planted_wrong_field_fails_validation_of_each_new_shape() {
    let Some((ded, iam)) = load_specs() else {
        return;
    };
    let sim = start().await;
    let c = Client::new(&sim);
    let (cid, gid) = cluster(&c, "planted", "aws-us-west-2").await;
    let base = format!("/v1beta1/clusters/{cid}/tidbNodeGroups/{gid}");
    let pls = c.get(&format!("{base}/privateLinkService")).await.body;
    let pec = c
        .post(
            &format!("{base}/privateEndpointConnections"),
            json!({"endpointId": "vpce-0a1b2c3d4e5f6a7b8"}),
        )
        .await
        .body;
    let nc = c
        .post(NC_T, json!({"regionId": "aws-us-west-2"}))
        .await
        .body;
    let vp = c
        .post(
            VP_T,
            json!({"tidbCloudRegionId": "aws-us-west-2", "customerRegionId": "aws-us-east-1",
                "customerAccountId": "123456789012", "customerVpcId": "vpc-0123456789abcdef0", "customerVpcCidr": "10.0.0.0/16"}),
        )
        .await
        .body;
    let user = c
        .post(
            &format!("/v1beta1/clusters/{cid}/sqlUsers"),
            json!({"userName": "app", "password": "app-password-1", "builtinRole": "role_readonly"}),
        )
        .await
        .body;

    let cases: [(&Spec, &str, &Value, &str, Value); 10] = [
        (
            &ded,
            "dedicatedv1beta1PrivateLinkService",
            &pls,
            "serviceNames",
            json!("x"),
        ),
        (
            &ded,
            "dedicatedv1beta1PrivateLinkService",
            &pls,
            "state",
            json!("READY"),
        ),
        (
            &ded,
            "dedicatedv1beta1PrivateEndpointConnection",
            &pec,
            "endpointStatus",
            json!("ACTIVE"),
        ),
        (
            &ded,
            "dedicatedv1beta1PrivateEndpointConnection",
            &pec,
            "port",
            json!("4000"),
        ),
        (
            &ded,
            "v1beta1NetworkContainer",
            &nc,
            "cidr",
            json!("172.16.0.0/21"),
        ),
        (
            &ded,
            "v1beta1NetworkContainer",
            &nc,
            "state",
            json!("PENDING"),
        ),
        (
            &ded,
            "dedicatedv1beta1VpcPeering",
            &vp,
            "awsVpcPeeringConnectionID",
            json!("pcx-1"),
        ),
        (
            &ded,
            "dedicatedv1beta1VpcPeering",
            &vp,
            "state",
            json!("ACCEPTED"),
        ),
        (
            &iam,
            "api.SqlUser",
            &user,
            "password",
            json!("app-password-1"),
        ),
        (
            &iam,
            "api.SqlUser",
            &user,
            "customRoles",
            json!("reporting"),
        ),
    ];
    for (spec, def, good, field, value) in cases {
        assert_eq!(
            spec.validate_definition(def, good),
            Vec::<String>::new(),
            "{def}: the simulator's answer is valid: {good}"
        );
        let mut bad = good.clone();
        bad[field] = value.clone();
        let problems = spec.validate_definition(def, &bad);
        assert!(
            problems.iter().any(|p| p.contains(field)),
            "{def}: planting {field}={value} must be reported, got {problems:#?}"
        );
    }
    // A missing required property too.
    let mut bad = vp.clone();
    bad.as_object_mut().map(|o| o.remove("customerVpcCidr"));
    assert!(
        ded.validate_definition("dedicatedv1beta1VpcPeering", &bad)
            .iter()
            .any(|p| p.contains("customerVpcCidr")),
        "missing customerVpcCidr not reported"
    );
}
