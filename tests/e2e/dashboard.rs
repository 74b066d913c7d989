//! The dashboard in a real headless Chromium, against weir fed by the
//! simulator: what a person checks on each page, a screenshot of each under
//! target/screenshots/, and the path from the overview to a failing trace,
//! its logs and the record they name.

use crate::browser::Browser;
use crate::harness::{Weir, wait_for};
use std::process::{Command, Stdio};
use std::time::Duration;

const RULES: &str = r#"groups:
  - name: dashboard
    interval: 1s
    rules:
      - alert: ErrorRateHigh
        kind: error_rate
        component: orders-*
        window: 5m
        op: ">"
        threshold: 0.1
        min_invocations: 3
        annotations:
          summary: "{{ component }} fails {{ value }} of its invocations"
"#;

#[test]
fn every_page_shows_what_a_person_checks_and_a_failing_trace_is_two_clicks_away() {
    let weir = Weir::start_with_rules(RULES);
    let mut sim = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["simulate", "--endpoint", &format!("http://{}", weir.grpc)])
        .args(["--protocol", "grpc"])
        .args(["--scenario", "all", "--rate", "5", "--duration", "120s"])
        .args(["--fault", "errors@0s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // orders-go's own alert: its failed invocations are stored by then.
    wait_for(
        "the error-rate alert on orders-go to fire",
        Duration::from_secs(90),
        || {
            weir.get_json("/api/v1/alerts")["alerts"]
                .as_array()?
                .iter()
                .any(|a| a["state"] == "firing" && a["labels"]["component"] == "orders-go")
                .then_some(())
        },
    );
    let web = format!("http://{}", weir.web);
    let browser = Browser::start();

    // Overview: the pipelines, their components, the firing alert on top.
    // Six pipelines report at their own pace: reload until all have.
    let expected = [
        "Firing alerts",
        "ErrorRateHigh",
        "page-view-counter",
        "orders-go",
        "search-indexer",
    ];
    let text = wait_for(
        "every pipeline on the overview",
        Duration::from_secs(60),
        || {
            browser.open(&format!("{web}/"));
            let text = browser.text();
            let complete = expected.iter().all(|e| text.contains(e))
                && browser.count("svg.graph g.node") >= 20
                && browser.count("svg.spark") >= 20;
            complete.then_some(text)
        },
    );
    for e in expected {
        assert!(text.contains(e), "overview shows {e}");
    }
    assert!(
        browser.count("svg.graph g.node") >= 20,
        "the topology graph has its nodes"
    );
    assert!(
        browser.count("svg.spark") >= 20,
        "every component has a sparkline"
    );
    browser.screenshot("overview");
    browser.resize(390, 844);
    browser.screenshot("overview-phone");
    browser.resize(1280, 900);

    // Two clicks: a failing component, then one of its failing traces.
    browser.click(r#"td > a[href="/components/orders-go?window=15m"]"#);
    assert!(
        browser.url().ends_with("/components/orders-go?window=15m"),
        "the overview's window is carried: {}",
        browser.url()
    );
    let text = browser.text();
    assert!(text.contains("Recent errors") && text.contains("Over time"));
    assert!(
        browser.count("figure.chart") >= 3,
        "invocations, duration and cold-start charts"
    );
    browser.screenshot("component");
    // A stream consumer: its iterator age, one line per shard.
    let lag_lines = ["shard-0", "shard-1"].map(|s| format!("pipeline.iterator_age {s}"));
    let text = wait_for("both shards' iterator age", Duration::from_secs(60), || {
        browser.open(&format!("{web}/components/page-view-counter"));
        let text = browser.text();
        lag_lines.iter().all(|l| text.contains(l)).then_some(text)
    });
    assert!(text.contains("Lag per partition (age)"), "{text}");
    for shard in ["shard-0", "shard-1"] {
        assert!(
            text.contains(&format!("pipeline.iterator_age {shard}")),
            "the lag chart has a line for {shard}: {text}"
        );
    }
    browser.screenshot("component-lag");
    browser.open(&format!("{web}/components/orders-go"));
    browser.click(r##"#errors + div a[href^="/traces/"]"##);
    assert!(browser.url().contains("/traces/"), "{}", browser.url());
    assert!(
        browser.count(".waterfall .span-bar") >= 2,
        "the trace's spans in the waterfall"
    );
    assert!(
        browser.count(".waterfall .span-bar.error") >= 1,
        "the failed span stands out"
    );
    // The gateway's span ends after the function's, and the exception log
    // travels on its own exporter: reload until the whole trace is there.
    let trace_url = browser.url();
    let text = wait_for(
        "the gateway's span in the trace",
        Duration::from_secs(30),
        || {
            let text = browser.text();
            let whole = ["api-gateway", "orders-go", "Logs of this trace", "failed"];
            if whole.iter().all(|w| text.contains(w)) {
                return Some(text);
            }
            browser.open(&trace_url);
            None
        },
    );
    // Its logs, and from them the record they name.
    assert!(
        text.contains("Logs of this trace") && text.contains("failed"),
        "the exception log is there"
    );
    browser.screenshot("trace");
    browser.click(r#"#logs ~ div a[href^="/correlate?id=order-"]"#);
    assert!(
        browser.url().contains("/correlate?id=order-"),
        "{}",
        browser.url()
    );
    let text = browser.text();
    assert!(text.contains("Components, in causal order") && text.contains("api-gateway"));
    browser.screenshot("correlate");

    // Search: a word from the failures, highlighted, with paging.
    browser.open(&format!("{web}/search"));
    browser.type_into(r#"main input[name="q"]"#, "failed");
    browser.click("main form button[type=submit]");
    assert!(browser.url().contains("q=failed"));
    assert!(browser.count("main mark") >= 1, "the word is highlighted");
    browser.screenshot("search");

    // Alerts: the rule, the firing alert, and a silence made and expired.
    wait_for("orders-go's alert to fire", Duration::from_secs(90), || {
        weir.get_json("/api/v1/alerts")["alerts"]
            .as_array()?
            .iter()
            .any(|a| a["component"] == "orders-go" && a["state"] == "firing")
            .then_some(())
    });
    browser.open(&format!("{web}/alerts"));
    let text = browser.text();
    assert!(text.contains("ErrorRateHigh") && text.contains("firing"));
    assert!(
        text.contains("error rate of orders-* > 10 % over 5m"),
        "each rule's definition is shown: {text}"
    );
    // The firing alert's value reads as a percentage, not a raw ratio.
    let value = browser
        .eval(
            "const row = [...document.querySelectorAll('tbody tr')]
               .find(r => r.innerText.includes('orders-go') && r.innerText.includes('ErrorRateHigh'));
             return row ? row.cells[4].innerText : null;",
        )
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(value.ends_with(" %"), "a rate as a percentage: {value:?}");
    let chart = browser
        .eval(
            "return document.querySelector('a[href^=\"/components/orders-go?window=\"]') !== null",
        )
        .as_bool();
    assert_eq!(
        chart,
        Some(true),
        "the alert links to its component's chart"
    );
    browser.type_into(r#"input[name="value"]"#, "orders-go");
    browser.type_into(r#"input[name="created_by"]"#, "e2e");
    browser.type_into(r#"input[name="comment"]"#, "looking into it");
    browser.click(r#"form[action="/alerts/silences"] button"#);
    let text = browser.text();
    assert!(text.contains("Silenced component=orders-go"), "{text}");
    assert!(
        text.contains("silenced"),
        "the alert shows it is muted: {text}"
    );
    browser.screenshot("alerts");
    browser.click(r#"form[action$="/expire"] button"#);
    assert!(browser.text().contains("Silence expired"));

    let _ = sim.kill();
    let _ = sim.wait();
}

#[test]
fn with_read_tokens_a_login_form_sets_the_cookie() {
    let weir = Weir::start("[auth]\nread_tokens = [\"s3cret-read\"]");
    let web = format!("http://{}", weir.web);
    let browser = Browser::start();
    browser.open(&format!("{web}/alerts"));
    assert!(browser.url().contains("/login"), "{}", browser.url());
    browser.type_into(r#"input[name="token"]"#, "wrong");
    browser.click("form button");
    assert!(
        browser
            .text()
            .contains("not one of this weir's read tokens")
    );
    browser.type_into(r#"input[name="token"]"#, "s3cret-read");
    browser.click("form button");
    assert!(browser.url().ends_with("/alerts"), "{}", browser.url());
    assert!(browser.text().contains("Rules"));
    browser.open(&format!("{web}/"));
    assert!(
        browser.text().contains("No telemetry yet"),
        "the empty state"
    );
    assert!(browser.text().contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
    browser.screenshot("empty-overview");
}
