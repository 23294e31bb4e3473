//! `passkeyd serve` and `passkeyd migrate`.

use std::future::{Future, IntoFuture};
use std::io::Write;

use aws_lc_rs::rand::SystemRandom;
use tokio::net::TcpListener;

use crate::bootstrap::bootstrap;
use crate::config::Config;
use crate::store;

/// Listens at once, opens the store (answering `/readyz` 503 while the database is not
/// reachable yet), bootstraps the `default` tenant, then serves until `shutdown`.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    out: &mut impl Write,
) -> Result<(), String> {
    // One shutdown signal for both phases.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };

    let listener = std::net::TcpListener::bind(config.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let starting = TcpListener::from_std(listener.try_clone().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let (opened, open_done) = tokio::sync::oneshot::channel::<()>();
    let starting = tokio::spawn(
        axum::serve(starting, crate::starting_app())
            .with_graceful_shutdown(async {
                let _ = open_done.await;
            })
            .into_future(),
    );
    tracing::info!(%addr, database = %config.database_url, "starting");
    let store = tokio::select! {
        store = store::open(&config) => store.map_err(|e| e.to_string()),
        () = until_stopped(stopped.clone()) => Err("stopped while starting".to_owned()),
    };
    let _ = opened.send(());
    let _ = starting.await;
    let store = store?;
    // Before anything is written: a node with the wrong master key must not start at all.
    if let Err(e) =
        crate::bootstrap::master_key(store.as_ref(), &config, &SystemRandom::new()).await
    {
        store.close().await;
        return Err(e.to_string());
    }
    let now = super::now().0;
    let done = bootstrap(store.as_ref(), &config, &SystemRandom::new(), now)
        .await
        .map_err(|e| e.to_string())?;
    if done.tenant_created {
        tracing::info!(tenant = "default", rp_id = %config.rp_id, "created the default tenant");
    }
    if let Some(key) = &done.generated_key {
        writeln!(
            out,
            "passkeyd: created tenant default; secret API key (shown once): {}",
            key.expose()
        )
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot print the new API key: {e}"))?;
    }
    if done.bootstrap_key_revoked {
        tracing::warn!("PASSKEYD_BOOTSTRAP_API_KEY names a revoked key; it stays revoked");
    }
    let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    tracing::info!(%addr, database = %config.database_url, "listening");
    let state = crate::open_state(store.clone(), config).await?;
    if state.demo_publishable_key.is_some() {
        // WebAuthn needs a host name: the RP ID is `localhost`, never an IP address.
        writeln!(
            out,
            "passkeyd: demo page at http://localhost:{}/",
            addr.port()
        )
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    }
    let sweeper = tokio::spawn(crate::sweep_periodically(state.clone()));
    // Webhook deliveries: a delivery cut short by the stop is sent again once its lease ends.
    let webhooks = tokio::spawn(crate::service::webhooks::worker::run(state.clone()));
    // Downloads the MDS BLOB on start and when due, and swaps in what other nodes store.
    let mds = tokio::spawn(crate::service::mds::refresh_periodically(
        state.clone(),
        crate::service::mds::node_name(),
    ));
    let served = crate::serve(listener, state, until_stopped(stopped)).await;
    webhooks.abort();
    sweeper.abort();
    mds.abort();
    store.close().await;
    tracing::info!("stopped");
    served.map_err(|e| format!("server failed: {e}"))
}

/// Brings the schema up to date.
pub async fn migrate(config: &Config, out: &mut impl Write) -> Result<(), String> {
    let store = store::open(config).await.map_err(|e| e.to_string())?;
    store.close().await;
    writeln!(
        out,
        "passkeyd: database {} is up to date",
        config.database_url
    )
    .map_err(|e| e.to_string())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM; `serve` then drains in-flight requests.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => drop(signal.recv().await),
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
}
