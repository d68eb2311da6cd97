//! HTTP tests of the Serverless v1beta1 module on its own listener, through the real digest client: every
//! route, the state transitions of clusters, branches, restores and imports, validation (400 in the
//! google.rpc.Status shape, nothing changed), the per-key quota shared with the Dedicated listener, faults,
//! counters and the admin API of the Serverless listener.
//!
//! Waiting is always on a condition with a timeout (`wait_for`, `observe_until`), never a bare sleep.
mod common;

use clouddb_sim::{
    ApiKey, Delays, QuotaConfig, ServerlessConfig, ServerlessDelays, SimConfig, Simulator,
};
use common::{Client, Resp, observe_until, serverless_body, wait_for};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const CLUSTERS: &str = "/v1beta1/clusters";
const STAGING_PROJECT: &str = "1372813089454525999";

fn config(delays: ServerlessDelays) -> SimConfig {
    SimConfig {
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        delays: Delays {
            import_prepare: Duration::from_millis(300),
            import_run: Duration::from_millis(1500),
            import_cancel: Duration::from_millis(300),
            ..Delays::instant()
        },
        serverless: ServerlessConfig {
            delays,
            ..ServerlessConfig::default()
        },
        ..SimConfig::default()
    }
}

async fn start(delays: ServerlessDelays) -> (Simulator, Client) {
    let sim = common::start(config(delays)).await;
    let c = Client::serverless(&sim);
    (sim, c)
}

#[track_caller]
fn assert_ok(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// An error in the google.rpc.Status shape with this status whose message contains `message`.
#[track_caller]
fn assert_error(r: &Resp, status: u16, message: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["code"], json!(status), "{}", r.body);
    assert_eq!(r.body["details"], json!([]), "{}", r.body);
    assert!(
        r.message().contains(message),
        "message {:?} does not contain {message:?}",
        r.message()
    );
}

fn str_of<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v}"))
}

fn state_is(state: &'static str) -> impl Fn(&Resp) -> bool {
    move |r| r.status == StatusCode::OK && r.body["state"] == state
}

fn gone(r: &Resp) -> bool {
    r.status == StatusCode::NOT_FOUND
}

async fn create_active(c: &Client, body: Value) -> String {
    let r = c.post(CLUSTERS, body).await;
    assert_ok(&r);
    let id = str_of(&r.body, "/clusterId").to_string();
    wait_for(c, &format!("{CLUSTERS}/{id}"), WAIT, state_is("ACTIVE")).await;
    id
}

async fn verify(c: &Client, path: &str, password: &str) -> bool {
    let r = c
        .admin(Method::POST, path, Some(json!({"rootPassword": password})))
        .await;
    assert_ok(&r);
    r.body["match"].as_bool().expect("match")
}

