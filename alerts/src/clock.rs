//! Wall-clock time for alerting: the system's, or one that follows tokio's
//! clock so tests can pause it and step through `for`, group timers and
//! retry backoff.

/// Where "now" comes from, in Unix nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock(Source);

#[derive(Debug, Clone, Copy, Default)]
enum Source {
    #[default]
    System,
    /// The system time when made, plus how far tokio's clock moved since.
    Tokio {
        wall: u64,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// The system clock, as weir runs.
    pub fn system() -> Self {
        Clock(Source::System)
    }

    /// A clock that moves with tokio's: under `tokio::time::pause` it stands
    /// still until the test advances it.
    pub fn following_tokio() -> Self {
        Clock(Source::Tokio {
            wall: weir_core::now_unix_nanos(),
            start: tokio::time::Instant::now(),
        })
    }

    /// Now, Unix nanoseconds.
    pub fn now(&self) -> u64 {
        match self.0 {
            Source::System => weir_core::now_unix_nanos(),
            Source::Tokio { wall, start } => wall + start.elapsed().as_nanos() as u64,
        }
    }
}
