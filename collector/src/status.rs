//! `google.rpc.Status`, the error body OTLP/HTTP returns, in protobuf or JSON.

use serde::Serialize;

/// gRPC status codes used in error bodies.
pub mod code {
    /// The request is malformed.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// The server cannot take data now; retry.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// `DEADLINE_EXCEEDED`.
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// Try again later.
    pub const UNAVAILABLE: i32 = 14;
    /// No or wrong credentials.
    pub const UNAUTHENTICATED: i32 = 16;
}

/// `google.rpc.Status` without details.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What was wrong, for the developer.
    #[prost(string, tag = "2")]
    pub message: String,
}
