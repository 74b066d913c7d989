//! Which component a piece of telemetry belongs to.

use crate::Attributes;

/// The component name used when a resource names neither a service nor a function.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// The component a resource belongs to: `service.name`, else `faas.name`, else
/// `unknown_service`. SDKs fill `service.name` with `unknown_service:<process>`
/// when the user set nothing; a function's `faas.name` is the better name then.
pub fn component_name(resource: &Attributes) -> &str {
    let service = resource.get_str("service.name").filter(|s| !s.is_empty());
    match service {
        Some(name) if !name.starts_with(UNKNOWN_SERVICE) => name,
        _ => resource
            .get_str("faas.name")
            .filter(|s| !s.is_empty())
            .or(service)
            .unwrap_or(UNKNOWN_SERVICE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttrValue;

    fn resource(pairs: &[(&str, &str)]) -> Attributes {
        Attributes(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), AttrValue::Str(v.to_string())))
                .collect(),
        )
    }

    #[test]
    fn service_name_wins() {
        let r = resource(&[("faas.name", "fn"), ("service.name", "svc")]);
        assert_eq!(component_name(&r), "svc");
    }

    #[test]
    fn faas_name_when_no_service_name() {
        assert_eq!(component_name(&resource(&[("faas.name", "fn")])), "fn");
    }

    #[test]
    fn faas_name_beats_the_sdk_default_service_name() {
        let r = resource(&[
            ("service.name", "unknown_service:python"),
            ("faas.name", "fn"),
        ]);
        assert_eq!(component_name(&r), "fn");
    }

    #[test]
    fn unknown_service_when_nothing_is_named() {
        assert_eq!(component_name(&resource(&[])), UNKNOWN_SERVICE);
    }
}
