//! Cluster mode end to end: real weir nodes on a real three-node NATS
//! JetStream cluster, SeaweedFS's S3 API and PostgreSQL, as an operator
//! runs them. Data exported to one node is found through another; an
//! unreachable event log refuses exports instead of acknowledging them.

use crate::harness::{Weir, serve_refuses, wait_for};
use prost::Message;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use weir_collector::fixtures::fleet;
use weir_testkit::{NatsCluster, PgServer, SeaweedFs};

/// The engines every cluster test shares; each test has its own stream,
/// object-store prefix and database.
struct Engines {
    nats: NatsCluster,
    objects: SeaweedFs,
}

fn engines() -> &'static Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES.get_or_init(|| Engines {
        nats: NatsCluster::start(3),
        objects: SeaweedFs::start("weir-splits"),
    })
}

/// A fresh cluster's name: its stream and its prefix in the bucket.
fn cluster_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "T{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// weir.toml lines of one node of cluster `name` on database `db`.
fn node_config(name: &str, node: &str, db: &str, nats: &[String], objects: &SeaweedFs) -> String {
    let urls: Vec<String> = nats.iter().map(|u| format!("{u:?}")).collect();
    format!(
        "[database]\nurl = {db:?}\n\
         [ingest]\ncommit_interval = \"250ms\"\n\
         [cluster]\nnode_id = {node:?}\nnats_urls = [{}]\npartitions = 4\n\
         [cluster.stream]\nname = {name:?}\nreplicas = 3\nmax_bytes = 268435456\n\
         [cluster.object_store]\nurl = \"s3://{}/{name}\"\nendpoint = {:?}\n",
        urls.join(", "),
        objects.bucket(),
        objects.endpoint(),
    )
}

fn spans_body(client: u64, seq: &mut u64, n: usize) -> Vec<u8> {
    fleet::spans(client, seq, n).encode_to_vec()
}

/// Exports `n` spans of `client` over OTLP/HTTP; the answer.
fn post_spans(weir: &Weir, client: u64, seq: &mut u64, n: usize) -> reqwest::blocking::Response {
    weir.post_otlp(
        "/v1/traces",
        "application/x-protobuf",
        &[],
        spans_body(client, seq, n),
    )
}

/// [`post_spans`], asserting it was acknowledged. A 429 (backpressure: on
/// a loaded machine an owner may fall a second behind) is sent again for up
/// to a minute, as OTLP exporters do; any other answer fails.
fn export_ok(weir: &Weir, client: u64, seq: &mut u64, n: usize) {
    let body = spans_body(client, seq, n);
    let throttled_since = std::time::Instant::now();
    loop {
        let r = weir.post_otlp("/v1/traces", "application/x-protobuf", &[], body.clone());
        let status = r.status();
        if status == 429 && throttled_since.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!(status, 200, "{}", r.text().unwrap_or_default());
        return;
    }
}

