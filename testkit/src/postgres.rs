//! Throwaway PostgreSQL servers: a real server from the distribution's
//! binaries (`initdb` and `pg_ctl` under `/usr/lib/postgresql/*/bin`) on a
//! free loopback port with its data in a temporary directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::free_port;

/// A running PostgreSQL server to make test databases on.
pub struct PgServer {
    /// `postgres://user@host:port`, without a database.
    server: String,
    /// A database to connect to for creating others.
    admin_url: String,
    /// Stops the server once its stdin closes; `None` for an outside server.
    watchdog: Option<Child>,
}

impl PgServer {
    /// Starts a server of its own, or uses the one `WEIR_TEST_DATABASE_URL`
    /// names.
    pub fn start() -> PgServer {
        if let Ok(url) = std::env::var("WEIR_TEST_DATABASE_URL") {
            let (server, _) = url
                .rsplit_once('/')
                .unwrap_or_else(|| panic!("WEIR_TEST_DATABASE_URL `{url}` must end in /database"));
            return PgServer {
                server: server.to_string(),
                admin_url: url.clone(),
                watchdog: None,
            };
        }
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("weir-pg")
            .tempdir()
            .expect("a temporary directory can be made");
        // The server runs as the postgres user when the tests run as root.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("the temporary directory's mode can be set");
        let data = dir.path().join("pgdata");
        let data_s = data.to_str().expect("temporary paths are UTF-8");
        run_checked(
            "initdb",
            as_postgres_user(&bin, "initdb").args([
                "-D",
                data_s,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]),
        );
        let port = free_port().port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        let log = dir.path().join("pg.log");
        run_checked(
            "pg_ctl start",
            as_postgres_user(&bin, "pg_ctl").args([
                "-D",
                data_s,
                "-o",
                &opts,
                "-l",
                log.to_str().expect("temporary paths are UTF-8"),
                "-w",
                "start",
            ]),
        );
        // From here the watchdog owns the directory: it removes it after
        // stopping the server, also when no destructor runs.
        let dir = dir.keep();
        let watchdog = spawn_watchdog(&bin, &dir, &dir.join("pgdata"));
        let server = format!("postgres://postgres@127.0.0.1:{port}");
        PgServer {
            admin_url: format!("{server}/postgres"),
            server,
            watchdog: Some(watchdog),
        }
    }

    /// The server every test of this test binary shares, started on first use.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// Creates a fresh, empty database; returns its URL.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let db = format!(
            "weir_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand_suffix()
        );
        let out = Command::new("psql")
            .args([&self.admin_url, "-qc", &format!("CREATE DATABASE {db}")])
            .output()
            .expect("psql is needed to create test databases: apt-get install postgresql-client");
        assert!(
            out.status.success(),
            "CREATE DATABASE {db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("{}/{db}", self.server)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            // Closing its stdin is the signal; waiting means the server is
            // down and its directory gone when the drop returns.
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

/// A server of one's own with one fresh database, stopped when dropped.
pub struct Postgres {
    /// Connection URL of a fresh, empty database.
    pub url: String,
    _server: PgServer,
}

impl Postgres {
    /// Starts a server (or uses `WEIR_TEST_DATABASE_URL`'s) and creates a
    /// database on it.
    pub fn start() -> Postgres {
        let server = PgServer::start();
        Postgres {
            url: server.create_database(),
            _server: server,
        }
    }
}

fn pg_bin() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates
        .into_iter()
        .rev()
        .find(|p| p.join("initdb").exists())
        .expect("PostgreSQL server binaries are needed: apt-get install postgresql (.ci/run does)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// The command line running `program` from `bin` as the postgres user: the
/// server refuses to run as root.
fn postgres_user_argv(bin: &Path, program: &str) -> Vec<OsString> {
    let path = bin.join(program).into_os_string();
    if is_root() {
        ["runuser", "-u", "postgres", "--"]
            .into_iter()
            .map(OsString::from)
            .chain([path])
            .collect()
    } else {
        vec![path]
    }
}

fn as_postgres_user(bin: &Path, program: &str) -> Command {
    let argv = postgres_user_argv(bin, program);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

fn run_checked(what: &str, cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} cannot run ({e}): apt-get install postgresql"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A process that waits until its stdin closes (the test process dropped the
/// server or exited, even killed), then stops the server and removes its
/// directory. It ignores the terminal's signals so that Ctrl-C on the tests
/// does not kill it before it has done its job.
fn spawn_watchdog(bin: &Path, dir: &Path, data: &Path) -> Child {
    let mut stop = postgres_user_argv(bin, "pg_ctl");
    stop.extend(["-D".into(), data.into(), "-m".into(), "immediate".into()]);
    stop.push("stop".into());
    Command::new("sh")
        .arg("-c")
        .arg(
            "trap '' INT TERM HUP; dir=$1; shift; cat >/dev/null; \"$@\" >/dev/null 2>&1; rm -rf \"$dir\"",
        )
        .arg("weir-pg-watchdog")
        .arg(dir)
        .args(stop)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs")
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() % 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psql_select_one(url: &str) -> bool {
        Command::new("psql")
            .args([url, "-qtAc", "SELECT 1"])
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"1"))
    }

    #[test]
    fn a_server_serves_fresh_databases_and_stops_when_dropped() {
        let server = PgServer::start();
        let (a, b) = (server.create_database(), server.create_database());
        assert_ne!(a, b);
        assert!(psql_select_one(&a) && psql_select_one(&b));
        let outside = server.watchdog.is_none();
        drop(server);
        if !outside {
            assert!(!psql_select_one(&a), "the server is down after the drop");
        }
    }
}
