//! A component's status means "now, and why": a component reads stalled
//! while the alert on it fires, healthy once it resolves, and the overview,
//! the component page, the topology and `/api/v1/components` say the same,
//! with the same reason, in a real headless Chromium.

use crate::browser::Browser;
use crate::harness::{Weir, wait_for};
use crate::otlp::{span, spans_request, trace_id};
use prost::Message;
use serde_json::Value;
use std::time::Duration;

const RULES: &str = r#"groups:
  - name: status
    interval: 1s
    rules:
      - alert: ConsumerStalled
        kind: absent
        component: search-indexer
        window: 4s
        annotations:
          summary: "{{ component }} has not been invoked for 4s"
"#;

fn invoke(weir: &Weir, n: u64) {
    let body = spans_request("search-indexer", vec![span(trace_id(900 + n), 1, "index")]);
    let status = weir
        .post_otlp(
            "/v1/traces",
            "application/x-protobuf",
            &[],
            body.encode_to_vec(),
        )
        .status();
    assert_eq!(status, 200);
}

fn status_in_api(weir: &Weir) -> Option<Value> {
    weir.get_json("/api/v1/components?window=15m")["components"]
        .as_array()?
        .iter()
        .find(|c| c["component"] == "search-indexer")
        .map(|c| c["status"].clone())
}

fn node_status(weir: &Weir) -> Option<Value> {
    weir.get_json("/api/v1/topology?window=15m")["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == "search-indexer")
        .map(|n| n["status"].clone())
}

/// The overview's status cell of `component`: its badge's word and reason.
fn overview_status(browser: &Browser, component: &str) -> String {
    browser
        .eval(&format!(
            "for (const row of document.querySelectorAll('tbody tr')) {{
               if (row.cells[0].innerText.trim() === {component:?}) return row.cells[1].innerText;
             }}
             return '';"
        ))
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_stalled_component_reads_stalled_while_its_alert_fires_and_healthy_once_it_resolves() {
    let weir = Weir::start_with_rules(RULES);
    invoke(&weir, 0);
    wait_for("search-indexer to be seen", Duration::from_secs(30), || {
        status_in_api(&weir).filter(|s| s["level"] == "healthy")
    });

    // No invocation for the rule's window: the alert fires, and every view
    // says stalled and why.
    // `absent` reads per-minute rollups: it fires once the minute that
    // holds the last invocation is over, up to a minute and its window
    // from now.
    let stalled = wait_for(
        "ConsumerStalled to fire and the status to say so",
        Duration::from_secs(180),
        || status_in_api(&weir).filter(|s| s["level"] == "stalled"),
    );
    let reason = stalled["reasons"][0].as_str().unwrap().to_string();
    assert!(reason.starts_with("stalled "), "{stalled}");
    let firing = weir.get_json("/api/v1/alerts");
    assert!(
        firing["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["alertname"] == "ConsumerStalled" && a["state"] == "firing"),
        "the API's status agrees with the alerts: {firing}"
    );
    assert_eq!(node_status(&weir).unwrap()["level"], "stalled");

    let web = format!("http://{}", weir.web);
    let browser = Browser::start();
    browser.open(&format!("{web}/"));
    let cell = overview_status(&browser, "search-indexer");
    assert!(cell.starts_with("stalled"), "overview: {cell}");
    assert!(
        cell.contains("stalled "),
        "the reason is beside the word: {cell}"
    );
    assert_eq!(
        browser.count("svg.graph g.node.bad"),
        1,
        "the topology colours the stalled node"
    );
    let node_text = browser
        .eval("return document.querySelector('svg.graph g.node.bad').textContent")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        node_text.contains("stalled"),
        "the node shows why: {node_text}"
    );
    assert!(
        browser.text().contains("ConsumerStalled × 1"),
        "firing alerts are grouped by name with a count"
    );
    browser.screenshot("status-stalled-overview");
    // Keyboard: Tab reaches the graph's node and then the table's links.
    let focusable = browser
        .eval(
            "const a = document.querySelector('svg.graph a'); a.focus();
             return document.activeElement === a && a.getAttribute('href');",
        )
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        focusable, "/components/search-indexer?window=15m",
        "a graph node takes focus, and its link keeps the overview's window"
    );
    browser.open(&format!("{web}/components/search-indexer"));
    let page = browser.text();
    assert!(page.contains("search-indexer stalled"), "{page}");
    assert!(page.contains("Now: stalled "), "{page}");

    // Invoked again: the alert resolves and, within the status window, the
    // component reads healthy everywhere, and the history shows "resolved".
    invoke(&weir, 1);
    wait_for(
        "the status to read healthy again",
        Duration::from_secs(60),
        || status_in_api(&weir).filter(|s| s["level"] == "healthy"),
    );
    assert_eq!(node_status(&weir).unwrap()["level"], "healthy");
    browser.open(&format!("{web}/"));
    let cell = overview_status(&browser, "search-indexer");
    assert!(
        cell.starts_with("healthy"),
        "overview after resolving: {cell}"
    );
    assert_eq!(browser.count("svg.graph g.node.bad"), 0);

    let badge = wait_for(
        "the history to show resolved",
        Duration::from_secs(30),
        || {
            browser.open(&format!("{web}/alerts"));
            let v = browser.eval(
                "const b = [...document.querySelectorAll('.status')]
                   .find(e => e.innerText.trim() === 'resolved');
                 if (!b) return null;
                 const s = getComputedStyle(b);
                 return [s.color, s.backgroundColor];",
            );
            v.as_array().cloned()
        },
    );
    assert_ne!(
        badge[0], badge[1],
        "a resolved badge is readable: {badge:?}"
    );
    assert_ne!(
        badge[1], "rgba(0, 0, 0, 0)",
        "a resolved badge has a colour: {badge:?}"
    );
    browser.screenshot("status-resolved-alerts");

    // Light and dark: every badge, link and cell keeps WCAG AA contrast.
    for scheme in ["light", "dark"] {
        browser.prefer_color_scheme(scheme);
        for page in ["/alerts", "/"] {
            browser.open(&format!("{web}{page}"));
            let (ratio, text) = browser.lowest_contrast(".status, a, td, th, h1, h2, p");
            assert!(
                ratio >= 4.5,
                "{scheme} {page}: {text:?} has contrast {ratio:.2}"
            );
        }
        browser.screenshot(&format!("status-overview-{scheme}"));
    }
    // At phone width no page is wider than the phone (tables and the graph
    // scroll inside their own boxes).
    browser.resize(390, 844);
    for page in [
        "/",
        "/components/search-indexer",
        "/alerts",
        "/search?q=*",
        "/correlate?id=x",
    ] {
        browser.open(&format!("{web}{page}"));
        let overflow = browser
            .eval("return document.documentElement.scrollWidth - window.innerWidth")
            .as_i64()
            .unwrap();
        assert!(overflow <= 0, "{page} is {overflow} px wider than a phone");
    }
    browser.screenshot("status-overview-phone-dark");
    let background = browser.eval("return getComputedStyle(document.body).backgroundColor");
    assert_eq!(
        background, "rgb(15, 18, 22)",
        "dark mode follows the system"
    );
}