#[test]
fn data_exported_to_one_node_is_found_through_another_with_counts_exact() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let name = cluster_name();
    let urls = engines.nats.urls();
    let a = Weir::start(&node_config(&name, "node-a", &db, &urls, &engines.objects));
    let b = Weir::start(&node_config(&name, "node-b", &db, &urls, &engines.objects));

    // 25 exports of 40 spans: 250 traces of four spans, each root an invocation.
    let mut seq = 0;
    for _ in 0..25 {
        export_ok(&a, 7, &mut seq, 40);
    }
    for s in [1, 120, 250] {
        let id = hex::encode(fleet::trace_id(7, s));
        let trace = b.wait_for_trace(&id, 4, 0);
        assert_eq!(trace["spans"].as_array().unwrap().len(), 4);
    }
    let total = |weir: &Weir| {
        weir.get_json("/api/v1/search?signal=spans&limit=1000")["count"]
            .as_u64()
            .unwrap_or(0)
    };
    wait_for(
        "all 1000 spans searchable on node B",
        Duration::from_secs(60),
        || (total(&b) == 1000).then_some(()),
    );
    // Node A sees them too once its cache has caught up with the catalog.
    wait_for(
        "all 1000 spans searchable on node A",
        Duration::from_secs(60),
        || (total(&a) == 1000).then_some(()),
    );
    // Health is built once, by each partition's owner, whichever node that is.
    let invocations = |weir: &Weir| -> u64 {
        weir.get_json("/api/v1/components?window=15m")["components"]
            .as_array()
            .map(|cs| cs.iter().filter_map(|c| c["invocations"].as_u64()).sum())
            .unwrap_or(0)
    };
    wait_for(
        "250 invocations in the rollups",
        Duration::from_secs(60),
        || (invocations(&b) == 250).then_some(()),
    );
    assert_eq!(invocations(&a), 250);
    // Any node says who owns what: two live nodes, the four partitions
    // split between them, every spans partition checkpointed.
    let owners = wait_for("both nodes with a share", Duration::from_secs(30), || {
        let v = b.get_json("/api/v1/cluster");
        let nodes = v["nodes"].as_array()?.clone();
        let owned: Vec<Vec<u64>> = nodes
            .iter()
            .map(|n| {
                n["partitions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|p| p.as_u64())
                    .collect()
            })
            .collect();
        (nodes.len() == 2 && owned.iter().all(|o| o.len() == 2)).then_some((v, owned))
    });
    let (cluster, owned) = owners;
    let mut all: Vec<u64> = owned.concat();
    all.sort();
    assert_eq!(
        all,
        [0, 1, 2, 3],
        "disjoint shares covering every partition"
    );
    let spans: Vec<&serde_json::Value> = cluster["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["signal"] == "spans")
        .collect();
    assert_eq!(spans.len(), 4);
    assert!(
        spans
            .iter()
            .all(|p| p["checkpoint"].as_u64() > Some(0) && p["owner"].is_string())
    );
    assert_eq!(a.metric("weir_cluster_owned_partitions"), 2.0);
    assert!(
        a.metric("weir_cluster_split_uploads_total") + b.metric("weir_cluster_split_uploads_total")
            > 0.0
    );
    let page = b.get("/cluster").text().unwrap();
    assert!(page.contains("node-a") && page.contains("node-b"), "{page}");

    // A record's correlation id finds its trace from either node (trace 120
    // is the tenth of its export, so its root is the export's 37th span).
    let correlated = b.get_json("/api/v1/correlate/rec-7-120-36");
    let body = correlated.to_string();
    assert!(
        body.contains(&hex::encode(fleet::trace_id(7, 120))),
        "{body}"
    );
}

/// The single node's pipeline test, exported to one node and read on the
/// other: health, lag, topology and correlation answer the same. Its
/// consumer's batches link to producer traces that live in other
/// partitions, so every delivery and its lag is counted from link stubs.
#[test]
fn a_pipeline_reads_the_same_on_a_cluster_node_that_did_not_ingest_it() {
    use crate::pipeline_health::{
        assert_correlation, assert_health, assert_lag_series, assert_topology, run_pipeline,
    };
    let engines = engines();
    let db = PgServer::shared().create_database();
    let name = cluster_name();
    let urls = engines.nats.urls();
    let a = Weir::start(&node_config(&name, "node-a", &db, &urls, &engines.objects));
    let b = Weir::start(&node_config(&name, "node-b", &db, &urls, &engines.objects));
    run_pipeline(&a);
    assert_health(&b);
    assert_lag_series(&b);
    assert_topology(&b);
    assert_correlation(&b);
}

/// A node whose cache may hold nothing (cache_max_bytes = 1) still answers
/// every query exactly: each one fetches the splits it needs (by time range,
/// and by the filters for a trace id or key) and holds them while it runs.
#[test]
fn a_node_whose_cache_holds_nothing_fetches_what_each_query_needs() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let name = cluster_name();
    let urls = engines.nats.urls();
    let a = Weir::start(&node_config(&name, "node-a", &db, &urls, &engines.objects));
    let cold = Weir::start(
        &node_config(&name, "node-cold", &db, &urls, &engines.objects)
            .replace("[cluster]\n", "[cluster]\ncache_max_bytes = 1\n"),
    );
    let mut seq = 0;
    for _ in 0..10 {
        export_ok(&a, 8, &mut seq, 40);
    }
    wait_for(
        "all 400 spans searchable on node A",
        Duration::from_secs(60),
        || (a.get_json("/api/v1/search?signal=spans&limit=1000")["count"] == 400).then_some(()),
    );
    // A search fetches every split of its range (once the node's listing
    // of the catalog, polled every 500 ms, has them all).
    wait_for(
        "all 400 spans searchable on the cold node",
        Duration::from_secs(60),
        || (cold.get_json("/api/v1/search?signal=spans&limit=1000")["count"] == 400).then_some(()),
    );
    // Then it evicts them again: nothing is pinned once a query is done.
    wait_for(
        "the cold node's cache empty",
        Duration::from_secs(60),
        || (cold.metric("weir_cluster_cache_bytes") == 0.0).then_some(()),
    );
    let misses_before = cold.metric("weir_cluster_cache_misses_total");
    for s in [1, 50, 100] {
        let id = hex::encode(fleet::trace_id(8, s));
        let trace = cold.get_json(&format!("/api/v1/traces/{id}"));
        assert_eq!(
            trace["spans"].as_array().map(Vec::len),
            Some(4),
            "trace 8/{s}: {trace}"
        );
    }
    assert!(
        cold.metric("weir_cluster_cache_misses_total") > misses_before,
        "the lookups fetched splits"
    );
    let correlated = cold.get_json("/api/v1/correlate/rec-8-50-36").to_string();
    assert!(
        correlated.contains(&hex::encode(fleet::trace_id(8, 50))),
        "{correlated}"
    );
    // Nothing is pinned once the queries are done: the cache empties again.
    wait_for(
        "the cold node's cache empty again",
        Duration::from_secs(60),
        || (cold.metric("weir_cluster_cache_bytes") == 0.0).then_some(()),
    );
}

