//! Storage faults never cost acknowledged data: a WAL write, fsync or
//! segment rotation that fails, an index or database commit that fails, and
//! a real full disk. While storage cannot write, exports are refused with a
//! retryable status and `/readyz` says why; once it works again, everything
//! acknowledged is indexed exactly once, with no restart.

use crate::harness::{Weir, wait_for};
use crate::otlp::{gauge_request, span, spans_request, trace_id};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SPANS_PER_REQUEST: u64 = 20;
const LIMIT: Duration = Duration::from_secs(60);

/// What a sender was told, request by request.
#[derive(Default)]
struct Told {
    /// Trace numbers whose export got 200.
    acknowledged: Vec<u64>,
    /// Trace numbers whose export was refused with a retryable status.
    refused: Vec<u64>,
}

/// Sends one trace of `spans` spans per request for traces `traces`, over
/// OTLP/HTTP, and records what each was told. Any answer but 200 or a
/// retryable refusal (503 with Retry-After) fails the test.
fn send(weir: &Weir, service: &str, traces: std::ops::Range<u64>, spans: u64, told: &mut Told) {
    for t in traces {
        let body = spans_request(
            service,
            (0..spans).map(|n| span(trace_id(t), n, "faulty")).collect(),
        )
        .encode_to_vec();
        let r = reqwest::blocking::Client::new()
            .post(format!("http://{}/v1/traces", weir.http))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .unwrap_or_else(|e| {
                panic!(
                    "export of trace {t} failed: {e}; weir's log:\n{}",
                    weir.log()
                )
            });
        match r.status().as_u16() {
            200 => told.acknowledged.push(t),
            503 | 429 => {
                assert!(
                    r.headers().contains_key("retry-after"),
                    "a refusal says when to retry"
                );
                told.refused.push(t)
            }
            other => panic!("export of trace {t}: {other} {}", r.text().unwrap()),
        }
    }
}

/// Every stored span of `service`, by (trace number, span id), with how
/// many times the index returns it, paging through the whole result set.
fn stored(weir: &Weir, service: &str) -> HashMap<(u64, String), usize> {
    let mut seen = HashMap::new();
    let mut cursor = String::new();
    loop {
        let page = weir.get_json(&format!(
            "/api/v1/search?q=service:{service}&signal=spans&limit=1000&cursor={cursor}"
        ));
        for hit in page["hits"].as_array().unwrap() {
            let trace = hit["trace_id"].as_str().unwrap();
            let number = u64::from_str_radix(&trace[16..], 16).unwrap();
            let key = (number, hit["span_id"].as_str().unwrap().to_string());
            *seen.entry(key).or_insert(0) += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return seen,
        }
    }
}

/// Waits until every acknowledged span is stored, then checks that no span is
/// stored twice and that nothing was stored that nobody sent.
fn assert_exactly_once(weir: &Weir, service: &str, told: &Told, spans: u64) {
    let acknowledged: HashSet<u64> = told.acknowledged.iter().copied().collect();
    let sent: HashSet<u64> = acknowledged.iter().chain(&told.refused).copied().collect();
    let seen = wait_for("every acknowledged span to be searchable", LIMIT, || {
        let seen = stored(weir, service);
        let mut per_trace: HashMap<u64, u64> = HashMap::new();
        for (trace, _) in seen.keys() {
            *per_trace.entry(*trace).or_insert(0) += 1;
        }
        acknowledged
            .iter()
            .all(|t| per_trace.get(t) == Some(&spans))
            .then_some(seen)
    });
    for ((trace, span), times) in &seen {
        assert_eq!(
            *times, 1,
            "span {span} of trace {trace} is stored {times} times"
        );
        assert!(sent.contains(trace), "trace {trace} was never sent");
    }
}

/// The positive values of the stored `pipeline.iterator_age` points, sorted
/// (probes send -1).
fn values(weir: &Weir) -> Vec<f64> {
    let v = weir.get_json("/api/v1/metrics?name=pipeline.iterator_age");
    let mut points: Vec<f64> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["value"]["value"].as_f64())
        .filter(|v| *v > 0.0)
        .collect();
    points.sort_by(f64::total_cmp);
    points
}

/// Sends one export at a time (traces `first`, `first + 1`, …) until one is
/// refused, for at most `LIMIT`: a fault is noticed at the next commit, so
/// exports in between are still acknowledged and recorded.
fn send_until_refused(weir: &Weir, service: &str, first: u64, spans: u64, told: &mut Told) {
    let mut next = first;
    wait_for("exports to be refused as a storage fault", LIMIT, || {
        let refused_before = told.refused.len();
        send(weir, service, next..next + 1, spans, told);
        next += 1;
        (told.refused.len() > refused_before).then_some(())
    });
}

