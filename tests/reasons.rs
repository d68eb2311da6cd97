//! The condition and Event reasons (`src/reasons.rs`) against the code, the docs and the Argo CD health script:
//!
//! - no reason is written as a string literal outside `src/reasons.rs` (a source scan of `src/`);
//! - every reason a kind emits is in that kind's doc, and every reason-looking token of a doc's condition and
//!   Event sections is a known reason (so a renamed reason fails until the docs follow);
//! - the Argo CD health script (`charts/clouddb-operator/files/argocd-health.lua`, run through the Go helper
//!   `tools/gitops-health`, env `GITOPS_HEALTH`) reports every Stalled reason as Degraded, every Reconciling
//!   reason as Progressing and every Ready=True reason as Healthy, for every kind that emits it. Without the
//!   helper that test prints SKIPPED, except under CI.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clouddb_operator::reasons::{ALL, Kind, Where};
use serde_json::{Value, json};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---- source scan ------------------------------------------------------------------------------------------

/// A string literal that looks like a reason (`CamelCase`, as Kubernetes requires of a condition reason):
/// messages such as `"key rejected"` are not reasons.
fn reason_shaped(lit: &str) -> bool {
    lit.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && lit.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The source with comment lines blanked (kept as empty lines, so offsets map to the same line numbers).
fn without_comment_lines(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The string literal starting at `at` (after whitespace), if any.
fn literal_at(text: &str, at: usize) -> Option<(usize, &str)> {
    let rest = &text[at..];
    let start = at + (rest.len() - rest.trim_start().len());
    let s = text[start..].strip_prefix('"')?;
    let end = s.find('"')?;
    Some((start, &s[..end]))
}

/// The offsets of the top-level arguments of the call whose `(` is at `open`.
fn arguments(text: &str, open: usize) -> Vec<usize> {
    let mut out = vec![open + 1];
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for (i, c) in text[open..].char_indices() {
        let i = open + i;
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => out.push(i + 1),
            _ => {}
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Offsets of `needle` in `text` not preceded by an identifier character (`note(` but not `with_note(`).
fn calls<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(needle)
        .map(|(i, _)| i)
        .filter(move |&i| {
            !text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| is_ident_char(c) && !needle.starts_with('.'))
        })
}

/// Reason literals in one file's source: `(offset, literal, pattern)`.
fn reason_literals(text: &str) -> Vec<(usize, String, &'static str)> {
    let mut found = Vec::new();
    let mut check = |at: usize, pattern: &'static str| {
        if let Some((start, lit)) = literal_at(text, at)
            && reason_shaped(lit)
        {
            found.push((start, lit.to_string(), pattern));
        }
    };
    for (i, m) in text.match_indices("reason:") {
        check(i + m.len(), "reason: \"…\"");
    }
    for i in calls(text, "progressing(") {
        check(i + "progressing(".len(), "progressing(\"…\")");
    }
    // Calls whose n-th argument is a reason.
    for (needle, index, pattern) in [
        (".event(", 1, ".event(EventType::…, \"…\")"),
        ("publish(", 3, "publish(…, \"…\")"),
        ("note(", 3, "note(…, \"…\")"),
        ("Desired::new(", 2, "Desired::new(…, \"…\")"),
    ] {
        for i in calls(text, needle) {
            let args = arguments(text, i + needle.len() - 1);
            if let Some(&at) = args.get(index) {
                check(at, pattern);
            }
        }
    }
    // A resting reason given to `converged`: `.then_some(("Paused", ...))`.
    for (i, m) in text.match_indices("then_some((") {
        check(i + m.len(), "then_some((\"…\", …))");
    }
    // The arms of the wait-reason mappings: `"CREATING" => "Creating"`.
    for (i, _) in text.match_indices("fn wait_reason(") {
        let Some(open) = text[i..].find('{').map(|o| i + o) else {
            continue;
        };
        let mut depth = 0usize;
        let mut end = text.len();
        for (j, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        for (j, m) in text[open..end].match_indices("=>") {
            check(open + j + m.len(), "wait_reason arm => \"…\"");
        }
    }
    found.sort();
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `file:line: "Literal" (pattern)` for every reason literal under `src/` outside `src/reasons.rs`.
fn reason_literal_violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
        if rel == "src/reasons.rs" {
            continue;
        }
        let raw = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("read {rel}: {e}"));
        let text = without_comment_lines(&raw);
        for (at, lit, pattern) in reason_literals(&text) {
            let line = text[..at].matches('\n').count() + 1;
            out.push(format!("{rel}:{line}: \"{lit}\" ({pattern})"));
        }
    }
    out
}