#[test]
fn a_cluster_without_postgresql_does_not_start() {
    let engines = engines();
    let dir = tempfile::tempdir().unwrap();
    let lines = node_config(
        &cluster_name(),
        "lonely",
        "",
        &engines.nats.urls(),
        &engines.objects,
    )
    .replace("[database]\nurl = \"\"\n", "");
    let stderr = serve_refuses(dir.path(), &lines);
    assert!(
        stderr.contains("database.url") && stderr.contains("PostgreSQL"),
        "{stderr}"
    );
}

#[test]
fn exports_are_refused_with_retry_after_while_the_event_log_is_down() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let mut nats = NatsCluster::start(1);
    let name = cluster_name();
    let weir = Weir::start(
        &node_config(&name, "solo", &db, &nats.urls(), &engines.objects)
            .replace("replicas = 3", "replicas = 1"),
    );
    let mut seq = 0;
    export_ok(&weir, 1, &mut seq, 8);

    nats.kill(0);
    let refused = wait_for("an export refused", Duration::from_secs(60), || {
        let r = post_spans(&weir, 1, &mut 100, 8);
        (r.status() != 200).then_some(r)
    });
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("retry-after").is_some());

    nats.restart(0);
    wait_for("exports accepted again", Duration::from_secs(60), || {
        let r = post_spans(&weir, 1, &mut 200, 8);
        (r.status() == 200).then_some(())
    });
    // The first export, acknowledged before the outage, is searchable.
    weir.wait_for_trace(&hex::encode(fleet::trace_id(1, 1)), 4, 0);
}

/// Exports of 40 spans (ten traces) sent to `http` one after another until
/// `stop` or the first failure (as an exporter whose collector died moves
/// on); returns the traces of the acknowledged exports and of the one that
/// failed (which may or may not have been stored). An export refused with
/// 429 (backpressure) is sent again, as OTLP exporters do, for up to a
/// minute.
fn export_until(
    http: std::net::SocketAddr,
    client: u64,
    stop: &std::sync::atomic::AtomicBool,
) -> (Vec<u64>, Vec<u64>) {
    let http_client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (mut acknowledged, mut failed) = (Vec::new(), Vec::new());
    let mut seq = 0;
    'exports: while !stop.load(Ordering::Relaxed) {
        let first = seq + 1;
        let body = spans_body(client, &mut seq, 40);
        let throttled_since = std::time::Instant::now();
        loop {
            let sent = http_client
                .post(format!("http://{http}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(body.clone())
                .send();
            match sent {
                Ok(r) if r.status() == 200 => {
                    acknowledged.extend(first..=seq);
                    break;
                }
                Ok(r)
                    if r.status() == 429 && throttled_since.elapsed() < Duration::from_secs(60) =>
                {
                    std::thread::sleep(Duration::from_millis(100))
                }
                _ => {
                    failed.extend(first..=seq);
                    break 'exports;
                }
            }
        }
    }
    (acknowledged, failed)
}

/// Waits until `weir` holds every trace (client, seq) of `seqs`, then
/// asserts that it holds those alone, each whole and once.
fn holds_exactly(weir: &Weir, client: u64, seqs: impl IntoIterator<Item = u64>) {
    let expected: Vec<String> = seqs
        .into_iter()
        .map(|s| hex::encode(fleet::trace_id(client, s)))
        .collect();
    let counts = wait_for("every acknowledged trace", Duration::from_secs(120), || {
        let counts = span_counts(weir);
        expected
            .iter()
            .all(|t| counts.contains_key(t))
            .then_some(counts)
    });
    assert_eq!(counts.len(), expected.len(), "only what was acknowledged");
    assert!(
        counts.values().all(|&n| n == 4),
        "a trace stored twice or in part"
    );
}

/// How many spans node `weir` holds of trace (client, seq).
fn spans_of(weir: &Weir, client: u64, seq: u64) -> usize {
    let id = hex::encode(fleet::trace_id(client, seq));
    let r = weir.get(&format!("/api/v1/traces/{id}"));
    if r.status() == 404 {
        return 0;
    }
    let v: serde_json::Value = r.json().unwrap();
    v["spans"].as_array().map_or(0, |s| s.len())
}

/// Spans per trace id of every span node `weir` holds, page by page.
fn span_counts(weir: &Weir) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = weir.get_json(&format!(
            "/api/v1/search?signal=spans&limit=1000{}",
            cursor
                .as_ref()
                .map_or(String::new(), |c| format!("&cursor={c}"))
        ));
        for hit in page["hits"].as_array().unwrap() {
            *counts
                .entry(hit["trace_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return counts,
        }
    }
}

fn invocations(weir: &Weir) -> u64 {
    weir.get_json("/api/v1/components?window=15m")["components"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["invocations"].as_u64()).sum())
        .unwrap_or(0)
}

