//! `passkeyd doctor --url`: what a browser sees of a running deployment, through its proxy.
//!
//! | code | severity | what |
//! |---|---|---|
//! | `url_insecure` | error | the public URL is plain http and not localhost |
//! | `url_unreachable` | error | the URL does not answer (nothing else is checked) |
//! | `healthz_ok` / `healthz_failed` | ok / error | `GET /healthz` |
//! | `demo_page_ok` / `demo_page_unavailable` | ok / warning | `GET /` (the demo page) |
//! | `proxy_host_not_forwarded` | error | the tenant whose RP ID is the URL's host is not found there: the proxy does not pass `Host` |
//! | `wellknown_ok` / `wellknown_mismatch` | ok / error | a `/.well-known` file (status, `application/json`, the body the settings give) |
//! | `cors_ok` / `cors_refused` | ok / error | a CORS preflight from each web origin of the tenant |

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use reqwest::{Client, Method, Url};

use super::{Finding, Severity};
use crate::origins::{self, Association, WebOrigin};
use crate::settings::TenantSettings;
use crate::store::Tenant;

/// How long one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most origins preflighted per run.
pub const MAX_PREFLIGHTS: usize = 50;

/// The findings about the deployment at `base` for `tenants`.
pub async fn findings(base: &Url, tenants: &[Tenant]) -> Vec<Finding> {
    let mut found = Vec::new();
    let host = base.host_str().unwrap_or_default().to_ascii_lowercase();
    if base.scheme() != "https" && !origins::is_localhost(&host) && host != "127.0.0.1" {
        found.push(Finding::server(
            "url_insecure",
            Severity::Error,
            format!("{base} is plain http: browsers use WebAuthn only on https pages"),
        ));
    }
    let client = match Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            found.push(Finding::server(
                "url_unreachable",
                Severity::Error,
                format!("cannot make an HTTP client: {e}"),
            ));
            return found;
        }
    };
    let url = |path: &str| base.join(path).ok();
    match fetch(&client, url("/healthz")).await {
        Err(e) => {
            found.push(Finding::server(
                "url_unreachable",
                Severity::Error,
                format!("{base} does not answer: {e}"),
            ));
            return found;
        }
        Ok((200, _, body)) if body.contains("\"ok\"") => found.push(Finding::server(
            "healthz_ok",
            Severity::Ok,
            format!("{base}healthz answers ok"),
        )),
        Ok((status, _, _)) => found.push(Finding::server(
            "healthz_failed",
            Severity::Error,
            format!("{base}healthz answers {status}: the proxy does not reach passkeyd"),
        )),
    }
    found.push(match fetch(&client, url("/")).await {
        Ok((200, headers, _)) if content_type(&headers).starts_with("text/html") => {
            Finding::server(
                "demo_page_ok",
                Severity::Ok,
                format!("{base} serves the demo page"),
            )
        }
        Ok((status, _, _)) => Finding::server(
            "demo_page_unavailable",
            Severity::Warning,
            format!(
                "{base} answers {status} for the demo page (off unless the default tenant has it)"
            ),
        ),
        Err(e) => Finding::server(
            "demo_page_unavailable",
            Severity::Warning,
            format!("the demo page does not answer: {e}"),
        ),
    });
    for tenant in tenants {
        let settings = TenantSettings::from_map(&tenant.settings).unwrap_or_default();
        if tenant.rp_id.eq_ignore_ascii_case(&host) {
            found.extend(wellknown(&client, base, tenant, tenants).await);
        }
        found.extend(cors(&client, base, tenant, &settings).await);
    }
    found
}

