//! Hand-built OTLP requests for the tests that need exact control of the
//! bytes: the collector's fixtures, and gzip for the transports.

pub use weir_collector::fixtures::exact::{gauge_request, span, spans_request, trace_id};

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}