#[test]
fn a_node_killed_during_ingest_loses_nothing_and_its_partitions_are_taken_over() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let name = cluster_name();
    let urls = engines.nats.urls();
    let mut a = Weir::start(&node_config(&name, "node-a", &db, &urls, &engines.objects));
    let b = Weir::start(&node_config(&name, "node-b", &db, &urls, &engines.objects));

    let stop = std::sync::atomic::AtomicBool::new(false);
    let (to_a, to_b) = std::thread::scope(|scope| {
        let (a_http, b_http, stop) = (a.http, b.http, &stop);
        let to_a = scope.spawn(move || export_until(a_http, 1, stop));
        let to_b = scope.spawn(move || export_until(b_http, 2, stop));
        // Let both nodes index and commit splits for a while, then kill A
        // with exports in flight and keep B under load.
        wait_for(
            "splits committed by both nodes",
            Duration::from_secs(60),
            || (invocations(&b) >= 200).then_some(()),
        );
        a.kill9();
        let survivor_load = invocations(&b) + 500;
        wait_for("the survivor under load", Duration::from_secs(60), || {
            (invocations(&b) >= survivor_load).then_some(())
        });
        stop.store(true, Ordering::Relaxed);
        (to_a.join().unwrap(), to_b.join().unwrap())
    });
    // The survivor owns every partition within the takeover bound.
    let taken_over = std::time::Instant::now();
    wait_for(
        "the survivor to own every partition",
        Duration::from_secs(30),
        || {
            let v = b.get_json("/api/v1/cluster");
            let nodes = v["nodes"].as_array()?;
            let survivor = nodes.iter().find(|n| n["node_id"] == "node-b")?;
            (survivor["partitions"].as_array()?.len() == 4).then_some(())
        },
    );
    assert!(
        taken_over.elapsed() < Duration::from_secs(10),
        "takeover took {:?}",
        taken_over.elapsed()
    );
    let (a_acked, a_failed) = to_a;
    let (b_acked, b_failed) = to_b;
    assert!(!a_acked.is_empty() && !a_failed.is_empty());
    assert!(
        b_failed.is_empty(),
        "the survivor failed an export (or throttled it for a minute)"
    );

    // Every acknowledged trace is found once, whole, through the survivor:
    // the dead node's partitions were taken over and replayed from their
    // checkpoints.
    let acknowledged: Vec<String> = a_acked
        .iter()
        .map(|&s| hex::encode(fleet::trace_id(1, s)))
        .chain(b_acked.iter().map(|&s| hex::encode(fleet::trace_id(2, s))))
        .collect();
    // Each partition's owner catches up on its own: poll until the last
    // of them has committed.
    let counts = wait_for("every acknowledged trace", Duration::from_secs(120), || {
        let counts = span_counts(&b);
        acknowledged
            .iter()
            .all(|t| counts.contains_key(t))
            .then_some(counts)
    });
    let of = |client, s| {
        counts
            .get(&hex::encode(fleet::trace_id(client, s)))
            .copied()
    };
    for &s in &a_acked {
        assert_eq!(
            of(1, s),
            Some(4),
            "trace 1/{s}, acknowledged by the killed node"
        );
    }
    for &s in &b_acked {
        assert_eq!(
            of(2, s),
            Some(4),
            "trace 2/{s}, acknowledged by the survivor"
        );
    }
    // The export cut off by the kill was stored whole or not at all, and
    // nothing is stored twice.
    let stored_unacknowledged = a_failed.iter().filter(|&&s| of(1, s).is_some()).count();
    assert!(
        counts.values().all(|&n| n == 4),
        "a trace stored twice or in part"
    );
    assert_eq!(
        counts.len(),
        a_acked.len() + b_acked.len() + stored_unacknowledged
    );
    // Rollups count each stored trace's one invocation exactly once.
    let expected = counts.len() as u64;
    wait_for("the rollups to add up", Duration::from_secs(60), || {
        (invocations(&b) == expected).then_some(())
    });

    // The killed node comes back, takes its share again, and nothing is
    // indexed twice in the hand-over.
    a.restart();
    let mut seq = 10_000;
    export_ok(&a, 3, &mut seq, 40);
    wait_for(
        "the rejoined node's export",
        Duration::from_secs(60),
        || (spans_of(&a, 3, seq) == 4 && spans_of(&b, 3, seq) == 4).then_some(()),
    );
    wait_for(
        "the rollups after the hand-over",
        Duration::from_secs(60),
        || (invocations(&a) == expected + 10).then_some(()),
    );
    assert_eq!(invocations(&b), expected + 10);
    let after = span_counts(&a);
    assert_eq!(
        after.len(),
        counts.len() + 10,
        "nothing indexed twice in the hand-over"
    );
    assert!(after.values().all(|&n| n == 4));
}

