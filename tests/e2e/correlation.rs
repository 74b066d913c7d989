//! "What happened to this record": correlation lists the spans that carry
//! the record's id as direct matches, apart from the batch that took it;
//! leaves out the other records of that batch; puts the producer before the
//! consumer whatever their clocks say; and a short id from a page finds its
//! trace. In a real headless Chromium over the real binary.

use crate::browser::Browser;
use crate::harness::{Weir, wait_for};
use crate::otlp::{span, spans_request};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::Link;
use std::time::Duration;
use weir_core::now_unix_nanos;

fn record_id(value: &str) -> KeyValue {
    KeyValue {
        key: "record.id".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A trace id whose first 8 hex digits are unique per `n`.
fn trace(n: u8) -> [u8; 16] {
    let mut id = [0x11; 16];
    id[..4].copy_from_slice(&[0xc0, 0xff, 0xee, n]);
    id
}

fn post(weir: &Weir, service: &str, spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>) {
    weir.export_spans(&spans_request(service, spans));
}

#[test]
fn a_record_is_correlated_to_its_own_spans_apart_from_its_batch_and_a_short_id_finds_its_trace() {
    let weir = Weir::start("");
    let t0 = now_unix_nanos() - 5_000_000_000;
    let ms = 1_000_000;
    // Three records produced by `web`, each in its own trace.
    for n in 1..=3u8 {
        let mut produce = span(trace(n), 1, "publish click");
        produce.kind = 4;
        produce.start_time_unix_nano = t0 + 100 * ms;
        produce.end_time_unix_nano = t0 + 102 * ms;
        produce.attributes = vec![record_id(&format!("r-{n}"))];
        post(&weir, "web", vec![produce]);
    }
    // One batch takes all three; its host's clock is 57 ms behind, so its
    // span starts "before" the records were produced.
    let mut batch = span(trace(9), 1, "process batch");
    batch.kind = 5;
    batch.start_time_unix_nano = t0 + 43 * ms;
    batch.end_time_unix_nano = t0 + 80 * ms;
    batch.links = (1..=3u8)
        .map(|n| Link {
            trace_id: trace(n).to_vec(),
            span_id: 2u64.to_be_bytes().to_vec(),
            ..Default::default()
        })
        .collect();
    let mut count = span(trace(9), 5, "count r-2");
    count.parent_span_id = 2u64.to_be_bytes().to_vec();
    count.kind = 1;
    count.start_time_unix_nano = t0 + 50 * ms;
    count.end_time_unix_nano = t0 + 51 * ms;
    count.attributes = vec![record_id("r-2")];
    post(&weir, "counter", vec![batch, count]);

    let last = std::cell::RefCell::new(serde_json::Value::Null);
    struct Show<'a>(&'a std::cell::RefCell<serde_json::Value>);
    impl Drop for Show<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("last correlation: {}", self.0.borrow());
            }
        }
    }
    let _show = Show(&last);
    let v = wait_for("the correlation of r-2", Duration::from_secs(30), || {
        let v = weir.get_json("/api/v1/correlate/r-2");
        *last.borrow_mut() = v.clone();
        (v["matches"].as_array()?.len() == 2 && v["traces"].as_array()?.len() == 2).then_some(v)
    });

    let components: Vec<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["component"].as_str().unwrap())
        .collect();
    assert_eq!(components, ["web", "counter"], "the producer first: {v}");
    assert_eq!(
        v["components"][1]["spans"], 1,
        "one counter span carries r-2"
    );
    assert_eq!(
        v["components"][1]["context_spans"], 1,
        "the batch span is context"
    );
    let traces: Vec<String> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_string())
        .collect();
    let hex = |n: u8| weir_core::TraceId(trace(n)).to_hex();
    assert!(
        !traces.contains(&hex(1)) && !traces.contains(&hex(3)),
        "the other records of the batch are not this record's: {traces:?}"
    );

    let web = format!("http://{}", weir.web);
    let browser = Browser::start();
    browser.open(&format!("{web}/correlate?id=r-2"));
    let text = browser.text();
    assert!(text.contains("2 spans and 0 logs carry r-2"), "{text}");
    assert_eq!(browser.count("h3[data-relation]"), 2, "two traces: {text}");
    let first = browser
        .eval("return document.querySelector('ol.components li a').innerText")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(first, "web");
    let traces_shown = browser
        .eval("return [...document.querySelectorAll('h3[data-relation] a')].map(a => a.innerText)")
        .to_string();
    assert_eq!(
        traces_shown,
        format!("[\"Trace {}\",\"Trace {}\"]", &hex(2)[..8], &hex(9)[..8]),
        "the producer's trace before the consumer's"
    );
    assert!(text.contains("counter 1 span carries it"), "{text}");
    browser.screenshot("correlate-record");

    // The short id the pages show finds the trace.
    let short = &hex(2)[..8];
    browser.open(&format!("{web}/"));
    browser.type_into("header form input", short);
    browser.click("header form button");
    let text = browser.text();
    assert!(
        text.contains(&format!("The short id {short} is trace {}", hex(2))),
        "{text}"
    );
    assert!(text.contains("1 span and 0 logs carry"), "{text}");
}
