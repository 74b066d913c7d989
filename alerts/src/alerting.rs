//! The handle the binary gets: the engine, the dispatcher, the silences
//! and the outbox, loaded together and run together.

use crate::clock::Clock;
use crate::dispatch::Dispatcher;
use crate::engine::run::Loop;
use crate::engine::{ActiveAlert, Engine};
use crate::outbox::Outbox;
use crate::routing::Routing;
use crate::rules::RuleGroup;
use crate::silence_service::Silences;
use crate::webhook_client::ClientError;
use std::sync::Arc;
use weir_store::arrivals::MetricArrivals;
use weir_store::db::Database;

/// How often a node that does not evaluate rules reads their state again.
const FOLLOWER_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Why alerting could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A receiver's HTTP client.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Reading the stored alert states.
    #[error("cannot read alert states")]
    States(#[source] weir_store::StoreError),
    /// Reading the notification log or the silences.
    #[error("cannot read the notification log and silences")]
    Notifications(#[source] weir_store::StoreError),
}

/// Alerting, ready to run and to serve its API.
pub struct Alerting {
    engine: Arc<Engine>,
    dispatcher: Arc<Dispatcher>,
    silences: Arc<Silences>,
    outbox: Arc<Outbox>,
    db: Database,
    clock: Clock,
}

impl Alerting {
    /// Loads alert states, the notification log and the silences from
    /// `db`; alerts link back to `external_url`.
    pub async fn load(
        db: Database,
        groups: Vec<RuleGroup>,
        routing: Routing,
        external_url: String,
    ) -> Result<Arc<Self>, LoadError> {
        Self::load_with_clock(db, groups, routing, external_url, Clock::system()).await
    }

    /// [`Alerting::load`] with the clock it reads (tests pass one that
    /// follows tokio's paused clock).
    pub async fn load_with_clock(
        db: Database,
        groups: Vec<RuleGroup>,
        routing: Routing,
        external_url: String,
        clock: Clock,
    ) -> Result<Arc<Self>, LoadError> {
        let routing = Arc::new(routing);
        let outbox = Arc::new(Outbox::new(db.clone(), routing.clone(), clock)?);
        let silences = Silences::load(db.clone(), clock)
            .await
            .map_err(LoadError::Notifications)?;
        let engine = Engine::load(db.clone(), groups, &external_url, clock)
            .await
            .map_err(LoadError::States)?;
        let dispatcher = Dispatcher::load(&db, routing, external_url, outbox.clone())
            .await
            .map_err(LoadError::Notifications)?;
        Ok(Arc::new(Alerting {
            engine,
            dispatcher: Arc::new(dispatcher),
            silences: Arc::new(silences),
            outbox,
            db,
            clock,
        }))
    }

    /// Evaluates rules and delivers notifications until `stop` turns true;
    /// the groups that read a metric `arrivals` names evaluate as soon as
    /// it is committed.
    pub async fn run(
        self: Arc<Self>,
        stop: tokio::sync::watch::Receiver<bool>,
        arrivals: Option<Arc<MetricArrivals>>,
    ) {
        let evaluation = self.evaluation(arrivals);
        tokio::join!(
            evaluation.run(stop.clone()),
            self.outbox.clone().deliver(stop)
        );
    }

    /// [`Alerting::run`] for a node of a cluster: notifications are
    /// delivered on every node (each claimed by one), rules are evaluated
    /// only while `leader` says this node holds the rule leadership. A node
    /// that becomes leader first reads the alert states, the notification
    /// log and the silences the last leader left; while it is not leader it
    /// keeps reading them, so its API answers as the leader's does.
    pub async fn run_when_leader(
        self: Arc<Self>,
        stop: tokio::sync::watch::Receiver<bool>,
        mut leader: tokio::sync::watch::Receiver<bool>,
    ) {
        let evaluate = async {
            let mut stop = stop.clone();
            loop {
                if *leader.borrow_and_update() {
                    if let Err(e) = self.refresh().await {
                        tracing::warn!(error = %e, "cannot read the last rule leader's state; trying again");
                    } else {
                        tracing::info!("this node evaluates the alert rules now");
                        let (term_stop, term) = tokio::sync::watch::channel(false);
                        let evaluation = self.evaluation(None);
                        let mut until_lost = leader.clone();
                        tokio::select! {
                            _ = evaluation.run(term) => {}
                            _ = until_lost.wait_for(|l| !*l) => {
                                tracing::warn!("lost the rule leadership; another node evaluates the rules");
                            }
                            _ = stop.wait_for(|s| *s) => {}
                        }
                        let _ = term_stop.send(true);
                    }
                } else if let Err(e) = self.refresh().await {
                    tracing::debug!(error = %e, "cannot read the alert states");
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = leader.changed() => {}
                    _ = tokio::time::sleep(FOLLOWER_REFRESH) => {}
                }
            }
        };
        tokio::join!(evaluate, self.outbox.clone().deliver(stop.clone()));
    }

    fn evaluation(&self, arrivals: Option<Arc<MetricArrivals>>) -> Loop {
        Loop {
            engine: self.engine.clone(),
            dispatcher: self.dispatcher.clone(),
            silences: self.silences.clone(),
            db: self.db.clone(),
            clock: self.clock,
            arrivals,
        }
    }

    async fn refresh(&self) -> Result<(), weir_store::StoreError> {
        self.engine.refresh_states().await?;
        self.silences.refresh().await?;
        self.dispatcher.refresh(&self.db).await
    }

    /// The rules, their alerts and their status.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The silences.
    pub fn silences(&self) -> &Silences {
        &self.silences
    }

    /// The outbox and its receivers' delivery records.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// The receivers and routes.
    pub fn routing(&self) -> &Routing {
        self.outbox.routing()
    }

    /// The database alerts live in (history, notifications).
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Now, by the clock alerting runs on.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Pending and firing alerts, with the silences that mute them.
    pub fn active(&self) -> Vec<ActiveAlert> {
        self.engine.active(&self.silences)
    }
}
