//! `weir serve`: open storage, replay the WAL, start the three listeners, and
//! shut down gracefully on SIGTERM or Ctrl-C.

use anyhow::Context;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use weir::config::WeirConfig;
use weir_collector::{Ingest, IngestAuth, IngestConfig, Telemetry};
use weir_store::{Store, StoreConfig};

/// Largest request body on the web listener.
const WEB_MAX_BODY_BYTES: usize = 1 << 20;

pub async fn run(config: WeirConfig) -> anyhow::Result<()> {
    run_until(config, shutdown_signal()).await
}

/// Serves until `shutdown` completes, then stops gracefully: no new
/// requests, everything acknowledged flushed and committed.
pub async fn run_until(
    config: WeirConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if let Some(cluster) = &config.cluster {
        cluster.validate(&config.database.url)?;
    }
    // The ports first: a port another weir holds (often the same one, on
    // the same data directory) stops this one before it opens anything.
    let grpc_listener = bind(config.listen.otlp_grpc, "listen.otlp_grpc", "--otlp-grpc").await?;
    let http_listener = bind(config.listen.otlp_http, "listen.otlp_http", "--otlp-http").await?;
    let web_listener = bind(config.listen.web, "listen.web", "--web").await?;
    let data_dir = config.data_dir.clone();
    let mut store_config = StoreConfig::new(&data_dir, config.database.clone());
    store_config.span_index_heap_bytes = config.ingest.span_index_heap_mib << 20;
    store_config.log_index_heap_bytes = config.ingest.log_index_heap_mib << 20;
    let store = Arc::new(
        Store::open(&store_config)
            .await
            .with_context(|| format!("cannot open storage in {}", data_dir.display()))?,
    );
    tracing::info!(data_dir = %data_dir.display(), database = store.db.backend(), "storage open");

    let (retention, retention_every) = (config.retention.policy(), config.retention.check_interval);
    let (ingest, node) = match &config.cluster {
        Some(cluster) => {
            let node = join_cluster(&config, cluster, store.clone()).await?;
            let ingest = Ingest::replicated(
                node.publisher.clone(),
                config.ingest.max_pending_bytes,
                Arc::new(Telemetry::default()),
            );
            (ingest, Some(node))
        }
        None => (start_local_ingest(&config, store.clone()).await?, None),
    };

    let groups = load_rule_groups(&config.alerts.rule_files)?;
    let rule_count: usize = groups.iter().map(|g| g.rules.len()).sum();
    let routing = weir_alerts::routing::Routing::from_config(&config.alerts)
        .context("invalid [alerts] receivers or routes in the configuration")?;
    let external_url = if config.alerts.external_url.trim().is_empty() {
        format!("http://{}", config.listen.web)
    } else {
        config.alerts.external_url.trim().to_string()
    };
    let alerting =
        weir_alerts::Alerting::load(store.db.clone(), groups, routing, external_url).await?;
    tracing::info!(rules = rule_count, "alert rules loaded");
    let rule_files = config.alerts.rule_files.clone();
    let rule_loader: weir_alerts::engine::RuleLoader =
        Arc::new(move || load_rule_groups(&rule_files).map_err(|e| format!("{e:#}")));

    let (stop_tx, stop_rx) = watch::channel(false);
    match &node {
        // One node of a cluster evaluates rules; every node delivers.
        Some(node) => tokio::spawn(
            alerting
                .clone()
                .run_when_leader(stop_rx.clone(), node.leader.clone()),
        ),
        None => tokio::spawn(
            alerting
                .clone()
                .run(stop_rx.clone(), Some(store.arrivals.clone())),
        ),
    };
    tokio::spawn(reload_on_sighup(
        alerting.engine().clone(),
        rule_loader.clone(),
        stop_rx.clone(),
    ));
    tokio::spawn(enforce_retention(
        store.clone(),
        retention,
        retention_every,
        stop_rx.clone(),
    ));
    tokio::spawn(fold_rollups(store.db.clone(), stop_rx.clone()));
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let auth = IngestAuth::new(config.auth.ingest_tokens.clone());
    let max_body = config.ingest.max_body_bytes;

    let (traces, logs, metrics) =
        weir_collector::grpc::services(ingest.clone(), auth.clone(), max_body);
    // A malformed body is answered INVALID_ARGUMENT by the services' own
    // codec (collector/src/grpc/arrived.rs).
    let grpc = tonic::transport::Server::builder()
        .add_service(traces)
        .add_service(logs)
        .add_service(metrics)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(grpc_listener),
            stopped(stop_rx.clone()),
        );

    let limits = crate::http_server::HttpLimits {
        header_read_timeout: config.ingest.header_read_timeout,
        body_read_timeout: config.ingest.body_read_timeout,
    };
    let otlp_http = crate::http_server::serve(
        http_listener,
        weir_collector::http::router(ingest.clone(), auth, max_body),
        limits,
        stopped(stop_rx.clone()),
    );

    let read_auth = weir_query::ReadAuth::new(config.auth.read_tokens.clone());
    let read_auth_enabled = read_auth.enabled();
    let engine_view = Arc::new(crate::dashboard::EngineView(alerting.clone()));
    let protected = weir_query::router(store.clone(), engine_view.clone())
        .merge(weir_alerts::api::router(alerting.clone(), rule_loader))
        .merge(weir_ui::router(weir_ui::Dashboard {
            store: store.clone(),
            alerts: engine_view,
            endpoints: weir_ui::Endpoints {
                otlp_grpc: config.listen.otlp_grpc.to_string(),
                otlp_http: config.listen.otlp_http.to_string(),
            },
        }))
        .layer(axum::middleware::from_fn_with_state(
            read_auth,
            weir_query::require_read_token,
        ));
    let web = crate::http_server::serve(
        web_listener,
        crate::ops::router(
            store.clone(),
            ingest.clone(),
            alerting.outbox().clone(),
            node.as_ref().map(|n| n.probe()),
        )
        .merge(weir_ui::public_router(read_auth_enabled))
        .merge(protected)
        .fallback(not_found)
        // Forms and JSON bodies of the API are small; a declared
        // Content-Length above this gets 413 before anything is read.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            WEB_MAX_BODY_BYTES,
        )),
        limits,
        stopped(stop_rx.clone()),
    );

    tracing::info!(
        otlp_grpc = %config.listen.otlp_grpc,
        otlp_http = %config.listen.otlp_http,
        web = %format!("http://{}", config.listen.web),
        "weir is serving"
    );

    let servers = async {
        let (g, h, w) = tokio::join!(grpc, otlp_http, web);
        g.context("OTLP/gRPC server")?;
        h.context("OTLP/HTTP server")?;
        w.context("web server")?;
        anyhow::Ok(())
    };
    tokio::pin!(servers);
    tokio::select! {
        result = &mut servers => result?,
        _ = shutdown => {
            tracing::info!("shutting down: no new requests; flushing and committing");
            let _ = stop_tx.send(true);
            servers.await?;
        }
    }
    let ingest_for_stop = ingest.clone();
    tokio::task::spawn_blocking(move || ingest_for_stop.shutdown())
        .await
        .context("shutdown")?;
    if let Some(node) = node {
        node.stop().await;
    }
    store.db.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The single node's ingest path: the local write-ahead log and one