fn readyz(weir: &Weir) -> (u16, String) {
    let r = weir.get("/readyz");
    (r.status().as_u16(), r.text().unwrap())
}

const FAST_COMMITS: &str = "[ingest]\ncommit_interval = \"200ms\"";

/// A WAL fault refuses the batch it hit, and the requests after it succeed:
/// the exporters' retries land, and nothing acknowledged is lost, also
/// after a kill -9.
fn a_wal_fault_refuses_its_batch_only(failpoint: &str, actions: &str) {
    let mut weir = Weir::start(FAST_COMMITS);
    let mut told = Told::default();
    send(&weir, "walfault", 0..20, SPANS_PER_REQUEST, &mut told);
    weir.set_failpoint(failpoint, actions);
    send(&weir, "walfault", 20..40, SPANS_PER_REQUEST, &mut told);
    assert!(!told.refused.is_empty(), "{failpoint} refused something");
    assert!(weir.metric("weir_wal_append_failures_total") >= 1.0);
    weir.remove_failpoint(failpoint);
    send(&weir, "walfault", 40..60, SPANS_PER_REQUEST, &mut told);
    assert_eq!(told.acknowledged.len() + told.refused.len(), 60);
    assert!(
        told.acknowledged.iter().any(|t| *t >= 40),
        "exports succeed again once the log can be written"
    );
    assert_exactly_once(&weir, "walfault", &told, SPANS_PER_REQUEST);
    assert_eq!(readyz(&weir).0, 200, "ready again: {}", readyz(&weir).1);
    weir.kill9();
    weir.restart();
    assert_exactly_once(&weir, "walfault", &told, SPANS_PER_REQUEST);
}

#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn a_failed_wal_fsync_is_final_for_its_batch_and_loses_nothing_acknowledged() {
    a_wal_fault_refuses_its_batch_only("wal::fsync", "3*return");
}

#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn a_failed_wal_write_on_a_full_disk_loses_nothing_acknowledged() {
    a_wal_fault_refuses_its_batch_only("wal::write", "2*return(enospc)");
}

#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn a_failed_segment_rotation_refuses_until_a_new_segment_can_be_made() {
    // The write fails once, so the next batch needs a new segment, and making
    // it fails until the failpoint goes.
    let mut weir = Weir::start(FAST_COMMITS);
    let mut told = Told::default();
    send(&weir, "rotation", 0..10, SPANS_PER_REQUEST, &mut told);
    weir.set_failpoint("wal::rotate", "return");
    weir.set_failpoint("wal::write", "1*return");
    send(&weir, "rotation", 10..20, SPANS_PER_REQUEST, &mut told);
    assert_eq!(told.refused, (10..20).collect::<Vec<_>>());
    assert!(readyz(&weir).1.contains("wal:"), "{}", readyz(&weir).1);
    weir.remove_failpoint("wal::rotate");
    send(&weir, "rotation", 20..30, SPANS_PER_REQUEST, &mut told);
    assert_eq!(told.acknowledged.len(), 20);
    assert_exactly_once(&weir, "rotation", &told, SPANS_PER_REQUEST);
    weir.kill9();
    weir.restart();
    assert_exactly_once(&weir, "rotation", &told, SPANS_PER_REQUEST);
}

#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn a_failing_index_commit_refuses_spans_then_everything_acknowledged_is_indexed_once() {
    let mut weir = Weir::start(FAST_COMMITS);
    let mut told = Told::default();
    send(&weir, "indexfault", 0..10, SPANS_PER_REQUEST, &mut told);
    assert_exactly_once(&weir, "indexfault", &told, SPANS_PER_REQUEST);
    weir.set_failpoint("index::commit", "return");
    // Acknowledged while commits fail: in the WAL, not yet in the index.
    send(&weir, "indexfault", 10..15, SPANS_PER_REQUEST, &mut told);
    send_until_refused(&weir, "indexfault", 1000, SPANS_PER_REQUEST, &mut told);
    let (status, why) = readyz(&weir);
    assert_eq!(status, 503);
    assert!(why.contains("spans: commit failed"), "{why}");
    assert_eq!(weir.metric("weir_storage_fault{part=\"spans\"}"), 1.0);
    // Logs are stored elsewhere and still accepted.
    let logs = weir.post_otlp(
        "/v1/logs",
        "application/json",
        &[],
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"still here"}}]}]}]}"#.to_vec(),
    );
    assert_eq!(logs.status(), 200);

    weir.remove_failpoint("index::commit");
    wait_for("readiness to return", LIMIT, || {
        (readyz(&weir).0 == 200).then_some(())
    });
    send(&weir, "indexfault", 15..25, SPANS_PER_REQUEST, &mut told);
    assert!(told.acknowledged.contains(&24));
    assert_exactly_once(&weir, "indexfault", &told, SPANS_PER_REQUEST);
    assert!(weir.log().contains("fed again from the write-ahead log"));
    assert_eq!(weir.metric("weir_storage_fault{part=\"spans\"}"), 0.0);
    weir.kill9();
    weir.restart();
    assert_exactly_once(&weir, "indexfault", &told, SPANS_PER_REQUEST);
}

