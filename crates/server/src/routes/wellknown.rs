//! The association files of an RP ID's host, for the tenant whose RP ID is the request's host:
//! `/.well-known/webauthn` (WebAuthn L3 §5.11 Related Origin Requests),
//! `/.well-known/assetlinks.json` (Android) and `/.well-known/apple-app-site-association`
//! (Apple `webcredentials`). Public, as browsers and the platforms fetch them without
//! credentials.

use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};

use crate::client_ip::peer_is_trusted_proxy;
use crate::error::ApiError;
use crate::origins::host_of;
use crate::service;
use crate::state::AppState;

/// `GET /.well-known/webauthn`, `/.well-known/assetlinks.json`,
/// `/.well-known/apple-app-site-association`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/webauthn", get(webauthn))
        .route("/.well-known/assetlinks.json", get(assetlinks))
        .route("/.well-known/apple-app-site-association", get(apple))
}

/// The host the browser asked for: the `Host` header (or the HTTP/2 authority), or, when the
/// direct peer is a trusted proxy (`PASSKEYD_TRUSTED_PROXIES`, or
/// `PASSKEYD_TRUST_FORWARDED_FOR`), the rightmost `X-Forwarded-Host` entry it wrote. Without
/// one, 404 `not_found`.
#[derive(Clone, Debug)]
pub struct RequestHost(pub String);

impl FromRequestParts<AppState> for RequestHost {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let forwarded = peer_is_trusted_proxy(parts, state)
            .then(|| {
                parts
                    .headers
                    .get_all("x-forwarded-host")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .next_back()
                    .map(str::to_owned)
            })
            .flatten();
        let host = forwarded
            .or_else(|| {
                parts
                    .headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()));
        host.as_deref()
            .and_then(host_of)
            .map(Self)
            .ok_or(ApiError::NotFound)
    }
}

/// The RP ID's related origins (WebAuthn L3 §5.11.1), `application/json`.
#[utoipa::path(get, path = "/.well-known/webauthn", tag = "well-known",
    responses(
        (status = 200, description = "`{\"origins\": [...]}`: the `related_origins` of the \
            tenants whose RP ID is the request's host", content_type = "application/json",
            body = crate::origins::RelatedOrigins),
        (status = 404, description = "`not_found`: no tenant has this host as RP ID",
            body = crate::error::ErrorBody)))]
pub async fn webauthn(
    State(state): State<AppState>,
    RequestHost(host): RequestHost,
) -> Result<Json<crate::origins::RelatedOrigins>, ApiError> {
    Ok(Json(
        service::wellknown::association(&state, &host)
            .await?
            .webauthn(),
    ))
}

/// The Digital Asset Links statements of the RP ID's Android apps, `application/json`.
#[utoipa::path(get, path = "/.well-known/assetlinks.json", tag = "well-known",
    responses(
        (status = 200, description = "One statement per app of `android_apps`: relations \
            `delegate_permission/common.handle_all_urls` and \
            `delegate_permission/common.get_login_creds`, target `android_app` with \
            `package_name` and `sha256_cert_fingerprints`", content_type = "application/json",
            body = crate::origins::AssetLinks),
        (status = 404, description = "`not_found`: no tenant has this host as RP ID",
            body = crate::error::ErrorBody)))]
pub async fn assetlinks(
    State(state): State<AppState>,
    RequestHost(host): RequestHost,
) -> Result<Json<crate::origins::AssetLinks>, ApiError> {
    Ok(Json(
        service::wellknown::association(&state, &host)
            .await?
            .assetlinks(),
    ))
}

/// The Apple apps sharing the RP ID's passkeys, `application/json`.
#[utoipa::path(get, path = "/.well-known/apple-app-site-association", tag = "well-known",
    responses(
        (status = 200, description = "`{\"webcredentials\": {\"apps\": [...]}}`: the \
            `apple_app_ids` (TEAMID.bundle.id) of the tenants whose RP ID is the request's host",
            content_type = "application/json", body = crate::origins::AppleAppSiteAssociation),
        (status = 404, description = "`not_found`: no tenant has this host as RP ID",
            body = crate::error::ErrorBody)))]
pub async fn apple(
    State(state): State<AppState>,
    RequestHost(host): RequestHost,
) -> Result<Json<crate::origins::AppleAppSiteAssociation>, ApiError> {
    Ok(Json(
        service::wellknown::association(&state, &host)
            .await?
            .apple_app_site_association(),
    ))
}
