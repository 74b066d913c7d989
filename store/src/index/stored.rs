//! How a record is kept in the doc store: MessagePack (named fields, ids as
//! raw bytes), about half the size of JSON and several times cheaper to
//! write, which is most of what storing a document costs. Records written
//! by older versions are JSON; a JSON object starts with `{`, which no
//! MessagePack map does, so both read back.

use crate::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a record into `scratch` (cleared first) and returns the bytes:
/// a buffer kept across records grows once, where a new one per record
/// would be reallocated and copied several times on the way to ~1 KB.
pub fn encode_into<'b, T: Serialize>(record: &T, scratch: &'b mut Vec<u8>) -> &'b [u8] {
    scratch.clear();
    rmp_serde::encode::write_named(scratch, record).expect("records always serialize");
    scratch
}

/// A record from its stored bytes, MessagePack or (older) JSON.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    if bytes.first() == Some(&b'{') {
        serde_json::from_slice(bytes).map_err(|e| StoreError::CorruptRecord(e.to_string()))
    } else {
        rmp_serde::from_slice(bytes).map_err(|e| StoreError::CorruptRecord(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::fixtures::{attributes, log_record, span};
    use weir_core::{AttrValue, Span, SpanEvent, SpanId, SpanLink, TraceId};

    fn every_value() -> weir_core::Attributes {
        attributes(&[
            ("empty", AttrValue::Empty),
            ("yes", AttrValue::Bool(true)),
            ("n", AttrValue::Int(-7)),
            ("whole", AttrValue::Double(1.0)),
            ("x", AttrValue::Double(0.25)),
            ("s", AttrValue::Str("order-4711".into())),
            (
                "list",
                AttrValue::Array(vec![AttrValue::Int(1), AttrValue::Str("b".into())]),
            ),
            (
                "map",
                AttrValue::Map(attributes(&[("inner", AttrValue::Bool(false))])),
            ),
        ])
    }

    #[test]
    fn spans_and_logs_round_trip_with_every_attribute_kind() {
        let mut s = span(TraceId([7; 16]), 3, Some(2), "orders", "poll");
        s.attributes = every_value();
        s.resource = std::sync::Arc::new(every_value());
        s.status_message = "boom".into();
        s.events = vec![SpanEvent {
            time_unix_nano: 5,
            name: "exception".into(),
            attributes: every_value(),
        }];
        s.links = vec![SpanLink {
            trace_id: TraceId([9; 16]),
            span_id: SpanId([4; 8]),
            attributes: every_value(),
        }];
        let mut scratch = b"left over from another record".to_vec();
        let bytes = encode_into(&s, &mut scratch).to_vec();
        assert_eq!(bytes, rmp_serde::to_vec_named(&s).unwrap());
        assert_ne!(bytes[0], b'{');
        assert_eq!(decode::<Span>(&bytes).unwrap(), s);
        assert!(bytes.len() < serde_json::to_vec(&s).unwrap().len());

        let mut log = log_record("orders", 9, "declined");
        log.trace_id = Some(TraceId([7; 16]));
        log.span_id = Some(SpanId([3; 8]));
        log.attributes = every_value();
        assert_eq!(
            decode::<weir_core::LogRecord>(encode_into(&log, &mut scratch)).unwrap(),
            log
        );
    }

    #[test]
    fn records_stored_as_json_by_older_versions_still_read() {
        let s = span(TraceId([7; 16]), 3, None, "orders", "poll");
        let json = serde_json::to_vec(&s).unwrap();
        assert_eq!(decode::<Span>(&json).unwrap(), s);
        assert!(matches!(
            decode::<Span>(b"\xc1 not a record"),
            Err(StoreError::CorruptRecord(_))
        ));
    }
}
