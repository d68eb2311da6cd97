//! Dependencies point down: controllers → providers → model/cloud → api, never the reverse. Fails when code
//! under src/providers, src/cloud or src/model names `crate::controllers` (or src/cloud, src/model name
//! `crate::providers`): the domain types a pure decide reads live in src/model, so a provider's translation
//! never needs a controller's module. Comments may mention the upper layers; code may not.

use std::path::{Path, PathBuf};

/// (folder, the modules its code must not name).
const RULES: &[(&str, &[&str])] = &[
    ("src/providers", &["controllers"]),
    ("src/cloud", &["controllers", "providers"]),
    ("src/model", &["controllers", "providers"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a Rust source without `//` comments (line and doc comments) and without whitespace, so
/// `crate :: controllers` or a path split over lines is seen too.
fn code(source: &str) -> String {
    source
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The modules of `forbidden` that `code` (from [`code`]) names: `crate::m`, `clouddb_operator::m`,
/// `super::m` (any depth), or `m` inside a `crate::{...}` group.
fn names(code: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for m in forbidden {
        for prefix in ["crate::", "clouddb_operator::", "super::"] {
            if code.contains(&format!("{prefix}{m}")) {
                found.push(format!("{prefix}{m}"));
            }
        }
        for (start, _) in code.match_indices("crate::{") {
            let group = &code[start + "crate::{".len()..];
            let (mut depth, mut end) = (1, group.len());
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let group = &group[..end];
            if group
                .split([',', '{'])
                .any(|item| item == *m || item.starts_with(&format!("{m}::")))
            {
                found.push(format!("crate::{{{m}}}"));
            }
        }
    }
    found
}

#[test]
fn lower_layers_never_name_the_layers_above() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut violations = Vec::new();
    for (dir, forbidden) in RULES {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        assert!(!files.is_empty(), "{dir} has Rust sources");
        for file in files {
            let source = std::fs::read_to_string(&file).expect("a readable source");
            for name in names(&code(&source), forbidden) {
                violations.push(format!(
                    "{} names {name}",
                    file.strip_prefix(root).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependencies must point down (controllers → providers → model/cloud → api): {violations:#?}"
    );
}

#[test]
fn the_check_sees_every_way_of_naming_a_module() {
    let forbidden = &["controllers"];
    for bad in [
        "use crate::controllers::tidbcloudcluster::decide::Observed;",
        "use crate :: controllers::core;",
        "use crate::{api::common, controllers::core};",
        "use crate::{\n    controllers,\n    api,\n};",
        "fn f() -> clouddb_operator::controllers::core::Outcome { todo!() }",
        "use super::super::controllers::core;",
    ] {
        assert!(!names(&code(bad), forbidden).is_empty(), "not seen: {bad}");
    }
    for fine in [
        "//! the controllers (`crate::controllers`) read these",
        "use crate::model::tidbcloudcluster::Observed; // not crate::controllers",
        "use crate::{api::common, cloud::CloudError};",
        "use crate::api::controllers_doc;",
    ] {
        assert!(
            names(&code(fine), forbidden).is_empty(),
            "false alarm: {fine}"
        );
    }
}
