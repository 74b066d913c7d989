//! Exports into JetStream: one message per partition the export touches, on
//! subject `<stream>.<signal>.<partition>`, acknowledged when every message
//! is (stored on the stream's replicas).
//!
//! An export of spans that link into other partitions also stores a link
//! stub in each of them (collector's `otlp::link_stubs`), on the same
//! subject, marked by the [`LINK_STUBS`] header, acknowledged with the rest.
//!
//! Each message's id is a hash of its partition and bytes. A client that
//! retries an export after a 503 (some parts stored, some not) sends the same
//! parts again, and JetStream's duplicate window drops the ones it already
//! holds: a retry never indexes a record twice. Two different exports never
//! share an id; the same records sent twice within the window are the same
//! records.
//!
//! Spans are cut from the protobuf the client sent (collector's
//! `otlp::wire_split`), so a retry of the same bytes makes the same parts.
//! The ids of parts encoded again (an export sent as JSON, or one that
//! validation trimmed) follow prost's encoding instead: the same records
//! retried once as protobuf and once as JSON, or across a weir upgrade
//! that changed the split, are not recognised as the same.

use crate::backlog::IndexingBacklog;
use async_nats::jetstream::context::CreateStreamErrorKind;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use bytes::Bytes;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;
use weir_collector::otlp::link_stubs::link_stubs;
use weir_collector::otlp::partition::{self, Partition};
use weir_collector::otlp::wire_split;
use weir_collector::otlp::{ExportRequest, SignalKind};
use xxhash_rust::xxh3::xxh3_128;

/// The header that marks a message of link stubs: counted for topology by
/// the partition's owner, never indexed.
pub const LINK_STUBS: &str = "Weir-Link-Stubs";

/// The header that says a message's payload is zstd-compressed protobuf.
/// JetStream's cost (bytes written, replicated, kept) follows a message's
/// size, and protobuf spans compress several times over. A message without
/// it (written by an older weir) is plain protobuf.
pub const ENCODING: &str = "Weir-Encoding";

/// zstd's fastest level: most of the ratio for a fraction of the time.
const ZSTD_LEVEL: i32 = 1;

/// The largest protobuf a message may decompress to: far above any export
/// weir accepts, so only a damaged size field reaches it.
const MAX_DECOMPRESSED: usize = 256 << 20;

thread_local! {
    // One zstd context per (blocking) thread, reused: a context made per
    // message allocates, and the kernel zeroes, hundreds of kilobytes of
    // tables and buffers each time.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// `payload` compressed with this thread's context.
fn compress(payload: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with_borrow_mut(|context| {
        let compressor = match context {
            Some(c) => c,
            None => context.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        compressor.compress(payload)
    })
}

/// A zstd frame decompressed with this thread's context; a frame that does
/// not record its size (never written by weir) is streamed instead.
fn decompress(frame: &[u8]) -> std::io::Result<Vec<u8>> {
    if zstd::bulk::Decompressor::upper_bound(frame).is_none() {
        return zstd::stream::decode_all(frame);
    }
    DECOMPRESSOR.with_borrow_mut(|context| {
        let decompressor = match context {
            Some(d) => d,
            None => context.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(frame, MAX_DECOMPRESSED)
    })
}

/// The protobuf of a message as published, whichever encoding it has.
pub fn payload_of(message: &async_nats::Message) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
    let zstd = message
        .headers
        .as_ref()
        .and_then(|h| h.get(ENCODING))
        .is_some_and(|v| v.as_str() == "zstd");
    Ok(if zstd {
        std::borrow::Cow::Owned(decompress(message.payload.as_ref())?)
    } else {
        std::borrow::Cow::Borrowed(message.payload.as_ref())
    })
}

/// One message ready to publish.
struct Outgoing {
    partition: Partition,
    id: String,
    link_stubs: bool,
    compressed: Vec<u8>,
}

/// Splits, encodes and compresses an export: CPU work for a blocking thread.
/// Spans are cut from `sent`, the client's own protobuf, when there is one.
fn prepare(
    request: ExportRequest,
    sent: Option<Bytes>,
    partitions: u32,
) -> std::io::Result<Vec<Outgoing>> {
    let stubs = match &request {
        ExportRequest::Traces(r) => link_stubs(r, partitions),
        _ => Vec::new(),
    };
    let parts = match (&request, sent) {
        (ExportRequest::Traces(_), Some(sent)) => match wire_split::split_traces(&sent, partitions)
        {
            Ok(parts) => parts,
            // The receiver decoded these bytes, so this cannot happen; the
            // decoded export is still there to split the slower way.
            Err(e) => {
                tracing::warn!(error = %e, "splitting the export as sent failed; encoding it again");
                encoded_parts(request, partitions)
            }
        },
        _ => encoded_parts(request, partitions),
    };
    parts
        .into_iter()
        .map(|(p, payload)| (p, payload, false))
        .chain(
            stubs
                .into_iter()
                .map(|(p, r)| (p, ExportRequest::Traces(r).encode(), true)),
        )
        .map(|(partition, payload, link_stubs)| {
            Ok(Outgoing {
                partition,
                // Of the protobuf, so a retried export has the same ids
                // whatever the compressor does.
                id: message_id(partition, link_stubs, &payload),
                link_stubs,
                compressed: compress(&payload)?,
            })
        })
        .collect()
}

/// The export split by partition from its decoded form, each part encoded.
fn encoded_parts(request: ExportRequest, partitions: u32) -> Vec<(Partition, Vec<u8>)> {
    partition::split(request, partitions)
        .into_iter()
        .map(|(p, part)| (p, part.encode()))
        .collect()
}

/// How long a node waits at start for JetStream to elect a leader.
const STREAM_SETUP_BOUND: Duration = Duration::from_secs(30);

/// The stream that holds every partition's records.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Stream name; subjects are `<name>.<signal>.<partition>`.
    pub name: String,
    /// Copies JetStream keeps of each message (1, 3 or 5).
    pub replicas: usize,
    /// How long a message is kept, indexed or not.
    pub max_age: Duration,
    /// Bytes the stream may hold. At the limit new publishes are refused
    /// (never old messages dropped), so nothing acknowledged is lost for space.
    pub max_bytes: i64,
}

/// What went wrong publishing.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// JetStream did not store every part: the export must not be
    /// acknowledged; the client should retry after a while.
    #[error("the event log (NATS JetStream) did not store the export: {0}; retry later")]
    Unavailable(String),
}

