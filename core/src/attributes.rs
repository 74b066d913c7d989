//! Attribute values and ordered attribute lists.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One attribute value, as OpenTelemetry defines them. Byte arrays arrive as
/// lower-case hex strings: weir has no use for raw bytes a user cannot type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum AttrValue {
    /// No value was set.
    #[default]
    Empty,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// A string.
    Str(String),
    /// A homogeneous or heterogeneous array.
    Array(Vec<AttrValue>),
    /// A nested key-value list.
    Map(Attributes),
}

impl AttrValue {
    /// The string inside, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A human-readable rendering, used for log bodies and full-text search.
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::Empty => String::new(),
            AttrValue::Str(s) => s.clone(),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Double(d) => d.to_string(),
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }
}

/// An ordered list of key-value attributes. Serialized as a JSON object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes(pub Vec<(String, AttrValue)>);

impl Attributes {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string value of `key`, if present and a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(AttrValue::as_str)
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the key-value pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttrValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every string value, including those nested in arrays and maps: the
    /// correlation keys a record can be found by.
    pub fn string_values(&self) -> impl Iterator<Item = &str> {
        let mut out = Vec::new();
        for (_, v) in &self.0 {
            collect_strings(v, &mut out);
        }
        out.into_iter()
    }
}

fn collect_strings<'a>(value: &'a AttrValue, out: &mut Vec<&'a str>) {
    match value {
        AttrValue::Str(s) => out.push(s),
        AttrValue::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        AttrValue::Map(map) => map.0.iter().for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}

impl FromIterator<(String, AttrValue)> for Attributes {
    fn from_iter<T: IntoIterator<Item = (String, AttrValue)>>(iter: T) -> Self {
        Attributes(iter.into_iter().collect())
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AttributesVisitor;
        impl<'de> Visitor<'de> for AttributesVisitor {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of attributes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Attributes, A::Error> {
                let mut out = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some((k, v)) = access.next_entry::<String, AttrValue>()? {
                    out.push((k, v));
                }
                Ok(Attributes(out))
            }
        }
        deserializer.deserialize_map(AttributesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_through_json_keeping_types_and_order() {
        let attrs = Attributes(vec![
            ("s".into(), AttrValue::Str("x".into())),
            ("b".into(), AttrValue::Bool(true)),
            ("i".into(), AttrValue::Int(10)),
            ("d".into(), AttrValue::Double(637.704)),
            ("whole".into(), AttrValue::Double(2.0)),
            (
                "a".into(),
                AttrValue::Array(vec![AttrValue::Str("many".into()), AttrValue::Int(1)]),
            ),
            (
                "m".into(),
                AttrValue::Map(Attributes(vec![("k".into(), AttrValue::Str("v".into()))])),
            ),
            ("e".into(), AttrValue::Empty),
        ]);
        let json = serde_json::to_string(&attrs).unwrap();
        let back: Attributes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, attrs);
    }

    #[test]
    fn string_values_reach_into_arrays_and_maps() {
        let attrs = Attributes(vec![
            ("order.id".into(), AttrValue::Str("o-1".into())),
            ("n".into(), AttrValue::Int(3)),
            (
                "ids".into(),
                AttrValue::Array(vec![
                    AttrValue::Str("r-1".into()),
                    AttrValue::Str("r-2".into()),
                ]),
            ),
        ]);
        let keys: Vec<&str> = attrs.string_values().collect();
        assert_eq!(keys, ["o-1", "r-1", "r-2"]);
    }
}
