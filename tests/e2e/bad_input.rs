//! Bad input gets a clear error and harms nothing else.

use crate::harness::Weir;
use crate::otlp::{gzip, span, spans_request, trace_id};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

const PROTOBUF: &str = "application/x-protobuf";

#[test]
fn every_kind_of_bad_request_is_refused_clearly_and_earlier_data_survives() {
    let weir = Weir::start("[ingest]\nmax_body_bytes = 1048576");
    let good = spans_request("orders", vec![span(trace_id(1), 1, "before")]);
    assert_eq!(
        weir.post_otlp("/v1/traces", PROTOBUF, &[], good.encode_to_vec())
            .status(),
        200
    );
    weir.wait_for_trace(&hex::encode(trace_id(1)), 1, 0);

    // Malformed protobuf: 400 with a google.rpc.Status in protobuf.
    let r = weir.post_otlp("/v1/traces", PROTOBUF, &[], vec![0xff, 0xff, 0xff, 0x01]);
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], PROTOBUF);
    let status = RpcStatus::decode(r.bytes().unwrap()).unwrap();
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(status.message.contains("protobuf"), "{}", status.message);

    // Malformed JSON: 400 with the Status as JSON.
    let r = weir.post_otlp(
        "/v1/logs",
        "application/json",
        &[],
        b"{\"resourceLogs\": [".to_vec(),
    );
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["code"], 3);
    assert!(v["message"].as_str().unwrap().contains("JSON"), "{v}");

    // Enum names instead of integers are not OTLP/JSON.
    let r = weir.post_otlp(
        "/v1/traces",
        "application/json",
        &[],
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","kind":"SPAN_KIND_SERVER"}]}]}]}"#.to_vec(),
    );
    assert_eq!(r.status(), 400);

    // Unknown content type: 415. Unknown encoding: 415.
    assert_eq!(
        weir.post_otlp("/v1/traces", "text/plain", &[], b"hi".to_vec())
            .status(),
        415
    );
    assert_eq!(
        weir.post_otlp(
            "/v1/traces",
            PROTOBUF,
            &[("content-encoding", "br")],
            vec![1]
        )
        .status(),
        415
    );

    // Not POST: 405.
    let r = reqwest::blocking::get(format!("http://{}/v1/traces", weir.http)).unwrap();
    assert_eq!(r.status(), 405);

    // Too large, compressed: 413.
    let r = weir.post_otlp("/v1/traces", PROTOBUF, &[], vec![0u8; 2 << 20]);
    assert_eq!(r.status(), 413);
    // A zip bomb: 20 KiB that inflates to 32 MiB: 413, checked decompressed.
    let bomb = gzip(&vec![0u8; 32 << 20]);
    assert!(bomb.len() < 1 << 20);
    let r = weir.post_otlp(
        "/v1/traces",
        PROTOBUF,
        &[("content-encoding", "gzip")],
        bomb,
    );
    assert_eq!(r.status(), 413);
    let status = RpcStatus::decode(r.bytes().unwrap()).unwrap();
    assert!(
        status.message.contains("decompressed"),
        "{}",
        status.message
    );
    // Not gzip at all though it says so: 400.
    assert_eq!(
        weir.post_otlp(
            "/v1/traces",
            PROTOBUF,
            &[("content-encoding", "gzip")],
            vec![1, 2, 3]
        )
        .status(),
        400
    );

    // Invalid records are dropped one by one; the rest is stored.
    let mut zero_trace = span(trace_id(2), 1, "zero trace id");
    zero_trace.trace_id = vec![0; 16];
    let mut short_span = span(trace_id(2), 2, "short span id");
    short_span.span_id = vec![1, 2, 3];
    let mut ancient = span(trace_id(2), 3, "from 1970");
    ancient.start_time_unix_nano = 5;
    let mixed = spans_request(
        "orders",
        vec![
            zero_trace,
            short_span,
            ancient,
            span(trace_id(2), 4, "valid"),
        ],
    );
    let r = weir.post_otlp("/v1/traces", PROTOBUF, &[], mixed.encode_to_vec());
    assert_eq!(r.status(), 200);
    let resp = ExportTraceServiceResponse::decode(r.bytes().unwrap()).unwrap();
    let partial = resp.partial_success.expect("partial success is reported");
    assert_eq!(partial.rejected_spans, 3);
    assert!(
        partial.error_message.contains("invalid trace id"),
        "{}",
        partial.error_message
    );
    assert!(
        partial.error_message.contains("invalid span id"),
        "{}",
        partial.error_message
    );
    assert!(
        partial.error_message.contains("impossible timestamp"),
        "{}",
        partial.error_message
    );
    let trace = weir.wait_for_trace(&hex::encode(trace_id(2)), 1, 0);
    assert_eq!(trace["spans"][0]["name"], "valid");

    // A log record with a bad trace id is kept, unlinked.
    let r = weir.post_otlp(
        "/v1/logs",
        "application/json",
        &[],
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"abcd","body":{"stringValue":"orphan log kept"}}]}]}]}"#.to_vec(),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "{}");
    crate::harness::wait_for("the orphan log", std::time::Duration::from_secs(30), || {
        let v = weir.get_json("/api/v1/search?q=orphan&signal=logs");
        (v["count"] == 1).then_some(())
    });

    // Every refusal and rejection is counted by reason.
    assert_eq!(
        weir.metric("weir_rejected_records_total{signal=\"spans\",reason=\"invalid trace id\"}"),
        1.0
    );
    assert_eq!(
        weir.metric(
            "weir_rejected_records_total{signal=\"spans\",reason=\"impossible timestamp\"}"
        ),
        1.0
    );
    assert_eq!(
        weir.metric("weir_refused_requests_total{signal=\"spans\",reason=\"too large\"}"),
        2.0
    );
    assert_eq!(
        weir.metric("weir_refused_requests_total{signal=\"spans\",reason=\"malformed\"}"),
        3.0
    );

    // The server still answers, and earlier data is intact.
    let after = spans_request("orders", vec![span(trace_id(3), 1, "after")]);
    assert_eq!(
        weir.post_otlp("/v1/traces", PROTOBUF, &[], after.encode_to_vec())
            .status(),
        200
    );
    weir.wait_for_trace(&hex::encode(trace_id(3)), 1, 0);
    let before = weir.wait_for_trace(&hex::encode(trace_id(1)), 1, 0);
    assert_eq!(before["spans"][0]["name"], "before");
}

