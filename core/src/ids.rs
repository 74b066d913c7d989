//! Trace and span identifiers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why bytes or text are not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id has the wrong number of bytes.
    #[error("{kind} must be {expected} bytes, got {actual}")]
    WrongLength {
        /// "trace id" or "span id".
        kind: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length received.
        actual: usize,
    },
    /// The id is all zero bytes, which OpenTelemetry defines as invalid.
    #[error("{kind} must not be all zeros")]
    AllZero {
        /// "trace id" or "span id".
        kind: &'static str,
    },
    /// The text is not hexadecimal.
    #[error("{kind} must be hexadecimal")]
    NotHex {
        /// "trace id" or "span id".
        kind: &'static str,
    },
}

/// An id as lower-case hex digits, without a heap allocation.
#[derive(Clone, Copy)]
pub struct HexId {
    digits: [u8; 32],
    len: usize,
}

impl std::ops::Deref for HexId {
    type Target = str;

    fn deref(&self) -> &str {
        std::str::from_utf8(&self.digits[..self.len]).expect("hex digits are ASCII")
    }
}

impl AsRef<str> for HexId {
    fn as_ref(&self) -> &str {
        self
    }
}

macro_rules! define_id {
    ($name:ident, $len:expr, $kind:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Validates raw bytes: the right length and not all zero.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongLength {
                    kind: $kind,
                    expected: $len,
                    actual: bytes.len(),
                })?;
                if arr.iter().all(|b| *b == 0) {
                    return Err(IdError::AllZero { kind: $kind });
                }
                Ok($name(arr))
            }

            /// Parses hex text, either case.
            pub fn from_hex(text: &str) -> Result<Self, IdError> {
                let bytes = hex::decode(text).map_err(|_| IdError::NotHex { kind: $kind })?;
                Self::from_bytes(&bytes)
            }

            /// Lower-case hex, the form users type in queries.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Lower-case hex on the stack: the index writes three ids per
            /// span, and a heap string each would be three allocations.
            pub fn hex(&self) -> HexId {
                let mut id = HexId {
                    digits: [0; 32],
                    len: 2 * $len,
                };
                hex::encode_to_slice(self.0, &mut id.digits[..2 * $len])
                    .expect("the buffer holds two digits per byte");
                id
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &*self.hex())
            }
        }

        // Hex in JSON and other text formats; raw bytes in binary ones
        // (the doc store), half the size.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_hex())
                } else {
                    s.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct IdVisitor;
                impl<'de> serde::de::Visitor<'de> for IdVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} as hex or {} bytes", $kind, $len)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_hex(v).map_err(E::custom)
                    }
                    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<$name, E> {
                        $name::from_bytes(v).map_err(E::custom)
                    }
                }
                if d.is_human_readable() {
                    d.deserialize_str(IdVisitor)
                } else {
                    d.deserialize_bytes(IdVisitor)
                }
            }
        }
    };
}

define_id!(TraceId, 16, "trace id", "A 16-byte W3C trace id.");
define_id!(SpanId, 8, "span id", "An 8-byte span id.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_is_lower_case() {
        let id = TraceId::from_hex("5B8EFFF798038103D269B633813FC60C").unwrap();
        assert_eq!(id.to_hex(), "5b8efff798038103d269b633813fc60c");
    }

    #[test]
    fn stack_hex_matches_the_heap_form_for_both_lengths() {
        let trace = TraceId::from_hex("5b8efff798038103d269b633813fc60c").unwrap();
        let span = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        assert_eq!(&*trace.hex(), trace.to_hex());
        assert_eq!(&*span.hex(), "00f067aa0ba902b7");
        assert_eq!(span.hex().len(), 16);
    }

    #[test]
    fn rejects_wrong_length_and_zero() {
        assert!(matches!(
            SpanId::from_bytes(&[1, 2, 3]),
            Err(IdError::WrongLength { actual: 3, .. })
        ));
        assert_eq!(
            TraceId::from_bytes(&[0; 16]),
            Err(IdError::AllZero { kind: "trace id" })
        );
        assert!(SpanId::from_hex("zz").is_err());
    }
}
