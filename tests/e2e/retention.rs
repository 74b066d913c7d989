//! Retention removes what is older than each signal's limit and keeps the rest.

use crate::harness::{Weir, wait_for};
use crate::otlp::{gauge_request, span, spans_request, trace_id};
use prost::Message;
use std::time::Duration;
use weir_core::now_unix_nanos as now_nanos;

const DAY: u64 = 86_400 * 1_000_000_000;

#[test]
fn old_metric_points_and_rollups_are_removed_and_new_ones_kept() {
    // First with limits that keep everything sent, to see it all stored.
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut weir = Weir::start_at(
        &data_dir,
        "[retention]\nmetrics = \"60d\"\nrollups = \"200d\"\ncheck_interval = \"1s\"",
    );
    let pb = "application/x-protobuf";
    let mut old_gauge = gauge_request("consumer", "pipeline.iterator_age", 111.0);
    old_gauge.resource_metrics[0].scope_metrics[0].metrics[0].data = {
        let mut d = old_gauge.resource_metrics[0].scope_metrics[0].metrics[0]
            .data
            .take()
            .unwrap();
        if let opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g) = &mut d {
            g.data_points[0].time_unix_nano = now_nanos() - 40 * DAY;
        }
        Some(d)
    };
    assert_eq!(
        weir.post_otlp("/v1/metrics", pb, &[], old_gauge.encode_to_vec())
            .status(),
        200
    );
    let new_gauge = gauge_request("consumer", "pipeline.iterator_age", 222.0);
    assert_eq!(
        weir.post_otlp("/v1/metrics", pb, &[], new_gauge.encode_to_vec())
            .status(),
        200
    );

    let mut old_span = span(trace_id(1), 1, "old invocation");
    old_span.start_time_unix_nano -= 100 * DAY;
    old_span.end_time_unix_nano -= 100 * DAY;
    let new_span = span(trace_id(2), 1, "new invocation");
    let body = spans_request("consumer", vec![old_span, new_span]).encode_to_vec();
    assert_eq!(weir.post_otlp("/v1/traces", pb, &[], body).status(), 200);

    let points = |weir: &Weir| {
        let v = weir.get_json("/api/v1/metrics?name=pipeline.iterator_age");
        let mut values: Vec<f64> = v["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"]["value"].as_f64().unwrap())
            .collect();
        values.sort_by(f64::total_cmp);
        values
    };
    let invocations = |weir: &Weir| {
        let v = weir.get_json("/api/v1/components?window=200d");
        v["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["component"] == "consumer")
            .map_or(0, |c| c["invocations"].as_u64().unwrap())
    };
    wait_for(
        "both points and both invocations stored",
        Duration::from_secs(30),
        || (points(&weir) == [111.0, 222.0] && invocations(&weir) == 2).then_some(()),
    );
    weir.terminate();

    // Then with the limits under test: retention takes the old ones away.
    let weir = Weir::start_at(
        &data_dir,
        "[retention]\nmetrics = \"30d\"\nrollups = \"90d\"\ncheck_interval = \"1s\"",
    );
    wait_for("only the new metric point", Duration::from_secs(30), || {
        (points(&weir) == [222.0]).then_some(())
    });
    wait_for(
        "only the new invocation in the rollups",
        Duration::from_secs(30),
        || (invocations(&weir) == 1).then_some(()),
    );
    assert!(
        weir.log().contains("retention removed old data"),
        "{}",
        weir.log()
    );
    // Raw spans follow their own limit (7 days by ingest day): both are still searchable.
    let hits = weir.get_json("/api/v1/search?q=service:consumer&signal=spans");
    assert_eq!(hits["count"], 2);
}
