//! OTLP/HTTP receiver: `POST /v1/traces`, `/v1/logs`, `/v1/metrics` with
//! protobuf or JSON bodies, optionally gzip-compressed.

use crate::IngestAuth;
use crate::ingest::{Ingest, IngestError};
use crate::otlp::validate::Rejections;
use crate::otlp::{ExportRequest, SignalKind, response};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use std::io::Read;
use std::sync::Arc;
use tonic::Code;

/// Bodies above this size are decoded on a blocking thread.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct HttpState {
    ingest: Arc<Ingest>,
    auth: IngestAuth,
    max_body_bytes: usize,
}

/// The OTLP/HTTP routes.
pub fn router(ingest: Arc<Ingest>, auth: IngestAuth, max_body_bytes: usize) -> Router {
    let state = HttpState {
        ingest,
        auth,
        max_body_bytes,
    };
    Router::new()
        .route(
            "/v1/traces",
            post(|s, h, b| export(SignalKind::Traces, s, h, b)),
        )
        .route(
            "/v1/logs",
            post(|s, h, b| export(SignalKind::Logs, s, h, b)),
        )
        .route(
            "/v1/metrics",
            post(|s, h, b| export(SignalKind::Metrics, s, h, b)),
        )
        .with_state(state)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

fn format_of(headers: &HeaderMap) -> Option<Format> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct.split(';').next()?.trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Format::Protobuf),
        "application/json" => Some(Format::Json),
        _ => None,
    }
}

fn error(format: Format, status: StatusCode, grpc_code: Code, message: String) -> Response {
    let bytes = crate::status::encode(format == Format::Json, grpc_code, &message);
    (
        status,
        [(header::CONTENT_TYPE, format.content_type())],
        bytes,
    )
        .into_response()
}

async fn export(
    signal: SignalKind,
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut unread = Some(body);
    let response = handle(signal, &state, &headers, &mut unread).await;
    if let Some(body) = unread {
        linger(body);
    }
    response
}

/// How long, and how many bytes of, a refused request's unread body are
/// read and dropped after the answer.
const LINGER_FOR: std::time::Duration = std::time::Duration::from_secs(5);
const LINGER_BYTES: usize = 64 << 20;

/// Reads and drops the rest of a body refused before it was read, as
/// nginx's lingering close does: a client still writing it would otherwise
/// meet a closed socket and report a broken pipe instead of the 413, 429 or
/// 503 (with Retry-After) it was sent. Bounded in time and bytes; nothing is
/// kept.
fn linger(mut body: Body) {
    tokio::spawn(async move {
        let mut read = 0;
        let _ = tokio::time::timeout(LINGER_FOR, async {
            while let Some(Ok(frame)) = body.frame().await {
                read += frame.data_ref().map_or(0, |d| d.len());
                if read > LINGER_BYTES {
                    break;
                }
            }
        })
        .await;
    });
}

