//! Dependencies point down: core ← store ← {collector, query, alerts} ← ui ← weir,
//! and collector ← cluster.
//! A crate that reaches sideways or up fails this test; so do modules of one
//! crate that import each other in a circle, and SQL or tantivy outside store.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut m = BTreeMap::new();
    m.insert("weir-core", BTreeSet::new());
    m.insert("weir-store", BTreeSet::from(["weir-core"]));
    m.insert(
        "weir-collector",
        BTreeSet::from(["weir-core", "weir-store"]),
    );
    m.insert("weir-query", BTreeSet::from(["weir-core", "weir-store"]));
    m.insert("weir-alerts", BTreeSet::from(["weir-core", "weir-store"]));
    m.insert(
        "weir-ui",
        BTreeSet::from(["weir-core", "weir-store", "weir-query"]),
    );
    // Cluster mode: above the collector, whose exports it publishes; the
    // binary will choose it over the local write-ahead log.
    m.insert(
        "weir-cluster",
        BTreeSet::from(["weir-core", "weir-store", "weir-collector"]),
    );
    // The simulator speaks OTLP only: it depends on no weir crate.
    m.insert("weir-sim", BTreeSet::new());
    // The benchmark drives the binary; it takes its load from the collector's
    // test fixtures, and indexes the same documents into the store's span
    // index for the bare figure.
    m.insert(
        "weir-bench",
        BTreeSet::from(["weir-core", "weir-collector", "weir-store"]),
    );
    // Test support (a throwaway PostgreSQL): a dev-dependency only.
    m.insert("weir-testkit", BTreeSet::new());
    // The fuzz targets reach every parser, the binary's configuration too.
    m.insert(
        "weir-fuzzing",
        BTreeSet::from([
            "weir",
            "weir-core",
            "weir-store",
            "weir-collector",
            "weir-alerts",
        ]),
    );
    m
}

#[test]
fn workspace_crates_depend_only_downward() {
    let meta = metadata();
    let allowed = allowed();
    let mut seen = BTreeSet::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        seen.insert(name.to_string());
        if name == "weir" {
            continue;
        }
        let permitted = allowed.get(name).unwrap_or_else(|| {
            panic!("new crate {name}: add its place in the layering to this test")
        });
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            let is_normal = dep["kind"].is_null();
            if dep_name.starts_with("weir") && is_normal {
                assert!(
                    permitted.contains(dep_name),
                    "{name} must not depend on {dep_name}"
                );
            }
        }
    }
    assert!(
        seen.contains("weir-core") && seen.contains("weir-collector"),
        "metadata lists the workspace"
    );
}

/// Crates that own a storage engine's wire format: SQL and tantivy live in
/// store alone.
const STORAGE_ENGINES: [&str; 2] = ["sqlx", "tantivy"];

#[test]
fn only_store_depends_on_sqlx_and_tantivy() {
    let meta = metadata();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            assert!(
                name == "weir-store" || !STORAGE_ENGINES.contains(&dep_name),
                "{name} depends on {dep_name}: only weir-store may; go through its API"
            );
        }
    }
}

/// Within one crate, top-level modules (a file `src/x.rs` or a folder
/// `src/x/`) must not import each other in a circle: the write path and the
/// read path each run one way. `lib.rs` and `main.rs` only wire and re-export.
#[test]
fn no_module_imports_another_in_a_circle() {
    let meta = metadata();
    let mut circles = Vec::new();
    for package in meta["packages"].as_array().unwrap() {
        let manifest = std::path::Path::new(package["manifest_path"].as_str().unwrap());
        let src = manifest.parent().unwrap().join("src");
        let graph = module_graph(&src);
        if let Some(circle) = find_circle(&graph) {
            circles.push(format!(
                "{}: {}",
                package["name"].as_str().unwrap(),
                circle.join(" → ")
            ));
        }
    }
    assert!(
        circles.is_empty(),
        "modules importing each other in a circle:\n{}",
        circles.join("\n")
    );
}

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Top-level module → the top-level modules its files name as `crate::x`.
fn module_graph(src: &std::path::Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" || module == "bin" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let targets = graph.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let before = text[..i].chars().next_back();
            // `weir_crate::` or `my_crate::` are other crates, not this one.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let is_module = rest[name.len()..].starts_with("::")
                || rest[name.len()..].starts_with(';')
                || rest[name.len()..].starts_with(',');
            if !name.is_empty()
                && name != module
                && is_module
                && name.chars().all(|c| !c.is_uppercase())
            {
                targets.insert(name);
            }
        }
    }
    // A name that is no module of this crate (a re-exported item) is no edge.
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for targets in graph.values_mut() {
        targets.retain(|t| modules.contains(t));
    }
    graph
}

fn collect_rs(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// One circle in the graph, if there is any.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_circle_check_finds_two_modules_importing_each_other() {
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("wal")).unwrap();
    std::fs::write(
        src.path().join("lib.rs"),
        "mod ingest;\nmod wal;\nmod worker;\n",
    )
    .unwrap();
    std::fs::write(src.path().join("ingest.rs"), "use crate::wal::Wal;\n").unwrap();
    std::fs::write(
        src.path().join("wal/writer.rs"),
        "use crate::worker::{Handoff, Work};\n",
    )
    .unwrap();
    std::fs::write(
        src.path().join("worker.rs"),
        "fn f() { crate::ingest::now(); }\n",
    )
    .unwrap();
    let graph = module_graph(src.path());
    assert_eq!(
        find_circle(&graph),
        Some(vec![
            "ingest".into(),
            "wal".into(),
            "worker".into(),
            "ingest".into()
        ])
    );
    // Break the circle: what the worker needs lives below it.
    std::fs::write(
        src.path().join("worker.rs"),
        "use weir_core::now_unix_nanos;\n",
    )
    .unwrap();
    assert_eq!(find_circle(&module_graph(src.path())), None);
}
