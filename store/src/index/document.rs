//! Turning spans and log records into tantivy documents and back.

use super::schema::Fields;
use std::collections::BTreeMap;
use tantivy::TantivyDocument;
use tantivy::schema::OwnedValue;
use weir_core::{AttrValue, Attributes, LogRecord, Span};

/// The indexed document of a span.
pub fn span_document(fields: &Fields, span: &Span) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(fields.trace_id, span.trace_id.to_hex());
    doc.add_text(fields.span_id, span.span_id.to_hex());
    if let Some(parent) = span.parent_span_id {
        doc.add_text(fields.parent_span_id, parent.to_hex());
    }
    doc.add_text(fields.service, &span.service);
    doc.add_text(fields.name, &span.name);
    doc.add_text(fields.kind, span.kind.as_str());
    doc.add_text(fields.status, span.status.as_str());
    if !span.status_message.is_empty() {
        doc.add_text(fields.body, &span.status_message);
    }
    doc.add_u64(fields.start_time, span.start_time_unix_nano);
    doc.add_f64(fields.duration_ms, span.duration_ms());
    add_attributes(&mut doc, fields, &span.attributes, &span.resource);
    for event in &span.events {
        add_keys(&mut doc, fields, &event.attributes);
    }
    doc.add_bytes(
        fields.doc,
        &serde_json::to_vec(span).expect("spans always serialize"),
    );
    doc
}

/// The indexed document of a log record.
pub fn log_document(fields: &Fields, log: &LogRecord) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    if let Some(trace_id) = log.trace_id {
        doc.add_text(fields.trace_id, trace_id.to_hex());
    }
    if let Some(span_id) = log.span_id {
        doc.add_text(fields.span_id, span_id.to_hex());
    }
    doc.add_text(fields.service, &log.service);
    if !log.event_name.is_empty() {
        doc.add_text(fields.name, &log.event_name);
    }
    doc.add_text(fields.severity, log.severity.as_str());
    doc.add_text(fields.body, log.body.to_text());
    doc.add_u64(fields.start_time, log.time_unix_nano);
    add_attributes(&mut doc, fields, &log.attributes, &log.resource);
    if let Some(body) = log.body.as_str() {
        // A body that is exactly an id (a record key) is a correlation key too.
        if !body.contains(' ') && body.len() <= 128 {
            doc.add_text(fields.key, body);
        }
    }
    doc.add_bytes(
        fields.doc,
        &serde_json::to_vec(log).expect("log records always serialize"),
    );
    doc
}

fn add_attributes(
    doc: &mut TantivyDocument,
    fields: &Fields,
    attrs: &Attributes,
    resource: &Attributes,
) {
    if !attrs.is_empty() {
        doc.add_object(fields.attributes, to_object(attrs));
    }
    if !resource.is_empty() {
        doc.add_object(fields.resource, to_object(resource));
    }
    add_keys(doc, fields, attrs);
}

fn add_keys(doc: &mut TantivyDocument, fields: &Fields, attrs: &Attributes) {
    for value in attrs.string_values() {
        doc.add_text(fields.key, value);
    }
}

fn to_object(attrs: &Attributes) -> BTreeMap<String, OwnedValue> {
    attrs
        .iter()
        .map(|(k, v)| (k.to_string(), to_owned_value(v)))
        .collect()
}

fn to_owned_value(value: &AttrValue) -> OwnedValue {
    match value {
        AttrValue::Empty => OwnedValue::Null,
        AttrValue::Bool(b) => OwnedValue::Bool(*b),
        AttrValue::Int(i) => OwnedValue::I64(*i),
        AttrValue::Double(d) => OwnedValue::F64(*d),
        AttrValue::Str(s) => OwnedValue::Str(s.clone()),
        AttrValue::Array(items) => OwnedValue::Array(items.iter().map(to_owned_value).collect()),
        AttrValue::Map(map) => OwnedValue::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_owned_value(v)))
                .collect(),
        ),
    }
}
