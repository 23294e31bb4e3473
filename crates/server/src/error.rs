//! The HTTP error type and the middleware that renders every error answer as the envelope of
//! DESIGN.md §5: `{"code","message","details":{"request_id"},"notices":[]}`. `notices` carries
//! the `@notice` annotations of the tenant policies that refused a request (`policy_denied`).

use std::error::Error as StdError;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::policy::invalid::PolicyError;
use crate::store::StoreError;

/// The request ID header, set on every request and echoed on every response.
pub const REQUEST_ID: &str = "x-request-id";

/// An error answer. The `Display` text is the client-facing message, so it never includes
/// internal details; those travel in the source and are only logged.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Something failed inside the server.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
    /// The request is malformed (bad JSON, wrong types); the text says what is wrong with it.
    #[error("{0}")]
    InvalidRequest(String),
    /// No such route or resource.
    #[error("not found")]
    NotFound,
    /// The body is over the limit.
    #[error("request body too large (limit 1 MiB)")]
    PayloadTooLarge,
    /// `X-Tenant-ID` names another tenant than the API key's.
    #[error("X-Tenant-ID does not match the API key's tenant")]
    TenantMismatch,
    /// The API key is missing, unknown, malformed, revoked or of the wrong kind.
    #[error("a valid secret API key is required in X-Api-Key")]
    Unauthenticated,
    /// The API key is missing, unknown, malformed or revoked, on a route that also takes
    /// publishable keys.
    #[error("a valid API key is required in X-Api-Key")]
    UnauthenticatedAnyKey,
    /// The server is starting: the database is not reachable yet.
    #[error("the server is starting; the database is not reachable yet")]
    Starting,
    /// The database does not answer (readiness).
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The WebAuthn response failed verification; the core's code and message describe the
    /// client's own input.
    #[error("{0}")]
    Verification(#[from] passkeyd_webauthn::VerifyError),
    /// The request conflicts with what is stored (the code says what).
    #[error("{1}")]
    Conflict(&'static str, &'static str),
    /// The request cannot be carried out as sent (the code says why).
    #[error("{1}")]
    BadRequest(&'static str, &'static str),
    /// The ceremony session has expired.
    #[error("the ceremony session has expired; begin again")]
    SessionExpired,
    /// The caller may not do this (the text says why).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Too many requests or failures; retry after the given number of seconds.
    #[error("too many requests; retry later")]
    RateLimited {
        /// Seconds until a retry can succeed (`Retry-After`).
        retry_after_secs: u64,
    },
    /// A result or registration token that is malformed, forged, for another tenant, expired
    /// or already used; the code says which.
    #[error("{1}")]
    Token(&'static str, &'static str),
    /// The tenant's policy refused the request.
    #[error("the tenant's policy does not allow this")]
    PolicyDenied {
        /// The `@notice` annotations of the policies that decided.
        notices: Vec<String>,
    },
    /// A policy text that does not parse or validate; `details.errors` lists the problems.
    #[error("{0}")]
    PolicyInvalid(PolicyError),
    /// The operator API without a valid operator key in `Authorization: Bearer`.
    #[error("a valid operator key is required in Authorization: Bearer")]
    OperatorUnauthenticated,
    /// `/metrics` without the metrics token in `Authorization: Bearer`.
    #[error("a valid metrics token is required in Authorization: Bearer")]
    MetricsUnauthenticated,
    /// Something the server can do but the tenant does not enable (the text says what).
    #[error("{0}")]
    NotImplemented(&'static str),
    /// The change touches the user's factors and needs a recent proof of one: a token whose
    /// `amr` shows a passkey or a backup code, with `auth_time` at most `max_age_secs` old.
    #[error("this change needs a recent sign-in with a passkey or a backup code")]
    StepUpRequired {
        /// The tenant's `step_up_max_age_secs` (`details.max_age_secs`).
        max_age_secs: u32,
    },
    /// Another error with more members of `details` (its code, status and message are the
    /// wrapped error's): e.g. what an `origin_mismatch` expected and what came
    /// (`crate::diagnosis::mismatch_details`).
    #[error("{0}")]
    Detailed(Box<ApiError>, serde_json::Map<String, serde_json::Value>),
}

impl ApiError {
    /// Wraps an unexpected failure; it is logged with the request ID, the client sees
    /// `internal`.
    pub fn internal(e: impl StdError + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    /// The answer of a readiness probe whose dependency failed with `e` (logged with the
    /// request ID; the client sees `unavailable`).
    pub fn unavailable(e: impl StdError + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(e))
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Internal(_) => "internal",
            Self::InvalidRequest(_) => "invalid_request",
            Self::NotFound => "not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::TenantMismatch => "tenant_mismatch",
            Self::Unauthenticated
            | Self::UnauthenticatedAnyKey
            | Self::OperatorUnauthenticated
            | Self::MetricsUnauthenticated => "unauthenticated",
            Self::Unavailable(_) | Self::Starting => "unavailable",
            Self::Verification(e) => match e.code() {
                // The core's name for "already registered" is the API's conflict code.
                "credential_excluded" => "credential_exists",
                code => code,
            },
            Self::BadRequest(code, _) | Self::Conflict(code, _) | Self::Token(code, _) => code,
            Self::SessionExpired => "session_expired",
            Self::Forbidden(_) => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::PolicyDenied { .. } => "policy_denied",
            Self::PolicyInvalid(_) => "policy_invalid",
            Self::NotImplemented(_) => "not_implemented",
            Self::StepUpRequired { .. } => "step_up_required",
            Self::Detailed(inner, _) => inner.code(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TenantMismatch => StatusCode::FORBIDDEN,
            Self::Unauthenticated
            | Self::UnauthenticatedAnyKey
            | Self::OperatorUnauthenticated
            | Self::MetricsUnauthenticated => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) | Self::Starting => StatusCode::SERVICE_UNAVAILABLE,
            Self::Verification(e) if e.code() == "credential_excluded" => StatusCode::CONFLICT,
            Self::Verification(_) => StatusCode::BAD_REQUEST,
            Self::BadRequest(..) => StatusCode::BAD_REQUEST,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::SessionExpired => StatusCode::GONE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Token(..) => StatusCode::UNAUTHORIZED,
            Self::PolicyDenied { .. } => StatusCode::FORBIDDEN,
            Self::PolicyInvalid(_) => StatusCode::BAD_REQUEST,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::StepUpRequired { .. } => StatusCode::FORBIDDEN,
            Self::Detailed(inner, _) => inner.status(),
        }
    }
}

