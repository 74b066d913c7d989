//! Receivers and routes from weir.toml, checked once at start: which
//! receiver an alert goes to and which group it joins there.

use crate::glob::Glob;
use crate::webhook::LabelSet;
use crate::{AlertsConfig, ReceiverConfig, RouteConfig};
use std::time::Duration;

/// A configuration mistake in `[[alerts.receivers]]` or `[[alerts.routes]]`.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct RoutingError(String);

/// A webhook receiver, ready to use.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// Its name.
    pub name: String,
    /// Where bodies are POSTed.
    pub url: String,
    /// Whether resolved alerts are sent.
    pub send_resolved: bool,
    /// How often a still-firing group is sent again.
    pub repeat_interval: Duration,
    /// Signs bodies when set.
    pub hmac_secret: Option<String>,
    /// Per request.
    pub timeout: Duration,
    /// How long a notification is retried before it is recorded as failed.
    pub max_age: Duration,
    /// CA certificates (PEM) trusted besides the system's, from `ca_file`.
    pub ca_pem: Option<Vec<u8>>,
}

/// A route, ready to use.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Index into [`Routing::receivers`].
    pub receiver: usize,
    /// Label → value glob; all must match.
    pub matchers: Vec<(String, Glob)>,
    /// Labels that form the group; `...` groups by every label.
    pub group_by: Vec<String>,
    /// Wait before a new group's first notification.
    pub group_wait: Duration,
    /// Wait between notifications of one group.
    pub group_interval: Duration,
}

/// Every receiver and route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routing {
    /// Receivers, in configuration order.
    pub receivers: Vec<Receiver>,
    /// Routes, first match wins.
    pub routes: Vec<Route>,
}

/// The defaults a receiver or route takes for keys it leaves out; they are
/// Alertmanager's, so a configuration reads the same in both.
pub mod defaults {
    use std::time::Duration;

    /// `repeat_interval`.
    pub const REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
    /// `timeout`.
    pub const TIMEOUT: Duration = Duration::from_secs(10);
    /// `max_age`.
    pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
    /// `group_wait`.
    pub const GROUP_WAIT: Duration = Duration::from_secs(30);
    /// `group_interval`.
    pub const GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
    /// `group_by`.
    pub const GROUP_BY: [&str; 2] = ["alertname", "component"];
}

fn receiver(c: &ReceiverConfig, i: usize) -> Result<Receiver, RoutingError> {
    let at = format!("alerts.receivers[{i}]");
    if c.name.trim().is_empty() {
        return Err(RoutingError(format!("{at}: give the receiver a name")));
    }
    let at = format!("receiver {:?}", c.name);
    let url = c.url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(RoutingError(format!(
            "{at}: url = {url:?} must be an http:// or https:// address"
        )));
    }
    let ca_pem = match c.ca_file.trim() {
        "" => None,
        path => Some(ca_pem(path, url, &at)?),
    };
    Ok(Receiver {
        name: c.name.clone(),
        url: url.to_string(),
        send_resolved: c.send_resolved.unwrap_or(true),
        repeat_interval: c.repeat_interval.unwrap_or(defaults::REPEAT_INTERVAL),
        hmac_secret: Some(c.hmac_secret.clone()).filter(|s| !s.is_empty()),
        timeout: c.timeout.unwrap_or(defaults::TIMEOUT),
        max_age: c.max_age.unwrap_or(defaults::MAX_AGE),
        ca_pem,
    })
}

