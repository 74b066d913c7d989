//! Exports published to a real three-node JetStream cluster: placed by
//! partition, stored once however often retried, acknowledged through a
//! node's crash, refused when JetStream is gone.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::time::{Duration, Instant};
use weir_cluster::publish::{ConnectError, PublishError, Publisher, StreamSettings};
use weir_collector::fixtures::fleet;
use weir_collector::otlp::partition::of_trace;
use weir_collector::otlp::{ExportRequest, SignalKind};
use weir_testkit::NatsCluster;

const PARTITIONS: u32 = 8;
/// Generous bound for the cluster to elect a leader or settle after a crash.
const BOUND: Duration = Duration::from_secs(60);

fn settings() -> StreamSettings {
    StreamSettings {
        name: "WEIR".into(),
        replicas: 3,
        max_age: Duration::from_secs(3600),
        max_bytes: 256 << 20,
    }
}

/// Connects once the cluster has a JetStream leader (polled, bounded).
async fn publisher(cluster: &NatsCluster) -> Publisher {
    let deadline = Instant::now() + BOUND;
    loop {
        match Publisher::connect(
            &cluster.urls(),
            &settings(),
            PARTITIONS,
            Duration::from_secs(3),
        )
        .await
        {
            Ok(p) => return p,
            Err(e) if Instant::now() > deadline => panic!("no JetStream within {BOUND:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Publishes until stored, as an exporter retrying after 503 would.
async fn publish_retrying(
    publisher: &Publisher,
    request: &ExportRequest,
) -> Vec<weir_cluster::publish::Stored> {
    let deadline = Instant::now() + BOUND;
    loop {
        match publisher.publish(request.clone()).await {
            Ok(stored) => return stored,
            Err(e) if Instant::now() > deadline => panic!("still refused: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Every message of the stream: (subject, spans).
async fn read_all(cluster: &NatsCluster) -> Vec<(String, ExportTraceServiceRequest)> {
    let client = async_nats::connect(cluster.urls()).await.unwrap();
    let js = jetstream::new(client);
    // A node that just restarted is still catching up: the stream's
    // requests can time out until the cluster settles.
    let deadline = Instant::now() + BOUND;
    let (expected, consumer) = loop {
        let attempt = async {
            let mut stream = js.get_stream("WEIR").await?;
            let expected = stream.info().await?.state.messages as usize;
            let consumer = stream
                .create_consumer(consumer::pull::Config::default())
                .await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((expected, consumer))
        };
        match attempt.await {
            Ok(ready) => break ready,
            Err(e) if Instant::now() > deadline => panic!("the stream is not readable: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap();
        while let Some(message) = batch.next().await {
            let message = message.unwrap();
            let payload = weir_cluster::publish::payload_of(&message).unwrap();
            let request = ExportTraceServiceRequest::decode(payload.as_ref()).unwrap();
            out.push((message.subject.to_string(), request));
            message.ack().await.unwrap();
        }
    }
    assert_eq!(out.len(), expected, "every stored message is read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_land_by_partition_once_each_through_a_node_crash() {
    let mut cluster = NatsCluster::start(3);
    let publisher = publisher(&cluster).await;
    let mut seq = 0;
    let first = ExportRequest::Traces(fleet::spans(1, &mut seq, 400));
    let stored = publish_retrying(&publisher, &first).await;
    assert!(stored.len() > 1, "100 traces touch several of 8 partitions");
    assert!(stored.iter().all(|s| !s.duplicate));

    // The same export again, as after a lost acknowledgement: JetStream
    // already holds every part, at the same sequences.
    let again = publish_retrying(&publisher, &first).await;
    assert!(again.iter().all(|s| s.duplicate));
    assert_eq!(
        again.iter().map(|s| s.sequence).collect::<Vec<_>>(),
        stored.iter().map(|s| s.sequence).collect::<Vec<_>>()
    );

    // One node of three crashes: exports are still stored on a quorum.
    cluster.kill(1);
    let second = ExportRequest::Traces(fleet::spans(2, &mut seq, 400));
    publish_retrying(&publisher, &second).await;
    cluster.restart(1);

    let messages = read_all(&cluster).await;
    let mut spans = 0;
    for (subject, request) in &messages {
        let partition: u32 = subject.rsplit('.').next().unwrap().parse().unwrap();
        assert!(subject.starts_with("WEIR.spans."), "{subject}");
        for span in request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            assert_eq!(of_trace(&span.trace_id, PARTITIONS), partition);
            spans += 1;
        }
    }
    assert_eq!(spans, 800, "both exports' spans, each stored once");
}

/// The indexers purge each partition's messages once a split holds them;
/// an exporter's retry of an export whose messages are gone must still be
/// dropped as a duplicate, or it would be indexed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_export_is_dropped_even_after_its_messages_were_purged() {
    let cluster = NatsCluster::start(3);
    let publisher = publisher(&cluster).await;
    let mut seq = 0;
    let export = ExportRequest::Traces(fleet::spans(3, &mut seq, 400));
    let stored = publish_retrying(&publisher, &export).await;
    let mut stream = publisher.jetstream().get_stream("WEIR").await.unwrap();
    for part in &stored {
        stream
            .purge()
            .filter(publisher.subject(SignalKind::Traces, part.partition))
            .sequence(part.sequence + 1)
            .await
            .unwrap();
    }
    assert_eq!(stream.info().await.unwrap().state.messages, 0, "all purged");
    let again = publish_retrying(&publisher, &export).await;
    assert!(
        again.iter().all(|s| s.duplicate),
        "JetStream's duplicate window outlives the purge: {again:?}"
    );
    assert_eq!(stream.info().await.unwrap().state.messages, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_jetstream_quorum_an_export_is_refused_not_acknowledged() {
    let mut cluster = NatsCluster::start(3);
    let publisher = publisher(&cluster).await;
    let mut seq = 0;
    publish_retrying(
        &publisher,
        &ExportRequest::Traces(fleet::spans(1, &mut seq, 40)),
    )
    .await;
    cluster.kill(0);
    cluster.kill(1);
    cluster.kill(2);
    let started = Instant::now();
    let refused = publisher
        .publish(ExportRequest::Traces(fleet::spans(1, &mut seq, 40)))
        .await;
    assert!(
        matches!(refused, Err(PublishError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < BOUND,
        "refused within the ack timeout, not hung"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_without_nats_or_with_too_many_replicas_says_which() {
    let nobody = format!("nats://{}", weir_testkit::free_port());
    let refused =
        Publisher::connect(&[nobody], &settings(), PARTITIONS, Duration::from_secs(3)).await;
    assert!(
        matches!(refused, Err(ConnectError::Connect { .. })),
        "{:?}",
        refused.err()
    );

    // Three replicas on a single server cannot be placed.
    let single = NatsCluster::start(1);
    let deadline = Instant::now() + BOUND;
    let refused = loop {
        match Publisher::connect(
            &single.urls(),
            &settings(),
            PARTITIONS,
            Duration::from_secs(3),
        )
        .await
        {
            Err(ConnectError::Stream { cause, .. }) => break cause,
            other if Instant::now() > deadline => {
                panic!("expected the stream to be refused, got {:?}", other.err())
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert!(!refused.is_empty());
}