#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn failing_database_commits_refuse_their_signal_and_lose_no_point_or_count() {
    let mut weir = Weir::start(FAST_COMMITS);
    let point = |v: f64| gauge_request("dbfault", "pipeline.iterator_age", v).encode_to_vec();
    let post = |v: f64| {
        weir.post_otlp("/v1/metrics", "application/x-protobuf", &[], point(v))
            .status()
            .as_u16()
    };
    assert_eq!(post(1.0), 200);
    wait_for("the first point to be committed", LIMIT, || {
        (values(&weir) == [1.0]).then_some(())
    });
    weir.set_failpoint("db::write_metrics", "return");
    assert_eq!(post(2.0), 200, "acknowledged: in the WAL");
    wait_for("metric points to be refused", LIMIT, || {
        (post(-1.0) == 503).then_some(())
    });
    assert!(readyz(&weir).1.contains("metrics: commit failed"));

    // Rollups of spans fail too: spans are refused, and no invocation is lost
    // or counted twice once the database works again.
    let mut told = Told::default();
    send(&weir, "rollupfault", 0..5, 1, &mut told);
    weir.set_failpoint("db::merge_rollups", "return");
    send(&weir, "rollupfault", 5..10, 1, &mut told);
    send_until_refused(&weir, "rollupfault", 100, 1, &mut told);
    assert!(
        readyz(&weir).1.contains("rollups.spans"),
        "{}",
        readyz(&weir).1
    );

    weir.remove_failpoint("db::write_metrics");
    weir.remove_failpoint("db::merge_rollups");
    wait_for("readiness to return", LIMIT, || {
        (readyz(&weir).0 == 200).then_some(())
    });
    assert_eq!(post(3.0), 200);
    wait_for("every acknowledged point", LIMIT, || {
        (values(&weir) == [1.0, 2.0, 3.0]).then_some(())
    });
    assert_exactly_once(&weir, "rollupfault", &told, 1);
    let invocations = |weir: &Weir| {
        weir.get_json("/api/v1/components?window=1h")["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["component"] == "rollupfault")
            .map_or(0, |c| c["invocations"].as_u64().unwrap())
    };
    let spans_stored = stored(&weir, "rollupfault").len() as u64;
    wait_for("every invocation counted once", LIMIT, || {
        (invocations(&weir) == spans_stored).then_some(())
    });
    weir.kill9();
    weir.restart();
    assert_eq!(values(&weir), [1.0, 2.0, 3.0]);
    assert_eq!(invocations(&weir), spans_stored);
}