/// Could not reach JetStream or set up the stream at start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No server answered.
    #[error(
        "cannot connect to NATS at {urls}: {cause} (check cluster.nats_urls and that the servers run with -js)"
    )]
    Connect {
        /// The URLs tried.
        urls: String,
        /// Why.
        cause: String,
    },
    /// The stream could not be made or read.
    #[error(
        "cannot set up JetStream stream {stream}: {cause} (check cluster.stream; replicas cannot exceed the NATS cluster's size)"
    )]
    Stream {
        /// The stream.
        stream: String,
        /// Why.
        cause: String,
    },
}

/// Where one part of an export was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its partition.
    pub partition: Partition,
    /// Its sequence in the stream.
    pub sequence: u64,
    /// Whether JetStream already held it (a retried export).
    pub duplicate: bool,
}

/// Publishes exports for one node.
pub struct Publisher {
    jetstream: jetstream::Context,
    stream: String,
    partitions: u32,
    /// When set, exports of a signal whose indexing lags are refused.
    backlog: Option<Arc<IndexingBacklog>>,
}

impl Publisher {
    /// Connects to the NATS servers and makes (or checks) the stream.
    pub async fn connect(
        urls: &[String],
        settings: &StreamSettings,
        partitions: u32,
        ack_timeout: Duration,
    ) -> Result<Publisher, ConnectError> {
        let client = async_nats::ConnectOptions::new()
            .request_timeout(Some(ack_timeout))
            .connect(urls)
            .await
            .map_err(|e| ConnectError::Connect {
                urls: urls.join(","),
                cause: e.to_string(),
            })?;
        let jetstream = jetstream::new(client);
        let config = stream::Config {
            name: settings.name.clone(),
            subjects: vec![format!("{}.>", settings.name)],
            num_replicas: settings.replicas,
            max_age: settings.max_age,
            max_bytes: settings.max_bytes,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        };
        // A NATS cluster that just started has no JetStream leader for a
        // moment, and weir may start beside it: wait for one, for a while.
        // A refusal (replicas beyond the cluster's size, a bad name) is
        // reported at once.
        let deadline = tokio::time::Instant::now() + STREAM_SETUP_BOUND;
        loop {
            match jetstream.get_or_create_stream(config.clone()).await {
                Ok(_) => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        CreateStreamErrorKind::TimedOut
                            | CreateStreamErrorKind::JetStreamUnavailable
                    ) && tokio::time::Instant::now() < deadline =>
                {
                    tracing::info!(error = %e, "JetStream is not ready yet; waiting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(ConnectError::Stream {
                        stream: settings.name.clone(),
                        cause: e.to_string(),
                    });
                }
            }
        }
        Ok(Publisher {
            jetstream,
            stream: settings.name.clone(),
            partitions,
            backlog: None,
        })
    }

    /// Refuses exports while `backlog` says their signal's indexing lags.
    pub fn refusing_behind(mut self, backlog: Arc<IndexingBacklog>) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// Whether the connection to NATS is up.
    pub fn connected(&self) -> bool {
        self.jetstream.client().connection_state() == async_nats::connection::State::Connected
    }

    /// The JetStream context, for the node's consumers.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The subject of a signal's partition.
    pub fn subject(&self, signal: SignalKind, partition: Partition) -> String {
        format!("{}.{}.{partition}", self.stream, signal.as_str())
    }

    /// Publishes a validated export; returns once every part is stored.
    pub async fn publish(&self, request: ExportRequest) -> Result<Vec<Stored>, PublishError> {
        self.publish_as_sent(request, None).await
    }

    /// [`Publisher::publish`] of an export decoded from `sent`, the
    /// client's protobuf, all of which validation kept.
    pub async fn publish_as_sent(
        &self,
        request: ExportRequest,
        sent: Option<Bytes>,
    ) -> Result<Vec<Stored>, PublishError> {
        let signal = request.signal();
        let partitions = self.partitions;
        let parts = tokio::task::spawn_blocking(move || prepare(request, sent, partitions))
            .await
            .map_err(|e| PublishError::Unavailable(format!("preparing the export stopped: {e}")))?
            .map_err(|e| PublishError::Unavailable(format!("cannot compress the export: {e}")))?;
        let mut pending = Vec::new();
        for part in parts {
            let mut message = PublishMessage::build()
                .message_id(part.id)
                .header(ENCODING, "zstd");
            if part.link_stubs {
                message = message.header(LINK_STUBS, "1");
            }
            let ack = self
                .jetstream
                .send_publish(
                    self.subject(signal, part.partition),
                    message.payload(part.compressed.into()),
                )
                .await
                .map_err(|e| PublishError::Unavailable(e.to_string()))?;
            pending.push((part.partition, ack));
        }
        // Every part is in flight before the first acknowledgement is awaited.
        let acks = futures::future::join_all(pending.into_iter().map(|(p, ack)| async move {
            ack.await.map(|a| Stored {
                partition: p,
                sequence: a.sequence,
                duplicate: a.duplicate,
            })
        }))
        .await;
        acks.into_iter()
            .map(|a| a.map_err(|e| PublishError::Unavailable(e.to_string())))
            .collect()
    }
}

