//! `google.rpc.Status`, the error body OTLP/HTTP returns, in protobuf or JSON.

use prost::Message;
use serde::Serialize;
use tonic::Code;

/// The JSON form: proto3's JSON mapping of `google.rpc.Status` without
/// details. tonic-types' message has no serde, so this one shape is ours.
#[derive(Serialize)]
struct JsonStatus<'a> {
    code: i32,
    message: &'a str,
}

/// The body of an OTLP/HTTP error response.
pub(crate) fn encode(json: bool, code: Code, message: &str) -> Vec<u8> {
    if json {
        serde_json::to_vec(&JsonStatus {
            code: code as i32,
            message,
        })
        .expect("a status serializes")
    } else {
        tonic_types::pb::Status {
            code: code as i32,
            message: message.to_string(),
            details: Vec::new(),
        }
        .encode_to_vec()
    }
}