/// The three files on the URL's host (which is the tenant's RP ID), as the settings of every
/// tenant on that RP ID give them.
async fn wellknown(client: &Client, base: &Url, tenant: &Tenant, all: &[Tenant]) -> Vec<Finding> {
    let settings: Vec<TenantSettings> = all
        .iter()
        .filter(|t| t.rp_id.eq_ignore_ascii_case(&tenant.rp_id))
        .filter_map(|t| TenantSettings::from_map(&t.settings).ok())
        .collect();
    let expected = Association::of(&settings);
    let files = [
        (
            "/.well-known/webauthn",
            serde_json::to_value(expected.webauthn()),
        ),
        (
            "/.well-known/assetlinks.json",
            serde_json::to_value(expected.assetlinks()),
        ),
        (
            "/.well-known/apple-app-site-association",
            serde_json::to_value(expected.apple_app_site_association()),
        ),
    ];
    let mut found = Vec::new();
    let mut not_found = 0;
    for (path, want) in &files {
        let Ok(want) = want else { continue };
        let finding = |code, severity, message: String| Finding {
            tenant: Some(tenant.id.to_string()),
            ..Finding::server(code, severity, message)
        };
        match fetch(client, base.join(path).ok()).await {
            Ok((200, headers, body)) => {
                let json_type = content_type(&headers) == "application/json";
                let got: Option<serde_json::Value> = serde_json::from_str(&body).ok();
                if json_type && got.as_ref() == Some(want) {
                    found.push(finding(
                        "wellknown_ok",
                        Severity::Ok,
                        format!("{path} is right"),
                    ));
                } else {
                    found.push(finding(
                        "wellknown_mismatch",
                        Severity::Error,
                        format!(
                            "{path} answers {} as {:?}; the settings give {want}",
                            body.chars().take(200).collect::<String>(),
                            content_type(&headers)
                        ),
                    ));
                }
            }
            Ok((404, _, _)) => not_found += 1,
            Ok((status, _, _)) => found.push(finding(
                "wellknown_mismatch",
                Severity::Error,
                format!("{path} answers {status} (browsers need 200 without redirects)"),
            )),
            Err(e) => found.push(finding(
                "wellknown_mismatch",
                Severity::Error,
                format!("{path} does not answer: {e}"),
            )),
        }
    }
    if not_found > 0 {
        found.push(Finding {
            tenant: Some(tenant.id.to_string()),
            ..Finding::server(
                "proxy_host_not_forwarded",
                Severity::Error,
                format!(
                    "the /.well-known files answer 404 at {base}, whose host is the RP ID {}: the \
                     proxy does not pass the Host header (or X-Forwarded-Host from a trusted \
                     proxy), or does not route /.well-known/ to passkeyd",
                    tenant.rp_id
                ),
            )
        });
    }
    found
}

/// A CORS preflight of a browser-direct begin from each web origin of the tenant (its own and
/// related ones), as a page there sends it.
async fn cors(
    client: &Client,
    base: &Url,
    tenant: &Tenant,
    settings: &TenantSettings,
) -> Vec<Finding> {
    let Some(target) = base.join("/webauthn/authentication/request").ok() else {
        return Vec::new();
    };
    let origins: Vec<&String> = tenant
        .origins
        .iter()
        .chain(&settings.related_origins)
        .filter(|o| WebOrigin::parse(o).is_some())
        .take(MAX_PREFLIGHTS)
        .collect();
    let mut found = Vec::new();
    for origin in origins {
        let answer = client
            .request(Method::OPTIONS, target.clone())
            .header(header::ORIGIN, origin.as_str())
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "content-type,x-api-key",
            )
            .send()
            .await;
        let allowed = answer.as_ref().ok().and_then(|a| {
            a.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let (code, severity, message) = match (&answer, allowed) {
            (Ok(_), Some(allowed)) if allowed == *origin => (
                "cors_ok",
                Severity::Ok,
                format!("a page on {origin} may call the browser-direct routes"),
            ),
            (Ok(a), _) => (
                "cors_refused",
                Severity::Error,
                format!(
                    "the CORS preflight from {origin} answers {} without allowing it: the proxy \
                     strips or answers preflights itself, or the tenant's origins differ from \
                     the server's",
                    a.status().as_u16()
                ),
            ),
            (Err(e), _) => (
                "cors_refused",
                Severity::Error,
                format!("the CORS preflight from {origin} fails: {e}"),
            ),
        };
        found.push(Finding {
            tenant: Some(tenant.id.to_string()),
            ..Finding::server(code, severity, message)
        });
    }
    found
}

async fn fetch(client: &Client, url: Option<Url>) -> Result<(u16, HeaderMap, String), String> {
    let url = url.ok_or_else(|| "not a URL".to_owned())?;
    let answer = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let body = answer.text().await.map_err(|e| e.to_string())?;
    Ok((status, headers, body))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}
