//! Prometheus metrics: HTTP requests and WebAuthn ceremonies, served at `GET /metrics`.
//!
//! The `metrics` facade records into one process-wide recorder. The integration tests start
//! many servers in one process, so the recorder is installed once, on first use, and every
//! server renders the same [`handle`].
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `passkeyd_http_requests_total` | counter | `method`, `route`, `status` |
//! | `passkeyd_http_request_duration_seconds` | histogram | `method`, `route` |
//! | `passkeyd_ceremonies_total` | counter | `tenant`, `kind`, `outcome` |
//! | `passkeyd_ceremony_duration_seconds` | histogram | `kind` |
//! | `passkeyd_mds_serial` | gauge | (the stored MDS BLOB's `no`; absent without one) |
//! | `passkeyd_mds_next_update_timestamp_seconds` | gauge | (its `nextUpdate` day, start) |
//! | `passkeyd_mds_stale` | gauge | (1: missing or past `nextUpdate`) |
//! | `passkeyd_mds_last_fetch_timestamp_seconds` | gauge | (last download or import tried) |
//! | `passkeyd_mds_last_fetch_success` | gauge | (1: it stored, confirmed or was not modified) |
//! | `passkeyd_mds_fetches_total` | counter | `result` (`stored`, `not_modified`, an error code) |
//!
//! Every label value comes from a bounded set: the route is the route *template*, an unknown
//! HTTP method is `other`, and an outcome is a stable error code. A label fed from the request
//! would let any client grow the registry (and the scrape) without bound.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use axum::extract::{MatchedPath, Request};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const HTTP_REQUESTS: &str = "passkeyd_http_requests_total";
const HTTP_DURATION: &str = "passkeyd_http_request_duration_seconds";
const CEREMONIES: &str = "passkeyd_ceremonies_total";
const CEREMONY_DURATION: &str = "passkeyd_ceremony_duration_seconds";

/// The `kind` of a registration ceremony, for [`ceremony`].
pub const REGISTRATION: &str = "registration";
/// The `kind` of an authentication ceremony, for [`ceremony`].
pub const AUTHENTICATION: &str = "authentication";
/// The `outcome` of a ceremony that verified, for [`ceremony`].
pub const SUCCESS: &str = "success";

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// The content type of the Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Our requests are small database round trips and one signature check: mostly milliseconds,
/// anything past a few seconds is an incident (the request timeout is 30 s).
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Wide enough for both readings of a ceremony's duration: the server's own work
/// (milliseconds) and begin-to-finish as the user lived it (seconds to the session's
/// lifetime of minutes).
const CEREMONY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The process-wide Prometheus handle, installing the recorder on first call.
///
/// If another recorder is already installed (a test harness, an embedding program), the
/// facade keeps feeding that one: this logs a warning and returns the handle of a recorder
/// that is not installed, so `/metrics` still answers, without our metrics.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = match builder().install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cannot install the Prometheus recorder; /metrics will not show passkeyd's \
                     metrics"
                );
                builder().build_recorder().handle()
            }
        };
        describe();
        // Descriptions are published to the renderer by upkeep, not when written.
        handle.run_upkeep();
        handle
    })
}

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), HTTP_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(CEREMONY_DURATION.to_owned()),
                CEREMONY_BUCKETS,
            )
        })
        // Invariant: the only error is an empty bucket list, and both lists are non-empty
        // constants.
        .expect("bucket lists are non-empty")
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, Unit::Count, "HTTP requests answered.");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from receiving an HTTP request to its response head."
    );
    describe_counter!(
        CEREMONIES,
        Unit::Count,
        "Finished WebAuthn ceremonies, by outcome: success or an error code."
    );
    describe_histogram!(
        CEREMONY_DURATION,
        Unit::Seconds,
        "How long WebAuthn ceremonies took."
    );
}

/// The current metrics in the Prometheus text format.
pub fn render() -> String {
    handle().render()
}

/// Drains recorded histogram samples into their buckets and publishes new descriptions.
///
/// Each render does this too; call it periodically (say every minute) so that memory stays
/// bounded when nothing scrapes `/metrics`.
pub fn upkeep() {
    handle().run_upkeep();
}

