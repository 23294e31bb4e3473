//! passkeyd: a self-hosted passkey (WebAuthn) authentication server.
//!
//! The verification itself lives in the sans-IO crate `passkeyd-webauthn`; this crate is the
//! command line, the storage and the HTTP service around it. [`app`] builds the router and
//! [`serve`] runs it on a listener until a shutdown signal, draining in-flight requests.

#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod backup_codes;
pub mod bootstrap;
pub mod ceremony;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod diagnosis;
pub mod error;
pub mod metrics;
pub mod names;
pub mod origins;
pub mod policy;
pub mod rate_limit;
pub mod routes;
pub mod service;
pub mod settings;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tenant;
pub mod token_keys;
pub mod tokens;

pub use state::AppState;

use error::{ApiError, REQUEST_ID};

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole HTTP application: every route, with the layers applied once.
pub fn app(state: AppState) -> Router {
    let cors = cors_layer(&state);
    let routes = Router::new()
        .merge(routes::health::router())
        .merge(routes::tenants::router())
        .merge(routes::registration::router())
        .merge(routes::authentication::router())
        .merge(routes::users::router())
        .merge(routes::credentials::router())
        .merge(routes::tokens::router())
        .merge(routes::admin::router(&state))
        .merge(routes::me::router())
        .merge(routes::audit::router())
        .merge(routes::demo::router())
        .merge(routes::compat::router())
        .merge(routes::openapi::router())
        .merge(routes::wellknown::router())
        .fallback(|| async { ApiError::NotFound })
        .with_state(state);
    with_layers(routes).layer(cors)
}

/// What answers while the store is being opened (a database not reachable yet): `/healthz` is
/// live, everything else is 503 `unavailable`, so orchestrators keep traffic away until ready.
pub fn starting_app() -> Router {
    let routes = Router::new()
        .route(
            "/healthz",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({ "status": "starting" }))
            }),
        )
        .fallback(|| async { ApiError::Starting });
    with_layers(routes)
}

/// CORS for the browser-direct flow: an origin is allowed when some tenant lists it. Which
/// tenant's origins apply is only known from the API key, which a preflight does not carry;
/// the [`auth::Caller`] extractor then refuses a publishable-key request whose `Origin` is not
/// one of its own tenant's.
fn cors_layer(state: &AppState) -> tower_http::cors::CorsLayer {
    use axum::http::{header, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let state = state.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(move |origin, _parts| {
            let state = state.clone();
            async move {
                let Ok(origin) = origin.to_str() else {
                    return false;
                };
                service::tenants::origin_allowed(&state, origin).await
            }
        }))
        // PATCH and DELETE and `Authorization` for the user-facing `/me` routes, which a page
        // calls with the user's token.
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(auth::API_KEY),
            header::HeaderName::from_static(auth::TENANT_ID),
            header::HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([
            header::HeaderName::from_static(REQUEST_ID),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
}

/// The request log: a refused request (4xx) at `info`, with its status, for whoever looks
/// for a misconfigured client; an answered one at `debug`, so a busy server does not write a
/// line per request (a server error is logged at `error`, with its cause, by
/// `error::render_errors`). The `/metrics` counters count every request either way.
fn log_response(response: &axum::response::Response, latency: Duration, _span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_millis();
    if response.status().is_client_error() {
        tracing::info!(status, latency_ms, "refused");
    } else {
        tracing::debug!(status, latency_ms, "answered");
    }
}

/// Outermost first: request ID (sanitized, then set, then echoed), tracing, the error
/// envelope, panics as 500s, the timeout and the body limit.
fn with_layers(routes: Router) -> Router {
    routes.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::map_request(drop_unusable_request_id))
            .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request| {
                        let id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        // The path only: query strings may carry tokens.
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id = %id,
                        )
                    })
                    .on_response(log_response)
                    // Server errors are logged once, with their cause, by `render_errors`.
                    .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
            )
            .layer(axum::middleware::from_fn(metrics::track_http))
            .layer(axum::middleware::from_fn(error::render_errors))
            .layer(CatchPanicLayer::new())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                REQUEST_TIMEOUT,
            ))
            .layer(RequestBodyLimitLayer::new(BODY_LIMIT)),
    )
}

/// Builds the state `serve` runs with: loads (or creates) the master key and checks it against
/// the database (see [`bootstrap::master_key`]), and finds the demo page's key.
pub async fn open_state(
    store: std::sync::Arc<dyn store::Store>,
    config: config::Config,
) -> Result<AppState, String> {
    let master_key = bootstrap::master_key(store.as_ref(), &config, &SystemRandom::new())
        .await
        .map_err(|e| e.to_string())?;
    let mut state = AppState::new(store, config, master_key);
    // The imported file (stored if newer) and the stored BLOB; without one, names fall back to
    // the bundled list and tenants that require trusted attestation refuse more.
    service::mds::load_at_start(
        state.store.as_ref(),
        &state.config,
        &state.mds,
        state.clock.now(),
    )
    .await?;
    state.demo_publishable_key = match state
        .store
        .tenant(&tenant::TenantId::default_tenant())
        .await
    {
        Ok(tenant) => settings::TenantSettings::from_map(&tenant.settings)
            .ok()
            .filter(|s| s.open_signup)
            .and_then(|s| s.demo_publishable_key)
            .map(std::sync::Arc::from),
        Err(store::StoreError::NotFound) => None,
        Err(e) => return Err(format!("cannot read the default tenant: {e}")),
    };
    Ok(state)
}

/// Every minute: deletes expired sessions and tokens, and forgets idle rate-limit buckets.
/// Runs beside the server; each sweep is one short statement per table, so requests are not
/// held up.
pub async fn sweep_periodically(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.store.sweep_expired(state.clock.now().0).await {
            tracing::warn!(error = %e, "cannot sweep expired sessions");
        }
        state.rate_limits.sweep();
        metrics::upkeep();
    }
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then stops accepting and waits
/// for in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Generates request IDs: 16 random bytes, base64url.
#[derive(Clone, Copy, Debug)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let bytes = api_keys::random_bytes::<16>(&SystemRandom::new()).ok()?;
        HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(bytes))
            .ok()
            .map(RequestId::new)
    }
}

/// A caller-supplied request ID is kept (it ties our logs to theirs) only if it is short and
/// plain; anything else is replaced, so it cannot flood or forge log lines.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(REQUEST_ID).is_none_or(|v| {
        (1..=64).contains(&v.len())
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

#[cfg(test)]
mod tests;
