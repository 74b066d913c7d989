//! Turning spans and log records into tantivy documents and back.

use super::schema::Fields;
use super::string_paths::{Admission, JsonField, StringPaths};
use tantivy::TantivyDocument;
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};
use weir_core::{AttrValue, Attributes, LogRecord, Span};

/// A document's own bytes hold every indexed string and the stored record
/// once each; sizing it from the record spares the reallocations (and the
/// copies) of growing it field by field.
fn document_sized_for(stored: &[u8]) -> TantivyDocument {
    TantivyDocument::with_capacity(2 * stored.len() + 256)
}

/// The indexed document of a span. `scratch` is any buffer, reused across
/// documents for the stored record.
pub fn span_document(
    fields: &Fields,
    paths: &mut StringPaths,
    span: &Span,
    scratch: &mut Vec<u8>,
) -> TantivyDocument {
    let stored = super::stored::encode_into(span, scratch);
    let mut doc = document_sized_for(stored);
    doc.add_text(fields.trace_id, span.trace_id.hex());
    doc.add_text(fields.span_id, span.span_id.hex());
    if let Some(parent) = span.parent_span_id {
        doc.add_text(fields.parent_span_id, parent.hex());
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
    add_attributes(&mut doc, fields, paths, &span.attributes, &span.resource);
    // Event attributes have no JSON field of their own: `key` is their
    // only home, so they are still indexed once.
    for event in &span.events {
        add_keys(&mut doc, fields, &event.attributes);
    }
    for link in &span.links {
        doc.add_text(fields.link_trace_id, link.trace_id.hex());
    }
    doc.add_bytes(fields.doc, stored);
    doc
}

/// The indexed document of a log record; `scratch` as for spans.
pub fn log_document(
    fields: &Fields,
    paths: &mut StringPaths,
    log: &LogRecord,
    scratch: &mut Vec<u8>,
) -> TantivyDocument {
    let stored = super::stored::encode_into(log, scratch);
    let mut doc = document_sized_for(stored);
    if let Some(trace_id) = log.trace_id {
        doc.add_text(fields.trace_id, trace_id.hex());
    }
    if let Some(span_id) = log.span_id {
        doc.add_text(fields.span_id, span_id.hex());
    }
    doc.add_text(fields.service, &log.service);
    if !log.event_name.is_empty() {
        doc.add_text(fields.name, &log.event_name);
    }
    doc.add_text(fields.severity, log.severity.as_str());
    doc.add_text(fields.body, log.body.to_text());
    doc.add_u64(fields.start_time, log.time_unix_nano);
    add_attributes(&mut doc, fields, paths, &log.attributes, &log.resource);
    if let Some(body) = log.body.as_str() {
        // A body that is exactly an id (a record key) is a correlation key too.
        if !body.contains(' ') && body.len() <= 128 {
            doc.add_text(fields.key, body);
        }
    }
    doc.add_bytes(fields.doc, stored);
    doc
}

fn add_attributes(
    doc: &mut TantivyDocument,
    fields: &Fields,
    paths: &mut StringPaths,
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
    for (json, attrs) in [
        (JsonField::Attributes, attrs),
        (JsonField::Resource, resource),
    ] {
        for (key, value) in &attrs.0 {
            note_string_paths(doc, fields, paths, json, key, value);
        }
    }
}

/// Registers the paths under which `value` holds strings; a string whose
/// path cannot be registered is indexed in `key` as well, so correlation
/// still finds it.
fn note_string_paths(
    doc: &mut TantivyDocument,
    fields: &Fields,
    paths: &mut StringPaths,
    json: JsonField,
    path: &str,
    value: &AttrValue,
) {
    match value {
        AttrValue::Str(s) => {
            if paths.admit(json, path) == Admission::Overflow {
                doc.add_text(fields.key, s);
            }
        }
        AttrValue::Array(items) => {
            for item in items {
                note_string_paths(doc, fields, paths, json, path, item);
            }
        }
        AttrValue::Map(map) => {
            for (key, item) in &map.0 {
                note_string_paths(doc, fields, paths, json, &format!("{path}.{key}"), item);
            }
        }
        AttrValue::Empty | AttrValue::Bool(_) | AttrValue::Int(_) | AttrValue::Double(_) => {}
    }
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