/// Middleware (for [`axum::middleware::from_fn`]) counting and timing every request.
///
/// The route label is the route template (`/users/{userId}`), or `unmatched` for the fallback:
/// never the concrete path, which carries IDs and would give every ID its own series. Apply it
/// with `Router::layer`, which runs it after routing, so the matched path is known.
pub async fn track_http(request: Request, next: Next) -> Response {
    // Installs the recorder before the first sample, which would otherwise go nowhere.
    handle();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16().to_string();
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route).record(elapsed);
    response
}

/// The standard methods by name; anything else is `other`, because a client can send any
/// token as a method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::CONNECT => "CONNECT",
        Method::DELETE => "DELETE",
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Records a finished ceremony.
///
/// `kind` is [`REGISTRATION`] or [`AUTHENTICATION`]; `outcome` is [`SUCCESS`] or the error's
/// stable code (never its message, which is free text). `elapsed` is the ceremony's duration
/// from begin (options issued) to finish; the server's own time per step is already in the
/// HTTP histogram.
pub fn ceremony(tenant: &str, kind: &'static str, outcome: &str, elapsed: Duration) {
    handle();
    counter!(
        CEREMONIES,
        "tenant" => tenant.to_owned(),
        "kind" => kind,
        "outcome" => outcome.to_owned(),
    )
    .increment(1);
    histogram!(CEREMONY_DURATION, "kind" => kind).record(elapsed);
}

/// The route without a state type or the token check, so tests can serve it without building an
/// [`crate::AppState`]. The server serves `/metrics` from `routes::health`, behind the metrics
/// token.
#[cfg(test)]
fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new().route("/metrics", axum::routing::get(serve_metrics))
}

/// The body of `GET /metrics`: the Prometheus text format.
pub(crate) async fn serve_metrics() -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render()).into_response()
}

// The FIDO MDS refresh (service::mds): the state every node reads from the database, so every
// node reports the same values.
const MDS_SERIAL: &str = "passkeyd_mds_serial";
const MDS_NEXT_UPDATE: &str = "passkeyd_mds_next_update_timestamp_seconds";
const MDS_STALE: &str = "passkeyd_mds_stale";
const MDS_LAST_FETCH: &str = "passkeyd_mds_last_fetch_timestamp_seconds";
const MDS_LAST_FETCH_SUCCESS: &str = "passkeyd_mds_last_fetch_success";
const MDS_FETCHES: &str = "passkeyd_mds_fetches_total";

/// Counts one MDS download by its recorded result (a stable code: a bounded label).
pub fn mds_fetch(result: &str) {
    counter!(MDS_FETCHES, "result" => result.to_owned()).increment(1);
}

