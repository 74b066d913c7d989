//! PostgreSQL's binary `COPY` format for metric points. sqlx streams raw COPY
//! data (`copy_in_raw`) but has no encoder for the binary format, and the
//! format for five fixed columns is a handful of lines: a signature, then per
//! row a field count and each field as a length and big-endian bytes.
//! PostgreSQL takes rows this way several times faster than from arrays.

/// The header of binary COPY data: signature, flags, extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// One metric point row as COPY sends it.
pub struct PointCopyRow<'a> {
    pub series_id: i64,
    pub time: i64,
    pub start: i64,
    pub value: Option<f64>,
    pub data: Option<&'a str>,
}

/// Binary COPY data for `metric_points (series_id, time_unix_nano,
/// start_time_unix_nano, value, data)`.
pub fn encode_points<'a>(rows: impl ExactSizeIterator<Item = PointCopyRow<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER.len() + rows.len() * 50 + 2);
    out.extend_from_slice(HEADER);
    for row in rows {
        out.extend_from_slice(&5i16.to_be_bytes());
        for n in [row.series_id, row.time, row.start] {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&n.to_be_bytes());
        }
        match row.value {
            Some(v) => {
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        match row.data {
            Some(text) => {
                out.extend_from_slice(&(text.len() as i32).to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_framed_as_postgres_reads_them() {
        let data = encode_points(
            [PointCopyRow {
                series_id: 1,
                time: 2,
                start: 3,
                value: None,
                data: Some("{}"),
            }]
            .into_iter(),
        );
        assert_eq!(&data[..11], b"PGCOPY\n\xff\r\n\0");
        let row = &data[HEADER.len()..];
        assert_eq!(&row[..2], &[0, 5]);
        assert_eq!(&row[2..6], &[0, 0, 0, 8]);
        assert_eq!(&row[6..14], &1i64.to_be_bytes());
        // The null value, then the two-byte text, then the trailer.
        assert_eq!(&row[38..42], &[0xff; 4]);
        assert_eq!(&row[42..46], &[0, 0, 0, 2]);
        assert_eq!(&row[46..48], b"{}");
        assert_eq!(&row[48..], &[0xff, 0xff]);
    }
}