/// storage worker per signal.
async fn start_local_ingest(config: &WeirConfig, store: Arc<Store>) -> anyhow::Result<Arc<Ingest>> {
    Ingest::start(
        IngestConfig {
            wal_dir: config.data_dir.join("wal"),
            commit_interval: config.ingest.commit_interval,
            max_pending_bytes: config.ingest.max_pending_bytes,
            wal_segment_bytes: 64 << 20,
            lag_metrics: config.pipeline.lag_metrics.clone(),
            rollups: config.ingest.rollups,
            min_free_bytes: config.ingest.min_free_bytes,
        },
        store,
        Arc::new(Telemetry::default()),
    )
    .await
    .context("cannot open the write-ahead log")
}

/// A cluster node: JetStream for the event log, the object store for
/// splits, PostgreSQL for everything decided (docs/CLUSTER.md).
async fn join_cluster(
    config: &WeirConfig,
    cluster: &weir_cluster::config::ClusterConfig,
    store: Arc<Store>,
) -> anyhow::Result<weir_cluster::node::Node> {
    let settings = weir_cluster::node::NodeSettings {
        cluster: cluster.clone(),
        database_url: config.database.url.trim().to_string(),
        data_dir: config.data_dir.clone(),
        commit_interval: config.ingest.commit_interval,
        index_heap_bytes: (config.ingest.span_index_heap_mib + config.ingest.log_index_heap_mib)
            << 20,
        lag_metrics: config.pipeline.lag_metrics.clone(),
        rollups: config.ingest.rollups,
        retention: weir_cluster::node::SplitRetention {
            spans: config.retention.spans,
            logs: config.retention.logs,
            every: config.retention.check_interval,
        },
    };
    let node = weir_cluster::node::Node::start(settings, store)
        .await
        .with_context(|| {
            format!(
                "cannot join the cluster as node `{}`",
                cluster.node_id.trim()
            )
        })?;
    Ok(node)
}

