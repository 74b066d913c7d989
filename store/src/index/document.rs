//! Turning spans and log records into tantivy documents and back.

use super::schema::Fields;
use tantivy::TantivyDocument;
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};
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
    for link in &span.links {
        doc.add_text(fields.link_trace_id, link.trace_id.to_hex());
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
    // Written straight from the record's own strings: no intermediate map or
    // copied strings per attribute.
    if !attrs.is_empty() {
        doc.add_field_value(fields.attributes, AttrNode::Object(attrs));
    }
    if !resource.is_empty() {
        doc.add_field_value(fields.resource, AttrNode::Object(resource));
    }
    add_keys(doc, fields, attrs);
}

fn add_keys(doc: &mut TantivyDocument, fields: &Fields, attrs: &Attributes) {
    for value in attrs.string_values() {
        doc.add_text(fields.key, value);
    }
}

/// A borrowed view of attributes as a tantivy JSON value.
#[derive(Debug, Clone, Copy)]
enum AttrNode<'a> {
    Object(&'a Attributes),
    Value(&'a AttrValue),
}

type ObjectIter<'a> = std::iter::Map<
    std::slice::Iter<'a, (String, AttrValue)>,
    fn(&'a (String, AttrValue)) -> (&'a str, AttrNode<'a>),
>;
type ArrayIter<'a> =
    std::iter::Map<std::slice::Iter<'a, AttrValue>, fn(&'a AttrValue) -> AttrNode<'a>>;

fn entry(kv: &(String, AttrValue)) -> (&str, AttrNode<'_>) {
    (kv.0.as_str(), AttrNode::Value(&kv.1))
}

fn object(attrs: &Attributes) -> ObjectIter<'_> {
    attrs
        .0
        .iter()
        .map(entry as fn(&(String, AttrValue)) -> (&str, AttrNode<'_>))
}

impl<'a> Value<'a> for AttrNode<'a> {
    type ArrayIter = ArrayIter<'a>;
    type ObjectIter = ObjectIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            AttrNode::Object(attrs) => ReferenceValue::Object(object(attrs)),
            AttrNode::Value(value) => match value {
                AttrValue::Empty => ReferenceValue::Leaf(ReferenceValueLeaf::Null),
                AttrValue::Bool(b) => ReferenceValue::Leaf(ReferenceValueLeaf::Bool(*b)),
                AttrValue::Int(i) => ReferenceValue::Leaf(ReferenceValueLeaf::I64(*i)),
                AttrValue::Double(d) => ReferenceValue::Leaf(ReferenceValueLeaf::F64(*d)),
                AttrValue::Str(s) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)),
                AttrValue::Array(items) => ReferenceValue::Array(
                    items
                        .iter()
                        .map(AttrNode::Value as fn(&'a AttrValue) -> AttrNode<'a>),
                ),
                AttrValue::Map(map) => ReferenceValue::Object(object(map)),
            },
        }
    }
}
