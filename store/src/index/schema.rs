//! The tantivy schema shared by the span and log indexes: the field names users
//! type in queries are a documented contract (DESIGN §5).

use tantivy::schema::{
    FAST, Field, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema, TEXT,
    TextFieldIndexing,
};

/// Handles to every field of the event schema.
#[derive(Clone)]
pub struct Fields {
    /// Lower-case hex trace id.
    pub trace_id: Field,
    /// Lower-case hex span id.
    pub span_id: Field,
    /// Lower-case hex parent span id.
    pub parent_span_id: Field,
    /// Component, exact match.
    pub service: Field,
    /// Span name, or a log's event name; tokenized.
    pub name: Field,
    /// Span kind word.
    pub kind: Field,
    /// Span status word.
    pub status: Field,
    /// Log severity word.
    pub severity: Field,
    /// Log body and span status message; the default field for bare words.
    pub body: Field,
    /// Record attributes as JSON, values as exact tokens.
    pub attributes: Field,
    /// Resource attributes as JSON, values as exact tokens.
    pub resource: Field,
    /// Correlation keys with no other home: event attribute values, log
    /// bodies that are exactly an id, and attribute values under paths the
    /// path registry cannot hold (`string_paths`). Queries on `key` also
    /// look in every known string path of `attributes` and `resource`, so
    /// no value is indexed twice.
    pub key: Field,
    /// Trace ids this span links to, so links are followed in both directions.
    pub link_trace_id: Field,
    /// Span start or log time, Unix nanoseconds; fast, for ordering and ranges.
    pub start_time: Field,
    /// Span duration in milliseconds; fast, for ranges and `duration_ms:*`.
    pub duration_ms: Field,
    /// The whole record, serialized.
    pub doc: Field,
}

/// Builds the schema and its field handles.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Attribute values are matched whole (`attributes.http.route:"/orders/{id}"`):
    // the raw tokenizer keeps them exact and keeps positions out of the index.
    let exact_json = JsonObjectOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic),
        )
        .set_expand_dots_enabled();
    let fields = Fields {
        trace_id: b.add_text_field("trace_id", STRING),
        span_id: b.add_text_field("span_id", STRING),
        parent_span_id: b.add_text_field("parent_span_id", STRING),
        service: b.add_text_field("service", STRING),
        name: b.add_text_field("name", TEXT),
        kind: b.add_text_field("kind", STRING),
        status: b.add_text_field("status", STRING),
        severity: b.add_text_field("severity", STRING),
        body: b.add_text_field("body", TEXT),
        attributes: b.add_json_field("attributes", exact_json.clone()),
        resource: b.add_json_field("resource", exact_json),
        key: b.add_text_field("key", STRING),
        link_trace_id: b.add_text_field("link_trace_id", STRING),
        // Columns only: tantivy answers ranges from the fast field, and an
        // inverted index of nearly unique numbers would add two terms per
        // span to the term dictionary for no query.
        start_time: b.add_u64_field("start_time", FAST),
        duration_ms: b.add_f64_field("duration_ms", FAST),
        doc: b.add_bytes_field("doc", STORED),
    };
    (b.build(), fields)
}
