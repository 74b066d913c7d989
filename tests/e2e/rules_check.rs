//! `weir rules check` accepts good rule files and rejects broken ones with
//! line-numbered errors and a non-zero exit.

use std::process::Command;

fn check(fixture: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["rules", "check"])
        .arg(format!(
            "{}/tests/fixtures/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .output()
        .unwrap()
}

#[test]
fn a_valid_rule_file_passes() {
    let out = check("rules-valid.yaml");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 groups, 4 rules)"));
}

#[test]
fn broken_rule_files_fail_with_line_numbers() {
    let out = check("rules-broken-kind.yaml");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules-broken-kind.yaml:5: "), "{err}");
    assert!(err.contains("lagg"), "{err}");

    let out = check("rules-broken-metric.yaml");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules-broken-metric.yaml:4: "), "{err}");
    assert!(err.contains("needs `metric"), "{err}");
}