#[test]
fn api_errors_are_json_with_a_4xx_status() {
    let weir = Weir::start("");
    let r = weir.get("/api/v1/traces/not-hex");
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<serde_json::Value>().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("not a trace id")
    );
    let r = weir.get("/api/v1/traces/0102030405060708090a0b0c0d0e0f10");
    assert_eq!(r.status(), 404);
    let r = weir.get("/api/v1/no-such-route?x=1");
    assert_eq!(r.status(), 404, "an unknown API route");
    let body: serde_json::Value = r.json().expect("an unknown API route answers JSON");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no route GET /api/v1/no-such-route"),
        "{body}"
    );
    let r = weir.get("/api/v1/search?q=*&from=now-1h&to=now");
    assert_eq!(r.status(), 200, "relative times as Grafana sends them");
    let r = weir.get("/api/v1/search?q=*&from=now-later");
    assert_eq!(r.status(), 400);
    assert!(
        r.text().unwrap().contains("now-1h"),
        "the error shows the forms"
    );
    let r = weir.get("/api/v1/search?q=name:(unclosed");
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<serde_json::Value>().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("bad query")
    );
    let r = weir.get("/api/v1/search?from=yesterday");
    assert_eq!(r.status(), 400);
    let r = weir.get("/api/v1/search?cursor=garbage");
    assert_eq!(r.status(), 400);
}

#[test]
fn malformed_grpc_messages_get_invalid_argument_and_the_server_goes_on() {
    let weir = Weir::start("");
    // A gRPC frame (uncompressed, 4 bytes) whose payload is not protobuf.
    let frame: &[u8] = &[0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0x01];
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            "--http2-prior-knowledge",
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "--data-binary",
            "@-",
        ])
        .arg(format!(
            "http://{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            weir.grpc
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(frame)?;
            child.wait_with_output()
        })
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.contains("grpc-status: 3"), "{text}");
    assert!(
        text.contains("grpc-message: failed%20to%20decode"),
        "{text}"
    );
    let good = spans_request("orders", vec![span(trace_id(9), 1, "still fine")]);
    assert_eq!(
        weir.post_otlp("/v1/traces", PROTOBUF, &[], good.encode_to_vec())
            .status(),
        200
    );
    weir.wait_for_trace(&hex::encode(trace_id(9)), 1, 0);
}

#[test]
fn a_taken_port_is_one_line_naming_the_flag_before_anything_is_opened() {
    let running = Weir::start("");
    let dir = tempfile::tempdir().unwrap();
    let err = crate::harness::serve_refuses(
        dir.path(),
        &format!(
            "[listen]\nweb = \"{}\"\notlp_grpc = \"127.0.0.1:0\"\notlp_http = \"127.0.0.1:0\"\n",
            running.web
        ),
    );
    let line = err.lines().last().unwrap_or_default();
    assert!(
        line.starts_with(&format!("error: cannot listen on {}", running.web)),
        "{err}"
    );
    assert!(line.contains("another process is listening there"), "{err}");
    assert!(
        line.contains("--web"),
        "names the flag that moves it: {err}"
    );
    assert!(
        !err.contains("storage open") && !err.contains("retention"),
        "nothing was opened before the port was: {err}"
    );
    assert!(
        !dir.path().join("data").join("weir.db").exists(),
        "no database made"
    );
}
