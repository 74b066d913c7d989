//! The free-space floor: below it every export is refused, so that what weir
//! already holds still fits on disk when the index and database commit it.

use crate::storage_health::{Refuses, StorageHealth};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;
use weir_core::now_unix_nanos;

/// How often free disk space is checked against the floor.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Starts the watcher of `dir`'s filesystem; it stops when the returned
/// sender is dropped.
pub(crate) fn spawn(
    dir: PathBuf,
    floor: u64,
    health: Arc<StorageHealth>,
) -> (Sender<()>, JoinHandle<()>) {
    let (stop, stop_rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("weir-disk".into())
        .spawn(move || watch(&dir, floor, &health, &stop_rx))
        .expect("spawning a thread succeeds");
    (stop, thread)
}

fn watch(dir: &Path, floor: u64, health: &StorageHealth, stop: &Receiver<()>) {
    loop {
        match fs4::available_space(dir) {
            Ok(free) if free < floor => health.fail(
                "disk",
                Refuses::Everything,
                format!(
                    "{} MiB free on the data directory's filesystem, below the {} MiB kept to commit what weir holds (ingest.min_free_bytes): free disk space",
                    free >> 20,
                    floor >> 20
                ),
                now_unix_nanos(),
            ),
            Ok(_) => health.heal("disk"),
            Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "cannot read free disk space"),
        }
        match stop.recv_timeout(CHECK_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