#[tokio::test]
async fn a_starter_cluster_is_created_read_patched_and_deleted_through_its_states() {
    let (_sim, c) = start(ServerlessDelays {
        cluster_create: Duration::from_millis(400),
        cluster_delete: Duration::from_millis(400),
        ..ServerlessDelays::instant()
    })
    .await;
    let r = c.post(CLUSTERS, serverless_body("preview-1")).await;
    assert_ok(&r);
    let b = &r.body;
    assert_eq!(b["state"], "CREATING", "{b}");
    assert_eq!(b["clusterPlan"], "STARTER");
    assert_eq!(b["servicePlan"], "Starter");
    assert_eq!(b["spendingLimit"], json!({"monthly": 1000}));
    assert_eq!(b["region"]["regionId"], "aws-us-east-1");
    assert_eq!(b["region"]["cloudProvider"], "aws");
    assert_eq!(b["labels"]["env"], "test");
    assert_eq!(b["labels"]["tidb.cloud/project"], "1372813089454525346");
    assert!(b["labels"]["tidb.cloud/organization"].is_string());
    assert_eq!(b["endpoints"]["public"]["port"], 4000);
    assert_eq!(
        b["endpoints"]["public"]["host"],
        "gateway01.us-east-1.prod.aws.tidbcloud.com"
    );
    assert_eq!(b["endpoints"]["public"]["disabled"], false);
    assert_eq!(str_of(b, "/userPrefix").len(), 15);
    assert!(
        b.get("rootPassword").is_none(),
        "the password is write-only"
    );
    assert!(str_of(b, "/createdBy").starts_with("apikey-"));
    let id = str_of(b, "/clusterId").to_string();
    assert_eq!(b["name"], format!("clusters/{id}"));
    let uri = format!("{CLUSTERS}/{id}");
    let active = wait_for(&c, &uri, WAIT, state_is("ACTIVE")).await;
    assert_eq!(
        active.body["annotations"]["tidb.cloud/has-set-password"],
        "true"
    );
    assert!(
        verify(
            &c,
            &format!("serverless/clusters/{id}:verifyRootPassword"),
            "initial-password-1"
        )
        .await
    );

    // BASIC leaves out the settings and endpoints.
    let basic = c.get(&format!("{uri}?view=BASIC")).await;
    assert_ok(&basic);
    assert!(basic.body.get("endpoints").is_none() && basic.body["displayName"] == "preview-1");
    assert_error(&c.get(&format!("{uri}?view=ALL")).await, 400, "view");

    // Password PUT.
    let r = c
        .put(
            &format!("{uri}/password"),
            json!({"password": "second-password"}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body, json!({}));
    assert!(
        verify(
            &c,
            &format!("serverless/clusters/{id}:verifyRootPassword"),
            "second-password"
        )
        .await
    );
    assert_error(
        &c.put(&format!("{uri}/password"), json!({"password": "short"}))
            .await,
        400,
        "8 to 64",
    );
    assert_error(
        &c.put(&format!("{uri}/password"), json!({})).await,
        400,
        "password is required",
    );

    // PATCH, one mask path at a time as Terraform sends them, and several at once.
    let patch = |mask: &str, cluster: Value| json!({"cluster": cluster, "updateMask": mask});
    let r = c
        .patch(
            &uri,
            patch("displayName", json!({"displayName": "preview-one"})),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["displayName"], "preview-one");
    assert_eq!(r.body["state"], "ACTIVE", "a serverless change is in place");
    let r = c
        .patch(
            &uri,
            patch(
                "spendingLimit.monthly",
                json!({"spendingLimit": {"monthly": 5000}}),
            ),
        )
        .await;
    assert_eq!(r.body["spendingLimit"]["monthly"], 5000, "{}", r.body);
    let r = c
        .patch(
            &uri,
            patch(
                "labels",
                json!({"labels": {"team": "a", "tidb.cloud/project": "1372813089454525346"}}),
            ),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["labels"]["team"], "a");
    assert!(r.body["labels"].get("env").is_none(), "labels are replaced");
    assert!(
        r.body["labels"]["tidb.cloud/organization"].is_string(),
        "system labels stay"
    );
    let nets = json!([{"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.255", "displayName": "office"}]);
    let r = c
        .patch(
            &uri,
            patch(
                "endpoints.public.disabled,endpoints.public.authorizedNetworks",
                json!({"endpoints": {"public": {"disabled": true, "authorizedNetworks": nets}}}),
            ),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["endpoints"]["public"]["disabled"], true);
    assert_eq!(r.body["endpoints"]["public"]["authorizedNetworks"], nets);
    let r = c
        .patch(
            &uri,
            patch(
                "automatedBackupPolicy",
                json!({"automatedBackupPolicy": {"startTime": "03:30", "retentionDays": 3}}),
            ),
        )
        .await;
    assert_eq!(
        r.body["automatedBackupPolicy"],
        json!({"startTime": "03:30", "retentionDays": 3})
    );
    let r = c
        .patch(
            &uri,
            patch(
                "auditLogConfig.enabled",
                json!({"auditLogConfig": {"enabled": true}}),
            ),
        )
        .await;
    assert_eq!(
        r.body["auditLogConfig"],
        json!({"enabled": true}),
        "{}",
        r.body
    );
    let got = c.get(&uri).await;
    assert_eq!(got.body["displayName"], "preview-one");
    assert_eq!(got.body["spendingLimit"]["monthly"], 5000);

    // Refused PATCHes change nothing.
    for (body, why) in [
        (
            json!({"cluster": {"displayName": "x"}}),
            "updateMask is required",
        ),
        (patch("region", json!({})), "cannot be updated"),
        (
            patch("rootPassword", json!({"rootPassword": "abcdefgh1"})),
            "cannot be updated",
        ),
        (
            patch("displayName", json!({"displayName": "no"})),
            "displayName",
        ),
        (
            patch("displayName", json!({})),
            "required by the updateMask",
        ),
        (
            patch(
                "autoScaling",
                json!({"autoScaling": {"minRcu": 2000, "maxRcu": 4000}}),
            ),
            "Essential",
        ),
        (
            patch("spendingLimit", json!({"spendingLimit": {"monthly": -1}})),
            "negative",
        ),
        (
            patch(
                "labels",
                json!({"labels": {"tidb.cloud/project": STAGING_PROJECT}}),
            ),
            "cannot be changed",
        ),
        (
            patch("labels", json!({"labels": {"bad key!": "x"}})),
            "label key",
        ),
        (
            patch(
                "endpoints.public.authorizedNetworks",
                json!({"endpoints": {"public": {"authorizedNetworks": [{"startIpAddress": "10.0.0.9", "endIpAddress": "10.0.0.1", "displayName": "x"}]}}}),
            ),
            "after endIpAddress",
        ),
        (
            patch(
                "endpoints.public.authorizedNetworks",
                json!({"endpoints": {"public": {"authorizedNetworks": [{"startIpAddress": "nope", "endIpAddress": "10.0.0.1", "displayName": "x"}]}}}),
            ),
            "IPv4",
        ),
        (
            patch(
                "automatedBackupPolicy.startTime",
                json!({"automatedBackupPolicy": {"startTime": "25:00"}}),
            ),
            "HH:mm",
        ),
        (
            json!({"cluster": {"clusterId": "42", "displayName": "abcd"}, "updateMask": "displayName"}),
            "does not match",
        ),
        (
            json!({"cluster": {"displayName": "abcd", "bogus": 1}, "updateMask": "displayName"}),
            "unknown field",
        ),
    ] {
        assert_error(&c.patch(&uri, body.clone()).await, 400, why);
    }
    assert_eq!(
        c.get(&uri).await.body,
        got.body,
        "refused patches changed nothing"
    );

    // Delete: DELETING in the answer, then 404; a second DELETE while deleting answers the same.
    let r = c.delete(&uri).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "DELETING");
    assert_eq!(c.delete(&uri).await.body["state"], "DELETING");
    assert_error(
        &c.put(
            &format!("{uri}/password"),
            json!({"password": "third-password"}),
        )
        .await,
        400,
        "DELETING",
    );
    let last = wait_for(&c, &uri, WAIT, gone).await;
    assert_error(&last, 404, "not found");
}

