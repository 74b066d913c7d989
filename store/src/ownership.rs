//! Which node owns which partition in cluster mode (docs/CLUSTER.md), held
//! by PostgreSQL session advisory locks on one dedicated connection.
//!
//! A lock lives as long as the session: a node that dies, or loses its
//! connection, loses its partitions at once, and no table or heartbeat has
//! to time out. Each node also holds a presence lock, so every node can count
//! the live ones from `pg_locks` and aim for its fair share,
//! ceil(partitions / live nodes); it releases partitions above its share, so
//! a node that joins gets work without anyone being told. PostgreSQL decides
//! every ownership: there is no protocol between nodes. PostgreSQL only, as
//! cluster mode is.

use crate::StoreError;
use sqlx::{Connection, PgConnection, Row};
use std::collections::BTreeSet;

/// The first key of weir's partition locks (the second is the partition).
const PARTITION_LOCKS: i32 = 0x7765_6972; // "weir"
/// The first key of the presence locks (the second is the node's key).
const PRESENCE_LOCKS: i32 = 0x7765_6973;
/// The key of the rule leadership: one node evaluates alert rules.
const LEADER_LOCK: (i32, i32) = (0x7765_6974, 0);

/// What a node should do this round to move toward its share.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Partitions to try to take, in order, until the share is reached.
    pub try_take: Vec<u32>,
    /// Partitions to give up.
    pub release: Vec<u32>,
}

/// The fair share of `partitions` over `live` nodes (at least one node:
/// the one asking).
pub fn share(partitions: u32, live: u32) -> u32 {
    partitions.div_ceil(live.max(1))
}

/// The round's plan for a node that owns `owned`: below its share it tries
/// the partitions it lacks, starting at `start` so that nodes do not all
/// race for partition 0; above its share it releases the highest ones.
pub fn plan(owned: &BTreeSet<u32>, share: u32, partitions: u32, start: u32) -> Plan {
    let held = owned.len() as u32;
    if held > share {
        return Plan {
            try_take: Vec::new(),
            release: owned
                .iter()
                .rev()
                .take((held - share) as usize)
                .copied()
                .collect(),
        };
    }
    Plan {
        try_take: (0..partitions)
            .map(|k| (start + k) % partitions)
            .filter(|p| !owned.contains(p))
            .collect(),
        release: Vec::new(),
    }
}

/// One node's hold on its partitions.
pub struct PartitionOwnership {
    session: PgConnection,
    partitions: u32,
    start: u32,
    owned: BTreeSet<u32>,
    leading: bool,
}

impl PartitionOwnership {
    /// Opens the node's session and marks it present. `node_key` must be
    /// unique per live node (cluster.node_id, hashed).
    pub async fn join(url: &str, node_key: i32, partitions: u32) -> Result<Self, StoreError> {
        let mut session = PgConnection::connect(url).await?;
        let present: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(PRESENCE_LOCKS)
            .bind(node_key)
            .fetch_one(&mut session)
            .await?;
        if !present {
            return Err(StoreError::DuplicateNode(node_key));
        }
        Ok(PartitionOwnership {
            session,
            partitions,
            start: node_key.unsigned_abs() % partitions.max(1),
            owned: BTreeSet::new(),
            leading: false,
        })
    }

    /// The partitions this node owns now.
    pub fn owned(&self) -> &BTreeSet<u32> {
        &self.owned
    }

    /// Nodes holding a presence lock, this one included.
    pub async fn live_nodes(&mut self) -> Result<u32, StoreError> {
        let row = sqlx::query(
            // Advisory locks belong to one database; pg_locks lists all.
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid = $1::oid AND objsubid = 2 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(i64::from(PRESENCE_LOCKS))
        .fetch_one(&mut self.session)
        .await?;
        Ok(row.get::<i64, _>(0) as u32)
    }

    /// One round: counts the live nodes, then takes free partitions up to
    /// its share or releases those above it. Returns what changed. A
    /// partition above the share is released at once, so the indexing loop
    /// calls this between sealed splits, never with a split half built.
    pub async fn rebalance(&mut self) -> Result<Plan, StoreError> {
        let share = share(self.partitions, self.live_nodes().await?);
        let plan = plan(&self.owned, share, self.partitions, self.start);
        let mut done = Plan::default();
        for p in plan.release {
            let _: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1, $2)")
                .bind(PARTITION_LOCKS)
                .bind(p as i32)
                .fetch_one(&mut self.session)
                .await?;
            self.owned.remove(&p);
            done.release.push(p);
        }
        for p in plan.try_take {
            if self.owned.len() as u32 >= share {
                break;
            }
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(PARTITION_LOCKS)
                .bind(p as i32)
                .fetch_one(&mut self.session)
                .await?;
            if taken {
                self.owned.insert(p);
                done.try_take.push(p);
            }
        }
        Ok(done)
    }

    /// Takes the rule leadership if no live node holds it; returns whether
    /// this node holds it. Held, like the partitions, as long as the session.
    pub async fn lead(&mut self) -> Result<bool, StoreError> {
        if !self.leading {
            self.leading = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(LEADER_LOCK.0)
                .bind(LEADER_LOCK.1)
                .fetch_one(&mut self.session)
                .await?;
        }
        Ok(self.leading)
    }

    /// Gives up every partition and leaves (closing the session would too).
    pub async fn leave(self) -> Result<(), StoreError> {
        self.session.close().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_rounds_up_and_counts_at_least_the_asking_node() {
        assert_eq!(share(16, 3), 6);
        assert_eq!(share(16, 2), 8);
        assert_eq!(share(16, 0), 16);
        assert_eq!(share(2, 5), 1);
    }

    #[test]
    fn below_its_share_a_node_tries_what_it_lacks_from_its_own_start() {
        let owned = BTreeSet::from([1]);
        assert_eq!(
            plan(&owned, 3, 4, 2),
            Plan {
                try_take: vec![2, 3, 0],
                release: vec![]
            }
        );
    }

    #[test]
    fn above_its_share_a_node_releases_its_highest_partitions() {
        let owned = BTreeSet::from([0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            plan(&owned, 4, 8, 0),
            Plan {
                try_take: vec![],
                release: vec![7, 6, 5, 4]
            }
        );
        assert_eq!(
            plan(&BTreeSet::from([0, 1]), 2, 4, 0).release,
            Vec::<u32>::new()
        );
    }
}
