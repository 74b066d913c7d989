//! The dashboard: server-rendered pages (askama templates), server-side SVG
//! charts, a stylesheet and a few lines of optional JavaScript for live
//! refresh. HTML is written here and nowhere else.
//!
//! This crate owns the pages and how they read: formatting of numbers and
//! times (`format`), the charts ([`charts`]) and one handler per
//! page. It does not read the store itself: every question goes through
//! weir-query's typed read functions, in-process, which run blocking
//! searches off the executor and hand back plain structs. Alert state comes
//! through the [`AlertsView`] the binary hands it, so this crate depends on
//! no other feature crate. Read tokens are checked by weir-query's
//! middleware, which the binary layers over [`router`].
//!
//! A request's path: the page handler checks its parameters (an HTML error
//! page if they are wrong) → calls `weir_query::{search, trace, correlate,
//! components, topology}` with the [`Dashboard`]'s store handle → shapes the
//! answer into rows of text and SVG → renders its template.
//!
//! Pages: overview (`/`), component (`/components/{name}`), search
//! (`/search`), correlate (`/correlate`), trace (`/traces/{id}`), alerts
//! (`/alerts`) and, when read tokens are set, a login form (`/login`).

pub mod alerts_view;
mod assets;
pub mod charts;
mod format;
mod pages;

pub use alerts_view::AlertsView;

use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use weir_store::Store;

/// Where the OTLP listeners are, for the instructions in empty states.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// OTLP/gRPC address.
    pub otlp_grpc: String,
    /// OTLP/HTTP address.
    pub otlp_http: String,
}

/// What the dashboard needs besides the store.
#[derive(Clone)]
pub struct Dashboard {
    /// The store it reads.
    pub store: Arc<Store>,
    /// Alert rules, states and silences.
    pub alerts: Arc<dyn AlertsView>,
    /// OTLP addresses for the empty states.
    pub endpoints: Endpoints,
}

/// The pages behind the read-token check.
pub fn router(dashboard: Dashboard) -> Router {
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/components/{name}", get(pages::component::page))
        .route("/search", get(pages::search::page))
        .route("/correlate", get(pages::correlate::page))
        .route("/traces/{id}", get(pages::trace::page))
        .route("/alerts", get(pages::alerts::page))
        .route("/cluster", get(pages::cluster::page))
        .route("/alerts/silences", post(pages::alerts::create_silence))
        .route(
            "/alerts/silences/{id}/expire",
            post(pages::alerts::expire_silence),
        )
        .with_state(dashboard)
}

/// The pages open to everyone: the stylesheet, the script, and the login
/// form that sets the token cookie.
pub fn public_router(read_tokens_set: bool) -> Router {
    Router::new()
        .route("/ui/style.css", get(assets::style))
        .route("/ui/live.js", get(assets::script))
        .route("/ui/charts.js", get(assets::charts))
        .route("/ui/vendor/uplot.js", get(assets::uplot))
        .route("/ui/vendor/uplot.css", get(assets::uplot_css))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .with_state(read_tokens_set)
}