#[test]
fn no_reason_literal_outside_the_reasons_module() {
    let found = reason_literal_violations(repo_root());
    assert!(
        found.is_empty(),
        "reason string literals outside src/reasons.rs (use a constant of clouddb_operator::reasons):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_each_pattern() {
    let src = r#"
        // reason: "Commented" is ignored
        let a = Outcome::Stalled { reason: "One", message: m, requeue: None };
        run.progressing("Two", message);
        run.event(
            EventType::Normal,
            "Three",
            "Act",
            text,
        );
        publish(&ctx.recorder, obj, EventType::Warning, "Four", "Reconcile", m);
        note(ctx, obj, EventType::Normal, "Five", "Delete", format!("{x}, y"));
        Desired::new(READY, Status::False, "Six", message);
        x.then_some(("Seven", "at rest"));
        fn wait_reason(state: &str) -> &'static str {
            match state {
                "CREATING" => "Eight",
                _ => reasons::PROGRESSING,
            }
        }
        let ok = Decision::Error { reason: "key rejected".into() };
        let fine = with_note("Nine");
        recorder.publish(&ev, &obj.object_ref(&()));
    "#;
    let text = without_comment_lines(src);
    let names: Vec<String> = reason_literals(&text)
        .into_iter()
        .map(|(_, l, _)| l)
        .collect();
    assert_eq!(
        names,
        [
            "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight"
        ]
    );
}

// ---- docs -------------------------------------------------------------------------------------------------

