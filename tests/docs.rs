//! The docs describe this operator, not an older one: `--help` in docs/operator.md is the binary's, the flags
//! table lists exactly the binary's flags, every kind has its page and its README entry, and the README's
//! source map names every module under src/. Fails when a flag, kind or module is added without its docs.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn operator(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_clouddb-operator"))
        .args(args)
        .output()
        .expect("run clouddb-operator");
    assert!(out.status.success(), "clouddb-operator {args:?} failed");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

#[test]
fn the_help_shown_in_the_docs_is_the_binarys() {
    let doc = read("docs/operator.md");
    let start = doc
        .find("$ clouddb-operator --help\n")
        .expect("docs/operator.md shows `clouddb-operator --help`")
        + "$ clouddb-operator --help\n".len();
    let end = start + doc[start..].find("```").expect("the console block ends");
    assert_eq!(
        doc[start..end].trim_end(),
        operator(&["--help"]).trim_end(),
        "docs/operator.md shows an outdated `clouddb-operator --help`"
    );
}

#[test]
fn the_flags_table_lists_exactly_the_binarys_flags() {
    let help = operator(&["run", "--help"]);
    let binary: BTreeSet<String> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| format!("--{}", l.split([' ', ',', '=']).next().unwrap_or_default()))
        .filter(|f| f != "--help")
        .collect();
    let doc = read("docs/operator.md");
    let documented: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `--"))
        .map(|l| format!("--{}", l.split('`').next().unwrap_or_default()))
        .collect();
    assert!(
        binary.len() > 20,
        "parsed the flags of `run --help`: {binary:?}"
    );
    let missing: Vec<_> = binary.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&binary).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/operator.md flags table: missing {missing:?}, not flags of the binary {stale:?}"
    );
    // Each documented flag names the environment variable the binary reads.
    for line in doc.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (flag, env) = (cells[1].trim_matches('`'), cells[2].trim_matches('`'));
        assert!(
            help.contains(&format!("[env: {env}=")),
            "{flag}: the docs name the environment variable {env}, which `run --help` does not"
        );
    }
}

#[test]
fn every_kind_has_its_page_and_its_readme_entry() {
    let readme = read("README.md");
    for crd in clouddb_operator::api::crds() {
        let kind = crd.spec.names.kind.clone();
        let page = format!("docs/{}.md", kind.to_lowercase());
        assert!(root().join(&page).exists(), "{kind} has no {page}");
        assert!(
            readme.contains(&format!("**`{kind}`**")),
            "README's feature list does not describe {kind}"
        );
    }
}

/// Every module of src/ (files, and folders of a kind or provider) is named in README's source map.
#[test]
fn the_readme_source_map_names_every_module() {
    let readme = read("README.md");
    let mut missing = Vec::new();
    let mut visit = |rel: String| {
        let named = readme.contains(&format!("`{rel}`"))
            || readme.contains(&format!("`{rel}/`"))
            // A folder's files are covered by the folder; a file may be named without its folder prefix in
            // a row that starts with its folder's path.
            || rel
                .rsplit_once('/')
                .is_some_and(|(dir, file)| {
                    readme.contains(&format!("`{dir}/`"))
                        || readme
                            .lines()
                            .any(|l| l.contains(&format!("`{dir}/")) && l.contains(&format!("`{file}`")))
                });
        if !named {
            missing.push(rel);
        }
    };
    for dir in [
        "src",
        "src/controllers",
        "src/providers",
        "src/cloud",
        "src/api",
    ] {
        for entry in std::fs::read_dir(root().join(dir)).expect("a source folder") {
            let entry = entry.expect("an entry");
            let name = entry.file_name().to_string_lossy().to_string();
            if name == "mod.rs" || name == "lib.rs" {
                continue;
            }
            let rel = format!("{dir}/{name}");
            if ["src/controllers", "src/providers", "src/cloud", "src/api"].contains(&rel.as_str())
            {
                continue;
            }
            visit(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "README's source map does not name: {missing:?}"
    );
}