impl weir_collector::replicated::ReplicatedLog for Publisher {
    fn store(
        &self,
        request: ExportRequest,
        sent: Option<Bytes>,
    ) -> weir_collector::replicated::Stored<'_> {
        Box::pin(async move {
            self.publish_as_sent(request, sent)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn refusal(&self, signal: SignalKind) -> Option<String> {
        self.backlog.as_ref()?.refusal(signal)
    }
}

/// A part's message id: its partition, a mark for link stubs, and a
/// 128-bit hash of its bytes.
fn message_id(partition: Partition, stubs: bool, payload: &[u8]) -> String {
    let mark = if stubs { "l-" } else { "" };
    format!("{partition}-{mark}{:032x}", xxh3_128(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_depend_on_partition_and_bytes_only() {
        assert_eq!(message_id(3, false, b"abc"), message_id(3, false, b"abc"));
        assert_ne!(message_id(3, false, b"abc"), message_id(4, false, b"abc"));
        assert_ne!(message_id(3, false, b"abc"), message_id(3, false, b"abd"));
        assert_ne!(message_id(3, false, b"abc"), message_id(3, true, b"abc"));
        assert_eq!(message_id(0, false, b"").len(), 2 + 32);
    }

    fn message(payload: Vec<u8>, headers: &[(&'static str, &str)]) -> async_nats::Message {
        let mut map = async_nats::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, *v);
        }
        async_nats::Message {
            subject: "WEIR.traces.0".into(),
            reply: None,
            length: payload.len(),
            payload: payload.into(),
            headers: (!headers.is_empty()).then_some(map),
            status: None,
            description: None,
        }
    }

    #[test]
    fn parts_are_compressed_and_read_back_as_their_protobuf() {
        use weir_collector::fixtures::fleet;
        let mut seq = 0;
        let request = ExportRequest::Traces(fleet::spans(1, &mut seq, 400));
        let whole = request.encoded_len();
        let parts = prepare(request.clone(), None, 4).unwrap();
        let again = prepare(request, None, 4).unwrap();
        assert_eq!(
            parts.iter().map(|p| &p.id).collect::<Vec<_>>(),
            again.iter().map(|p| &p.id).collect::<Vec<_>>(),
            "a retried export has the same message ids"
        );
        let compressed: usize = parts.iter().map(|p| p.compressed.len()).sum();
        assert!(compressed * 3 < whole, "{compressed} bytes for {whole}");
        let mut spans = 0;
        for part in parts {
            let m = message(part.compressed, &[(ENCODING, "zstd")]);
            let payload = payload_of(&m).unwrap();
            match ExportRequest::decode_protobuf(SignalKind::Traces, &payload).unwrap() {
                ExportRequest::Traces(r) => {
                    spans += r
                        .resource_spans
                        .iter()
                        .flat_map(|rs| &rs.scope_spans)
                        .map(|ss| ss.spans.len())
                        .sum::<usize>()
                }
                _ => unreachable!("traces stay traces"),
            }
        }
        assert_eq!(spans, 400);
    }

    fn decoded_parts(
        parts: Vec<Outgoing>,
    ) -> Vec<(
        Partition,
        bool,
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    )> {
        parts
            .into_iter()
            .map(|part| {
                let m = message(part.compressed, &[(ENCODING, "zstd")]);
                let payload = payload_of(&m).unwrap();
                match ExportRequest::decode_protobuf(SignalKind::Traces, &payload).unwrap() {
                    ExportRequest::Traces(r) => (part.partition, part.link_stubs, r),
                    _ => unreachable!("traces stay traces"),
                }
            })
            .collect()
    }

    #[test]
    fn parts_cut_from_the_senders_bytes_hold_what_encoded_parts_hold() {
        use weir_collector::fixtures::fleet;
        let mut seq = 0;
        let request = ExportRequest::Traces(fleet::spans(3, &mut seq, 300));
        let sent = Bytes::from(request.encode());
        let cut = prepare(request.clone(), Some(sent.clone()), 16).unwrap();
        let ids: Vec<_> = cut.iter().map(|p| p.id.clone()).collect();
        let again: Vec<_> = prepare(request.clone(), Some(sent), 16)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, again, "a retry of the same bytes has the same ids");
        let encoded = prepare(request, None, 16).unwrap();
        assert!(cut.len() > 1, "spread over partitions");
        assert_eq!(decoded_parts(cut), decoded_parts(encoded));
    }

    #[test]
    fn bytes_that_do_not_split_fall_back_to_the_decoded_export() {
        use weir_collector::fixtures::fleet;
        let mut seq = 0;
        let request = ExportRequest::Traces(fleet::spans(1, &mut seq, 50));
        let damaged = Bytes::from_static(&[0x0a, 0x7f, 0x01]);
        let parts = prepare(request.clone(), Some(damaged), 4).unwrap();
        let encoded = prepare(request, None, 4).unwrap();
        assert_eq!(decoded_parts(parts), decoded_parts(encoded));
    }

    #[test]
    fn frames_read_back_with_a_reused_context_or_streamed() {
        let data = b"spans ".repeat(1000);
        assert_eq!(decompress(&compress(&data).unwrap()).unwrap(), data);
        let streamed = zstd::stream::encode_all(&data[..], 1).unwrap();
        assert_eq!(decompress(&streamed).unwrap(), data);
        // The context is reused: a second frame on the same thread reads.
        assert_eq!(decompress(&compress(b"x").unwrap()).unwrap(), b"x");
    }

    #[test]
    fn a_message_without_the_encoding_header_is_plain_protobuf() {
        let m = message(b"plain".to_vec(), &[]);
        assert!(matches!(
            payload_of(&m).unwrap(),
            std::borrow::Cow::Borrowed(b"plain")
        ));
        let damaged = message(b"not zstd".to_vec(), &[(ENCODING, "zstd")]);
        assert!(
            payload_of(&damaged).is_err(),
            "a damaged entry is an error, not a panic"
        );
    }
}