/// Invocations of `orders`, `errors` of them failing, in one export.
fn orders_body(first_trace: u64, invocations: u64, errors: u64) -> Vec<u8> {
    use crate::otlp::{span, spans_request, trace_id};
    let spans = (0..invocations)
        .map(|n| {
            let mut s = span(trace_id(first_trace + n), 1, "POST /orders");
            if n < errors {
                s.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
                    code: 2,
                    message: "boom".into(),
                });
            }
            s
        })
        .collect();
    spans_request("orders", spans).encode_to_vec()
}

#[test]
fn an_alert_is_delivered_once_by_two_nodes_and_once_after_the_leader_dies() {
    use crate::notifications::{FAST_ROUTE, config, last_evaluation, let_rules_run, receiver_toml};
    let engines = engines();
    let db = PgServer::shared().create_database();
    let name = cluster_name();
    let urls = engines.nats.urls();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, crate::alerting::RULES).unwrap();
    let hook = crate::receiver::Receiver::start();
    let alerts = config(
        &rules,
        &format!(
            "{}[[alerts.routes]]\nreceiver = \"ops\"\n{FAST_ROUTE}",
            receiver_toml("ops", &hook.url, "")
        ),
    );
    let node = |id: &str| {
        Weir::start(&format!(
            "{}{alerts}",
            node_config(&name, id, &db, &urls, &engines.objects)
        ))
    };
    let mut nodes = [node("node-a"), node("node-b")];

    // Three of four invocations fail: the rule fires, and of two nodes
    // exactly one notifies.
    let r = nodes[1].post_otlp(
        "/v1/traces",
        "application/x-protobuf",
        &[],
        orders_body(100, 4, 3),
    );
    assert_eq!(r.status(), 200);
    wait_for("the firing notification", Duration::from_secs(60), || {
        (!hook.told("ErrorsRising", "firing").is_empty()).then_some(())
    });
    // The leader is the node whose rules evaluate.
    let leader = wait_for("a rule leader", Duration::from_secs(30), || {
        let (a, b) = (last_evaluation(&nodes[0]), last_evaluation(&nodes[1]));
        match (a > 0, b > 0) {
            (true, false) => Some(0),
            (false, true) => Some(1),
            _ => None,
        }
    });
    let follower = 1 - leader;
    let_rules_run(&nodes[leader], 3);
    assert_eq!(hook.told("ErrorsRising", "firing").len(), 1, "told once");
    // Both nodes' APIs show the firing alert.
    for weir in &nodes {
        wait_for(
            "the firing alert on every node",
            Duration::from_secs(30),
            || {
                let v = weir.get_json("/api/v1/alerts");
                v["alerts"]
                    .as_array()?
                    .iter()
                    .any(|a| a["alertname"] == "ErrorsRising" && a["state"] == "firing")
                    .then_some(())
            },
        );
    }

    // The leader dies mid-firing: the other node takes the rules over from
    // the stored state, tells nobody again, and tells the resolution once.
    nodes[leader].kill9();
    wait_for("the new leader evaluating", Duration::from_secs(30), || {
        (last_evaluation(&nodes[follower]) > 0).then_some(())
    });
    let_rules_run(&nodes[follower], 3);
    assert_eq!(
        hook.told("ErrorsRising", "firing").len(),
        1,
        "not told again"
    );
    let r = nodes[follower].post_otlp(
        "/v1/traces",
        "application/x-protobuf",
        &[],
        orders_body(1000, 40, 0),
    );
    assert_eq!(r.status(), 200);
    wait_for("the resolved notification", Duration::from_secs(60), || {
        (!hook.told("ErrorsRising", "resolved").is_empty()).then_some(())
    });
    let_rules_run(&nodes[follower], 3);
    assert_eq!(hook.told("ErrorsRising", "resolved").len(), 1);
    assert_eq!(hook.told("ErrorsRising", "firing").len(), 1);
}

