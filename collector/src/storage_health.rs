//! What storage cannot do right now, and why.
//!
//! Every part of the write path that can fail (the WAL, each store, each
//! signal's rollups, free disk space) reports here; the admission check refuses
//! exports while a part they need is faulted, `/readyz` says not ready with the
//! reasons, and `/metrics` shows one gauge per faulted part. Parts heal
//! themselves: the part that failed clears its fault once it works again.

use crate::otlp::SignalKind;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Every part that can fail, so `/metrics` shows a 0 for each healthy one.
pub const PARTS: [&str; 8] = [
    "wal",
    "disk",
    "spans",
    "logs",
    "metrics",
    "rollups.spans",
    "rollups.logs",
    "rollups.metrics",
];

/// Which exports a fault refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refuses {
    /// None: each request finds out on its own (a failed WAL append).
    Nothing,
    /// Exports of one signal, whose storage cannot commit.
    Signal(SignalKind),
    /// Every export (the disk is nearly full).
    Everything,
}

/// One faulted part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// When it started failing, Unix nanoseconds.
    pub since_nanos: u64,
    /// What failed, in words a user can act on.
    pub reason: String,
    /// What it refuses meanwhile.
    pub refuses: Refuses,
}

/// The faults of the write path, by part name (`wal`, `disk`, `spans`,
/// `rollups.logs`, …).
#[derive(Default, Debug)]
pub struct StorageHealth {
    faults: Mutex<BTreeMap<&'static str, Fault>>,
    any: AtomicBool,
}

impl StorageHealth {
    /// Records that `part` is failing; the first failure's time is kept.
    pub fn fail(&self, part: &'static str, refuses: Refuses, reason: String, now_nanos: u64) {
        let mut faults = self.faults.lock();
        let since_nanos = faults.get(part).map_or(now_nanos, |f| f.since_nanos);
        faults.insert(
            part,
            Fault {
                since_nanos,
                reason,
                refuses,
            },
        );
        self.any.store(true, Ordering::Release);
    }

    /// Records that `part` works again.
    pub fn heal(&self, part: &'static str) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut faults = self.faults.lock();
        if faults.remove(part).is_some() {
            tracing::info!(part, "storage works again");
        }
        self.any.store(!faults.is_empty(), Ordering::Release);
    }

    /// Why an export of `signal` is refused now, if it is.
    pub fn refusal(&self, signal: SignalKind) -> Option<String> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.faults
            .lock()
            .iter()
            .find(|(_, f)| match f.refuses {
                Refuses::Everything => true,
                Refuses::Signal(s) => s == signal,
                Refuses::Nothing => false,
            })
            .map(|(part, f)| format!("storage cannot write ({part}): {}", f.reason))
    }

    /// Every current fault, by part name.
    pub fn faults(&self) -> Vec<(&'static str, Fault)> {
        if !self.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.faults
            .lock()
            .iter()
            .map(|(p, f)| (*p, f.clone()))
            .collect()
    }
}

impl prometheus_client::collector::Collector for StorageHealth {
    /// `weir_storage_fault{part}`: 1 while failing.
    fn encode(&self, mut e: prometheus_client::encoding::DescriptorEncoder) -> std::fmt::Result {
        let faults = self.faults();
        crate::telemetry::gauges(
            &mut e,
            "weir_storage_fault",
            "Whether a part of the write path is failing now (1) or not (0); /readyz says why.",
            PARTS.map(|part| {
                let failing = faults.iter().any(|(p, _)| *p == part);
                (vec![("part", part)], u32::from(failing))
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_refuses_what_it_names_until_healed() {
        let health = StorageHealth::default();
        assert_eq!(health.refusal(SignalKind::Traces), None);
        health.fail(
            "spans",
            Refuses::Signal(SignalKind::Traces),
            "index commit failed".into(),
            10,
        );
        health.fail("wal", Refuses::Nothing, "append failed".into(), 11);
        assert!(
            health
                .refusal(SignalKind::Traces)
                .unwrap()
                .contains("index commit failed")
        );
        assert_eq!(health.refusal(SignalKind::Logs), None);
        health.fail("disk", Refuses::Everything, "1 MiB free".into(), 12);
        assert!(health.refusal(SignalKind::Logs).unwrap().contains("disk"));
        health.heal("disk");
        health.heal("spans");
        assert_eq!(health.refusal(SignalKind::Traces), None);
        assert_eq!(health.faults().len(), 1, "the WAL fault is still shown");
        health.heal("wal");
        assert!(health.faults().is_empty());
    }

    #[test]
    fn a_fault_keeps_the_time_it_started() {
        let health = StorageHealth::default();
        health.fail("logs", Refuses::Nothing, "first".into(), 5);
        health.fail("logs", Refuses::Nothing, "again".into(), 9);
        let (_, fault) = &health.faults()[0];
        assert_eq!((fault.since_nanos, fault.reason.as_str()), (5, "again"));
    }
}