/// A small real filesystem for the full-disk tests: a tmpfs mounted by the
/// test (it needs root, as CI has), unmounted when dropped.
struct SmallDisk {
    mount: PathBuf,
    _dir: tempfile::TempDir,
    /// Beside the small disk, for weir's config and log.
    _dir_outside: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk {
                mount: dir.path().to_path_buf(),
                _dir: dir,
                _dir_outside: tempfile::tempdir().unwrap(),
            }),
            Ok(out) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs (run the tests as root): {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: no mount command: {e}");
                None
            }
        }
    }

    fn filler(&self) -> PathBuf {
        self.mount.join("filler")
    }

    fn fill(&self, megabytes: u32) -> PathBuf {
        let filler = self.mount.join("filler");
        let ok = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", filler.display()))
            .args(["bs=1M", &format!("count={megabytes}")])
            .output()
            .unwrap();
        assert!(ok.status.success() || filler.exists());
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// weir on a 40 MiB tmpfs of which a filler file takes 24 MiB, with its
/// config and log beside the small disk (so a full disk cannot silence its
/// log), committing every 200 ms; `None` where no tmpfs can be mounted.
fn weir_on_a_small_disk(ingest: &str) -> Option<(SmallDisk, Weir)> {
    let Some(disk) = SmallDisk::mount(40) else {
        assert!(!in_ci(), "CI runs as root and must run this test");
        return None;
    };
    disk.fill(24);
    let weir = Weir::start_with_files_in(
        &disk.mount.join("data"),
        &disk._dir_outside.path().join("weir"),
        &format!("[ingest]\ncommit_interval = \"200ms\"\n{ingest}"),
    );
    Some((disk, weir))
}

/// Sends 200-span exports until one is acknowledged again, for at most
/// `LIMIT`; on a timeout the failure shows readiness and weir's log.
fn send_until_accepted_again(weir: &Weir, service: &str, next: &mut u64, told: &mut Told) {
    let started = std::time::Instant::now();
    loop {
        let before = told.acknowledged.len();
        send(weir, service, *next..*next + 5, 200, told);
        *next += 5;
        if told.acknowledged.len() > before {
            return;
        }
        assert!(
            started.elapsed() < LIMIT,
            "exports not accepted again after {LIMIT:?}; readyz: {:?}; weir's log:\n{}",
            readyz(weir),
            weir.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The issue's repro on a real full disk, with the free-space floor off, so
/// every ENOSPC path is taken as it comes (WAL append, index commit, the
/// SQLite commit of rollups).
#[test]
fn a_really_full_disk_loses_nothing_acknowledged_and_recovers_without_a_restart() {
    let Some((disk, mut weir)) = weir_on_a_small_disk("min_free_bytes = 0") else {
        return;
    };
    let (filler, data) = (disk.filler(), disk.mount.join("data"));
    let mut told = Told::default();
    let mut next = 0;
    wait_for(
        "the disk to fill and exports to be refused",
        Duration::from_secs(300),
        || {
            send(&weir, "fulldisk", next..next + 10, 200, &mut told);
            next += 10;
            (told.refused.len() >= 10).then_some(())
        },
    );
    std::fs::remove_file(&filler).unwrap();
    send_until_accepted_again(&weir, "fulldisk", &mut next, &mut told);
    send(&weir, "fulldisk", next..next + 20, 200, &mut told);
    assert_exactly_once(&weir, "fulldisk", &told, 200);
    wait_for("readiness to return", LIMIT, || {
        (readyz(&weir).0 == 200).then_some(())
    });
    weir.kill9();
    weir.restart();
    assert_exactly_once(&weir, "fulldisk", &told, 200);
    drop(weir);
    drop_data(&data);
}

/// With the floor on, weir refuses new data before the disk is full, so what
/// it holds can always be committed: no WAL append or commit ever fails.
#[test]
fn the_free_space_floor_refuses_new_data_before_the_disk_is_full() {
    let Some((disk, weir)) = weir_on_a_small_disk("min_free_bytes = 8388608") else {
        return;
    };
    let (filler, data) = (disk.filler(), disk.mount.join("data"));
    let mut told = Told::default();
    let mut next = 0;
    // Merges and commits free space now and then, so the floor is checked
    // while the disk is still being filled.
    let why = wait_for("the floor to be reached", Duration::from_secs(300), || {
        send(&weir, "floor", next..next + 10, 200, &mut told);
        next += 10;
        let (status, why) = readyz(&weir);
        next += 1;
        let probe = weir.post_otlp(
            "/v1/traces",
            "application/x-protobuf",
            &[],
            spans_request(
                "floor",
                (0..200)
                    .map(|n| span(trace_id(next - 1), n, "probe"))
                    .collect(),
            )
            .encode_to_vec(),
        );
        match probe.status().as_u16() {
            200 => told.acknowledged.push(next - 1),
            _ => told.refused.push(next - 1),
        }
        let refused_for_disk = probe.status() == 503
            && probe.headers().contains_key("retry-after")
            && String::from_utf8_lossy(&probe.bytes().unwrap()).contains("disk");
        (status == 503
            && refused_for_disk
            && weir.metric("weir_storage_fault{part=\"disk\"}") == 1.0)
            .then_some(why)
    });
    assert!(
        why.contains("disk:") && why.contains("min_free_bytes"),
        "{why}"
    );
    std::fs::remove_file(&filler).unwrap();
    send_until_accepted_again(&weir, "floor", &mut next, &mut told);
    assert_exactly_once(&weir, "floor", &told, 200);
    assert_eq!(weir.metric("weir_wal_append_failures_total"), 0.0);
    assert_eq!(weir.metric("weir_storage_commit_failures_total"), 0.0);
    drop(weir);
    drop_data(&data);
}

fn drop_data(data: &Path) {
    let _ = std::fs::remove_dir_all(data);
}