async fn handle(
    signal: SignalKind,
    state: &HttpState,
    headers: &HeaderMap,
    unread: &mut Option<Body>,
) -> Response {
    let telemetry = state.ingest.telemetry().clone();
    // Until the content type is known, errors are JSON: readable by anyone.
    let Some(format) = format_of(headers) else {
        telemetry.refused(signal, "unsupported content type");
        return error(
            Format::Json,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::InvalidArgument,
            "unsupported content type: send application/x-protobuf or application/json".into(),
        );
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !state.auth.allows(authorization) {
        telemetry.refused(signal, "unauthenticated");
        return error(
            format,
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            "missing or wrong ingest token: send Authorization: Bearer <token> (one of auth.ingest_tokens)".into(),
        );
    }
    if let Err(e) = state.ingest.check_capacity(signal) {
        return ingest_error(format, e);
    }
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" => true,
        Some(other) => {
            telemetry.refused(signal, "unsupported content encoding");
            return error(
                format,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                format!("unsupported content encoding `{other}`: send gzip or no encoding"),
            );
        }
    };
    let too_large = |what: &str| {
        telemetry.refused(signal, "too large");
        error(
            format,
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::InvalidArgument,
            format!(
                "{what} exceeds the limit of {} bytes: send smaller batches",
                state.max_body_bytes
            ),
        )
    };
    // A declared length over the limit is refused before a byte is read.
    if raw_len_hint(headers).is_some_and(|n| n > state.max_body_bytes) {
        return too_large("request body");
    }
    let body = unread.take().expect("the body is read once");
    let raw = match Limited::new(body, state.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return too_large("request body"),
        Err(e) if is_timeout(e.as_ref()) => {
            telemetry.refused(signal, "body timeout");
            return error(
                format,
                StatusCode::REQUEST_TIMEOUT,
                Code::DeadlineExceeded,
                "the request body stopped arriving: send the whole body without pausing".into(),
            );
        }
        Err(e) => {
            telemetry.refused(signal, "unreadable body");
            return error(
                format,
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                format!("cannot read the request body: {e}"),
            );
        }
    };
    let limit = state.max_body_bytes;
    // Protobuf bodies are kept as sent (decompressed) for the write-ahead
    // log; JSON is transcoded once, when the log encodes it.
    let decode = move || -> Result<(ExportRequest, Option<Bytes>), DecodeFailure> {
        let bytes: Bytes = if gzip {
            // The limit applies after decompression too: a small zip bomb is refused.
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| DecodeFailure::Malformed(format!("body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(DecodeFailure::TooLarge);
            }
            Bytes::from(out)
        } else {
            raw
        };
        match format {
            Format::Protobuf => ExportRequest::decode_protobuf(signal, &bytes)
                .map(|request| (request, Some(bytes)))
                .map_err(|e| {
                    DecodeFailure::Malformed(format!(
                        "body is not a valid OTLP protobuf export request: {e}"
                    ))
                }),
            Format::Json => ExportRequest::decode_json(signal, &bytes)
                .map(|request| (request, None))
                .map_err(|e| {
                    DecodeFailure::Malformed(format!(
                        "body is not a valid OTLP/JSON export request: {e}"
                    ))
                }),
        }
    };
    let decoded = if raw_len_hint(headers).is_none_or(|n| n > INLINE_DECODE_BYTES) || gzip {
        tokio::task::spawn_blocking(decode)
            .await
            .unwrap_or_else(|e| Err(DecodeFailure::Malformed(e.to_string())))
    } else {
        decode()
    };
    let (request, as_sent) = match decoded {
        Ok(r) => r,
        Err(DecodeFailure::TooLarge) => return too_large("decompressed request body"),
        Err(DecodeFailure::Malformed(message)) => {
            telemetry.refused(signal, "malformed");
            return error(
                format,
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                message,
            );
        }
    };
    let exported = match as_sent {
        Some(bytes) => state.ingest.export_as_sent(request, bytes).await,
        None => state.ingest.export(request).await,
    };
    match exported {
        Ok(rejections) => success(signal, format, &rejections),
        Err(e) => ingest_error(format, e),
    }
}

fn ingest_error(format: Format, e: IngestError) -> Response {
    let (status, grpc_code, retry) = match &e {
        IngestError::Overloaded(retry) | IngestError::IndexingBehind { retry, .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            Code::ResourceExhausted,
            *retry,
        ),
        IngestError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Unavailable,
            std::time::Duration::from_secs(1),
        ),
    };
    let mut r = error(format, status, grpc_code, e.to_string());
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry.as_secs().max(1)),
    );
    r
}

fn raw_len_hint(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Whether a body error is the listener's body read timeout.
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        // tower-http's body timeout, whose error type this crate does not see.
        if c.to_string().contains("designated timeout") {
            return true;
        }
        cause = c.source();
    }
    false
}

enum DecodeFailure {
    TooLarge,
    Malformed(String),
}

fn success(signal: SignalKind, format: Format, rejections: &Rejections) -> Response {
    let body = match format {
        // OTLP: on full success partial_success must be unset. The proto crate's
        // JSON encoder would write `"partialSuccess": null`, so JSON is built here.
        Format::Json => {
            let value = match response::partial(signal, rejections) {
                None => serde_json::json!({}),
                Some((rejected, message)) => {
                    let field = match signal {
                        SignalKind::Traces => "rejectedSpans",
                        SignalKind::Logs => "rejectedLogRecords",
                        SignalKind::Metrics => "rejectedDataPoints",
                    };
                    serde_json::json!({"partialSuccess": {field: rejected.to_string(), "errorMessage": message}})
                }
            };
            serde_json::to_vec(&value).expect("json serializes")
        }
        Format::Protobuf => match signal {
            SignalKind::Traces => response::traces(rejections).encode_to_vec(),
            SignalKind::Logs => response::logs(rejections).encode_to_vec(),
            SignalKind::Metrics => response::metrics(rejections).encode_to_vec(),
        },
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}
