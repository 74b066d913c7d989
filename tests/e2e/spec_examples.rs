//! The OTLP specification's own example bodies are accepted and returned.

use crate::harness::{Weir, wait_for};
use crate::otlp::gzip;
use std::time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/otlp-spec-{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn spec_example_bodies_are_accepted_and_returned_through_the_api() {
    let weir = Weir::start("");
    for (name, path) in [
        ("trace", "/v1/traces"),
        ("logs", "/v1/logs"),
        ("metrics", "/v1/metrics"),
    ] {
        let r = weir.post_otlp(path, "application/json", &[], fixture(name));
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.headers()["content-type"], "application/json");
        // OTLP: a full success carries no partial_success at all.
        assert_eq!(r.text().unwrap(), "{}", "{name}");
    }

    // Upper-case hex ids in the body; lower-case in the API.
    let trace = weir.wait_for_trace("5b8efff798038103d269b633813fc60c", 1, 1);
    let span = &trace["spans"][0];
    assert_eq!(span["name"], "I'm a server span");
    assert_eq!(span["span_id"], "eee19b7ec3c1b174");
    assert_eq!(span["parent_span_id"], "eee19b7ec3c1b173");
    assert_eq!(span["kind"], "server");
    assert_eq!(span["service"], "my.service");
    assert_eq!(span["scope"], "my.library");
    assert_eq!(span["start_time_unix_nano"], 1544712660000000000u64);
    assert_eq!(span["end_time_unix_nano"], 1544712661000000000u64);
    assert_eq!(span["attributes"]["my.span.attr"], "some value");

    let log = &trace["logs"][0];
    assert_eq!(log["body"], "Example log record");
    assert_eq!(log["severity_text"], "Information");
    assert_eq!(log["severity"], "info");
    let attrs = &log["attributes"];
    assert_eq!(attrs["string.attribute"], "some string");
    assert_eq!(attrs["boolean.attribute"], true);
    assert_eq!(attrs["int.attribute"], 10);
    assert_eq!(attrs["double.attribute"], 637.704);
    assert_eq!(
        attrs["array.attribute"],
        serde_json::json!(["many", "values"])
    );
    assert_eq!(attrs["map.attribute"]["some.map.key"], "some value");

    let get_points = |name: &str| {
        wait_for(name, Duration::from_secs(30), || {
            let v = weir.get_json(&format!("/api/v1/metrics?name={name}"));
            v["points"].as_array().filter(|p| !p.is_empty()).cloned()
        })
    };
    let counter = &get_points("my.counter")[0];
    assert_eq!(counter["kind"], "sum");
    assert_eq!(counter["temporality"], "delta");
    assert_eq!(counter["monotonic"], true);
    assert_eq!(counter["value"]["value"], 5.0);
    assert_eq!(counter["attributes"]["my.counter.attr"], "some value");
    let gauge = &get_points("my.gauge")[0];
    assert_eq!(gauge["kind"], "gauge");
    assert_eq!(gauge["value"]["value"], 10.0);
    let hist = &get_points("my.histogram")[0];
    assert_eq!(hist["value"]["count"], 3);
    assert_eq!(hist["value"]["sum"], 3.0);
    assert_eq!(hist["value"]["bucket_counts"], serde_json::json!([1, 1, 1]));
    assert_eq!(hist["value"]["explicit_bounds"], serde_json::json!([1.0]));
    assert_eq!(hist["value"]["min"], 1.0);
}

#[test]
fn gzip_json_and_64_bit_integers_as_strings_are_accepted() {
    let weir = Weir::start("");
    // int64 fields as strings, as proto3 JSON writes them, and gzip on top.
    let now = weir_core::now_unix_nanos();
    let body = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gz"}}]},
        "scopeSpans": [{"spans": [{"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708",
            "name": "zipped", "kind": 3, "startTimeUnixNano": now.to_string(), "endTimeUnixNano": (now + 1000).to_string(),
            "attributes": [{"key": "n", "value": {"intValue": "9007199254740993"}}]}]}]}]});
    let r = weir.post_otlp(
        "/v1/traces",
        "application/json",
        &[("content-encoding", "gzip")],
        gzip(body.to_string().as_bytes()),
    );
    assert_eq!(r.status(), 200);
    let trace = weir.wait_for_trace("0102030405060708090a0b0c0d0e0f10", 1, 0);
    assert_eq!(trace["spans"][0]["name"], "zipped");
    assert_eq!(trace["spans"][0]["kind"], "client");
    // 2^53 + 1 survives: no trip through a double.
    assert_eq!(
        trace["spans"][0]["attributes"]["n"].as_i64(),
        Some(9007199254740993)
    );
}

#[test]
fn exponential_histograms_and_summaries_are_stored_whole() {
    let weir = Weir::start("");
    let now = weir_core::now_unix_nanos();
    let body = serde_json::json!({"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "kv-writer"}}]},
    "scopeMetrics": [{"metrics": [
        {"name": "write.latency", "unit": "ms", "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [
            {"timeUnixNano": now.to_string(), "startTimeUnixNano": (now - 60_000_000_000u64).to_string(), "count": "6", "sum": 21.5,
             "scale": 3, "zeroCount": "1", "positive": {"offset": 2, "bucketCounts": ["1", "2", "2"]},
             "negative": {"offset": 0, "bucketCounts": []}, "min": 0.0, "max": 9.5}]}},
        {"name": "batch.size", "unit": "{records}", "summary": {"dataPoints": [
            {"timeUnixNano": now.to_string(), "count": "10", "sum": 550.0,
             "quantileValues": [{"quantile": 0.5, "value": 50.0}, {"quantile": 0.99, "value": 99.0}]}]}}
    ]}]}]});
    let r = weir.post_otlp(
        "/v1/metrics",
        "application/json",
        &[],
        body.to_string().into_bytes(),
    );
    assert_eq!(r.status(), 200);
    let get_point = |name: &str| {
        wait_for(name, Duration::from_secs(30), || {
            let v = weir.get_json(&format!("/api/v1/metrics?name={name}"));
            v["points"].as_array().and_then(|p| p.first().cloned())
        })
    };
    let exp = get_point("write.latency");
    assert_eq!(exp["kind"], "exponential_histogram");
    assert_eq!(exp["temporality"], "cumulative");
    assert_eq!(exp["value"]["count"], 6);
    assert_eq!(exp["value"]["scale"], 3);
    assert_eq!(exp["value"]["zero_count"], 1);
    assert_eq!(exp["value"]["positive"]["offset"], 2);
    assert_eq!(
        exp["value"]["positive"]["counts"],
        serde_json::json!([1, 2, 2])
    );
    assert_eq!(exp["value"]["max"], 9.5);
    let summary = get_point("batch.size");
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["unit"], "{records}");
    assert_eq!(summary["value"]["count"], 10);
    assert_eq!(summary["value"]["quantiles"][1]["quantile"], 0.99);
    assert_eq!(summary["value"]["quantiles"][1]["value"], 99.0);
}
