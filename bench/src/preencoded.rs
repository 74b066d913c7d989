//! Exports encoded before the clock starts, sent as bytes: the load
//! generator shares weir's two cores, and encoding 1,000-span requests on
//! the fly took ~40 % of a core away from weir. Real fleets encode on their
//! own machines; here the generator only writes bytes to a socket.

use anyhow::Result;
use bytes::{Buf, BufMut, Bytes};
use std::collections::HashMap;
use std::sync::Arc;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

/// Every request body of one phase, by (client, first record's sequence number).
pub struct Exports(HashMap<(u64, u64), Bytes>);

impl Exports {
    /// Encodes the requests [`crate::drive`] will send for `total` records:
    /// `concurrency` clients, `batch` records per request.
    pub fn build(
        total: u64,
        concurrency: usize,
        batch: usize,
        encode: impl Fn(u64, u64, usize) -> Result<Vec<u8>>,
    ) -> Result<Arc<Self>> {
        let per_client = total / concurrency as u64;
        let mut bodies = HashMap::new();
        for c in 0..concurrency as u64 {
            let mut seq = 0;
            while seq < per_client {
                let n = batch.min((per_client - seq) as usize);
                bodies.insert((c, seq), Bytes::from(encode(c, seq, n)?));
                seq += n as u64;
            }
        }
        Ok(Arc::new(Exports(bodies)))
    }

    /// The body client `c` sends for the records from `seq`.
    pub fn body(&self, c: u64, seq: u64) -> Bytes {
        self.0[&(c, seq)].clone()
    }
}

/// A gRPC client of one OTLP `Export` method that sends encoded bodies.
#[derive(Clone)]
pub struct RawExporter {
    grpc: tonic::client::Grpc<Channel>,
    path: PathAndQuery,
}

impl RawExporter {
    /// Connects to `endpoint` for the method at `path`
    /// (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`).
    pub async fn connect(endpoint: &str, path: &'static str) -> Result<Self> {
        let channel = Channel::from_shared(endpoint.to_string())?
            .connect()
            .await?;
        Ok(RawExporter {
            grpc: tonic::client::Grpc::new(channel).max_encoding_message_size(64 << 20),
            path: PathAndQuery::from_static(path),
        })
    }

    /// Sends one body until weir accepts it, pausing 100 ms after each
    /// refusal (UNAVAILABLE), as OTel exporters retry.
    pub async fn export_retrying(&mut self, body: Bytes) -> Result<()> {
        loop {
            match self.export(body.clone()).await {
                Ok(()) => return Ok(()),
                Err(s) if s.code() == tonic::Code::Unavailable => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                Err(s) => anyhow::bail!("export failed: {s}"),
            }
        }
    }

    /// Sends one body; the response is read and dropped.
    pub async fn export(&mut self, body: Bytes) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        self.grpc
            .unary(tonic::Request::new(body), self.path.clone(), BytesCodec)
            .await
            .map(|_| ())
    }
}

/// Writes bodies as they are; reads responses without decoding them.
struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}