#[tokio::test]
async fn essential_clusters_scale_in_rcus_and_plans_are_checked_against_regions() {
    let (_sim, c) = start(ServerlessDelays::instant()).await;
    let body = json!({
        "displayName": "essential-1",
        "region": {"name": "regions/aws-us-west-2"},
        "autoScaling": {"minRcu": "2000", "maxRcu": 4000},
        "highAvailabilityType": "REGIONAL",
        "labels": {"tidb.cloud/project": STAGING_PROJECT}
    });
    let id = create_active(&c, body).await;
    let uri = format!("{CLUSTERS}/{id}");
    let r = c.get(&uri).await;
    assert_eq!(r.body["clusterPlan"], "ESSENTIAL");
    assert_eq!(r.body["servicePlan"], "Essential");
    assert_eq!(
        r.body["autoScaling"],
        json!({"minRcu": 2000, "maxRcu": 4000})
    );
    assert!(r.body.get("spendingLimit").is_none());
    assert_eq!(r.body["highAvailabilityType"], "REGIONAL");
    assert_eq!(r.body["labels"]["tidb.cloud/project"], STAGING_PROJECT);
    assert_eq!(
        r.body["annotations"]["tidb.cloud/has-set-password"],
        "false"
    );
    let r = c
        .patch(&uri, json!({"cluster": {"autoScaling": {"maxRcu": 8000}}, "updateMask": "autoScaling.maxRcu"}))
        .await;
    assert_eq!(
        r.body["autoScaling"],
        json!({"minRcu": 2000, "maxRcu": 8000}),
        "{}",
        r.body
    );
    assert_error(
        &c.patch(&uri, json!({"cluster": {"autoScaling": {"minRcu": 9000}}, "updateMask": "autoScaling.minRcu"})).await,
        400,
        "minRcu <= maxRcu",
    );
    assert_error(
        &c.patch(
            &uri,
            json!({"cluster": {"spendingLimit": {"monthly": 1}}, "updateMask": "spendingLimit"}),
        )
        .await,
        400,
        "Starter",
    );

    // Create validation: every refusal is a 400 and creates nothing.
    let base = serverless_body("valid-name");
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, why) in [
        (
            json!({"region": {"name": "regions/aws-us-east-1"}}),
            "displayName is required",
        ),
        (with("displayName", json!("a")), "displayName"),
        (with("region", json!({})), "region.name is required"),
        (
            with("region", json!({"name": "regions/aws-mars-1"})),
            "not a Serverless region",
        ),
        (
            with("region", json!({"name": "aws-us-east-1"})),
            "not a Serverless region",
        ),
        (
            with("autoScaling", json!({"minRcu": 1, "maxRcu": 2})),
            "cannot both be given",
        ),
        (with("rootPassword", json!("short")), "8 to 64"),
        (with("highAvailabilityType", json!("REGIONAL")), "Essential"),
        (
            with("highAvailabilityType", json!("GLOBAL")),
            "ZONAL or REGIONAL",
        ),
        (
            with("labels", json!({"tidb.cloud/project": "999"})),
            "does not exist",
        ),
        (
            with("labels", json!({"tidb.cloud/organization": "999"})),
            "not this organization",
        ),
        (with("spendingLimit", json!({})), "monthly is required"),
        (
            with("automatedBackupPolicy", json!({"retentionDays": 99})),
            "retentionDays",
        ),
        (with("bogusField", json!(1)), "unknown field"),
        (
            with("spendingLimit", json!({"monthly": "lots"})),
            "invalid request body",
        ),
        (
            json!({"displayName": "alicloud-essential", "region": {"name": "regions/alicloud-ap-southeast-1"}, "autoScaling": {"minRcu": 1, "maxRcu": 2}}),
            "does not offer the Essential plan",
        ),
    ] {
        assert_error(&c.post(CLUSTERS, body.clone()).await, 400, why);
    }
    assert_error(
        &c.send_raw(Method::POST, CLUSTERS, b"{not json").await,
        400,
        "invalid request body",
    );
    assert_error(
        &c.send_raw(Method::POST, CLUSTERS, b"[1, 2]").await,
        400,
        "expected a JSON object",
    );
    let all = c.get(CLUSTERS).await;
    assert_eq!(all.body["totalSize"], 1, "{}", all.body);

    // Unknown and malformed ids, unknown paths and methods.
    assert_error(
        &c.get(&format!("{CLUSTERS}/123456789")).await,
        404,
        "not found",
    );
    assert_error(
        &c.get(&format!("{CLUSTERS}/abc")).await,
        400,
        "decimal number",
    );
    assert_error(
        &c.delete(&format!("{CLUSTERS}/123456789")).await,
        404,
        "not found",
    );
    assert_error(
        &c.send(Method::PUT, CLUSTERS, None).await,
        405,
        "not allowed",
    );
    assert_error(
        &c.get("/v1beta1/clusters/1/nodes").await,
        404,
        "no API path",
    );
    assert_error(&c.get("/v1beta1/projects").await, 404, "no API path");
}

