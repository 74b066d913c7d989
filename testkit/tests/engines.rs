//! The engines cluster mode runs on, started as the tests start them and
//! driven by the clients weir uses (async-nats, object_store): what these
//! tests hold, cluster mode's tests build on.

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use weir_testkit::{NatsCluster, SeaweedFs};

/// Generous bound for an engine to come round (leader election, restart).
const BOUND: Duration = Duration::from_secs(60);

async fn until_ok<T, E: std::fmt::Debug, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + BOUND;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(e) if Instant::now() > deadline => panic!("{what}: still failing: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Publishes message `n` until JetStream acknowledges it; the message id
/// makes a retry after a lost acknowledgement a duplicate JetStream drops.
async fn publish_acknowledged(js: &jetstream::Context, n: u32) {
    until_ok("publish", || async {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", n.to_string().as_str());
        js.publish_with_headers("weir.smoke.spans", headers, n.to_string().into())
            .await?
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_keeps_every_acknowledged_message_when_a_node_dies() {
    let mut cluster = NatsCluster::start(3);
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(cluster.urls())
        .await
        .expect("the cluster accepts clients");
    let js = jetstream::new(client);
    let spans = until_ok("create a replicated stream", || {
        js.get_or_create_stream(stream::Config {
            name: "SMOKE".into(),
            subjects: vec!["weir.smoke.>".into()],
            num_replicas: 3,
            ..Default::default()
        })
    })
    .await;
    for n in 0..200 {
        publish_acknowledged(&js, n).await;
    }
    // One node crashes; the other two still form a quorum of three.
    cluster.kill(0);
    for n in 200..400 {
        publish_acknowledged(&js, n).await;
    }
    cluster.restart(0);

    // The restarted node may still be catching up: retried until it settles.
    let consumer = until_ok("create a consumer", || {
        spans.get_or_create_consumer(
            "reader",
            consumer::pull::Config {
                durable_name: Some("reader".into()),
                ..Default::default()
            },
        )
    })
    .await;
    let mut seen = BTreeSet::new();
    let mut received = 0;
    let deadline = Instant::now() + BOUND;
    while seen.len() < 400 && Instant::now() < deadline {
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .expect("a fetch can be made");
        while let Some(message) = batch.next().await {
            let message = message.expect("a message arrives whole");
            let n: u32 = std::str::from_utf8(&message.payload)
                .unwrap()
                .parse()
                .unwrap();
            seen.insert(n);
            received += 1;
            message.ack().await.expect("an ack is sent");
        }
    }
    assert_eq!(
        seen,
        (0..400).collect::<BTreeSet<_>>(),
        "every acknowledged message is kept"
    );
    assert_eq!(received, 400, "and each is kept once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seaweedfs_keeps_objects_across_a_crash_of_its_server() {
    let mut server = SeaweedFs::start("weir-splits");
    let (endpoint, bucket) = (server.endpoint(), server.bucket().to_string());
    let store = || {
        AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_bucket_name(&bucket)
            .with_region("us-east-1")
            .with_access_key_id("weir")
            .with_secret_access_key("weir")
            .with_allow_http(true)
            .build()
            .expect("an S3 client can be made")
    };
    let s3 = store();
    for i in 0..3 {
        let payload = PutPayload::from(vec![i as u8; 100_000]);
        let path = Path::from(format!("spans/split-{i}"));
        until_ok("put", || s3.put(&path, payload.clone())).await;
    }
    let listed = s3
        .list(Some(&Path::from("spans")))
        .map(|meta| meta.expect("a listing entry").location.to_string())
        .collect::<BTreeSet<_>>()
        .await;
    assert_eq!(
        listed,
        (0..3)
            .map(|i| format!("spans/split-{i}"))
            .collect::<BTreeSet<_>>()
    );

    server.restart();
    let s3 = store();
    let back = until_ok("get after the restart", || async {
        s3.get(&Path::from("spans/split-1")).await?.bytes().await
    })
    .await;
    assert_eq!(back.as_ref(), &vec![1u8; 100_000][..]);
    s3.delete(&Path::from("spans/split-0")).await.unwrap();
    let left = s3
        .list(Some(&Path::from("spans")))
        .map(|meta| meta.unwrap().location.to_string())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(left.len(), 2);
}