/// Keys the object store holds under cluster `name`'s prefix (S3
/// ListObjectsV2 on SeaweedFS, which answers without credentials).
fn objects_under(objects: &SeaweedFs, name: &str) -> usize {
    keys_under(objects, name).len()
}

/// The keys themselves, in the store's order.
fn keys_under(objects: &SeaweedFs, name: &str) -> Vec<String> {
    let listing = reqwest::blocking::get(format!(
        "{}/{}?list-type=2&prefix={name}/",
        objects.endpoint(),
        objects.bucket()
    ))
    .unwrap()
    .text()
    .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(key, _)| key.to_string()))
        .collect()
}

/// One node of cluster `name` (its `[cluster]` header replaced by
/// `cluster_header`, to add settings) holding one export of 40 spans from
/// `client`; the node and the export's first trace id.
fn one_node_with_one_export(name: &str, cluster_header: &str, client: u64) -> (Weir, String) {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let config = node_config(name, "solo", &db, &engines.nats.urls(), &engines.objects)
        .replace("[cluster]\n", cluster_header);
    let weir = Weir::start(&config);
    let mut seq = 0;
    export_ok(&weir, client, &mut seq, 40);
    let trace = hex::encode(fleet::trace_id(client, 1));
    weir.wait_for_trace(&trace, 4, 0);
    (weir, trace)
}

#[test]
fn objects_the_catalog_does_not_list_are_swept_and_split_objects_stay() {
    let engines = engines();
    let name = cluster_name();
    let (weir, trace) = one_node_with_one_export(
        &name,
        "[cluster]\norphan_age = \"2s\"\ndelete_grace = \"1s\"\n",
        5,
    );
    // Every partition committed: all 40 spans searchable.
    wait_for("all 40 spans searchable", Duration::from_secs(60), || {
        (weir.get_json("/api/v1/search?signal=spans&limit=1000")["count"] == 40).then_some(())
    });
    let splits = keys_under(&engines.objects, &name);
    assert!(!splits.is_empty(), "splits were uploaded");

    // What a node that died between upload and commit leaves behind.
    let ghost = format!("{name}/spans/0/00000000000000000009-ghost-1.split");
    let put = reqwest::blocking::Client::new()
        .put(format!(
            "{}/{}/{ghost}",
            engines.objects.endpoint(),
            engines.objects.bucket()
        ))
        .body(vec![0u8; 64])
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    assert!(keys_under(&engines.objects, &name).contains(&ghost));

    wait_for("the orphan to be swept", Duration::from_secs(60), || {
        (!keys_under(&engines.objects, &name).contains(&ghost)).then_some(())
    });
    assert_eq!(
        keys_under(&engines.objects, &name),
        splits,
        "every split the catalog lists stays"
    );
    assert!(weir.metric("weir_cluster_orphaned_objects_deleted_total") >= 1.0);
    assert_eq!(
        weir.get(&format!("/api/v1/traces/{trace}")).status(),
        200,
        "its data still found"
    );
}

#[test]
fn retention_removes_splits_from_the_catalog_and_then_the_store() {
    let engines = engines();
    let name = cluster_name();
    let (weir, trace) = one_node_with_one_export(
        &name,
        "[retention]\nspans = \"20s\"\ncheck_interval = \"1s\"\n[cluster]\ndelete_grace = \"1s\"\n",
        4,
    );
    assert!(
        objects_under(&engines.objects, &name) > 0,
        "splits were uploaded"
    );

    // Twenty seconds on, the spans are past retention: gone from queries,
    // then from the object store.
    wait_for("the expired trace to go", Duration::from_secs(90), || {
        (weir.get(&format!("/api/v1/traces/{trace}")).status() == 404).then_some(())
    });
    wait_for(
        "the expired splits' objects to go",
        Duration::from_secs(60),
        || (objects_under(&engines.objects, &name) == 0).then_some(()),
    );
}

