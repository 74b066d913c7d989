//! Golden values: what receivers and the database already hold. A refactor
//! that changes one of them changes what weir sends or how it deduplicates
//! after a restart, so these literals were taken from the code before the
//! issue-11 refactor and must not be updated to make a test pass.

mod golden {
    use std::collections::HashMap;
    use weir_alerts::grouping::{AlertInstance, plan};
    use weir_alerts::routing::{Routing, group_key};
    use weir_alerts::webhook::{LabelSet, fingerprint};
    use weir_alerts::{AlertsConfig, ReceiverConfig, RouteConfig};

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprints_of_fixed_label_sets() {
        let cases = [
            (
                set(&[
                    ("alertname", "ConsumerLagging"),
                    ("component", "page-view-counter"),
                    ("kind", "lag"),
                ]),
                "f5dd0e44e97cb17e",
            ),
            (
                set(&[
                    ("alertname", "ErrorsRising"),
                    ("component", "checkout"),
                    ("kind", "error_rate"),
                    ("severity", "page"),
                ]),
                "0624ee2f63c763cf",
            ),
            (
                set(&[
                    ("alertname", "GroupBehind"),
                    ("component", "orders"),
                    ("kind", "metric"),
                    ("partition", "3"),
                ]),
                "de4445dbac1ea8e2",
            ),
            (LabelSet::new(), "cbf29ce484222325"),
        ];
        for (labels, expected) in cases {
            assert_eq!(fingerprint(&labels), expected, "{labels:?}");
        }
    }

    #[test]
    fn group_keys_of_fixed_groups() {
        assert_eq!(
            group_key(
                0,
                &set(&[
                    ("alertname", "ConsumerLagging"),
                    ("component", "page-view-counter")
                ])
            ),
            r#"{}/{route=0}:{alertname="ConsumerLagging", component="page-view-counter"}"#
        );
        assert_eq!(
            group_key(2, &set(&[("alertname", "Errors \"quoted\"")])),
            r#"{}/{route=2}:{alertname="Errors \"quoted\""}"#
        );
        assert_eq!(group_key(1, &LabelSet::new()), "{}/{route=1}:{}");
    }

    #[test]
    fn a_planned_body_and_log_serialize_to_fixed_text() {
        let routing = Routing::from_config(&AlertsConfig {
            receivers: vec![ReceiverConfig {
                name: "ops".into(),
                url: "http://127.0.0.1:1/hook".into(),
                ..Default::default()
            }],
            routes: vec![RouteConfig {
                receiver: "ops".into(),
                group_wait: weir_core::parse_duration("0s").ok(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
        let alert = AlertInstance {
            labels: set(&[
                ("alertname", "ConsumerLagging"),
                ("component", "page-view-counter"),
                ("kind", "lag"),
                ("severity", "page"),
            ]),
            annotations: set(&[("summary", "page-view-counter is 61000 behind")]),
            firing: true,
            starts_at: 1_544_712_660_000_000_000,
            ends_at: None,
            generator_url: "http://weir:8080/alerts".into(),
        };
        let planned = plan(
            &[alert],
            &[],
            &routing,
            &HashMap::new(),
            "http://weir:8080",
            1_544_712_661_000_000_000,
        );
        let p = &planned.notifications[0];
        assert_eq!(
            serde_json::to_string(p.body.as_ref().unwrap()).unwrap(),
            r#"{"version":"4","groupKey":"{}/{route=0}:{alertname=\"ConsumerLagging\", component=\"page-view-counter\"}","truncatedAlerts":0,"status":"firing","receiver":"ops","groupLabels":{"alertname":"ConsumerLagging","component":"page-view-counter"},"commonLabels":{"alertname":"ConsumerLagging","component":"page-view-counter","kind":"lag","severity":"page"},"commonAnnotations":{"summary":"page-view-counter is 61000 behind"},"externalURL":"http://weir:8080","alerts":[{"status":"firing","labels":{"alertname":"ConsumerLagging","component":"page-view-counter","kind":"lag","severity":"page"},"annotations":{"summary":"page-view-counter is 61000 behind"},"startsAt":"2018-12-13T14:51:00.000Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://weir:8080/alerts","fingerprint":"2f635476ca053ae2"}],"notification_reason":"firing"}"#
        );
        assert_eq!(
            serde_json::to_string(&p.log).unwrap(),
            r#"{"firing":["2f635476ca053ae2"],"resolved":[],"sent_at":1544712661000000000}"#
        );
    }
}
