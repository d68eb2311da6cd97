//! `clouddb-operator plan` end to end (issue 18): the real binary against the real kube-apiserver and a live
//! simulator. Every kind is planned (create / change with the field diff / nothing / paused / delete / keep),
//! the exit codes follow `terraform plan -detailed-exitcode`, `-o json` is machine-readable, `kubectl clouddb
//! plan` works as a plugin, `--credentials` replaces the cluster's Secrets — and the plan writes nothing: 0
//! non-GET calls in the simulator's counters, and no object, status, Secret or Event changes in Kubernetes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use clouddb_operator::api::{ClickHouseService, TidbCloudServerlessCluster, TidbCloudSqlUser};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use support::operator::*;

/// Every call the simulator counted (TiDB Cloud and ClickHouse Cloud, every key) that `pred` selects.
fn calls(env: &OperatorEnv, pred: impl Fn(&str) -> bool) -> u64 {
    env.sim
        .counters()
        .into_iter()
        .chain(env.sim.clickhouse_counters())
        .chain(env.sim.serverless_counters())
        .filter(|r| pred(r.key.method))
        .map(|r| r.count)
        .sum()
}

fn writes(env: &OperatorEnv) -> u64 {
    calls(env, |m| m != "GET")
}

fn reads(env: &OperatorEnv) -> u64 {
    calls(env, |m| m == "GET")
}

/// A manifest of `kind` named `name` in the test namespace.
fn manifest(env: &OperatorEnv, kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "clouddb.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": env.ns()},
        "spec": spec,
    })
}

fn write_manifests(dir: &Path, file: &str, docs: &[Value]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("manifest dir");
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).expect("yaml")))
        .collect();
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write manifests");
    path
}

/// The plan flags pointing at the simulator, as the operator has them.
fn plan_flags(env: &OperatorEnv) -> Vec<String> {
    let ca = env.sim.ca_path().expect("https").display().to_string();
    vec![
        format!("--tidbcloud-api-url={}/v1beta1", env.sim.base_url()),
        format!("--tidbcloud-iam-url={}/v1beta1", env.sim.base_url()),
        format!("--clickhouse-api-url={}/v1", env.sim.clickhouse_base_url()),
        format!(
            "--tidbcloud-serverless-url={}/v1beta1",
            env.sim.serverless_base_url()
        ),
        format!("--default-credentials={}/{CREDENTIALS}", env.ns()),
        format!(
            "--default-clickhouse-credentials={}/{CLICKHOUSE_CREDENTIALS}",
            env.ns()
        ),
        format!("--extra-ca-file={ca}"),
    ]
}