#[test]
fn small_splits_are_merged_and_every_trace_is_still_found_once() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let name = cluster_name();
    let config = node_config(&name, "merger", &db, &engines.nats.urls(), &engines.objects)
        .replace("partitions = 4", "partitions = 1")
        .replace("commit_interval = \"250ms\"", "commit_interval = \"100ms\"")
        .replace("[cluster]\n", "[cluster]\ndelete_grace = \"1s\"\n");
    let weir = Weir::start(&config);
    // Forty exports, each searchable before the next is sent: forty splits.
    let mut seq = 0;
    for _ in 0..40 {
        export_ok(&weir, 5, &mut seq, 4);
        weir.wait_for_trace(&hex::encode(fleet::trace_id(5, seq)), 4, 0);
    }
    // Eight of a level merge into one of the next: 40 splits end as five
    // merged ones (and fewer once those merge again).
    let splits = wait_for("the small splits merged", Duration::from_secs(120), || {
        let v = weir.get_json("/api/v1/cluster");
        let spans = v["partitions"]
            .as_array()?
            .iter()
            .find(|p| p["signal"] == "spans")?
            .clone();
        let splits = spans["splits"].as_u64()?;
        (splits <= 8).then_some(splits)
    });
    assert!(splits >= 1);
    assert!(weir.metric("weir_cluster_merges_total") >= 5.0);
    let counts = span_counts(&weir);
    assert_eq!(counts.len(), 40, "every trace, once");
    assert!(counts.values().all(|&n| n == 4));
    // The replaced objects are deleted after the grace period.
    wait_for("replaced objects deleted", Duration::from_secs(120), || {
        (objects_under(&engines.objects, &name) as u64 <= splits).then_some(())
    });
}

/// Sends one export of ten traces to `weir` until it is acknowledged, as an
/// exporter retrying on 503 and 429 does; returns how many attempts were
/// refused.
fn export_retrying(weir: &Weir, client: u64, seq: &mut u64) -> usize {
    export_n_retrying(weir, client, seq, 40)
}

/// [`export_retrying`] of `n` spans.
fn export_n_retrying(weir: &Weir, client: u64, seq: &mut u64, n: usize) -> usize {
    let body = spans_body(client, seq, n);
    let mut refused = 0;
    wait_for("an export acknowledged", Duration::from_secs(90), || {
        let r = weir.post_otlp("/v1/traces", "application/x-protobuf", &[], body.clone());
        if r.status() == 200 {
            return Some(());
        }
        assert!(
            [429, 503].contains(&r.status().as_u16()),
            "refused with a retryable status, not {}",
            r.status()
        );
        refused += 1;
        None
    });
    refused
}

#[test]
fn ingest_continues_through_a_nats_node_crash_and_loses_nothing() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    // A cluster of its own: the shared one must not lose a node under the
    // other tests.
    let mut nats = NatsCluster::start(3);
    let name = cluster_name();
    let weir = Weir::start(&node_config(
        &name,
        "steady",
        &db,
        &nats.urls(),
        &engines.objects,
    ));
    let mut seq = 0;
    for _ in 0..10 {
        export_retrying(&weir, 6, &mut seq);
    }
    nats.kill(1);
    // With two of three JetStream nodes the stream keeps its quorum.
    for _ in 0..20 {
        export_retrying(&weir, 6, &mut seq);
    }
    nats.restart(1);
    for _ in 0..10 {
        export_retrying(&weir, 6, &mut seq);
    }
    holds_exactly(&weir, 6, 1..=seq);
}

#[test]
fn splits_wait_while_the_object_store_is_down_and_upload_after() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let mut objects = SeaweedFs::start("weir-outage");
    let name = cluster_name();
    let weir = Weir::start(&node_config(
        &name,
        "patient",
        &db,
        &engines.nats.urls(),
        &objects,
    ));
    // A node whose cache holds nothing must fetch each split it reads.
    let cold = Weir::start(
        &node_config(&name, "forgetful", &db, &engines.nats.urls(), &objects)
            .replace("[cluster]\n", "[cluster]\ncache_max_bytes = 1\n"),
    );
    let mut seq = 0;
    export_retrying(&weir, 8, &mut seq);
    let first = hex::encode(fleet::trace_id(8, seq));
    weir.wait_for_trace(&first, 4, 0);
    cold.wait_for_trace(&first, 4, 0);
    wait_for(
        "the cold node's cache empty",
        Duration::from_secs(60),
        || (cold.metric("weir_cluster_cache_bytes") == 0.0).then_some(()),
    );

    objects.kill();
    // What it would have to fetch cannot be: a retryable refusal, not an
    // empty answer.
    let refused = cold.get(&format!("/api/v1/traces/{first}"));
    assert_eq!(refused.status(), 503);
    assert!(
        refused.text().unwrap().contains("object store"),
        "the error says what is down"
    );
    // JetStream holds the records: exports are still acknowledged at once.
    for _ in 0..10 {
        assert_eq!(
            export_retrying(&weir, 8, &mut seq),
            0,
            "acknowledged while the store is down"
        );
    }
    wait_for("uploads failing", Duration::from_secs(60), || {
        (weir.metric("weir_cluster_split_upload_failures_total") > 0.0).then_some(())
    });
    assert_eq!(
        weir.get(&format!(
            "/api/v1/traces/{}",
            hex::encode(fleet::trace_id(8, seq))
        ))
        .status(),
        404,
        "not searchable before its split is stored"
    );

    objects.restart();
    holds_exactly(&weir, 8, 1..=seq);
    cold.wait_for_trace(&first, 4, 0);
}

