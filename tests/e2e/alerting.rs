//! Rules load at start, evaluate on their interval, and their states survive
//! a crash: an error burst fires an alert that is still the same firing alert
//! after kill -9 and restart.

use crate::harness::{Weir, serve_refuses, wait_for};
use crate::otlp::{span, spans_request, trace_id};
use opentelemetry_proto::tonic::trace::v1::Status;
use prost::Message;
use std::time::Duration;

pub(crate) const RULES: &str = r#"groups:
  - name: orders
    interval: 1s
    rules:
      - alert: ErrorsRising
        kind: error_rate
        component: orders
        window: 5m
        op: ">"
        threshold: 0.4
        min_invocations: 2
        labels: {severity: page}
      - alert: GroupBehind
        kind: metric
        metric: kafka.consumer_group.lag
        aggregate: max
        window: 5m
        op: ">"
        threshold: 1000
"#;

fn firing(weir: &Weir) -> Option<serde_json::Value> {
    let v = weir.get_json("/api/v1/alerts");
    v["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["component"] == "orders" && a["state"] == "firing")
        .cloned()
}

#[test]
fn an_error_burst_fires_and_the_firing_alert_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let mut weir = Weir::start(&format!(
        "[alerts]\nrule_files = [{:?}]",
        rules.display().to_string()
    ));

    let spans = (0..4)
        .map(|n| {
            let mut s = span(trace_id(100 + n), 1, "POST /orders");
            if n < 3 {
                s.status = Some(Status {
                    code: 2,
                    message: "boom".into(),
                });
            }
            s
        })
        .collect();
    let body = spans_request("orders", spans).encode_to_vec();
    assert_eq!(
        weir.post_otlp("/v1/traces", "application/x-protobuf", &[], body)
            .status(),
        200
    );

    let alert = wait_for(
        "the error-rate alert to fire",
        Duration::from_secs(30),
        || firing(&weir),
    );
    assert_eq!(alert["alertname"], "ErrorsRising");
    assert_eq!(alert["value"], 0.75);
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["kind"], "error_rate");
    let since = alert["since"].as_u64().unwrap();
    let rules_view = weir.get_json("/api/v1/rules");
    let rule = &rules_view["groups"][0]["rules"][0];
    assert_eq!(rule["state"], "firing");
    assert!(rule["last_evaluation_unix_nano"].as_u64().unwrap() > 0);
    assert!(rule["last_error"].is_null());
    let d = &rule["definition"];
    assert_eq!(
        (
            d["op"].clone(),
            d["threshold"].clone(),
            d["window_s"].clone()
        ),
        (
            serde_json::json!(">"),
            serde_json::json!(0.4),
            serde_json::json!(300.0)
        ),
        "{d}"
    );
    assert_eq!(d["component"], "orders");
    assert_eq!(d["unit"], "ratio");
    assert_eq!(d["labels"]["severity"], "page");
    assert_eq!(d["text"], "error rate of orders > 40 % over 5m");

    // The API shows the state as evaluated; the crash must come after it is
    // stored (history is written in the same transaction).
    wait_for(
        "the firing state to be stored",
        Duration::from_secs(30),
        || {
            weir.get_json("/api/v1/alerts/history?limit=100")["history"]
                .as_array()?
                .iter()
                .any(|h| h["transition"] == "firing" && h["component"] == "orders")
                .then_some(())
        },
    );
    weir.kill9();
    weir.restart();
    let after = wait_for("the alert after restart", Duration::from_secs(30), || {
        firing(&weir)
    });
    assert_eq!(
        after["since"].as_u64().unwrap(),
        since,
        "the same firing alert, not a new one"
    );
}

#[test]
fn broken_rule_files_stop_the_start_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("broken.yaml");
    std::fs::write(&rules, RULES.replace("kind: error_rate", "kind: eror_rate")).unwrap();
    let err = serve_refuses(
        dir.path(),
        &format!(
            "[alerts]\nrule_files = [{:?}]\n",
            rules.display().to_string()
        ),
    );
    assert!(err.contains("broken.yaml:6:"), "{err}");
    assert!(err.contains("eror_rate"), "{err}");
}

#[test]
fn a_rule_glob_that_matches_nothing_is_a_warning_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("rules.d/*.yaml").display().to_string();
    let weir = Weir::start(&format!("[alerts]\nrule_files = [{pattern:?}]"));
    let log = wait_for("the warning", Duration::from_secs(30), || {
        let log = weir.log();
        log.contains("matches no file").then_some(log)
    });
    let line = log.lines().find(|l| l.contains("matches no file")).unwrap();
    assert!(line.contains(&pattern), "{line}");
    assert!(line.contains("WARN"), "{line}");
    assert!(
        !line.contains('\u{1b}'),
        "no colour codes in a log file: {line}"
    );
}
