//! A gRPC codec that keeps the bytes an export arrived in beside the decoded
//! message, so the write-ahead log can store them as sent instead of
//! encoding the message again (tonic's prost codec hands over only the
//! decoded message).

use bytes::{Buf, Bytes};
use std::marker::PhantomData;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

/// A decoded request and the (decompressed) protobuf bytes it came from.
pub struct Arrived<T> {
    /// The message.
    pub message: T,
    /// Its bytes as the client sent them.
    pub bytes: Bytes,
}

/// Encodes responses with prost, decodes requests into [`Arrived`].
pub struct ArrivedCodec<Request, Response>(PhantomData<fn() -> (Request, Response)>);

impl<Request, Response> Default for ArrivedCodec<Request, Response> {
    fn default() -> Self {
        ArrivedCodec(PhantomData)
    }
}

impl<Request, Response> Codec for ArrivedCodec<Request, Response>
where
    Request: prost::Message + Default + Send + 'static,
    Response: prost::Message + Send + 'static,
{
    type Encode = Response;
    type Decode = Arrived<Request>;
    type Encoder = ProstEncoder<Response>;
    type Decoder = ArrivedDecoder<Request>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ArrivedDecoder(PhantomData)
    }
}

/// The decoding half of [`ArrivedCodec`].
pub struct ArrivedDecoder<Request>(PhantomData<fn() -> Request>);

impl<Request: prost::Message + Default> Decoder for ArrivedDecoder<Request> {
    type Item = Arrived<Request>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        // One gRPC message is one contiguous buffer here: taking it is a
        // reference-count increment, not a copy.
        let bytes = buf.copy_to_bytes(buf.remaining());
        let message = Request::decode(bytes.clone()).map_err(|e| {
            Status::invalid_argument(format!(
                "failed to decode Protobuf message: {e}; send a valid OTLP export"
            ))
        })?;
        Ok(Some(Arrived { message, bytes }))
    }
}