/// Publishes the MDS status as gauges.
#[expect(
    clippy::cast_precision_loss,
    reason = "serials and times fit an f64's 53 bits"
)]
pub fn mds_status(status: &crate::service::mds::MdsStatus) {
    if let Some(no) = status.serial {
        ::metrics::gauge!(MDS_SERIAL).set(no as f64);
    }
    if let Some(day) = status
        .next_update
        .as_deref()
        .and_then(passkeyd_webauthn::mds::MdsDate::parse)
    {
        ::metrics::gauge!(MDS_NEXT_UPDATE).set(day.start().0 as f64);
    }
    ::metrics::gauge!(MDS_STALE).set(if status.stale { 1.0 } else { 0.0 });
    if let Some(at) = status.last_attempt_at {
        ::metrics::gauge!(MDS_LAST_FETCH).set(at as f64);
        let ok = status.last_success_at == Some(at);
        ::metrics::gauge!(MDS_LAST_FETCH_SUCCESS).set(if ok { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::http::{Request, StatusCode};
    use axum::middleware::from_fn;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    // The recorder is shared by every test in the process, so each test uses label values
    // (routes, tenants) of its own and looks only for those.

    async fn send(app: Router, request: Request<Body>) -> Response {
        app.oneshot(request).await.unwrap()
    }

    fn get_request(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    fn tracked_app() -> Router {
        Router::new()
            .route(
                "/metrics-test/users/{user_id}",
                get(|| async { StatusCode::NO_CONTENT }),
            )
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(from_fn(track_http))
    }

    /// The lines of the rendered metrics that mention `needle`.
    fn lines_with(needle: &str) -> Vec<String> {
        render()
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn route_label_is_the_template_not_the_path() {
        let response = send(tracked_app(), get_request("/metrics-test/users/u-8c1f0e")).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);

        let lines = lines_with("/metrics-test/users/");
        assert!(
            lines.iter().any(|line| line.starts_with(HTTP_REQUESTS)
                && line.contains(r#"method="GET""#)
                && line.contains(r#"route="/metrics-test/users/{user_id}""#)
                && line.contains(r#"status="204""#)),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|line| line.starts_with(HTTP_DURATION)
                && line.contains("_bucket{")
                && line.contains(r#"route="/metrics-test/users/{user_id}""#)),
            "{lines:#?}"
        );
        assert!(render().lines().all(|line| !line.contains("u-8c1f0e")));
    }

    #[tokio::test]
    async fn unmatched_requests_and_odd_methods_share_labels() {
        let response = send(tracked_app(), get_request("/metrics-test/nowhere/9f27ab")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let brew = Request::builder()
            .method("BREW")
            .uri("/metrics-test/users/u-1")
            .body(Body::empty())
            .unwrap();
        let response = send(tracked_app(), brew).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

        let rendered = render();
        assert!(!rendered.contains("9f27ab"));
        assert!(!rendered.contains("BREW"));
        assert!(rendered.lines().any(|line| line.starts_with(HTTP_REQUESTS)
            && line.contains(r#"route="unmatched""#)
            && line.contains(r#"status="404""#)));
        assert!(rendered.lines().any(|line| line.starts_with(HTTP_REQUESTS)
            && line.contains(r#"method="other""#)
            && line.contains(r#"route="/metrics-test/users/{user_id}""#)
            && line.contains(r#"status="405""#)));
    }

    #[tokio::test]
    async fn ceremonies_are_counted_and_timed() {
        let tenant = "metrics-test-tenant";
        ceremony(tenant, REGISTRATION, SUCCESS, Duration::from_millis(1500));
        ceremony(tenant, REGISTRATION, SUCCESS, Duration::from_millis(900));
        ceremony(
            tenant,
            AUTHENTICATION,
            "challenge_mismatch",
            Duration::from_secs(4),
        );

        let lines = lines_with(tenant);
        let value = |kind: &str, outcome: &str| {
            lines
                .iter()
                .find(|line| {
                    line.starts_with(CEREMONIES)
                        && line.contains(&format!(r#"kind="{kind}""#))
                        && line.contains(&format!(r#"outcome="{outcome}""#))
                })
                .and_then(|line| line.rsplit(' ').next())
                .map(str::to_owned)
        };
        assert_eq!(
            value(REGISTRATION, SUCCESS).as_deref(),
            Some("2"),
            "{lines:#?}"
        );
        assert_eq!(
            value(AUTHENTICATION, "challenge_mismatch").as_deref(),
            Some("1"),
            "{lines:#?}"
        );

        let rendered = render();
        assert!(rendered.contains(&format!("# TYPE {CEREMONIES} counter")));
        assert!(rendered.contains(&format!("# HELP {CEREMONIES} ")));
        assert!(rendered.contains(&format!("# TYPE {CEREMONY_DURATION} histogram")));
        assert!(rendered.lines().any(|line| line
            .starts_with(&format!("{CEREMONY_DURATION}_bucket{{"))
            && line.contains(r#"kind="registration""#)
            && line.contains(r#"le="300""#)));
    }

    #[tokio::test]
    async fn metrics_route_serves_the_text_format() {
        ceremony(
            "metrics-test-route",
            AUTHENTICATION,
            SUCCESS,
            Duration::from_millis(20),
        );
        let response = send(routes(), get_request("/metrics")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains(r#"tenant="metrics-test-route""#), "{body}");
    }

    #[test]
    fn handle_is_installed_once() {
        assert!(std::ptr::eq(handle(), handle()));
        upkeep();
    }
}
