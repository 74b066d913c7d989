//! The `weir` binary's library side: what the binary and the fuzz targets
//! share. Today that is the configuration (`weir.toml` ← `WEIR_*` ← flags),
//! so the fuzzer reads config files exactly as `weir serve` does; the
//! commands themselves live in the binary (`src/main.rs` and its modules).

pub mod config;