/// Reads every rule file named by `alerts.rule_files` (paths or globs);
/// any error in any file stops the start, with every problem listed.
fn load_rule_groups(patterns: &[String]) -> anyhow::Result<Vec<weir_alerts::rules::RuleGroup>> {
    let mut paths = Vec::new();
    for pattern in patterns {
        if pattern.contains(['*', '?', '[']) {
            let before = paths.len();
            for entry in glob::glob(pattern)
                .with_context(|| format!("alerts.rule_files: bad glob `{pattern}`"))?
            {
                paths.push(entry.with_context(|| format!("alerts.rule_files: `{pattern}`"))?);
            }
            if paths.len() == before {
                // Prometheus loads nothing silently here; a typo in a path
                // would then look like a quiet pipeline.
                tracing::warn!(
                    pattern = %pattern,
                    "alerts.rule_files: `{pattern}` matches no file; no rules load from it"
                );
            }
        } else {
            paths.push(std::path::PathBuf::from(pattern));
        }
    }
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("alerts.rule_files: cannot read {name}"))?;
        match weir_alerts::rules::parse(&text, &name) {
            Ok(file) => groups.extend(file.groups),
            Err(errors) => problems.extend(errors.into_iter().map(|e| e.to_string())),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("invalid alert rules:\n{}", problems.join("\n"));
    }
    Ok(groups)
}

/// Reloads the rule files on SIGHUP, as Prometheus does.
async fn reload_on_sighup(
    engine: Arc<weir_alerts::engine::Engine>,
    loader: weir_alerts::engine::RuleLoader,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload rules with POST /api/v1/rules/reload");
            return;
        };
        loop {
            let hung_up = tokio::select! {
                signal = hup.recv() => signal.is_some(),
                _ = stop.wait_for(|s| *s) => false,
            };
            if !hung_up {
                return;
            }
            // The outcome is logged and shown by /api/v1/rules.
            let _ = engine.reload_with(&loader).await;
        }
    }
    #[cfg(not(unix))]
    let _ = (engine, loader, stop.wait_for(|s| *s).await);
}

/// Runs retention at start and then every `every`, until shutdown.
async fn enforce_retention(
    store: Arc<Store>,
    policy: weir_store::retention::RetentionPolicy,
    every: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match store
            .enforce_retention(&policy, weir_core::now_unix_nanos())
            .await
        {
            Ok(removed) if removed != Default::default() => {
                tracing::info!(?removed, "retention removed old data")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention pass failed; will try again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// How often finished minutes' rollup rows are folded into one.
const FOLD_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a minute stays open to its writers' own rows after it ends:
/// late batches still arrive, but folding them later costs the same.
const FOLD_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Folds each writer's rollup rows of finished minutes into one row per
/// minute (store/src/db/rollup_fold.rs), until shutdown, so reads of long
/// windows stay one row per component and minute. On every node of a
/// cluster; one at a time folds.
async fn fold_rollups(db: weir_store::db::Database, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FOLD_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = weir_core::now_unix_nanos();
        let minute = 60_000_000_000;
        let before = now.saturating_sub(FOLD_AFTER.as_nanos() as u64) / minute * minute;
        match db.fold_rollups(before).await {
            Ok(folded) => tracing::debug!(?folded, "rollup rows folded"),
            Err(e) => tracing::warn!(error = %e, "folding rollup rows failed; will try again"),
        }
    }
}

async fn bind(addr: std::net::SocketAddr, key: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "another process is listening there".to_string()
        } else {
            e.to_string()
        };
        anyhow::anyhow!("cannot listen on {addr}: {why}; choose another address with {flag} or {key} in weir.toml")
    })
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler succeeds");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// An unknown route: JSON under `/api/` (as the API's other errors, and
/// what a client parses), a short page elsewhere.
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path();
    if path.starts_with("/api/") {
        (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "error": format!("no route {method} {path}; the API's routes are listed in the README")
            })),
        )
            .into_response()
    } else {
        (
            axum::http::StatusCode::NOT_FOUND,
            axum::response::Html(format!(
                "<!doctype html><title>Not found</title><p>Nothing at <code>{}</code>. <a href=\"/\">Overview</a></p>",
                path.replace('&', "&amp;").replace('<', "&lt;")
            )),
        )
            .into_response()
    }
}