/// The partitions `node` owns, once both of a two-node cluster hold a share.
fn partitions_of(weir: &Weir, node: &str) -> Vec<u64> {
    wait_for("both nodes with a share", Duration::from_secs(30), || {
        let v = weir.get_json("/api/v1/cluster");
        let nodes = v["nodes"].as_array()?.clone();
        let share = |n: &serde_json::Value| -> Vec<u64> {
            n["partitions"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p.as_u64()).collect())
                .unwrap_or_default()
        };
        (nodes.len() == 2 && nodes.iter().all(|n| share(n).len() == 2))
            .then(|| nodes.iter().find(|n| n["node_id"] == node).map(share))?
    })
}

#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn every_node_refuses_exports_while_a_partition_lags_and_takes_them_once_it_caught_up() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let name = cluster_name();
    let urls = engines.nats.urls();
    let slow = Weir::start(&node_config(
        &name,
        "node-slow",
        &db,
        &urls,
        &engines.objects,
    ));
    let steady = Weir::start(&node_config(
        &name,
        "node-steady",
        &db,
        &urls,
        &engines.objects,
    ));
    let lagging = partitions_of(&steady, "node-slow");
    let mut seq = 0;
    let mut acknowledged = Vec::new();
    export_ok(&steady, 9, &mut seq, 40);
    acknowledged.extend(1..=seq);

    // Each batch the slow node indexes takes 1.5 s, past the 1 s default
    // bound, so its partitions' records wait longer and longer. The steady
    // node hears of it from the slow node's heartbeat.
    slow.set_failpoint("cluster::index_batch", "sleep(1500)");
    let refused = wait_for(
        "an export to the steady node refused",
        Duration::from_secs(60),
        || {
            let first = seq + 1;
            let r = post_spans(&steady, 9, &mut seq, 40);
            if r.status() == 200 {
                acknowledged.extend(first..=seq);
                return None;
            }
            Some(r)
        },
    );
    assert_eq!(refused.status(), 429, "a retryable refusal");
    assert!(refused.headers().get("retry-after").is_some());
    let why = refused.text().unwrap();
    assert!(
        lagging
            .iter()
            .any(|p| why.contains(&format!("spans partition {p} is "))),
        "names a partition of the slow node ({lagging:?}): {why}"
    );

    slow.remove_failpoint("cluster::index_batch");
    wait_for(
        "exports taken again once the slow node caught up",
        Duration::from_secs(60),
        || {
            let first = seq + 1;
            let r = post_spans(&steady, 9, &mut seq, 40);
            (r.status() == 200).then(|| acknowledged.extend(first..=seq))
        },
    );
    // Everything acknowledged is stored once; what was refused, never.
    holds_exactly(&steady, 9, acknowledged);
}

#[test]
fn committed_messages_leave_the_stream_so_a_small_stream_never_fills() {
    let engines = engines();
    let db = PgServer::shared().create_database();
    let name = cluster_name();
    let weir = Weir::start(
        &node_config(
            &name,
            "thrifty",
            &db,
            &engines.nats.urls(),
            &engines.objects,
        )
        .replace("max_bytes = 268435456", "max_bytes = 262144"),
    );
    // 100 exports of 400 spans, several times the stream's 256 KiB even
    // compressed: were committed messages kept until max_age, the stream
    // would refuse every export once full.
    let mut seq = 0;
    for _ in 0..100 {
        export_n_retrying(&weir, 4, &mut seq, 400);
    }
    // Each trace of four spans has one invocation: 10,000, counted once.
    wait_for(
        "all 10,000 invocations counted",
        Duration::from_secs(120),
        || (invocations(&weir) == 10_000).then_some(()),
    );
    for s in [1, 5_000, 10_000] {
        weir.wait_for_trace(&hex::encode(fleet::trace_id(4, s)), 4, 0);
    }
}
