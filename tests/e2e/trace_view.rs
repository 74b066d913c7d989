//! The trace view as on-call engineers read Jaeger's, in a real headless
//! Chromium: one row per span, subtrees that fold, a ruler, the failing
//! span's message on its row, span links as chips both ways, logs as marks,
//! and at phone width the bars scroll instead of being cut off.

use crate::browser::Browser;
use crate::harness::{Weir, wait_for};
use crate::otlp::{span, spans_request, trace_id};
use opentelemetry_proto::tonic::trace::v1::{Status, span::Link};
use std::time::Duration;
use weir_core::now_unix_nanos;

#[test]
fn a_trace_reads_one_row_per_span_folds_and_shows_why_a_span_failed() {
    let weir = Weir::start("");
    let order = trace_id(7001);
    let consumer = trace_id(7002);
    let t0 = now_unix_nanos() - 2_000_000_000;
    let ms = 1_000_000;
    let at = |n: u64, parent: Option<u64>, name: &str, from: u64, to: u64| {
        let mut s = span(order, n, name);
        s.parent_span_id = parent
            .map(|p| (p + 1).to_be_bytes().to_vec())
            .unwrap_or_default();
        s.start_time_unix_nano = t0 + from * ms;
        s.end_time_unix_nano = t0 + to * ms;
        s
    };
    let mut charge = at(2, Some(1), "charge card", 5, 30);
    charge.status = Some(Status {
        code: 2,
        message: "card declined".into(),
    });
    let spans = vec![
        at(1, None, "POST /orders", 0, 40),
        charge,
        at(3, Some(2), "call bank", 6, 28),
        at(4, Some(1), "publish order", 31, 38),
    ];
    weir.export_spans(&spans_request("orders", spans));
    let mut batch = span(consumer, 1, "process batch");
    batch.start_time_unix_nano = t0 + 50 * ms;
    batch.end_time_unix_nano = t0 + 60 * ms;
    batch.links = vec![Link {
        trace_id: order.to_vec(),
        span_id: 5u64.to_be_bytes().to_vec(),
        ..Default::default()
    }];
    weir.export_spans(&spans_request("order-consumer", vec![batch]));
    let hex = weir_core::TraceId(order).to_hex();
    // The bank call logs its refusal.
    let log = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"orders"}}}}]}},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"{}","severityNumber":17,"severityText":"ERROR","traceId":"{hex}","spanId":"0000000000000004","body":{{"stringValue":"bank says no"}}}}]}}]}}]}}"#,
        t0 + 20 * ms
    );
    let status = weir
        .post_otlp("/v1/logs", "application/json", &[], log.into_bytes())
        .status();
    assert_eq!(status, 200);
    weir.wait_for_trace(&hex, 4, 1);
    wait_for("the consumer's span", Duration::from_secs(30), || {
        let v = weir.get_json(&format!("/api/v1/traces/{hex}"));
        (v["linked_from"].as_array()?.len() == 1).then_some(())
    });

    let web = format!("http://{}", weir.web);
    let browser = Browser::start();
    browser.open(&format!("{web}/traces/{hex}"));
    assert_eq!(
        browser.count("table[data-waterfall] tbody tr[id^=span-]"),
        4,
        "one row per span"
    );
    assert_eq!(
        browser.count("table[data-waterfall] tbody tr.log-row"),
        1,
        "the bank's log on its own line under its span"
    );
    let log_line = browser
        .eval("return document.querySelector('tr.log-row').previousElementSibling.id + ' ' + document.querySelector('tr.log-row .log-line').innerText")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        log_line.starts_with("span-0000000000000004 ") && log_line.contains("error: bank says no"),
        "right after the span it belongs to: {log_line}"
    );
    let visible = |b: &Browser| {
        b.eval("return [...document.querySelectorAll('table[data-waterfall] tbody tr')].filter(r => !r.hidden).length")
            .as_u64()
            .unwrap()
    };
    assert_eq!(visible(&browser), 5, "four spans and one log line");
    let failing = browser
        .eval("return document.querySelector('tr[id=\"span-0000000000000003\"] .span-error').innerText")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        failing, "card declined",
        "the failing span's message is on its row"
    );
    assert!(browser.count(".ruler span") >= 3, "a ruler with ticks");
    assert!(
        browser.count("tr.critical") >= 2,
        "the critical path is marked from the root down"
    );
    assert!(
        browser.text().contains("← order-consumer process batch"),
        "the span that links here is a chip"
    );

    // Fold the failing span's subtree, then the root's.
    browser.eval("document.querySelector('tr[id=\"span-0000000000000003\"] button.fold').click(); return null");
    assert_eq!(
        visible(&browser),
        3,
        "the bank call and its log are folded away"
    );
    browser.eval("document.querySelector('tr[id=\"span-0000000000000002\"] button.fold').click(); return null");
    assert_eq!(visible(&browser), 1, "only the root is left");
    browser.eval("document.querySelector('tr[id=\"span-0000000000000002\"] button.fold').click(); return null");
    assert_eq!(
        visible(&browser),
        3,
        "unfolding the root keeps the inner fold"
    );
    browser.screenshot("trace-waterfall");

    // At phone width the page itself never overflows: the bars scroll.
    browser.resize(390, 844);
    browser.open(&format!("{web}/traces/{hex}"));
    let overflow = browser
        .eval("return document.documentElement.scrollWidth - window.innerWidth")
        .as_i64()
        .unwrap();
    let widest = browser.eval(
        "return [...document.querySelectorAll('body *')]
           .filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > window.innerWidth + 1)
           .map(e => e.tagName + '.' + e.className + ': ' + (e.innerText || '').slice(0, 40))
           .slice(0, 5)",
    );
    assert!(
        overflow <= 0,
        "the page is {overflow} px wider than the phone: {widest}"
    );
    let scrolls = browser
        .eval("const s = document.querySelector('table[data-waterfall]').parentElement; return s.scrollWidth > s.clientWidth && getComputedStyle(s).overflowX === 'auto'")
        .as_bool();
    assert_eq!(scrolls, Some(true), "the waterfall scrolls sideways");
    browser.screenshot("trace-waterfall-phone");

    // The consumer's trace links back with a chip.
    browser.resize(1280, 900);
    let consumer_hex = weir_core::TraceId(consumer).to_hex();
    browser.open(&format!("{web}/traces/{consumer_hex}"));
    assert!(browser.text().contains(&format!("→ trace {}", &hex[..8])));
}