impl From<StoreError> for ApiError {
    /// Store failures the handler did not map itself: a missing row is `not_found`, anything
    /// else is internal.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            e => Self::internal(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge
        } else {
            // axum's text describes the client's own input (position, expected type), never
            // server state, so it is safe and useful to return.
            Self::InvalidRequest(rejection.body_text())
        }
    }
}

/// The error envelope, as documented in the OpenAPI description.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code, e.g. `challenge_mismatch`.
    pub code: String,
    /// A human-readable explanation (not stable; do not parse it).
    pub message: String,
    /// At least `request_id`, as in the `x-request-id` header.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Annotations of the policies that decided the request.
    pub notices: Vec<String>,
}

/// Marks an error answer whose body is already in a compatibility dialect's own shape
/// (`routes::compat`, where the dialect documents error bodies other than the envelope):
/// [`render_errors`] logs it as any other, but leaves its body alone.
#[derive(Clone, Copy, Debug)]
pub struct DialectErrorBody;

/// What [`render_errors`] needs to finish an error answer, carried in the response extensions.
#[derive(Clone, Debug)]
struct ErrorInfo {
    code: &'static str,
    message: String,
    /// What went wrong inside, for the log only.
    log_detail: Option<String>,
    /// Members of `details` besides `request_id`.
    details: serde_json::Map<String, serde_json::Value>,
    /// The annotations of the policies that decided.
    notices: Vec<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Detailed(inner, more) = self {
            let mut response = inner.into_response();
            if let Some(info) = response.extensions_mut().get_mut::<ErrorInfo>() {
                info.details.extend(more);
            }
            return response;
        }
        let log_detail = match &self {
            Self::Internal(e) => Some(error_chain(e.as_ref())),
            Self::Unavailable(e) => Some(error_chain(e.as_ref())),
            _ => None,
        };
        let mut details = serde_json::Map::new();
        if let Self::PolicyInvalid(e) = &self {
            details.insert("errors".to_owned(), json!(e.messages()));
        }
        if let Self::StepUpRequired { max_age_secs } = &self {
            details.insert("max_age_secs".to_owned(), json!(max_age_secs));
        }
        let info = ErrorInfo {
            code: self.code(),
            message: self.to_string(),
            log_detail,
            details,
            notices: match &self {
                Self::PolicyDenied { notices } => notices.clone(),
                _ => Vec::new(),
            },
        };
        let retry_after = match &self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let mut response = envelope(self.status(), &info, "");
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        // RFC 6750 §3: a 401 for a bearer-protected resource names the scheme.
        let realm = match &self {
            Self::OperatorUnauthenticated => Some("Bearer realm=\"passkeyd-admin\""),
            Self::MetricsUnauthenticated => Some("Bearer realm=\"passkeyd-metrics\""),
            _ => None,
        };
        if let Some(realm) = realm {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(realm));
        }
        response.extensions_mut().insert(info);
        response
    }
}

