//! No input crashes weir or holds it up: deeply nested and unrunnable
//! queries, bad ids inside OTLP/JSON, lying Content-Length headers, slow
//! clients, and malformed API parameters all get a clear answer while
//! everything else goes on.

use crate::harness::{Weir, wait_for};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn get_status_and_json(weir: &Weir, path: &str) -> (u16, serde_json::Value) {
    let r = weir.get(path);
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {path}: {status} answered non-JSON {body:?}: {e}"));
    (status, json)
}

fn assert_alive(weir: &Weir) {
    assert_eq!(weir.get("/healthz").status(), 200);
}

#[test]
fn queries_that_nest_too_deep_or_cannot_run_get_400_and_weir_stays_up() {
    let weir = Weir::start("");
    let deep = format!("{}x{}", "(".repeat(3000), ")".repeat(3000));
    let (status, body) = get_status_and_json(&weir, &format!("/api/v1/search?q={deep}"));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("nests"), "{body}");
    let page = weir.get(&format!("/search?q={deep}"));
    assert_eq!(page.status(), 200, "the dashboard shows the error");
    assert!(page.text().unwrap().contains("nests"));
    let stacked = format!("{}x", "-".repeat(5000));
    assert_eq!(
        get_status_and_json(&weir, &format!("/api/v1/search?q={stacked}")).0,
        400
    );
    for q in ["name:*", "service:*", "body:*", "attributes.x:*"] {
        let (status, body) = get_status_and_json(&weir, &format!("/api/v1/search?q={q}"));
        assert_eq!(status, 400, "{q}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("cannot run"),
            "{q}: {body}"
        );
    }
    assert_alive(&weir);
}

#[test]
fn a_bad_id_in_otlp_json_drops_only_its_record() {
    let weir = Weir::start("");
    let good = "5b8efff798038103d269b633813fc60c";
    let now = weir_core::now_unix_nanos();
    let spans = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"idcheck"}}}}]}},"scopeSpans":[{{"spans":[
        {{"traceId":"{good}","spanId":"eee19b7ec3c1b174","name":"kept","startTimeUnixNano":"{now}","endTimeUnixNano":"{now}"}},
        {{"traceId":"zz","spanId":"eee19b7ec3c1b175","name":"dropped","startTimeUnixNano":"{now}","endTimeUnixNano":"{now}"}}
        ]}}]}}]}}"#
    );
    let r = weir.post_otlp("/v1/traces", "application/json", &[], spans.into_bytes());
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1", "{body}");
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("invalid trace id")
    );
    let logs = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[
        {{"timeUnixNano":"{now}","traceId":"not-hex","body":{{"stringValue":"kept unlinked"}}}}]}}]}}]}}"#
    );
    let r = weir.post_otlp("/v1/logs", "application/json", &[], logs.into_bytes());
    assert_eq!(r.status(), 200);
    let trace = weir.wait_for_trace(good, 1, 0);
    assert_eq!(trace["spans"][0]["name"], "kept");
    wait_for("the unlinked log", Duration::from_secs(30), || {
        let v = weir.get_json("/api/v1/search?q=unlinked&signal=logs");
        (v["count"] == 1).then_some(())
    });
}

/// Sends raw bytes and returns what came back before the server closed the
/// connection, and how long that took.
fn raw_exchange(addr: SocketAddr, bytes: &[u8], keep_open: Duration) -> (String, Duration) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(keep_open)).unwrap();
    let started = Instant::now();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn lying_and_slow_clients_are_answered_and_let_go() {
    let weir = Weir::start(
        "[ingest]\nheader_read_timeout = \"1s\"\nbody_read_timeout = \"1s\"\nmax_body_bytes = 1048576",
    );
    // The limit gives a generous bound; a connection held by a slow client
    // would run into it, an answered one comes back at once.
    let bound = Duration::from_secs(20);
    let (answer, _) = raw_exchange(
        weir.http,
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 1000000000000\r\n\r\nab",
        bound,
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let (answer, took) = raw_exchange(
        weir.http,
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 1000\r\n\r\n0123456789",
        bound,
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < bound, "answered after the body timeout, not held");

    for addr in [weir.http, weir.web] {
        let (answer, took) = raw_exchange(addr, b"GET /healthz HTTP/1.1\r\nhost: x\r\n", bound);
        assert!(
            took < bound,
            "a connection that never ends its headers is closed"
        );
        assert!(!answer.contains("200 OK"), "{answer}");
    }
    let (answer, _) = raw_exchange(
        weir.web,
        b"POST /api/v1/silences HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000000000\r\n\r\n{}",
        bound,
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_alive(&weir);
}

#[test]
fn every_api_parameter_error_is_json() {
    let weir = Weir::start("");
    for path in [
        "/api/v1/search?limit=-1",
        "/api/v1/search?limit=abc",
        "/api/v1/search?limit=0",
        "/api/v1/search?limit=1001",
        "/api/v1/components?window=forever",
        "/api/v1/alerts/history?limit=-1",
        "/api/v1/alerts/history?limit=0",
        "/api/v1/notifications?limit=abc",
    ] {
        let (status, body) = get_status_and_json(&weir, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    assert_eq!(
        get_status_and_json(&weir, "/api/v1/search?limit=1000").0,
        200
    );
}

/// What a client that writes the whole request before reading (Python's
/// http.client, hyper's client) reads back: the status line.
fn post_whole_body_then_read(addr: SocketAddr, body_len: usize) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST /v1/traces HTTP/1.1\r\nHost: weir\r\nContent-Type: application/x-protobuf\r\nContent-Length: {body_len}\r\n\r\n"
    )?;
    stream.write_all(&vec![0u8; body_len])?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[test]
fn a_refused_body_is_read_to_its_end_so_the_client_sees_the_413() {
    let weir = Weir::start("[ingest]\nmax_body_bytes = 1048576");
    for _ in 0..3 {
        // Refused on its declared length, before a byte is read; without the
        // lingering read the client meets a closed socket mid-write.
        let status = post_whole_body_then_read(weir.http, 32 << 20)
            .expect("the whole body is taken and the answer read");
        assert_eq!(status, "HTTP/1.1 413");
    }
}
