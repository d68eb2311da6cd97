//! The coverage table of `docs/simulator.md` (between the `route-coverage` markers) lists exactly the routes
//! the simulator's routers serve, on every API and both admin APIs.
//!
//! The routes come from the routers themselves ([`clouddb_sim::routes::served_routes`]): every route
//! template written in `sim/src` and every template of the table is routed as a request through the same
//! gateways and modules as a running simulator, and counts where the router answers it under that template.
//! A row the routers do not serve, or a served route without a row, fails the test with the difference.
//!
//! To regenerate the table after adding or removing routes:
//! `CLOUDDB_SIM_WRITE_COVERAGE=1 cargo test -p clouddb-sim --test coverage`.
use clouddb_sim::routes::{ServedRoute, served_routes, template_literals};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const BEGIN: &str = "<!-- route-coverage:begin -->";
const END: &str = "<!-- route-coverage:end -->";
const HEADER: &str = "| API | Method | Path template | Module |\n|---|---|---|---|\n";

type Row = (String, String, String, String);

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/simulator.md")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read sim/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines between the markers, and the byte range they occupy in `doc`.
fn table_of(doc: &str) -> (&str, std::ops::Range<usize>) {
    let begin = doc
        .find(BEGIN)
        .unwrap_or_else(|| panic!("docs/simulator.md has no {BEGIN} marker"));
    let start = begin + BEGIN.len() + 1;
    let end = doc[start..]
        .find(END)
        .map(|e| start + e)
        .unwrap_or_else(|| panic!("docs/simulator.md has no {END} marker after {BEGIN}"));
    (&doc[start..end], start..end)
}

fn cell(s: &str) -> String {
    s.trim().trim_matches('`').to_string()
}

fn rows_of(table: &str) -> Vec<Row> {
    table
        .lines()
        .skip(2) // header and separator
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split('|').collect();
            assert_eq!(cells.len(), 4, "a coverage row has 4 cells: {l}");
            (
                cell(cells[0]),
                cell(cells[1]),
                cell(cells[2]),
                cell(cells[3]),
            )
        })
        .collect()
}

fn row(r: &ServedRoute) -> Row {
    (
        r.api.clone(),
        r.method.to_string(),
        r.template.clone(),
        r.module.to_string(),
    )
}

fn render(routes: &[ServedRoute]) -> String {
    let mut t = HEADER.to_string();
    for r in routes {
        t.push_str(&format!(
            "| {} | `{}` | `{}` | `{}` |\n",
            r.api, r.method, r.template, r.module
        ));
    }
    t
}

fn show(rows: &BTreeSet<&Row>) -> String {
    rows.iter()
        .map(|(api, m, t, module)| format!("  {api} | {m} {t} | {module}\n"))
        .collect()
}

#[test]
fn the_docs_coverage_table_matches_the_routers() {
    let doc_file = doc_path();
    let doc = std::fs::read_to_string(&doc_file).expect("read docs/simulator.md");
    let (table, range) = table_of(&doc);
    let documented = rows_of(table);

    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for f in &files {
        let src = std::fs::read_to_string(f).expect("read a source file");
        candidates.extend(template_literals(&src));
    }
    // Rows whose template appears nowhere in the sources are probed too (and then reported as not served).
    candidates.extend(documented.iter().map(|r| r.2.clone()));
    let served = served_routes(candidates.iter().map(String::as_str));
    assert!(
        served.len() > 50,
        "the probe found only {} routes: {served:#?}",
        served.len()
    );
    let generated = render(&served);

    if std::env::var_os("CLOUDDB_SIM_WRITE_COVERAGE").is_some() {
        let mut new_doc = doc.clone();
        new_doc.replace_range(range, &generated);
        std::fs::write(&doc_file, new_doc).expect("write docs/simulator.md");
        return;
    }

    let served_rows: Vec<Row> = served.iter().map(row).collect();
    let want: BTreeSet<&Row> = served_rows.iter().collect();
    let have: BTreeSet<&Row> = documented.iter().collect();
    let missing: BTreeSet<&Row> = want.difference(&have).copied().collect();
    let extra: BTreeSet<&Row> = have.difference(&want).copied().collect();
    let duplicates = documented.len() - have.len();
    assert!(
        missing.is_empty() && extra.is_empty() && duplicates == 0,
        "docs/simulator.md's route coverage table differs from the routers.\n\
         Served but not in the table ({}):\n{}\
         In the table but not served ({}):\n{}\
         Duplicate rows: {duplicates}\n\
         Regenerate it with CLOUDDB_SIM_WRITE_COVERAGE=1 cargo test -p clouddb-sim --test coverage",
        missing.len(),
        show(&missing),
        extra.len(),
        show(&extra),
    );
    assert_eq!(
        table, generated,
        "the coverage table has the right rows but not in the generated order or format; regenerate it \
         with CLOUDDB_SIM_WRITE_COVERAGE=1 cargo test -p clouddb-sim --test coverage"
    );
}