/// `error: cause: cause...`, for the log.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn envelope(status: StatusCode, info: &ErrorInfo, request_id: &str) -> Response {
    let mut details = info.details.clone();
    details.insert("request_id".to_owned(), json!(request_id));
    let body = json!({
        "code": info.code,
        "message": info.message,
        "details": details,
        "notices": info.notices,
    });
    (status, axum::Json(body)).into_response()
}

/// Middleware: gives every 4xx/5xx answer the envelope, with the request ID, including answers
/// made by layers and by axum itself (413 from the body limit, 405, 408 from the timeout), and
/// logs internal errors once with the request ID.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let info = parts
        .extensions
        .remove::<ErrorInfo>()
        .unwrap_or_else(|| info_for_status(status));
    if let (Some(detail), StatusCode::SERVICE_UNAVAILABLE) = (&info.log_detail, status) {
        tracing::warn!(request_id, code = info.code, error = %detail, "unavailable");
    } else if let Some(detail) = &info.log_detail {
        tracing::error!(request_id, code = info.code, error = %detail, "request failed");
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        // Starting up, or the store is away: the readiness probe's answer, not a failure.
        tracing::debug!(request_id, code = info.code, "unavailable");
    } else if status.is_server_error() {
        tracing::error!(request_id, code = info.code, "request failed");
    }
    if parts.extensions.remove::<DialectErrorBody>().is_some() {
        return Response::from_parts(parts, body);
    }
    let rendered = envelope(status, &info, &request_id);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let (_, body) = rendered.into_parts();
    Response::from_parts(parts, Body::new(body))
}

/// The envelope for answers not made by [`ApiError`].
fn info_for_status(status: StatusCode) -> ErrorInfo {
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::NOT_IMPLEMENTED => "not_implemented",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = match code {
        "internal" => "internal error".to_owned(),
        "payload_too_large" => ApiError::PayloadTooLarge.to_string(),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    };
    ErrorInfo {
        code,
        message,
        log_detail: None,
        details: serde_json::Map::new(),
        notices: Vec::new(),
    }
}

/// A JSON body extractor whose failures are [`ApiError`]s (400 `invalid_request`, 413
/// `payload_too_large`) rather than axum's plain-text rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}