struct Planned {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `program args` with the test's kubeconfig (async: the simulator runs in this process).
async fn run(env: &OperatorEnv, program: &Path, args: &[String], path: Option<&str>) -> Planned {
    let mut cmd = tokio::process::Command::new(program);
    // `--offline` must not need a cluster: it gets a kubeconfig that does not exist.
    let kubeconfig = match args.iter().any(|a| a == "--offline") {
        true => PathBuf::from("/nonexistent/kubeconfig"),
        false => env.env.cp.admin_kubeconfig().to_path_buf(),
    };
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null());
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    let out = tokio::time::timeout(support::TIMEOUT, cmd.output())
        .await
        .expect("the plan finishes in time")
        .expect("run the plan");
    Planned {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn plan(env: &OperatorEnv, extra: &[String]) -> Planned {
    let mut args = vec!["plan".to_string()];
    args.extend(extra.iter().cloned());
    args.extend(plan_flags(env));
    run(
        env,
        Path::new(env!("CARGO_BIN_EXE_clouddb-operator")),
        &args,
        None,
    )
    .await
}

/// What Kubernetes holds that a plan must not touch: every object's resourceVersion in the namespace's clouddb
/// kinds and Secrets, and the Events.
async fn kube_state(env: &OperatorEnv) -> Vec<String> {
    let ns = env.ns();
    let lp = ListParams::default();
    let mut out = Vec::new();
    for o in env.tcc.list(&lp).await.expect("tcc").items {
        out.push(format!("tcc {:?}", o.metadata.resource_version));
    }
    let chs: Api<ClickHouseService> = Api::namespaced(env.env.admin.clone(), ns);
    for o in chs.list(&lp).await.expect("chs").items {
        out.push(format!("chs {:?}", o.metadata.resource_version));
    }
    let secrets: Api<Secret> = Api::namespaced(env.env.admin.clone(), ns);
    for o in secrets.list(&lp).await.expect("secrets").items {
        out.push(format!(
            "secret {:?} {:?}",
            o.metadata.name, o.metadata.resource_version
        ));
    }
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.env.admin.clone(), ns);
    out.push(format!(
        "events {}",
        events.list(&lp).await.expect("events").items.len()
    ));
    out.sort();
    out
}

/// Waits until the `K` named `name` is Ready on its current generation.
async fn ready_of<K: TestKind>(env: &OperatorEnv, name: &str) -> K {
    env.wait_for::<K>(name, &format!("{name} Ready"), support::TIMEOUT * 3, |o| {
        let v = serde_json::to_value(o).unwrap_or_default();
        v["status"]["observedGeneration"] == v["metadata"]["generation"]
            && condition_of(o, "Ready").is_some_and(|c| c.status == "True")
    })
    .await
}

fn entry<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} in the plan: {json}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_previews_every_kind_and_writes_nothing() {
    let Some(mut env) = OperatorEnv::start("plan").await else {
        return;
    };
    // What already runs: two Ready clusters, one paused object, and the Secrets imports and integrations read.
    env.put_secret(
        "aws",
        &[
            ("accessKeyId", "AKIAPLAN"),
            ("secretAccessKey", "plan-secret"),
        ],
    )
    .await;
    env.apply("steady", basic_spec()).await;
    env.apply("resize", basic_spec()).await;
    env.apply_with_meta(
        "frozen",
        json!({"annotations": {"clouddb.dev/reconcile": "paused"}}),
        basic_spec(),
    )
    .await;
    let user = json!({"clusterRef": {"name": "steady"}, "userName": "app", "builtinRole": "role_readonly"});
    env.apply_kind::<TidbCloudSqlUser>("app", user.clone())
        .await;
    env.apply_kind::<TidbCloudServerlessCluster>("lake", json!({"region": "aws-us-east-1"}))
        .await;
    let steady = env.wait_ready("steady").await;
    ready_of::<TidbCloudSqlUser>(&env, "app").await;
    ready_of::<TidbCloudServerlessCluster>(&env, "lake").await;
    env.wait_ready("resize").await;
    env.wait_condition("frozen", "Suspended", "True", "ReconcilePaused")
        .await;
    let steady_id = steady
        .status
        .as_ref()
        .and_then(|s| s.cluster_id.clone())
        .expect("cluster id");
    // From here on only the plan may call the cloud.
    env.kill_operator();
    let writes_before = writes(&env);
    let reads_before = reads(&env);
    let kube_before = kube_state(&env).await;

    let dir = std::env::temp_dir().join(format!("clouddb-plan-{}", env.ns()));
    let mut resized = basic_spec();
    resized["tidb"]["nodeCount"] = json!(3);
    let mut frozen = basic_spec();
    frozen["tidb"]["nodeCount"] = json!(4);
    let mut frozen_manifest = manifest(&env, "TidbCloudCluster", "frozen", frozen);
    frozen_manifest["metadata"]["annotations"] = json!({"clouddb.dev/reconcile": "paused"});
    let all = write_manifests(
        &dir,
        "all.yaml",
        &[
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "not-ours"}}),
            manifest(&env, "TidbCloudCluster", "steady", basic_spec()),
            manifest(&env, "TidbCloudCluster", "resize", resized),
            manifest(&env, "TidbCloudCluster", "fresh", basic_spec()),
            frozen_manifest,
            manifest(
                &env,
                "ClickHouseService",
                "events",
                json!({"provider": "aws", "region": "us-east-1"}),
            ),
            manifest(
                &env,
                "TidbCloudImport",
                "load",
                json!({
                    "clusterRef": {"name": "steady"},
                    "fileType": "CSV",
                    "source": {"type": "S3", "uri": "s3://bucket/orders/", "s3": {"accessKey": {"secretRef": {"name": "aws"}}}},
                }),
            ),
            manifest(&env, "TidbCloudSqlUser", "app", {
                let mut u = user.clone();
                u["builtinRole"] = json!("role_readwrite");
                u
            }),
            manifest(
                &env,
                "TidbCloudServerlessCluster",
                "lake",
                json!({"region": "aws-us-east-1"}),
            ),
            manifest(
                &env,
                "TidbCloudServerlessCluster",
                "lake-new",
                json!({"region": "aws-us-east-1"}),
            ),
            manifest(
                &env,
                "TidbCloudIntegration",
                "prom",
                json!({"clusterRef": {"name": "steady"}, "type": "PROMETHEUS", "prometheus": {}}),
            ),
        ],
    );

    // Text: one line per object, the diff of the changed one, the summary; exit 2 (changes).
    let text = plan(&env, &["-f".into(), dir.display().to_string()]).await;
    support::ship::note(&format!(
        "plan of 10 objects (6 kinds): {} GETs, {} writes",
        reads(&env) - reads_before,
        writes(&env) - writes_before
    ));
    assert_eq!(
        text.code, 2,
        "changes → exit 2\n{}\n{}",
        text.stdout, text.stderr
    );
    let ns = env.ns();
    for line in [
        format!("= TidbCloudCluster {ns}/steady: no change"),
        format!("~ TidbCloudCluster {ns}/resize: change"),
        format!("+ TidbCloudCluster {ns}/fresh: create the cluster in TiDB Cloud"),
        format!("= TidbCloudCluster {ns}/frozen: paused"),
        format!("+ ClickHouseService {ns}/events: create the service in ClickHouse Cloud"),
        format!("+ TidbCloudImport {ns}/load: create"),
        format!("+ TidbCloudIntegration {ns}/prom: create"),
        format!("~ TidbCloudSqlUser {ns}/app: change"),
        format!("= TidbCloudServerlessCluster {ns}/lake: no change"),
        format!("+ TidbCloudServerlessCluster {ns}/lake-new: create"),
        "not-ours".to_string(),
        "Plan: 5 to create, 2 to change, 0 to delete, 3 unchanged, 0 blocked, 0 errors."
            .to_string(),
    ] {
        assert!(text.stdout.contains(&line), "{line:?} in:\n{}", text.stdout);
    }
    let diff = text
        .stdout
        .lines()
        .skip_while(|l| !l.contains("/resize: change"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        diff.contains('3'),
        "the diff names the new node count: {diff:?}"
    );

    // JSON for CI bots, the same decisions.
    let json = plan(
        &env,
        &[
            "-f".into(),
            all.display().to_string(),
            "-o".into(),
            "json".into(),
        ],
    )
    .await;
    assert_eq!(json.code, 2, "{}", json.stderr);
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON plan");
    assert_eq!(entry(&report, "steady")["action"], "nothing");
    assert_eq!(entry(&report, "steady")["id"], steady_id.as_str());
    assert_eq!(entry(&report, "resize")["action"], "change");
    assert!(
        !entry(&report, "resize")["changes"]
            .as_array()
            .expect("changes")
            .is_empty()
    );
    assert_eq!(entry(&report, "fresh")["action"], "create");
    assert_eq!(entry(&report, "frozen")["action"], "paused");
    assert_eq!(entry(&report, "events")["action"], "create");
    assert_eq!(entry(&report, "app")["action"], "change");
    assert_eq!(entry(&report, "lake")["action"], "nothing");
    assert_eq!(entry(&report, "lake-new")["action"], "create");
    assert_eq!(report["summary"]["create"], 5);
    assert_eq!(report["skipped"], json!(["ConfigMap/not-ours"]));

    // Nothing to change → exit 0; through kubectl as a plugin (`kubectl-clouddb` on PATH).
    let steady_only = write_manifests(
        &dir,
        "steady.yaml",
        &[manifest(&env, "TidbCloudCluster", "steady", basic_spec())],
    );
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let plugin = bin.join("kubectl-clouddb");
    let _ = std::fs::remove_file(&plugin);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_clouddb-operator"), &plugin).expect("symlink");
    let kubectl = PathBuf::from(std::env::var("K8S_BIN_DIR").unwrap_or_default()).join("kubectl");
    if kubectl.exists() {
        let mut args = vec![
            "clouddb".to_string(),
            "plan".into(),
            "-f".into(),
            steady_only.display().to_string(),
        ];
        args.extend(plan_flags(&env));
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let via_kubectl = run(&env, &kubectl, &args, Some(&path)).await;
        assert_eq!(
            via_kubectl.code, 0,
            "no change → exit 0\n{}\n{}",
            via_kubectl.stdout, via_kubectl.stderr
        );
        assert!(
            via_kubectl
                .stdout
                .contains("Plan: 0 to create, 0 to change")
        );
    } else {
        let direct = plan(&env, &["-f".into(), steady_only.display().to_string()]).await;
        assert_eq!(direct.code, 0, "{}\n{}", direct.stdout, direct.stderr);
    }

    // --destroy: the deletion policy decides; protection blocks (exit 1).
    let mut kept = basic_spec();
    kept["deletionPolicy"] = json!("Retain");
    let mut protected = basic_spec();
    protected["deletionProtection"] = json!(true);
    let destroy = write_manifests(
        &dir,
        "destroy.yaml",
        &[
            manifest(&env, "TidbCloudCluster", "steady", basic_spec()),
            manifest(&env, "TidbCloudCluster", "resize", kept),
        ],
    );
    let d = plan(
        &env,
        &[
            "-f".into(),
            destroy.display().to_string(),
            "--destroy".into(),
        ],
    )
    .await;
    assert_eq!(d.code, 2, "{}\n{}", d.stdout, d.stderr);
    assert!(
        d.stdout.contains(&format!(
            "- TidbCloudCluster {ns}/steady: delete cluster {steady_id} from TiDB Cloud"
        )),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains(&format!(
            "= TidbCloudCluster {ns}/resize: kept in the cloud (deletionPolicy is Retain)"
        )),
        "{}",
        d.stdout
    );
    let guarded = write_manifests(
        &dir,
        "guarded.yaml",
        &[manifest(&env, "TidbCloudCluster", "steady", protected)],
    );
    let g = plan(
        &env,
        &[
            "-f".into(),
            guarded.display().to_string(),
            "--destroy".into(),
        ],
    )
    .await;
    assert_eq!(g.code, 1, "{}\n{}", g.stdout, g.stderr);
    assert!(g.stdout.contains("DeletionProtected"), "{}", g.stdout);

    // Adopting the id another object manages: blocked, as the operator would stop (the ownership index).
    let mut twin = basic_spec();
    twin["clusterId"] = json!(steady_id);
    let twin = write_manifests(
        &dir,
        "twin.yaml",
        &[manifest(&env, "TidbCloudCluster", "twin", twin)],
    );
    let t = plan(&env, &["-f".into(), twin.display().to_string()]).await;
    assert_eq!(t.code, 1, "{}\n{}", t.stdout, t.stderr);
    assert!(t.stdout.contains("ClusterManagedElsewhere"), "{}", t.stdout);

    // A manifest the API server refuses: reported as it would be on apply, exit 1.
    let mut invalid = basic_spec();
    invalid["tidb"]["nodeCount"] = json!(-1);
    let bad = write_manifests(
        &dir,
        "bad.yaml",
        &[manifest(&env, "TidbCloudCluster", "broken", invalid)],
    );
    let b = plan(&env, &["-f".into(), bad.display().to_string()]).await;
    assert_eq!(b.code, 1, "{}\n{}", b.stdout, b.stderr);
    assert!(b.stdout.contains("Invalid"), "{}", b.stdout);

    // --credentials replaces the Secrets: a key the cloud does not know is reported, not silently swapped.
    let creds = dir.join("tidb.env");
    std::fs::write(&creds, "publicKey=NOPE\nprivateKey=not-a-real-key\n").expect("env file");
    let c = plan(
        &env,
        &[
            "-f".into(),
            steady_only.display().to_string(),
            format!("--credentials=tidbcloud-credentials={}", creds.display()),
        ],
    )
    .await;
    assert_eq!(c.code, 1, "{}\n{}", c.stdout, c.stderr);
    assert!(!c.stdout.contains("not-a-real-key") && !c.stderr.contains("not-a-real-key"));
    let key = env.sim.key().clone();
    std::fs::write(
        &creds,
        format!(
            "publicKey={}\nprivateKey={}\n",
            key.public_key, key.private_key
        ),
    )
    .expect("env file");
    let c = plan(
        &env,
        &[
            "-f".into(),
            steady_only.display().to_string(),
            format!("--credentials=tidbcloud-credentials={}", creds.display()),
        ],
    )
    .await;
    assert_eq!(c.code, 0, "{}\n{}", c.stdout, c.stderr);
    assert!(!c.stdout.contains(&key.private_key) && !c.stderr.contains(&key.private_key));

    // --offline: no cluster at all; every object is new (its status is unknown), the key comes from the flags.
    let o = plan(
        &env,
        &[
            "-f".into(),
            steady_only.display().to_string(),
            "--offline".into(),
        ],
    )
    .await;
    assert_eq!(o.code, 1, "--offline needs --credentials\n{}", o.stderr);
    assert!(o.stderr.contains("--credentials"), "{}", o.stderr);
    let o = plan(
        &env,
        &[
            "-f".into(),
            steady_only.display().to_string(),
            "--offline".into(),
            "-n".into(),
            "ci".into(),
            format!("--credentials=tidbcloud-credentials={}", creds.display()),
        ],
    )
    .await;
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains(&format!(
            "+ TidbCloudCluster {ns}/steady: create the cluster in TiDB Cloud"
        )),
        "{}",
        o.stdout
    );

    // The plan read the cloud and wrote nothing anywhere.
    assert!(reads(&env) > reads_before, "the plan reads the cloud");
    assert_eq!(
        writes(&env),
        writes_before,
        "0 writes in the simulator's counters"
    );
    assert_eq!(
        kube_state(&env).await,
        kube_before,
        "nothing changed in Kubernetes"
    );
    assert!(
        env.tcc.get_opt("fresh").await.expect("get").is_none(),
        "the dry-run apply stored nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
