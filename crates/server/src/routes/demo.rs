//! The demo page at `/`: one HTML file with inline CSS and JavaScript, no build step and no
//! external resources, that runs the browser-direct flow (DESIGN.md §3) against this server with
//! the `default` tenant's publishable key: sign-up, sign-in (also through passkey autofill,
//! conditional mediation), and then a small account page on the user-facing `/me` API with the
//! sign-in's result token (its passkeys, renamed and deleted there, a passkey added as a second
//! factor and the backup codes). The token stays in the page's memory only.
//!
//! The page is on only while the server has a demo key (`AppState::demo_publishable_key`, set
//! while the `default` tenant allows open sign-up); otherwise `/` explains that the demo is off.
//! Publishable keys are public by design; a secret key is never embedded.
//!
//! Every answer carries a strict `Content-Security-Policy`: the inline script and style run only
//! because they carry a fresh random nonce, so injected markup could not run script even if the
//! escaping below failed.

use aws_lc_rs::rand::SystemRandom;
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::api_keys::random_bytes;
use crate::error::ApiError;
use crate::state::AppState;

/// The demo page; `{{NONCE}}` and `{{PUBLISHABLE_KEY}}` are filled in per response.
const DEMO_PAGE: &str = include_str!("../../assets/demo.html");
/// The page served at `/` when the demo is off; `{{NONCE}}` is filled in per response.
const OFF_PAGE: &str = include_str!("../../assets/demo-off.html");

const NONCE: &str = "{{NONCE}}";
const PUBLISHABLE_KEY: &str = "{{PUBLISHABLE_KEY}}";

/// `GET /`: the demo page, or a short page saying the demo is off.
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(page))
}

async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    let nonce = URL_SAFE_NO_PAD
        .encode(random_bytes::<16>(&SystemRandom::new()).map_err(ApiError::internal)?);
    let key = match state.demo_publishable_key.as_deref() {
        // Defence in depth: whatever sets the demo key, a secret key must never reach a page.
        Some(key) if key.starts_with("sk_") => {
            tracing::error!("the demo key is a secret key; the demo page stays off");
            None
        }
        key => key,
    };
    let (html, script) = match key {
        // The nonce first: it is base64url, so it cannot contain the key's placeholder, while
        // the key (escaped, but otherwise arbitrary text) could contain the nonce's.
        Some(key) => (
            DEMO_PAGE
                .replace(NONCE, &nonce)
                .replace(PUBLISHABLE_KEY, &escape_html(key)),
            true,
        ),
        None => (OFF_PAGE.replace(NONCE, &nonce), false),
    };
    let csp = content_security_policy(&nonce, script);
    let csp = HeaderValue::from_str(&csp).map_err(ApiError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
        ],
        html,
    )
        .into_response())
}

/// Nothing may load or run but the page's own nonced style and (for the demo) script, which may
/// only call this origin; the page cannot be framed, re-based or submit forms anywhere, and
/// assigning strings to DOM sinks such as `innerHTML` is refused (Trusted Types) where supported.
fn content_security_policy(nonce: &str, script: bool) -> String {
    let script_src = if script {
        format!("'nonce-{nonce}'")
    } else {
        "'none'".to_owned()
    };
    format!(
        "default-src 'none'; script-src {script_src}; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'; require-trusted-types-for 'script'"
    )
}

