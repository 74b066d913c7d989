//! Cluster mode end to end: real weir nodes on a real three-node NATS
//! JetStream cluster, SeaweedFS's S3 API and PostgreSQL, as an operator
//! runs them. Data exported to one node is found through another; an
//! unreachable event log refuses exports instead of acknowledging them.

use crate::harness::{Weir, serve_refuses, wait_for};
use prost::Message;
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
         [cluster.stream]\nname = {name:?}\nreplicas = 3\n\
         [cluster.object_store]\nurl = \"s3://{}/{name}\"\nendpoint = {:?}\n",
        urls.join(", "),
        objects.bucket(),
        objects.endpoint(),
    )
}

fn spans_body(client: u64, seq: &mut u64, n: usize) -> Vec<u8> {
    fleet::spans(client, seq, n).encode_to_vec()
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
        let r = a.post_otlp(
            "/v1/traces",
            "application/x-protobuf",
            &[],
            spans_body(7, &mut seq, 40),
        );
        assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
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
    // A record's correlation id finds its trace from either node (trace 120
    // is the tenth of its export, so its root is the export's 37th span).
    let correlated = b.get_json("/api/v1/correlate/rec-7-120-36");
    let body = correlated.to_string();
    assert!(
        body.contains(&hex::encode(fleet::trace_id(7, 120))),
        "{body}"
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
    let r = weir.post_otlp(
        "/v1/traces",
        "application/x-protobuf",
        &[],
        spans_body(1, &mut seq, 8),
    );
    assert_eq!(r.status(), 200);

    nats.kill(0);
    let refused = wait_for("an export refused", Duration::from_secs(60), || {
        let r = weir.post_otlp(
            "/v1/traces",
            "application/x-protobuf",
            &[],
            spans_body(1, &mut 100, 8),
        );
        (r.status() != 200).then_some(r)
    });
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("retry-after").is_some());

    nats.restart(0);
    wait_for("exports accepted again", Duration::from_secs(60), || {
        let r = weir.post_otlp(
            "/v1/traces",
            "application/x-protobuf",
            &[],
            spans_body(1, &mut 200, 8),
        );
        (r.status() == 200).then_some(())
    });
    // The first export, acknowledged before the outage, is searchable.
    weir.wait_for_trace(&hex::encode(fleet::trace_id(1, 1)), 4, 0);
}
