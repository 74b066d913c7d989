//! Every component's status now, and why (`weir_core::status`), read once
//! for whoever shows it: `/api/v1/components`, `/api/v1/topology` and the
//! dashboard's pages call this, so they cannot disagree.

use crate::ReadError;
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_core::status::{self, FiringAlert, Status};
use weir_store::Store;

/// Where the alerts firing now come from: the alert engine, seen through
/// the binary, so this crate needs no alerts crate.
pub trait FiringAlerts: Send + Sync {
    /// Every alert firing now.
    fn firing(&self) -> Vec<FiringAlert>;
}

/// No alerting configured.
pub struct NoFiring;

impl FiringAlerts for NoFiring {
    fn firing(&self) -> Vec<FiringAlert> {
        Vec::new()
    }
}

/// The status at `now` of each component of `known` (component → when it
/// last sent anything, from the caller's window), of every component with
/// rollups in the status window, and of every component an alert fires on.
pub async fn statuses(
    store: &Arc<Store>,
    known: &BTreeMap<String, u64>,
    firing: &[FiringAlert],
    now: u64,
) -> Result<BTreeMap<String, Status>, ReadError> {
    let (from, to) = status::window(now);
    let recent = store.db.component_minutes(None, from, to).await?;
    Ok(assess_all(&recent, known, firing, now))
}

/// [`statuses`] over rollups already read: pure.
pub fn assess_all(
    recent: &BTreeMap<String, BTreeMap<u64, weir_core::HealthRollup>>,
    known: &BTreeMap<String, u64>,
    firing: &[FiringAlert],
    now: u64,
) -> BTreeMap<String, Status> {
    let empty = BTreeMap::new();
    let names = known
        .keys()
        .chain(recent.keys())
        .chain(firing.iter().map(|a| &a.component));
    let mut out = BTreeMap::new();
    for name in names {
        if out.contains_key(name) {
            continue;
        }
        let on_it: Vec<&FiringAlert> = firing.iter().filter(|a| &a.component == name).collect();
        let minutes = recent.get(name).unwrap_or(&empty);
        let last_seen = known.get(name).copied().unwrap_or(0);
        out.insert(
            name.clone(),
            status::assess(minutes, last_seen, &on_it, now),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::HealthRollup;
    use weir_core::status::Level;

    #[test]
    fn every_component_known_recent_or_alerted_gets_one_status() {
        let now = 100 * 60_000_000_000;
        let mut r = HealthRollup::default();
        r.add_invocation(5.0, false, None, 1, now - 1);
        let recent = [("fresh".to_string(), [(now - 60_000_000_000, r)].into())].into();
        let known = [("old".to_string(), now - 20 * 60_000_000_000)].into();
        let firing = [FiringAlert {
            alertname: "Stalled".into(),
            component: "quiet".into(),
            kind: "absent".into(),
            ..Default::default()
        }];
        let s = assess_all(&recent, &known, &firing, now);
        assert_eq!(s.len(), 3);
        assert_eq!(s["fresh"].level, Level::Healthy);
        assert_eq!(s["old"].level, Level::NoData);
        assert_eq!(s["quiet"].level, Level::Stalled);
    }
}