/// Escapes text for an HTML attribute value or element content.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use axum::body::{to_bytes, Body};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;
    use crate::store::sqlite::SqliteStore;
    use crate::tokens::MasterKey;

    const KEY: &str = "pk_demoPREFIX_abc\"<>&'{{NONCE}}";

    async fn state(key: Option<&str>) -> AppState {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let config = Config::load(None, &BTreeMap::new()).unwrap().config;
        // The demo page never touches tokens; any well-formed key will do.
        let master_key = MasterKey::from_base64url(&"A".repeat(43)).unwrap();
        let mut state = AppState::new(Arc::new(store), config, master_key);
        state.demo_publishable_key = key.map(Arc::from);
        state
    }

    struct Page {
        status: StatusCode,
        headers: axum::http::HeaderMap,
        body: String,
    }

    async fn get_page(state: AppState) -> Page {
        let response = router()
            .with_state(state)
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    fn csp(page: &Page) -> &str {
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
    }

    /// The nonce of the CSP's `script-src` directive.
    fn script_nonce(page: &Page) -> String {
        let directive = csp(page)
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src "))
            .unwrap();
        let nonce = directive
            .strip_prefix("script-src 'nonce-")
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap();
        nonce.to_owned()
    }

    #[tokio::test]
    async fn demo_page_has_the_test_ids_and_the_escaped_key() {
        let page = get_page(state(Some(KEY)).await).await;
        assert_eq!(page.status, StatusCode::OK);
        for id in ["username", "register", "signin", "status"] {
            assert!(
                page.body.contains(&format!("data-testid=\"{id}\"")),
                "missing data-testid {id}"
            );
        }
        assert!(page.body.contains("autocomplete=\"username webauthn\""));
        assert!(page.body.contains("aria-live=\"polite\""));
        assert!(page.body.contains("data-state=\"idle\""));
        assert!(page.body.contains(
            "<meta name=\"passkeyd-publishable-key\" \
             content=\"pk_demoPREFIX_abc&quot;&lt;&gt;&amp;&#39;{{NONCE}}\">"
        ));
        assert!(!page.body.contains("\"<>"), "the key is embedded unescaped");
        assert!(!page.body.contains("{{PUBLISHABLE_KEY}}"));
        assert!(!page.body.contains("sk_"), "the page mentions a secret key");
    }

    #[tokio::test]
    async fn demo_page_headers() {
        let page = get_page(state(Some(KEY)).await).await;
        let headers = &page.headers;
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let csp = csp(&page);
        for directive in [
            "default-src 'none'",
            "connect-src 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }

    #[tokio::test]
    async fn inline_script_and_style_carry_the_csp_nonce() {
        let page = get_page(state(Some(KEY)).await).await;
        let nonce = script_nonce(&page);
        assert_eq!(nonce.len(), 22, "16 random bytes, base64url");
        assert!(csp(&page).contains(&format!("style-src 'nonce-{nonce}'")));
        assert_eq!(page.body.matches("<script").count(), 1, "one inline script");
        assert!(page.body.contains(&format!("<script nonce=\"{nonce}\">")));
        assert_eq!(page.body.matches("<style").count(), 1, "one inline style");
        assert!(page.body.contains(&format!("<style nonce=\"{nonce}\">")));
        assert!(!page.body.contains("src=\"http"), "no external resources");
        assert!(!page.body.contains("href=\"http"), "no external resources");
    }

    #[tokio::test]
    async fn every_response_has_a_fresh_nonce() {
        let state = state(Some(KEY)).await;
        let first = script_nonce(&get_page(state.clone()).await);
        let second = script_nonce(&get_page(state).await);
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn without_a_key_the_demo_is_off() {
        let page = get_page(state(None).await).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(
            page.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(page.body.contains("demo page is off"));
        assert!(page.body.contains("README"));
        assert!(!page.body.contains("<script"));
        assert!(!page.body.contains("data-testid=\"register\""));
        assert!(csp(&page).contains("script-src 'none'"));
        let style_nonce = csp(&page)
            .split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix("style-src 'nonce-"))
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap()
            .to_owned();
        assert!(page
            .body
            .contains(&format!("<style nonce=\"{style_nonce}\">")));
    }

    #[tokio::test]
    async fn a_secret_key_is_never_embedded() {
        let page = get_page(state(Some("sk_PREFIXPREFIX_secret")).await).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("demo page is off"));
        assert!(!page.body.contains("sk_"));
    }

    /// The page without its `<template>` (markup cloned per passkey by the script).
    fn outside_template(body: &str) -> String {
        let start = body.find("<template").unwrap();
        let end = body.find("</template>").unwrap() + "</template>".len();
        format!("{}{}", &body[..start], &body[end..])
    }

    /// The page's one inline script.
    fn script(body: &str) -> &str {
        let start = body.find("<script").unwrap();
        let end = body.find("</script>").unwrap();
        &body[start..end]
    }

    /// Every `data-testid` value in `markup`, in order.
    fn test_ids(markup: &str) -> Vec<&str> {
        markup
            .split("data-testid=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect()
    }

    #[tokio::test]
    async fn account_page_test_ids_are_there_once() {
        let page = get_page(state(Some(KEY)).await).await;
        let markup = outside_template(&page.body);
        let page_ids = test_ids(&markup);
        for id in [
            "cancel",
            "result",
            "result-user-id",
            "result-credential-id",
            "signed-out",
            "next-step",
            "account",
            "account-name",
            "session-note",
            "signout",
            "passkeys",
            "passkey-count",
            "passkeys-note",
            "mfa-name",
            "mfa-add",
            "backup-codes",
            "backup-codes-warning",
            "backup-code-list",
            "copy-codes",
            "codes-done",
            "new-codes",
            "new-codes-confirm",
            "new-codes-yes",
            "new-codes-no",
        ] {
            assert!(page_ids.contains(&id), "missing data-testid {id}");
        }
        let mut unique = page_ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), page_ids.len(), "a test id is used twice");

        // One list item per passkey, cloned from the template; its ids are unique within it.
        assert_eq!(page.body.matches("<template").count(), 1);
        let start = page.body.find("<template").unwrap();
        let end = page.body.find("</template>").unwrap();
        let item_ids = test_ids(&page.body[start..end]);
        assert_eq!(
            item_ids,
            [
                "passkey",
                "passkey-name",
                "passkey-model",
                "passkey-kind",
                "passkey-sync",
                "passkey-current",
                "passkey-created",
                "passkey-last-used",
                "rename",
                "delete",
                "rename-form",
                "rename-input",
                "rename-save",
                "rename-cancel",
                "delete-confirm",
                "delete-yes",
                "delete-keep",
            ]
        );
    }

    #[tokio::test]
    async fn every_element_the_script_looks_up_exists() {
        let page = get_page(state(Some(KEY)).await).await;
        let script = script(&page.body);
        let mut looked_up = 0;
        for call in ["byId(\"", "getElementById(\""] {
            for rest in script.split(call).skip(1) {
                let id = &rest[..rest.find('"').unwrap()];
                assert!(
                    page.body.contains(&format!(" id=\"{id}\"")),
                    "the script looks up #{id}, which the page lacks"
                );
                looked_up += 1;
            }
        }
        assert!(looked_up > 20, "only {looked_up} look-ups found");
        for part in script.split("part(\"").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(
                page.body.contains(&format!("data-part=\"{name}\"")),
                "the script looks up the template part {name}, which it lacks"
            );
        }
    }

    #[tokio::test]
    async fn every_field_has_a_label_and_the_status_is_announced() {
        let page = get_page(state(Some(KEY)).await).await;
        let markup = outside_template(&page.body);
        let mut inputs = 0;
        for rest in markup.split("<input").skip(1) {
            let tag = &rest[..rest.find('>').unwrap()];
            let id = tag
                .split(" id=\"")
                .nth(1)
                .map(|rest| &rest[..rest.find('"').unwrap()])
                .expect("an input without an id cannot have a <label for>");
            assert!(
                markup.contains(&format!("<label for=\"{id}\"")),
                "input #{id} has no label"
            );
            inputs += 1;
        }
        assert_eq!(inputs, 2, "the user name and the new passkey's name");
        // The template's field is inside its label.
        let start = page.body.find("<template").unwrap();
        let template = &page.body[start..page.body.find("</template>").unwrap()];
        let label = template.find("<label>").unwrap();
        let input = template.find("<input").unwrap();
        let label_end = template.find("</label>").unwrap();
        assert!(
            label < input && input < label_end,
            "rename input outside its label"
        );

        assert!(page.body.contains("role=\"status\" aria-live=\"polite\""));
        assert!(page
            .body
            .contains("input:focus-visible, button:focus-visible"));
    }

    #[tokio::test]
    async fn the_script_needs_nothing_the_csp_forbids_and_keeps_the_token_in_memory() {
        let page = get_page(state(Some(KEY)).await).await;
        let script = script(&page.body);
        // Trusted Types and `script-src 'nonce-…'` (no 'unsafe-eval') refuse these outright.
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setTimeout(\"",
            "javascript:",
        ] {
            assert!(!script.contains(sink), "the script uses {sink}");
        }
        // The user's token lives in a variable: never in storage or a cookie.
        for store in [
            "localStorage",
            "sessionStorage",
            "indexedDB",
            "document.cookie",
        ] {
            assert!(!script.contains(store), "the script uses {store}");
        }
        // Inline event handlers and style attributes would need 'unsafe-inline'.
        let markup = page.body.replace(script, "");
        for attribute in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " oninput=",
            " style=",
        ] {
            assert!(!markup.contains(attribute), "the markup has {attribute}");
        }
        // Autofill: a conditional request that a modal ceremony can abort.
        assert!(script.contains("isConditionalMediationAvailable()"));
        assert!(script.contains("mediation: \"conditional\""));
        assert!(script.contains("new AbortController()"));
    }
}
