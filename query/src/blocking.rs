//! Reads that block (tantivy searches, trace assembly, aggregation) run here.

use crate::ReadError;

/// Runs `read` on tokio's blocking pool. A tantivy search or a sort of ten
/// thousand spans on an async worker would stall every request that worker
/// serves until it finished.
pub(crate) async fn run<T, F>(read: F) -> Result<T, ReadError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ReadError> + Send + 'static,
{
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| ReadError::Interrupted(e.to_string()))?
}
