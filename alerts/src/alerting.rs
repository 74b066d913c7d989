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
        let evaluation = Loop {
            engine: self.engine.clone(),
            dispatcher: self.dispatcher.clone(),
            silences: self.silences.clone(),
            db: self.db.clone(),
            clock: self.clock,
            arrivals,
        };
        tokio::join!(
            evaluation.run(stop.clone()),
            self.outbox.clone().deliver(stop)
        );
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