/// Reads and checks a receiver's `ca_file`, so a wrong path stops the start
/// instead of failing every delivery.
fn ca_pem(path: &str, url: &str, at: &str) -> Result<Vec<u8>, RoutingError> {
    if !url.starts_with("https://") {
        return Err(RoutingError(format!(
            "{at}: ca_file is only used for https:// receivers, and url is {url:?}"
        )));
    }
    let pem = std::fs::read(path)
        .map_err(|e| RoutingError(format!("{at}: ca_file {path:?} cannot be read: {e}")))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(pem),
        _ => Err(RoutingError(format!(
            "{at}: ca_file {path:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ))),
    }
}

fn route(c: &RouteConfig, i: usize, receivers: &[Receiver]) -> Result<Route, RoutingError> {
    let at = format!("alerts.routes[{i}]");
    let receiver = receivers
        .iter()
        .position(|r| r.name == c.receiver)
        .ok_or_else(|| {
            let known: Vec<&str> = receivers.iter().map(|r| r.name.as_str()).collect();
            RoutingError(format!(
                "{at}: receiver {:?} is not defined; the receivers are {known:?}",
                c.receiver
            ))
        })?;
    Ok(Route {
        receiver,
        matchers: c
            .matchers
            .iter()
            .map(|(k, v)| (k.clone(), Glob::new(v)))
            .collect(),
        group_by: c
            .group_by
            .clone()
            .unwrap_or_else(|| defaults::GROUP_BY.map(String::from).to_vec()),
        group_wait: c.group_wait.unwrap_or(defaults::GROUP_WAIT),
        group_interval: c.group_interval.unwrap_or(defaults::GROUP_INTERVAL),
    })
}

impl Routing {
    /// Checks the `[alerts]` receivers and routes. No routes sends every
    /// alert to the first receiver.
    pub fn from_config(config: &AlertsConfig) -> Result<Self, RoutingError> {
        let receivers = config
            .receivers
            .iter()
            .enumerate()
            .map(|(i, c)| receiver(c, i))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, r) in receivers.iter().enumerate() {
            if receivers[..i].iter().any(|o| o.name == r.name) {
                return Err(RoutingError(format!(
                    "receiver {:?} is defined twice; give each a distinct name",
                    r.name
                )));
            }
        }
        let mut routes = config
            .routes
            .iter()
            .enumerate()
            .map(|(i, c)| route(c, i, &receivers))
            .collect::<Result<Vec<_>, _>>()?;
        if routes.is_empty() && !receivers.is_empty() {
            routes.push(route(
                &RouteConfig {
                    receiver: receivers[0].name.clone(),
                    ..Default::default()
                },
                0,
                &receivers,
            )?);
        }
        Ok(Routing { receivers, routes })
    }

    /// The first route whose matchers all match `labels`.
    pub fn route(&self, labels: &LabelSet) -> Option<&Route> {
        self.routes.iter().find(|r| {
            r.matchers
                .iter()
                .all(|(k, glob)| labels.get(k).is_some_and(|l| glob.is_match(l)))
        })
    }

    /// A receiver by name.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

impl Route {
    /// The labels of `labels` this route groups by.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        if self.group_by.iter().any(|g| g == "...") {
            return labels.clone();
        }
        labels
            .iter()
            .filter(|(k, _)| self.group_by.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Alertmanager's spelling of a group key: `{}:{k="v", ...}`, prefixed by
/// the route's position so two routes never share a group.
pub fn group_key(route_index: usize, group_labels: &LabelSet) -> String {
    let labels: Vec<String> = group_labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{{}}/{{route={route_index}}}:{{{}}}", labels.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(toml_receivers: Vec<ReceiverConfig>, routes: Vec<RouteConfig>) -> AlertsConfig {
        AlertsConfig {
            receivers: toml_receivers,
            routes,
            ..Default::default()
        }
    }

    fn ops(name: &str) -> ReceiverConfig {
        ReceiverConfig {
            name: name.into(),
            url: "http://127.0.0.1:9000/hook".into(),
            ..Default::default()
        }
    }

    #[test]
    fn first_matching_route_wins_and_no_routes_means_the_first_receiver() {
        let routing = Routing::from_config(&config(
            vec![ops("pager"), ops("chat")],
            vec![
                RouteConfig {
                    receiver: "pager".into(),
                    matchers: [("severity".to_string(), "page".to_string())].into(),
                    ..Default::default()
                },
                RouteConfig {
                    receiver: "chat".into(),
                    ..Default::default()
                },
            ],
        ))
        .unwrap();
        let page = labels(&[("alertname", "A"), ("severity", "page")]);
        assert_eq!(routing.route(&page).unwrap().receiver, 0);
        assert_eq!(
            routing
                .route(&labels(&[("alertname", "A")]))
                .unwrap()
                .receiver,
            1
        );

        let implicit = Routing::from_config(&config(vec![ops("only")], vec![])).unwrap();
        let r = implicit.route(&page).unwrap();
        assert_eq!(r.receiver, 0);
        assert_eq!(r.group_wait, Duration::from_secs(30));
        assert!(
            implicit.receivers[0].send_resolved,
            "Alertmanager's default"
        );
        assert_eq!(
            implicit.receivers[0].repeat_interval,
            Duration::from_secs(4 * 3600)
        );
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        let err = Routing::from_config(&config(
            vec![ops("ops")],
            vec![RouteConfig {
                receiver: "pager".into(),
                ..Default::default()
            }],
        ))
        .unwrap_err();
        assert!(err.0.contains("\"pager\" is not defined"), "{err}");
        // A bad duration is refused as weir.toml is read: see config.rs.
        let mut bad = ops("ops");
        bad.url = "127.0.0.1:9000".into();
        assert!(Routing::from_config(&config(vec![bad], vec![])).is_err());
    }

    #[test]
    fn groups_take_the_group_by_labels() {
        let routing = Routing::from_config(&config(
            vec![ops("ops")],
            vec![RouteConfig {
                receiver: "ops".into(),
                group_by: Some(vec!["alertname".into()]),
                ..Default::default()
            }],
        ))
        .unwrap();
        let route = &routing.routes[0];
        let g = route.group_labels(&labels(&[("alertname", "Lag"), ("component", "c")]));
        assert_eq!(g, labels(&[("alertname", "Lag")]));
        assert_eq!(group_key(0, &g), "{}/{route=0}:{alertname=\"Lag\"}");
    }

    #[test]
    fn a_ca_file_must_be_readable_pem_for_an_https_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let with_ca = |url: &str, path: &std::path::Path| ReceiverConfig {
            url: url.into(),
            ca_file: path.display().to_string(),
            ..ops("pager")
        };
        let err = |c| {
            Routing::from_config(&config(vec![c], vec![]))
                .unwrap_err()
                .0
        };
        let missing = dir.path().join("missing.pem");
        assert!(err(with_ca("https://hooks.example.com/x", &missing)).contains("cannot be read"));
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        assert!(
            err(with_ca("https://hooks.example.com/x", &not_pem)).contains("no PEM certificate")
        );
        assert!(
            err(with_ca("http://127.0.0.1:9000/x", &not_pem)).contains("only used for https://")
        );
    }
}
