//! Dependencies point down: core ← store ← {collector, query, alerts} ← ui ← weir.
//! A crate that reaches sideways or up fails this test.

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
    // The simulator speaks OTLP only: it depends on no weir crate.
    m.insert("weir-sim", BTreeSet::new());
    m.insert("weir-bench", BTreeSet::new());
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
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