/// The `## Conditions` and `## Events` sections of a doc (and any other section with a reason table).
fn reason_sections(doc: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            keep = h.starts_with("Conditions") || h.starts_with("Events");
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Backticked tokens of `text`.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn read_doc(kind: Kind) -> String {
    let path = repo_root().join(kind.doc());
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn every_reason_a_kind_emits_is_in_its_doc() {
    let mut missing = Vec::new();
    for &kind in Kind::ALL {
        let doc = read_doc(kind);
        let sections = reason_sections(&doc);
        let documented: BTreeSet<&str> = backticked(&sections).into_iter().collect();
        for r in ALL.iter().filter(|r| r.kinds.contains(&kind)) {
            if !documented.contains(r.name) {
                missing.push(format!(
                    "{}: `{}` ({:?}) is not in its Conditions or Events section",
                    kind.doc(),
                    r.name,
                    r.uses
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_reason_in_the_docs_exists() {
    // Condition types and statuses are backticked too; they are not reasons.
    const NOT_REASONS: &[&str] = &[
        "True",
        "False",
        "Unknown",
        "Reconciling",
        "Stalled",
        "Suspended",
    ];
    let known: BTreeSet<&str> = ALL.iter().map(|r| r.name).collect();
    let mut unknown = Vec::new();
    for &kind in Kind::ALL {
        let doc = read_doc(kind);
        let sections = reason_sections(&doc);
        for line in sections.lines().filter(|l| l.starts_with('|')) {
            for token in backticked(line) {
                let camel = token.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && token.chars().any(|c| c.is_ascii_lowercase())
                    && token.chars().all(|c| c.is_ascii_alphanumeric());
                if camel && !known.contains(token) && !NOT_REASONS.contains(&token) {
                    unknown.push(format!("{}: `{token}` in: {line}", kind.doc()));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "reasons in the docs' condition tables that src/reasons.rs does not know (renamed?):\n{}",
        unknown.join("\n")
    );
}

// ---- Argo CD health script ----------------------------------------------------------------------------------

/// The helper: env `GITOPS_HEALTH`. Unset: SKIPPED (printed), or a panic under CI.
fn gitops_health_or_skip() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GITOPS_HEALTH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "GITOPS_HEALTH={} is not a file", p.display());
        return Some(p);
    }
    assert!(
        !clouddb_testkit::in_ci(),
        "CI is set, so the Argo CD health check of the reasons may not be skipped: build the helper with \
         tools/gitops-health/build.sh and export GITOPS_HEALTH"
    );
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED (GITOPS_HEALTH unset; run `GITOPS_HEALTH=$(tools/gitops-health/build.sh)`): {}",
        std::thread::current().name().unwrap_or("argo_cd_health")
    );
    None
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": 3,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    })
}

/// An object of `kind` whose status (for the current generation) carries `reason` as `at` says.
fn object(kind: Kind, name: &str, reason: &str, at: Where) -> Value {
    let message = format!("synthetic {reason} message");
    let conditions = match at {
        Where::Ready => vec![condition("Ready", "True", reason, &message)],
        Where::Progressing => vec![
            condition("Ready", "False", reason, &message),
            condition("Reconciling", "True", reason, &message),
        ],
        Where::Transient => vec![
            condition("Ready", "True", "Ready", "was ready"),
            condition("Reconciling", "True", reason, &message),
        ],
        Where::Stalled => vec![
            condition("Ready", "False", reason, &message),
            condition("Stalled", "True", reason, &message),
        ],
        Where::Suspended => vec![
            condition("Ready", "True", "Ready", "was ready"),
            condition("Suspended", "True", reason, &message),
        ],
        Where::Drifted => vec![
            condition("Ready", "True", reason, &message),
            condition("Drifted", "True", reason, &message),
        ],
        other => panic!("no health for {other:?}"),
    };
    json!({
        "apiVersion": "clouddb.dev/v1alpha1",
        "kind": kind.name(),
        "metadata": {"name": name, "namespace": "default", "generation": 3},
        "spec": {},
        "status": {"observedGeneration": 3, "conditions": conditions},
    })
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    kind: String,
    name: String,
    argo: String,
    argo_message: String,
}

/// Runs the Argo CD script on `objects` (one helper run, one output line per object).
fn argo_health(helper: &Path, objects: &[Value]) -> Vec<Health> {
    let mut input = Vec::new();
    for o in objects {
        serde_json::to_writer(&mut input, o).expect("serialize");
        input.push(b'\n');
    }
    let root = repo_root();
    let mut child = Command::new(helper)
        .arg("-lua")
        .arg(root.join("charts/clouddb-operator/files/argocd-health.lua"))
        .arg("-flux")
        .arg(root.join("examples/gitops/flux-kustomization.yaml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", helper.display()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write the objects to gitops-health");
    let out = child.wait_with_output().expect("gitops-health output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gitops-health failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Health> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output line {l}: {e}")))
        .collect();
    assert_eq!(lines.len(), objects.len(), "one line per object: {stdout}");
    lines
}

#[test]
fn argo_cd_health_of_every_reason() {
    let Some(helper) = gitops_health_or_skip() else {
        return;
    };
    let mut cases = Vec::new();
    for r in ALL {
        for &kind in r.kinds {
            for &at in r.uses {
                let expected = match at {
                    Where::Stalled => "Degraded",
                    Where::Progressing | Where::Transient => "Progressing",
                    Where::Ready | Where::Drifted => "Healthy",
                    Where::Suspended => "Suspended",
                    Where::Available | Where::Event(_) => continue,
                };
                let name = format!("r{}", cases.len());
                cases.push((object(kind, &name, r.name, at), kind, r.name, at, expected));
            }
        }
    }
    assert!(cases.len() > 50, "only {} cases", cases.len());
    let objects: Vec<Value> = cases.iter().map(|c| c.0.clone()).collect();
    let health = argo_health(&helper, &objects);
    let mut wrong = Vec::new();
    for ((obj, kind, reason, at, expected), h) in cases.iter().zip(&health) {
        assert_eq!(
            (h.kind.as_str(), h.name.as_str()),
            (
                kind.name(),
                obj["metadata"]["name"].as_str().unwrap_or_default()
            ),
            "output out of order"
        );
        let message_ok = h.argo_message.contains(reason);
        if h.argo != *expected || !message_ok {
            wrong.push(format!(
                "{} {reason} ({at:?}): Argo CD says {} ({:?}), want {expected} naming the reason",
                kind.name(),
                h.argo,
                h.argo_message
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
