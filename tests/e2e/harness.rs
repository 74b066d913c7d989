//! Starts and stops the real `weir` binary on free loopback ports with a
//! temporary data directory, and throwaway PostgreSQL servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Throwaway PostgreSQL servers (`Postgres::start()`, or the server
/// `WEIR_TEST_DATABASE_URL` names) and free ports come from the testkit,
/// which the crates' own tests share.
pub use weir_testkit::{Postgres, free_port};

/// Runs `weir serve` on `config` (weir.toml lines, beside a fresh data
/// directory), expects it to refuse to start, and returns what it printed.
pub fn serve_refuses(dir: &Path, config: &str) -> String {
    let path = dir.join("weir.toml");
    let data_dir = dir.join("data").display().to_string();
    std::fs::write(&path, format!("data_dir = {data_dir:?}\n{config}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "weir started on {config}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running weir.
pub struct Weir {
    child: Option<Child>,
    /// OTLP/gRPC address.
    pub grpc: SocketAddr,
    /// OTLP/HTTP address.
    pub http: SocketAddr,
    /// Web address.
    pub web: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    config: PathBuf,
    log_path: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// Read token to send to the API, if the config sets one.
    pub read_token: Option<String>,
}

impl Weir {
    /// Starts weir with a fresh data directory and `extra` appended to weir.toml.
    pub fn start(extra: &str) -> Weir {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let mut weir = Weir::start_at(&data_dir, extra);
        weir._temp = Some(temp);
        weir
    }

    /// Starts weir with a fresh data directory and one rule file holding
    /// `rules`, evaluated from the start.
    pub fn start_with_rules(rules: &str) -> Weir {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("rules.yaml");
        std::fs::write(&file, rules).unwrap();
        let mut weir = Weir::start_at(
            &temp.path().join("data"),
            &format!("[alerts]\nrule_files = [{:?}]", file.display().to_string()),
        );
        weir._temp = Some(temp);
        weir
    }

    /// Starts weir on `data_dir` (kept after exit) with `extra` config.
    pub fn start_at(data_dir: &Path, extra: &str) -> Weir {
        Weir::start_with_files_in(data_dir, &data_dir.with_extension(""), extra)
    }

    /// Starts weir on `data_dir` with its config and log at `files` + `.toml`
    /// / `.log`: for a data directory on a filesystem the test fills up.
    pub fn start_with_files_in(data_dir: &Path, files: &Path, extra: &str) -> Weir {
        std::fs::create_dir_all(data_dir).unwrap();
        let read_token = extra
            .lines()
            .find(|l| l.trim_start().starts_with("read_tokens"))
            .and_then(|l| l.split('"').nth(1))
            .map(String::from);
        // A free port can be taken by a test running beside this one between
        // choosing it and binding it: choose again when that happens.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (grpc, http, web) = (free_port(), free_port(), free_port());
            let config = files.with_extension("toml");
            let toml = format!(
                "data_dir = {:?}\n{extra}\n[listen]\notlp_grpc = \"{grpc}\"\notlp_http = \"{http}\"\nweb = \"{web}\"\n",
                data_dir.display().to_string()
            );
            std::fs::write(&config, toml).unwrap();
            let mut weir = Weir {
                child: None,
                grpc,
                http,
                web,
                data_dir: data_dir.to_path_buf(),
                config,
                log_path: files.with_extension("log"),
                _temp: None,
                read_token: read_token.clone(),
            };
            match weir.try_spawn() {
                Ok(()) => return weir,
                Err(log) if attempts < 5 && log.contains("Address already in use") => continue,
                Err(log) => panic!("weir exited early: {log}"),
            }
        }
    }

    fn spawn(&mut self) {
        if let Err(log) = self.try_spawn() {
            panic!("weir exited early: {log}");
        }
    }

    /// Starts the process and waits until it is ready; its log if it exits.
    fn try_spawn(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(&self.log_path).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
        let config = std::fs::read_to_string(&self.config).unwrap_or_default();
        if config.contains("[cluster") {
            // The test object store (SeaweedFS) takes any credentials; a
            // node reads them from the usual AWS variables.
            command
                .env("AWS_ACCESS_KEY_ID", "weir")
                .env("AWS_SECRET_ACCESS_KEY", "weir");
        }
        let child = command
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,tantivy=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the weir binary starts");
        self.child = Some(child);
        let url = format!("http://{}/readyz", self.web);
        let log_path = self.log_path.clone();
        let started = Instant::now();
        wait_for("weir to become ready", Duration::from_secs(90), || {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "weir not ready after 60 s; its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Some(Err(format!("{status}: {}", self.log())));
            }
            let ok = reqwest::blocking::get(&url)
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            ok.then_some(Ok(()))
        })
    }

    /// What weir logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL: no flush, no shutdown.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("weir is running");
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        wait_for("weir to exit", Duration::from_secs(60), || {
            c.try_wait().unwrap()
        })
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to the running weir.
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("weir is running").id();
        let status = Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends `method` with an optional JSON body to the web listener; returns
    /// the status and the JSON answer.
    pub fn send_json(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = reqwest::blocking::Client::new()
            .request(method, format!("http://{}{}", self.web, path));
        if let Some(t) = &self.read_token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(serde_json::Value::Null))
    }

    /// Starts the same configuration and data directory again.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop weir before restarting it");
        self.spawn();
    }

    /// GET on the web listener, with the read token when one is configured.
    pub fn get(&self, path_and_query: &str) -> reqwest::blocking::Response {
        let mut req =
            reqwest::blocking::Client::new().get(format!("http://{}{}", self.web, path_and_query));
        if let Some(t) = &self.read_token {
            req = req.bearer_auth(t);
        }
        req.send().unwrap()
    }

    /// GET and parse JSON, asserting 200.
    pub fn get_json(&self, path_and_query: &str) -> serde_json::Value {
        let r = self.get(path_and_query);
        let status = r.status();
        let text = r.text().unwrap();
        assert!(status.is_success(), "GET {path_and_query}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Polls a trace until it has `spans` spans and `logs` logs.
    pub fn wait_for_trace(&self, trace_id: &str, spans: usize, logs: usize) -> serde_json::Value {
        wait_for(
            &format!("trace {trace_id} with {spans} spans and {logs} logs"),
            Duration::from_secs(30),
            || {
                let r = self.get(&format!("/api/v1/traces/{trace_id}"));
                if !r.status().is_success() {
                    return None;
                }
                let v: serde_json::Value = r.json().unwrap();
                (v["spans"].as_array().unwrap().len() == spans
                    && v["logs"].as_array().unwrap().len() == logs)
                    .then_some(v)
            },
        )
    }

    /// POST an OTLP/HTTP body.
    pub fn post_otlp(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::blocking::Response {
        let mut req = reqwest::blocking::Client::new()
            .post(format!("http://{}{}", self.http, path))
            .header("content-type", content_type)
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().unwrap()
    }

    /// Exports spans as OTLP/HTTP protobuf; the export must be accepted.
    pub fn export_spans(
        &self,
        request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    ) {
        let body = prost::Message::encode_to_vec(request);
        let status = self
            .post_otlp("/v1/traces", "application/x-protobuf", &[], body)
            .status();
        assert_eq!(status, 200, "the export is accepted");
    }

    /// Sets a failpoint (`PUT /debug/failpoints/{name}`, a `failpoints`
    /// build) to the `fail` crate's `actions`.
    pub fn set_failpoint(&self, name: &str, actions: &str) {
        let r = reqwest::blocking::Client::new()
            .put(format!("http://{}/debug/failpoints/{name}", self.web))
            .body(actions.to_string())
            .send()
            .unwrap();
        assert!(
            r.status().is_success(),
            "failpoint {name}: {}",
            r.text().unwrap()
        );
    }

    /// Turns a failpoint off.
    pub fn remove_failpoint(&self, name: &str) {
        let r = reqwest::blocking::Client::new()
            .delete(format!("http://{}/debug/failpoints/{name}", self.web))
            .send()
            .unwrap();
        assert!(r.status().is_success());
    }

    /// The value of one sample in `/metrics`, 0 if absent.
    pub fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics").text().unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A helper process (a receiver, a server) that dies with the test, even
/// when the test fails.
pub struct Helper(pub std::process::Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Another process holding SQLite's write lock on weir's database, as a
/// backup job or a stuck migration would: weir's writes fail until it is
/// dropped.
pub struct SqliteWriteLock {
    _holder: Helper,
}

impl SqliteWriteLock {
    /// Takes the lock on `weir`'s database and returns once it is held.
    pub fn take(weir: &Weir) -> SqliteWriteLock {
        use std::io::BufRead;
        let mut locker = Helper(
            Command::new("python3")
                .arg("-c")
                .arg(
                    "import sqlite3, sys\n\
                     db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                     db.execute('BEGIN IMMEDIATE')\n\
                     print('locked', flush=True)\n\
                     sys.stdin.read()\n",
                )
                .arg(weir.data_dir.join("weir.db"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut said = String::new();
        std::io::BufReader::new(locker.0.stdout.take().unwrap())
            .read_line(&mut said)
            .unwrap();
        assert_eq!(said.trim(), "locked");
        SqliteWriteLock { _holder: locker }
    }
}
