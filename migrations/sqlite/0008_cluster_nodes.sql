-- Cluster mode: each node's heartbeat, with what it owns and how far
-- behind its consumers are, for GET /api/v1/cluster and the dashboard.
CREATE TABLE cluster_nodes (
    node_id    TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    status     TEXT NOT NULL
);
