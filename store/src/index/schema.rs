//! The tantivy schema shared by the span and log indexes: the field names users
//! type in queries are a documented contract (DESIGN §5).

use tantivy::schema::{
    FAST, Field, IndexRecordOption, JsonObjectOptions, STORED, Schema, TextFieldIndexing,
    TextOptions,
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

/// Indexing without field norms: they only serve relevance scoring, and
/// every search here is ordered by time, so they would cost a byte per
/// field per document and a count per token for nothing.
fn unscored(tokenizer: &str, record: IndexRecordOption) -> TextFieldIndexing {
    TextFieldIndexing::default()
        .set_tokenizer(tokenizer)
        .set_index_option(record)
        .set_fieldnorms(false)
}

/// Builds the schema and its field handles.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Ids and words matched whole: one term each, no positions.
    let exact =
        TextOptions::default().set_indexing_options(unscored("raw", IndexRecordOption::Basic));
    // Names and bodies: words with positions, for phrases.
    let full_text = TextOptions::default().set_indexing_options(unscored(
        "default",
        IndexRecordOption::WithFreqsAndPositions,
    ));
    // Attribute values are matched whole (`attributes.http.route:"/orders/{id}"`):
    // the raw tokenizer keeps them exact and keeps positions out of the index.
    let exact_json = JsonObjectOptions::default()
        .set_indexing_options(unscored("raw", IndexRecordOption::Basic))
        .set_expand_dots_enabled();
    let fields = Fields {
        trace_id: b.add_text_field("trace_id", exact.clone()),
        span_id: b.add_text_field("span_id", exact.clone()),
        parent_span_id: b.add_text_field("parent_span_id", exact.clone()),
        service: b.add_text_field("service", exact.clone()),
        name: b.add_text_field("name", full_text.clone()),
        kind: b.add_text_field("kind", exact.clone()),
        status: b.add_text_field("status", exact.clone()),
        severity: b.add_text_field("severity", exact.clone()),
        body: b.add_text_field("body", full_text.clone()),
        attributes: b.add_json_field("attributes", exact_json.clone()),
        resource: b.add_json_field("resource", exact_json),
        key: b.add_text_field("key", exact.clone()),
        link_trace_id: b.add_text_field("link_trace_id", exact.clone()),
        // Columns only: tantivy answers ranges from the fast field, and an
        // inverted index of nearly unique numbers would add two terms per
        // span to the term dictionary for no query.
        start_time: b.add_u64_field("start_time", FAST),
        duration_ms: b.add_f64_field("duration_ms", FAST),
        doc: b.add_bytes_field("doc", STORED),
    };
    (b.build(), fields)
}