#[tokio::test]
async fn lists_filter_page_order_and_batch_get() {
    let (_sim, c) = start(ServerlessDelays::instant()).await;
    let mut ids = Vec::new();
    for (i, (region, project, env)) in [
        ("aws-us-east-1", None, "prod"),
        ("aws-us-west-2", None, "prod"),
        ("aws-us-east-1", Some(STAGING_PROJECT), "dev"),
        ("alicloud-ap-southeast-1", None, "dev"),
        ("aws-us-east-1", None, "prod"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut labels = json!({"env": env});
        if let Some(p) = project {
            labels["tidb.cloud/project"] = json!(p);
        }
        let body = json!({"displayName": format!("cluster-{i}"), "region": {"name": format!("regions/{region}")}, "labels": labels});
        ids.push(create_active(&c, body).await);
    }
    let list = |q: String| {
        let c = &c;
        async move { c.get(&format!("{CLUSTERS}?{q}")).await }
    };
    let names = |r: &Resp| -> Vec<String> {
        r.body["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["displayName"].as_str().unwrap().to_string())
            .collect()
    };
    let enc = |f: &str| form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>();
    for (filter, want) in [
        (
            r#"region.provider="aws" AND state="ACTIVE""#,
            vec!["cluster-0", "cluster-1", "cluster-2", "cluster-4"],
        ),
        ("region.provider=alicloud", vec!["cluster-3"]),
        (
            "region.name=regions/aws-us-east-1 AND labels.env=prod",
            vec!["cluster-0", "cluster-4"],
        ),
        (&format!("projectId={STAGING_PROJECT}"), vec!["cluster-2"]),
        (
            &format!("clusterId={},{}", ids[1], ids[3]),
            vec!["cluster-1", "cluster-3"],
        ),
        (r#"displayName="cluster-4""#, vec!["cluster-4"]),
        ("state=CREATING", vec![]),
    ] {
        let r = list(format!("filter={}", enc(filter))).await;
        assert_ok(&r);
        assert_eq!(names(&r), want, "{filter}");
        assert_eq!(
            r.body["totalSize"],
            json!(want.len()),
            "{filter}: totalSize is a number"
        );
    }
    for (filter, why) in [
        ("state=ASLEEP", "not a cluster state"),
        ("size=1", "unknown key"),
        ("state!=ACTIVE", "operator"),
    ] {
        assert_error(&list(format!("filter={}", enc(filter))).await, 400, why);
    }

    // Paging: pageSize, pageToken bound to the filter, skip.
    let p1 = list("pageSize=2".into()).await;
    assert_eq!(names(&p1), vec!["cluster-0", "cluster-1"]);
    assert_eq!(p1.body["totalSize"], 5);
    let token = str_of(&p1.body, "/nextPageToken").to_string();
    let p2 = list(format!("pageSize=2&pageToken={token}")).await;
    assert_eq!(names(&p2), vec!["cluster-2", "cluster-3"]);
    let p3 = list(format!(
        "pageSize=2&pageToken={}",
        str_of(&p2.body, "/nextPageToken")
    ))
    .await;
    assert_eq!(names(&p3), vec!["cluster-4"]);
    assert_eq!(p3.body["nextPageToken"], "");
    assert_error(
        &list(format!(
            "pageSize=2&pageToken={token}&filter=state%3DACTIVE"
        ))
        .await,
        400,
        "pageToken",
    );
    assert_eq!(names(&list("skip=4".into()).await), vec!["cluster-4"]);
    assert_eq!(
        names(&list("pageSize=500".into()).await).len(),
        5,
        "coerced to 100"
    );
    assert_error(&list("pageSize=-1".into()).await, 400, "negative");
    assert_eq!(
        names(&list("orderBy=displayName%20desc&pageSize=2".into()).await),
        vec!["cluster-4", "cluster-3"]
    );
    assert_error(&list("orderBy=size".into()).await, 400, "orderBy");

    // batchGet: in the order asked, BASIC or FULL; all or nothing.
    let r = c
        .get(&format!(
            "{CLUSTERS}:batchGet?clusterIds={}&clusterIds={}",
            ids[4], ids[0]
        ))
        .await;
    assert_ok(&r);
    assert_eq!(names(&r), vec!["cluster-4", "cluster-0"]);
    assert!(r.body["clusters"][0]["endpoints"].is_object());
    let r = c
        .get(&format!(
            "{CLUSTERS}:batchGet?clusterIds={}&view=BASIC",
            ids[1]
        ))
        .await;
    assert!(
        r.body["clusters"][0].get("endpoints").is_none(),
        "{}",
        r.body
    );
    assert_error(
        &c.get(&format!("{CLUSTERS}:batchGet")).await,
        400,
        "clusterIds is required",
    );
    assert_error(
        &c.get(&format!("{CLUSTERS}:batchGet?clusterIds=x")).await,
        400,
        "decimal",
    );
    assert_error(
        &c.get(&format!(
            "{CLUSTERS}:batchGet?clusterIds={}&clusterIds=987654321",
            ids[0]
        ))
        .await,
        404,
        "987654321",
    );

    // batchCreate: all or nothing.
    let r = c
        .post(
            &format!("{CLUSTERS}:batchCreate"),
            json!({"requests": [{"cluster": serverless_body("batch-a")}, {"cluster": serverless_body("batch-b")}]}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(names(&r), vec!["batch-a", "batch-b"]);
    assert_eq!(r.body["clusters"][1]["state"], "CREATING");
    let r = c
        .post(
            &format!("{CLUSTERS}:batchCreate"),
            json!({"requests": [{"cluster": serverless_body("batch-c")}, {"cluster": {"displayName": "x"}}]}),
        )
        .await;
    assert_error(&r, 400, "requests[1].cluster");
    assert_error(
        &c.post(&format!("{CLUSTERS}:batchCreate"), json!({})).await,
        400,
        "requests is required",
    );
    assert_eq!(list("".into()).await.body["totalSize"], 7);
}

#[tokio::test]
async fn regions_and_cloud_providers_come_from_the_catalogue() {
    let (_sim, c) = start(ServerlessDelays::instant()).await;
    let r = c.get("/v1beta1/regions").await;
    assert_ok(&r);
    let regions = r.body["regions"].as_array().unwrap();
    assert!(regions.len() >= 5, "{}", r.body);
    assert!(
        r.body.get("nextPageToken").is_none(),
        "the serverless region list is not paged"
    );
    let first = &regions[0];
    for k in [
        "name",
        "regionId",
        "cloudProvider",
        "displayName",
        "servicePlans",
    ] {
        assert!(first.get(k).is_some(), "{k} in {first}");
    }
    let r = c.get("/v1beta1/regions?cloudProvider=alicloud").await;
    assert_eq!(r.body["regions"].as_array().unwrap().len(), 1);
    let r = c.get("/v1beta1/regions?servicePlan=Essential").await;
    assert!(
        r.body["regions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["cloudProvider"] == "aws")
    );
    assert_error(
        &c.get("/v1beta1/regions?servicePlan=Gold").await,
        400,
        "servicePlan",
    );
    let r = c.get("/v1beta1/regions:listCloudProviders").await;
    assert_eq!(r.body, json!({"cloudProviders": ["aws", "alicloud"]}));
    assert_error(
        &c.send(Method::POST, "/v1beta1/regions", None).await,
        405,
        "not allowed",
    );
}

#[tokio::test]
async fn branches_are_created_reset_and_deleted_through_their_states() {
    let step = Duration::from_millis(400);
    let (_sim, c) = start(ServerlessDelays {
        branch_create: step,
        branch_reset: step,
        branch_delete: step,
        cluster_delete: step,
        ..ServerlessDelays::instant()
    })
    .await;
    let cid = create_active(&c, serverless_body("main-db")).await;
    let branches = format!("{CLUSTERS}/{cid}/branches");
    let r = c
        .post(&branches, json!({"displayName": "pr-42", "rootPassword": "branch-password", "annotations": {"pr": "42"}}))
        .await;
    assert_ok(&r);
    let b = &r.body;
    assert_eq!(b["state"], "CREATING", "{b}");
    assert_eq!(b["parentId"], cid.as_str());
    assert_eq!(b["clusterId"], cid.as_str());
    assert_eq!(b["parentDisplayName"], "main-db");
    assert_eq!(b["annotations"], json!({"pr": "42"}));
    assert!(b["parentTimestamp"].is_string());
    assert_eq!(
        b["endpoints"]["public"]["host"],
        "gateway01.us-east-1.prod.aws.tidbcloud.com"
    );
    let bid = str_of(b, "/branchId").to_string();
    assert!(bid.starts_with("bran-") && bid.len() == 31, "{bid}");
    assert_eq!(b["name"], format!("clusters/{cid}/branches/{bid}"));
    let main_prefix = str_of(
        &c.get(&format!("{CLUSTERS}/{cid}")).await.body,
        "/userPrefix",
    )
    .to_string();
    assert_ne!(
        str_of(b, "/userPrefix"),
        main_prefix,
        "a branch has its own user prefix"
    );
    let uri = format!("{branches}/{bid}");
    wait_for(&c, &uri, WAIT, state_is("ACTIVE")).await;
    let verify_path = format!("serverless/clusters/{cid}/branches/{bid}:verifyRootPassword");
    assert!(verify(&c, &verify_path, "branch-password").await);
    assert!(
        c.get(&format!("{uri}?view=BASIC"))
            .await
            .body
            .get("endpoints")
            .is_none()
    );

    // Root user password through the branch SQL user endpoint.
    let root = format!("{}.root", str_of(&c.get(&uri).await.body, "/userPrefix"));
    let r = c
        .patch(
            &format!("{uri}/sqlUsers/{root}"),
            json!({"password": "new-branch-pass"}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body, json!({"username": root}));
    assert!(verify(&c, &verify_path, "new-branch-pass").await);
    assert_error(
        &c.patch(
            &format!("{uri}/sqlUsers/someone"),
            json!({"password": "new-branch-pass"}),
        )
        .await,
        404,
        "root user",
    );
    assert_error(
        &c.patch(&format!("{uri}/sqlUsers/{root}"), json!({"password": "x"}))
            .await,
        400,
        "8 to 64",
    );

    // A branch at a point in time, and a branch of a branch.
    let created = chrono::DateTime::parse_from_rfc3339(str_of(
        &c.get(&format!("{CLUSTERS}/{cid}")).await.body,
        "/createTime",
    ))
    .unwrap();
    let pit = (created + chrono::Duration::milliseconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let r = c
        .post(
            &branches,
            json!({"displayName": "pitr", "parentTimestamp": pit}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["parentTimestamp"], pit.as_str());
    let pitr_id = str_of(&r.body, "/branchId").to_string();
    let r = c
        .post(&branches, json!({"displayName": "child", "parentId": bid}))
        .await;
    assert_ok(&r);
    assert_eq!(r.body["parentDisplayName"], "pr-42");
    let child = str_of(&r.body, "/branchId").to_string();
    wait_for(&c, &format!("{branches}/{child}"), WAIT, state_is("ACTIVE")).await;

    // Refusals.
    for (body, why) in [
        (json!({}), "displayName is required"),
        (json!({"displayName": "bad name!"}), "displayName"),
        (
            json!({"displayName": "x", "parentId": "bran-nope"}),
            "neither cluster",
        ),
        (
            json!({"displayName": "x", "parentTimestamp": "yesterday"}),
            "RFC 3339",
        ),
        (
            json!({"displayName": "x", "parentTimestamp": "2001-01-01T00:00:00Z"}),
            "outside the parent's history",
        ),
        (
            json!({"displayName": "x", "parentTimestamp": "2999-01-01T00:00:00Z"}),
            "outside the parent's history",
        ),
        (
            json!({"displayName": "x", "rootPassword": "short"}),
            "8 to 64",
        ),
        (
            json!({"displayName": "x", "state": "ACTIVE", "bogus": 1}),
            "unknown field",
        ),
    ] {
        assert_error(&c.post(&branches, body.clone()).await, 400, why);
    }
    assert_error(
        &c.get(&format!("{branches}/bran-unknown")).await,
        404,
        "not found",
    );
    assert_error(
        &c.get(&format!("{CLUSTERS}/987654321/branches")).await,
        404,
        "cluster",
    );

    // List with paging.
    let r = c.get(&format!("{branches}?pageSize=2")).await;
    assert_eq!(r.body["totalSize"], 3);
    assert_eq!(r.body["branches"].as_array().unwrap().len(), 2);
    assert!(!str_of(&r.body, "/nextPageToken").is_empty());

    // Reset: RESTORING in the answer, then ACTIVE with a later parentTimestamp.
    let before = str_of(&c.get(&uri).await.body, "/parentTimestamp").to_string();
    let r = c.post(&format!("{uri}:reset"), json!({})).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "RESTORING");
    assert!(str_of(&r.body, "/parentTimestamp") > before.as_str());
    assert_error(
        &c.post(&format!("{uri}:reset"), json!({})).await,
        400,
        "only an ACTIVE branch",
    );
    let seen = observe_until(&c, &uri, WAIT, state_is("ACTIVE")).await;
    assert!(
        seen.iter()
            .all(|r| r.body["state"] == "RESTORING" || r.body["state"] == "ACTIVE")
    );

    // Limit of live branches per cluster.
    let mut extra = Vec::new();
    for i in 0..2 {
        let r = c
            .post(&branches, json!({"displayName": format!("more-{i}")}))
            .await;
        assert_ok(&r);
        extra.push(str_of(&r.body, "/branchId").to_string());
    }
    assert_error(
        &c.post(&branches, json!({"displayName": "sixth"})).await,
        400,
        "at most 5",
    );

    // Delete: a parent with live children is refused; DELETED in the answer, then 404.
    assert_error(&c.delete(&uri).await, 400, "delete them first");
    let r = c.delete(&format!("{branches}/{child}")).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "DELETED");
    wait_for(&c, &format!("{branches}/{child}"), WAIT, gone).await;
    assert_eq!(c.delete(&uri).await.body["state"], "DELETED");
    wait_for(&c, &uri, WAIT, gone).await;

    // Deleting the cluster takes its branches with it.
    assert_ok(&c.delete(&format!("{CLUSTERS}/{cid}")).await);
    wait_for(&c, &format!("{CLUSTERS}/{cid}"), WAIT, gone).await;
    assert_error(
        &c.get(&format!("{branches}/{pitr_id}")).await,
        404,
        "cluster",
    );
}

#[tokio::test]
async fn backups_list_and_delete_and_restores_create_new_clusters() {
    let (_sim, c) = start(ServerlessDelays {
        restore: Duration::from_millis(400),
        ..ServerlessDelays::instant()
    })
    .await;
    let cid = create_active(&c, serverless_body("backed-up")).await;
    // The first automated backup exists once the cluster is ACTIVE; the admin API takes more.
    let list = c.get(&format!("/v1beta1/backups?clusterId={cid}")).await;
    assert_ok(&list);
    assert_eq!(list.body["totalSize"], 1, "{}", list.body);
    let first = str_of(&list.body, "/backups/0/backupId").to_string();
    assert_eq!(list.body["backups"][0]["clusterId"], cid.as_str());
    assert_eq!(list.body["backups"][0]["name"], format!("backups/{first}"));
    let r = c
        .admin(
            Method::POST,
            &format!("serverless/clusters/{cid}:takeBackup"),
            None,
        )
        .await;
    assert_ok(&r);
    let second = str_of(&r.body, "/backupId").to_string();
    let list = c
        .get(&format!("/v1beta1/backups?clusterId={cid}&pageSize=1"))
        .await;
    assert_eq!(
        list.body["backups"][0]["backupId"],
        second.as_str(),
        "newest first"
    );
    assert_eq!(list.body["totalSize"], 2);
    assert_ok(&c.get(&format!("/v1beta1/backups/{first}")).await);
    assert_error(
        &c.get("/v1beta1/backups").await,
        400,
        "clusterId is required",
    );
    assert_error(
        &c.get("/v1beta1/backups?clusterId=987654321").await,
        404,
        "cluster",
    );
    assert_error(&c.get("/v1beta1/backups/987654321").await, 404, "backup");

    // Restore from a snapshot: a new cluster, RESTORING then ACTIVE, with the source's settings.
    let r = c
        .post(
            "/v1beta1/clusters:restore",
            json!({"snapshot": {"backupId": first}}),
        )
        .await;
    assert_ok(&r);
    let restored = str_of(&r.body, "/clusterId").to_string();
    assert_ne!(restored, cid);
    let got = c.get(&format!("{CLUSTERS}/{restored}")).await;
    assert_eq!(got.body["state"], "RESTORING");
    assert_eq!(got.body["region"]["regionId"], "aws-us-east-1");
    assert_eq!(got.body["labels"]["env"], "test");
    assert!(str_of(&got.body, "/displayName").starts_with("backed-up-restore-"));
    wait_for(
        &c,
        &format!("{CLUSTERS}/{restored}"),
        WAIT,
        state_is("ACTIVE"),
    )
    .await;
    assert!(
        verify(
            &c,
            &format!("serverless/clusters/{restored}:verifyRootPassword"),
            "initial-password-1"
        )
        .await
    );

    // Restore to a point in time.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let r = c
        .post(
            "/v1beta1/clusters:restore",
            json!({"pointInTime": {"clusterId": cid, "backupTime": now}}),
        )
        .await;
    assert_ok(&r);
    for (body, status, why) in [
        (json!({}), 400, "exactly one of"),
        (
            json!({"snapshot": {"backupId": first}, "pointInTime": {"clusterId": cid}}),
            400,
            "exactly one of",
        ),
        (
            json!({"snapshot": {}}),
            400,
            "snapshot.backupId is required",
        ),
        (
            json!({"snapshot": {"backupId": "987654321"}}),
            404,
            "backup",
        ),
        (
            json!({"pointInTime": {"clusterId": cid}}),
            400,
            "backupTime is required",
        ),
        (
            json!({"pointInTime": {"clusterId": cid, "backupTime": "2001-01-01T00:00:00Z"}}),
            400,
            "outside",
        ),
        (
            json!({"pointInTime": {"clusterId": "987654321", "backupTime": now}}),
            404,
            "cluster",
        ),
    ] {
        assert_error(
            &c.post("/v1beta1/clusters:restore", body.clone()).await,
            status,
            why,
        );
    }

    // Delete a backup: answered, then 404.
    let r = c.delete(&format!("/v1beta1/backups/{second}")).await;
    assert_eq!(r.body["backupId"], second.as_str());
    assert_error(
        &c.get(&format!("/v1beta1/backups/{second}")).await,
        404,
        "backup",
    );
    assert_eq!(
        c.get(&format!("/v1beta1/backups?clusterId={cid}"))
            .await
            .body["totalSize"],
        1
    );
}

#[tokio::test]
async fn imports_run_the_shared_state_machine_from_cloud_storage_and_uploads() {
    let (_sim, c) = start(ServerlessDelays::instant()).await;
    let cid = create_active(&c, serverless_body("import-target")).await;
    let imports = format!("{CLUSTERS}/{cid}/imports");
    let s3 = |uri: &str| {
        json!({
            "importOptions": {"fileType": "CSV", "csvFormat": {"separator": ",", "header": true, "null": "\\N"}},
            "source": {"type": "S3", "s3": {"uri": uri, "authType": "ACCESS_KEY", "accessKey": {"id": "AKIA", "secret": "top-secret"}}}
        })
    };
    let r = c.post(&imports, s3("s3://bucket/data/")).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "PREPARING");
    assert_eq!(r.body["completePercent"], 0);
    assert!(r.body["totalSize"].is_string(), "uint64 as a string");
    assert_eq!(r.body["id"], r.body["importId"]);
    assert_eq!(
        r.body["creationDetails"]["importOptions"]["csvFormat"]["null"],
        "\\N"
    );
    assert_eq!(
        r.body["creationDetails"]["source"]["s3"]["accessKey"],
        json!({"id": "AKIA", "secret": "********"}),
        "secrets are answered masked"
    );
    let iid = str_of(&r.body, "/importId").to_string();
    let uri = format!("{imports}/{iid}");
    let seen = observe_until(&c, &uri, WAIT, state_is("COMPLETED")).await;
    assert!(
        seen.iter().any(|r| r.body["state"] == "IMPORTING"),
        "IMPORTING seen on the way"
    );
    let done = seen.last().unwrap();
    assert_eq!(done.body["completePercent"], 100);
    assert!(done.body["completeTime"].is_string());
    assert_error(
        &c.post(&format!("{uri}:cancel"), json!({})).await,
        400,
        "COMPLETED",
    );

    // Failing and canceled imports.
    let r = c.post(&imports, s3("s3://bucket/sim-fail/")).await;
    let failing = format!("{imports}/{}", str_of(&r.body, "/importId"));
    let f = wait_for(&c, &failing, WAIT, state_is("FAILED")).await;
    assert_eq!(f.body["completePercent"], 40);
    assert!(f.body["message"].as_str().unwrap().contains("403"));
    let r = c.post(&imports, s3("s3://bucket/other/")).await;
    let canceled = format!("{imports}/{}", str_of(&r.body, "/importId"));
    let r = c.post(&format!("{canceled}:cancel"), json!({})).await;
    assert_ok(&r);
    assert_eq!(r.body, json!({}));
    assert_eq!(c.get(&canceled).await.body["state"], "CANCELING");
    wait_for(&c, &canceled, WAIT, state_is("CANCELED")).await;

    // Other sources.
    for source in [
        json!({"type": "GCS", "gcs": {"uri": "gs://b/p/", "authType": "SERVICE_ACCOUNT_KEY", "serviceAccountKey": "e30="}}),
        json!({"type": "AZURE_BLOB", "azureBlob": {"uri": "azure://a.blob.core.windows.net/c/", "authType": "SAS_TOKEN", "sasToken": "sv=x"}}),
        json!({"type": "S3_COMPATIBLE", "s3Compatible": {"uri": "s3://b/p/", "authType": "ACCESS_KEY", "accessKey": {"id": "i", "secret": "s"}, "endpoint": "https://minio.example.com"}}),
        json!({"type": "OSS", "oss": {"uri": "oss://b/p/", "authType": "ACCESS_KEY", "accessKey": {"id": "i", "secret": "s"}}}),
        json!({"type": "S3", "s3": {"uri": "s3://b/p/", "authType": "ROLE_ARN", "roleArn": "arn:aws:iam::123456789012:role/r"}}),
    ] {
        let r = c
            .post(
                &imports,
                json!({"importOptions": {"fileType": "PARQUET"}, "source": source}),
            )
            .await;
        assert_ok(&r);
    }

    // Local files: start an upload, complete it with every part, import it once.
    let start_q = "fileName=data.csv&partNumber=2&targetDatabase=db&targetTable=t";
    let r = c
        .post(&format!("{imports}:startUpload?{start_q}"), json!({}))
        .await;
    assert_ok(&r);
    assert_eq!(r.body["uploadUrl"].as_array().unwrap().len(), 2);
    let upload = str_of(&r.body, "/uploadId").to_string();
    let local = json!({"importOptions": {"fileType": "CSV"}, "source": {"type": "LOCAL", "local": {"uploadId": upload, "targetDatabase": "db", "targetTable": "t"}}});
    assert_error(&c.post(&imports, local.clone()).await, 400, "not completed");
    let complete = format!("{imports}:completeUpload?uploadId={upload}");
    assert_error(
        &c.post(&complete, json!([{"partNumber": 1, "etag": "a"}]))
            .await,
        400,
        "every part",
    );
    assert_error(
        &c.post(&complete, json!([{"partNumber": 3, "etag": "a"}]))
            .await,
        400,
        "partNumber 3",
    );
    assert_error(
        &c.post(&complete, json!({"partNumber": 1})).await,
        400,
        "invalid request body",
    );
    let r = c
        .post(
            &complete,
            json!([{"partNumber": 1, "etag": "a"}, {"partNumber": 2, "etag": "b"}]),
        )
        .await;
    assert_ok(&r);
    assert_error(
        &c.post(&imports, json!({"importOptions": {"fileType": "CSV"}, "source": {"type": "LOCAL", "local": {"uploadId": upload, "targetDatabase": "db", "targetTable": "other"}}})).await,
        400,
        "was started for db.t",
    );
    let r = c.post(&imports, local.clone()).await;
    assert_ok(&r);
    assert_eq!(
        r.body["creationDetails"]["source"]["local"]["fileName"],
        "data.csv"
    );
    assert_error(&c.post(&imports, local).await, 400, "already imported");
    let r = c
        .post(&format!("{imports}:startUpload?{start_q}"), json!({}))
        .await;
    let second = str_of(&r.body, "/uploadId").to_string();
    assert_ok(
        &c.post(
            &format!("{imports}:cancelUpload?uploadId={second}"),
            json!({}),
        )
        .await,
    );
    assert_error(
        &c.post(
            &format!("{imports}:cancelUpload?uploadId=upload-nope"),
            json!({}),
        )
        .await,
        404,
        "upload",
    );
    assert_error(
        &c.post(
            &format!(
                "{imports}:startUpload?fileName=a.csv&partNumber=0&targetDatabase=d&targetTable=t"
            ),
            json!({}),
        )
        .await,
        400,
        "partNumber",
    );
    assert_error(
        &c.post(&format!("{imports}:startUpload?partNumber=1"), json!({}))
            .await,
        400,
        "fileName is required",
    );

    // Validation.
    for (body, why) in [
        (
            json!({"source": {"type": "S3"}}),
            "importOptions is required",
        ),
        (
            json!({"importOptions": {"fileType": "XLS"}, "source": {"type": "S3"}}),
            "fileType",
        ),
        (
            json!({"importOptions": {"fileType": "SQL", "csvFormat": {}}, "source": {"type": "S3"}}),
            "csvFormat",
        ),
        (
            json!({"importOptions": {"fileType": "SQL"}}),
            "source is required",
        ),
        (
            json!({"importOptions": {"fileType": "SQL"}, "source": {"type": "FTP"}}),
            "source.type",
        ),
        (
            json!({"importOptions": {"fileType": "SQL"}, "source": {"type": "S3"}}),
            "source.s3 is required",
        ),
        (
            json!({"importOptions": {"fileType": "SQL"}, "source": {"type": "S3", "s3": {"uri": "http://x", "authType": "ROLE_ARN"}}}),
            "s3://",
        ),
        (
            json!({"importOptions": {"fileType": "SQL"}, "source": {"type": "S3", "s3": {"uri": "s3://x/", "authType": "ROLE_ARN"}}}),
            "roleArn is required",
        ),
        (
            json!({"importOptions": {"fileType": "SQL"}, "source": {"type": "S3_COMPATIBLE", "s3Compatible": {"uri": "s3://x/", "authType": "ACCESS_KEY", "accessKey": {"id": "i", "secret": "s"}, "endpoint": "http://x"}}}),
            "https://",
        ),
        (
            json!({"importOptions": {"fileType": "CSV", "csvFormat": {"nullValue": "x"}}, "source": {"type": "S3"}}),
            "unknown field",
        ),
    ] {
        assert_error(&c.post(&imports, body.clone()).await, 400, why);
    }

    // Lists: paging and order.
    let r = c.get(&format!("{imports}?pageSize=2")).await;
    assert_eq!(r.body["totalSize"], 9, "{}", r.body);
    assert_eq!(r.body["imports"].as_array().unwrap().len(), 2);
    let r = c
        .get(&format!("{imports}?orderBy=create_time%20desc&pageSize=1"))
        .await;
    assert_eq!(
        r.body["imports"][0]["creationDetails"]["source"]["type"],
        "LOCAL"
    );
    assert_error(
        &c.get(&format!("{imports}?orderBy=size")).await,
        400,
        "orderBy",
    );
    assert_error(&c.get(&format!("{imports}/987")).await, 404, "import");
}

#[tokio::test]
async fn the_per_key_quota_is_shared_with_the_dedicated_listener_and_answers_429() {
    let sim = common::start(SimConfig {
        quota: QuotaConfig {
            limit: 4,
            window: Duration::from_secs(60),
        },
        ..config(ServerlessDelays::instant())
    })
    .await;
    let dedicated = Client::new(&sim);
    let sls = Client::serverless(&sim);
    // The challenge round trip is not counted; 2 requests on each listener spend the budget of 4.
    for _ in 0..2 {
        assert_ok(&dedicated.get(CLUSTERS).await);
    }
    let r = sls.get(CLUSTERS).await;
    assert_ok(&r);
    assert_eq!(
        r.header("x-ratelimit-remaining-minute").as_deref(),
        Some("1"),
        "the Dedicated requests counted"
    );
    assert_eq!(r.header("x-ratelimit-limit-minute").as_deref(), Some("4"));
    assert!(r.header("x-debug-trace-id").is_some());
    assert_ok(&sls.get("/v1beta1/regions").await);
    let r = sls.get(CLUSTERS).await;
    assert_eq!(r.status.as_u16(), 429, "{}", r.body);
    assert_eq!(r.body["code"], 49900007);
    assert_eq!(
        r.header("x-ratelimit-remaining-minute").as_deref(),
        Some("0")
    );
    assert_eq!(
        dedicated.get(CLUSTERS).await.status.as_u16(),
        429,
        "the budget is one per key"
    );
    // Another key has its own budget.
    let other = ApiKey::random();
    let sim2 = common::start(SimConfig {
        keys: vec![sim.key().clone(), other.clone()],
        ..config(ServerlessDelays::instant())
    })
    .await;
    assert_ok(
        &Client::connect(sim2.serverless_base_url(), sim2.ca_path(), other)
            .get(CLUSTERS)
            .await,
    );
    // Reset on the Serverless listener restores the (shared) budget.
    assert_ok(&sls.admin(Method::POST, "reset", None).await);
    assert_ok(&dedicated.get(CLUSTERS).await);
}

#[tokio::test]
async fn digest_authentication_and_nonces_are_shared_with_the_dedicated_listener() {
    let (sim, sls) = start(ServerlessDelays::instant()).await;
    let bad = Client::connect(
        sim.serverless_base_url(),
        sim.ca_path(),
        ApiKey {
            public_key: sim.key().public_key.clone(),
            private_key: "wrong".into(),
        },
    );
    let r = bad.get(CLUSTERS).await;
    assert_eq!(r.status.as_u16(), 401);
    assert_eq!(r.body["code"], 49900001);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .starts_with("Digest realm=\"tidb.cloud\"")
    );
    // A challenge obtained from the Dedicated listener signs Serverless requests without a new round trip
    // (one gateway, as the real hosts share the TiDB Cloud gateway).
    let dedicated = Client::new(&sim);
    assert_ok(&dedicated.get(CLUSTERS).await);
    let cross = dedicated.fork_at(sim.serverless_base_url());
    assert_ok(&cross.get(CLUSTERS).await);
    assert_eq!(cross.exchanges(), 1, "no new challenge was needed");
    assert_ok(&sls.get(CLUSTERS).await);
}

#[tokio::test]
async fn faults_counters_and_reset_are_per_listener() {
    let (sim, c) = start(ServerlessDelays::instant()).await;
    let dedicated = Client::new(&sim);
    let id = create_active(&c, serverless_body("faulty")).await;
    // A fault added on the Serverless listener fires there only.
    let r = c
        .admin(Method::POST, "faults", Some(json!({"kind": "fail", "status": 503, "count": 1, "method": "GET", "pathPrefix": "/v1beta1/clusters"})))
        .await;
    assert_ok(&r);
    assert_ok(&dedicated.get(CLUSTERS).await);
    let r = c.get(CLUSTERS).await;
    assert_error(&r, 503, "injected fault");
    assert_ok(&c.get(CLUSTERS).await);
    // Drop after commit: the create happens, the answer never comes.
    c.admin(Method::POST, "faults", Some(json!({"kind": "dropAfterCommit", "count": 1, "method": "POST", "pathPrefix": "/v1beta1/clusters"})))
        .await;
    assert!(
        c.try_send(
            Method::POST,
            CLUSTERS,
            Some(&serverless_body("lost-answer"))
        )
        .await
        .is_err()
    );
    let enc: String = form_urlencoded::byte_serialize(b"displayName=lost-answer").collect();
    let r = c.get(&format!("{CLUSTERS}?filter={enc}")).await;
    assert_eq!(r.body["totalSize"], 1, "the create was applied: {}", r.body);
    // Faults from the start, from the configuration.
    let sim2 = common::start(SimConfig {
        serverless: ServerlessConfig {
            faults: vec![clouddb_sim::FaultRule::parse_spec("fail:500x1@GET").unwrap()],
            ..ServerlessConfig::default()
        },
        ..config(ServerlessDelays::instant())
    })
    .await;
    assert_error(
        &Client::serverless(&sim2).get(CLUSTERS).await,
        500,
        "injected",
    );

    // Counters: by route template on this listener only.
    let counters = c.admin(Method::GET, "counters", None).await;
    let rows = counters.body["counters"].as_array().unwrap();
    let count = |route: &str, method: &str, status: u64| {
        rows.iter()
            .filter(|r| r["route"] == route && r["method"] == method && r["status"] == status)
            .map(|r| r["count"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(count("/v1beta1/clusters/{clusterId}", "GET", 200) >= 1);
    assert_eq!(count("(fault: fail)", "GET", 503), 1);
    assert_eq!(
        count("/v1beta1/clusters", "POST", 0),
        1,
        "the dropped answer"
    );
    assert!(
        sim.serverless_counters()
            .iter()
            .any(|r| r.key.route == "/v1beta1/clusters")
    );
    assert!(
        !sim.counters()
            .iter()
            .any(|r| r.key.route.contains("branches")),
        "the Dedicated counters are separate"
    );
    assert_eq!(
        c.admin(Method::GET, "health", None).await.body,
        json!({"status": "ok"})
    );

    // Reset forgets the Serverless state, not the Dedicated one.
    let d = dedicated
        .post(CLUSTERS, common::cluster_body("dedicated-one"))
        .await;
    assert_ok(&d);
    assert_ok(&c.admin(Method::POST, "reset", None).await);
    assert_error(&c.get(&format!("{CLUSTERS}/{id}")).await, 404, "not found");
    assert_eq!(
        c.admin(Method::GET, "counters", None).await.body["total"],
        1,
        "only the GET above"
    );
    assert_ok(
        &dedicated
            .get(&format!("{CLUSTERS}/{}", str_of(&d.body, "/clusterId")))
            .await,
    );
    assert_error(
        &c.admin(
            Method::POST,
            "serverless/clusters/1:verifyRootPassword",
            Some(json!({"rootPassword": "x"})),
        )
        .await,
        404,
        "not found",
    );
}
