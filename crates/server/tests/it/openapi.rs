//! The OpenAPI description at `/openapi.json`: it lists every route the server serves, its
//! references resolve, its errors are the envelope, and it names every error code.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;

use crate::common::Server;

/// Every route the server serves, as `(method, path)` with OpenAPI path templates. A new route
/// belongs here and in the description.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/webauthn/registration/request"),
    ("post", "/webauthn/registration/response"),
    ("post", "/webauthn/authentication/request"),
    ("post", "/webauthn/authentication/response"),
    ("get", "/users/{userId}"),
    ("delete", "/users/{userId}"),
    ("get", "/users/{userId}/credentials"),
    ("post", "/users/{userId}/tokens"),
    ("get", "/me/credentials"),
    ("patch", "/me/credentials/{credentialId}"),
    ("delete", "/me/credentials/{credentialId}"),
    ("post", "/me/mfa/webauthn/register/begin"),
    ("post", "/me/mfa/webauthn/register/complete"),
    ("post", "/me/mfa/backup-codes"),
    ("post", "/me/mfa/backup-codes/verify"),
    ("get", "/audit"),
    ("patch", "/credentials/{credentialId}"),
    ("delete", "/credentials/{credentialId}"),
    ("post", "/registration-tokens"),
    ("post", "/tokens/verify"),
    ("get", "/.well-known/jwks.json"),
    // Related origins and app association (routes/wellknown.rs).
    ("get", "/.well-known/webauthn"),
    ("get", "/.well-known/assetlinks.json"),
    ("get", "/.well-known/apple-app-site-association"),
    ("get", "/tenant"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/"),
    ("get", "/admin/tenants/{tenantId}/policy"),
    ("put", "/admin/tenants/{tenantId}/policy"),
    ("delete", "/admin/tenants/{tenantId}/policy"),
    ("get", "/admin/mds"),
    // Webhooks.
    ("get", "/admin/tenants/{tenantId}/webhooks"),
    ("put", "/admin/tenants/{tenantId}/webhooks"),
    ("get", "/admin/tenants/{tenantId}/webhooks/deliveries"),
    (
        "post",
        "/admin/tenants/{tenantId}/webhooks/deliveries/{deliveryId}/redeliver",
    ),
    ("post", "/attestation/options"),
    ("post", "/attestation/result"),
    ("post", "/assertion/options"),
    ("post", "/assertion/result"),
    ("post", "/v1/auth/users/create"),
    ("post", "/v1/auth/webauthn/registrations/begin"),
    ("post", "/v1/auth/webauthn/registrations/create"),
    ("post", "/v1/auth/webauthn/authentication/begin"),
    ("post", "/v1/auth/webauthn/verify"),
    ("delete", "/v1/auth/users/webauthn_credentials/{id}/delete"),
    ("get", "/api/v1/webauthn/registration/options/"),
    ("post", "/api/v1/webauthn/registration/verify/"),
    ("get", "/api/v1/webauthn/authentication/options/"),
    ("post", "/api/v1/webauthn/authentication/verify/"),
    ("get", "/api/v1/webauthn/credentials/"),
    ("post", "/mfa/setup"),
    ("post", "/mfa/passkey/complete-registration"),
    ("post", "/mfa/passkey/complete-registration-1"),
    ("post", "/mfa/passkey/auth-options"),
    ("post", "/mfa/passkey/verify"),
    ("post", "/v1/users/me/mfa/webauthn/register"),
    ("post", "/v1/users/me/mfa/webauthn/register/complete"),
    ("get", "/v1/users/me/mfa"),
    ("post", "/v1/users/me/mfa/backup-codes"),
    ("post", "/v1/auth/mfa/webauthn/begin"),
    ("post", "/v1/auth/mfa/webauthn/complete"),
];

/// The FIDO conformance API: no key, off (404) by default (tests/it/compat_fido.rs serves it).
const FIDO_CONFORMANCE: &[&str] = &[
    "/attestation/options",
    "/attestation/result",
    "/assertion/options",
    "/assertion/result",
];

/// The Streambird dialect: `Authorization: Bearer sk_...`, off (404) unless the tenant turns it
/// on (tests/it/compat_streambird.rs serves it).
const STREAMBIRD_PREFIX: &str = "/v1/auth/";

/// The mailcheap dialect: HTTP Basic (security scheme `mailcheap_basic`), off (404) unless the
/// tenant turns it on (tests/it/compat_mailcheap.rs serves it); its sign-in routes take no
/// credentials.
const MAILCHEAP_PREFIX: &str = "/api/v1/webauthn/";
const MAILCHEAP_PUBLIC: &[&str] = &[
    "/api/v1/webauthn/authentication/options/",
    "/api/v1/webauthn/authentication/verify/",
];
/// The flashback dialect: a user token as `Authorization: Bearer`, off (404) unless the tenant
/// turns it on, failures in its own `{success: false, error}` shape but for the 404
/// (tests/it/compat_flashback.rs serves it).
const FLASHBACK_PREFIX: &str = "/mfa/";

/// The Jitsudo dialect's user routes: a user token as `Authorization: Bearer` and an optional
/// `X-Tenant-ID` (tests/it/compat_jitsudo.rs serves them).
const JITSUDO_USER_PREFIX: &str = "/v1/users/me/";

/// The Jitsudo dialect's sign-in: no security scheme (the `challenge_id` is in the body), an
/// optional `X-Tenant-ID`; under the Streambird prefix, so checked first.
const JITSUDO_SIGN_IN_PREFIX: &str = "/v1/auth/mfa/";

/// The operator API: served only when an operator key is configured (404 otherwise, as in the
/// test server), and authenticated with it (security scheme `admin_key`, no `X-Tenant-ID`).
const ADMIN_PREFIX: &str = "/admin/";

/// The association files, served only for a host that is some tenant's RP ID.
const WELL_KNOWN_BY_HOST: &[&str] = &[
    "/.well-known/webauthn",
    "/.well-known/assetlinks.json",
    "/.well-known/apple-app-site-association",
];

/// 200 answers that are JSON without a named schema: a JWK Set (RFC 7517) and this document.
const FREE_FORM_JSON: &[(&str, &str)] =
    &[("get", "/.well-known/jwks.json"), ("get", "/openapi.json")];

/// The routes that browsers call with the publishable key; every other keyed route takes only
/// the secret key.
const PUBLISHABLE: &[&str] = &[
    "/webauthn/registration/request",
    "/webauthn/registration/response",
    "/webauthn/authentication/request",
    "/webauthn/authentication/response",
];

/// The API's own codes and their status (DESIGN.md §5); the verification codes come from
/// `passkeyd_webauthn::ERROR_CODES`.
const API_CODES: &[(&str, u16)] = &[
    ("invalid_request", 400),
    ("unauthenticated", 401),
    ("forbidden", 403),
    ("policy_denied", 403),
    ("policy_invalid", 400),
    ("tenant_mismatch", 403),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("request_timeout", 408),
    ("payload_too_large", 413),
    ("credential_exists", 409),
    ("user_exists", 409),
    ("no_credentials", 409),
    ("counter_regression", 409),
    ("last_credential", 409),
    ("session_not_found", 400),
    ("credential_unknown", 400),
    ("session_expired", 410),
    ("token_invalid", 401),
    ("token_expired", 401),
    ("token_used", 401),
    ("backup_code_invalid", 401),
    ("rate_limited", 429),
    ("internal", 500),
    ("unavailable", 503),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn fetch(server: &Server) -> Value {
    let response = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// Every `(method, path, operation)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                found.push((method.clone(), path.clone(), operation));
            }
        }
    }
    found
}

fn route_set(routes: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    routes
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

/// The schema a `$ref` names, if it is a schema reference that resolves.
fn referenced_schema<'a>(doc: &'a Value, schema: &Value) -> Option<&'a Value> {
    let name = schema["$ref"]
        .as_str()?
        .strip_prefix("#/components/schemas/")?;
    doc["components"]["schemas"].get(name)
}

#[tokio::test]
async fn document_is_openapi_3_1_with_info() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let doc = fetch(&server).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "passkeyd");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let description = doc["info"]["description"].as_str().unwrap();
    for needle in [
        "Backend-mediated",
        "Browser-direct",
        "/.well-known/jwks.json",
        "/tokens/verify",
        "/registration-tokens",
        "details.request_id",
        "notices",
    ] {
        assert!(description.contains(needle), "description lacks {needle}");
    }
    let mut ids: Vec<&str> = operations(&doc)
        .iter()
        .map(|(m, p, op)| {
            op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{m} {p} has no operationId"))
        })
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation IDs are not unique: {ids:?}");
    server.stop().await;
}

#[tokio::test]
async fn every_route_is_described_and_served() {
    let dir = TempDir::new().unwrap();
    // With a metrics token, so that /metrics is on (and refuses the tokenless request).
    let server = Server::start_with_env(
        dir.path(),
        crate::common::secret_key(),
        &[(
            "PASSKEYD_METRICS_TOKEN",
            "metrics-token-of-the-openapi-test-0123",
        )],
    )
    .await;
    let doc = fetch(&server).await;
    let described: BTreeSet<_> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let listed = route_set(ROUTES);
    assert_eq!(
        described.difference(&listed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "described but not in the test's list"
    );
    assert_eq!(
        listed.difference(&described).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not described"
    );

    // Each listed route exists: without a key it is refused or answered, never the fallback's
    // 404 or a 405.
    for (method, path) in ROUTES {
        if path.starts_with(ADMIN_PREFIX) {
            // Off without an operator key; tests/it/policies.rs checks them with one.
            continue;
        }
        if FIDO_CONFORMANCE.contains(path)
            || path.starts_with(STREAMBIRD_PREFIX)
            || path.starts_with(MAILCHEAP_PREFIX)
        {
            // Off by default; their own tests turn them on.
            continue;
        }
        if WELL_KNOWN_BY_HOST.contains(path) {
            // 404 for a host that is no tenant's RP ID; tests/it/wellknown.rs asks as one.
            continue;
        }
        let concrete = path
            .replace("{userId}", "someone")
            .replace("{credentialId}", "AAAA");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = server
            .client
            .request(method.clone(), server.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {concrete} answered {status}: not served"
        );
    }
    server.stop().await;
}

/// The routes the source registers (`.route("...", get(..).post(..))` outside tests), so a
/// route added without being listed above (and described) fails here.
#[test]
fn the_list_matches_the_routes_in_the_source() {
    let mut found = BTreeSet::new();
    for (_, text) in source_files() {
        let mut rest = text.as_str();
        // `.route("/path", ...)`, or with the path on the next line as rustfmt breaks it.
        while let Some(at) = rest.find(".route(") {
            rest = rest[at + ".route(".len()..].trim_start();
            let Some(path) = rest.strip_prefix('"') else {
                continue;
            };
            rest = path;
            let end = rest.find('"').unwrap();
            let path = openapi_template(&rest[..end]);
            rest = &rest[end..];
            let stop = [
                ".route(",
                ";",
                "\n}",
                ".merge(",
                ".layer(",
                ".fallback(",
                ".nest(",
            ]
            .iter()
            .filter_map(|s| rest.find(s))
            .min()
            .unwrap_or(rest.len());
            let call = &rest[..stop];
            let methods: Vec<&str> = ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .filter(|m| {
                    call.match_indices(&format!("{m}(")).any(|(i, _)| {
                        i == 0
                            || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                                && call.as_bytes()[i - 1] != b'_'
                    })
                })
                .collect();
            assert!(!methods.is_empty(), "no method found for {path}: {call}");
            for method in methods {
                found.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let listed = route_set(ROUTES);
    assert_eq!(
        found.difference(&listed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routed in the source but not in ROUTES (list and describe them)"
    );
    assert_eq!(
        listed.difference(&found).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in ROUTES but not found in the source"
    );
}

/// `{user_id}` (axum) as `{userId}` (the API's names).
fn openapi_template(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    let mut upper = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => in_param = false,
            '_' if in_param => {
                upper = true;
                continue;
            }
            _ => {}
        }
        if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The crate's non-test source: every `.rs` under `src` except `tests.rs` files, each cut at
/// its first `#[cfg(test)]`.
fn source_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap().to_owned();
                out.push((path.display().to_string(), code));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    assert!(!out.is_empty());
    out
}

#[tokio::test]
async fn bodies_reference_schemas_and_errors_are_the_envelope() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let doc = fetch(&server).await;
    let error_body = &doc["components"]["schemas"]["ErrorBody"];
    for field in ["code", "message", "details", "notices"] {
        assert!(
            error_body["properties"].get(field).is_some(),
            "ErrorBody lacks {field}: {error_body}"
        );
    }
    let free_form = route_set(FREE_FORM_JSON);

    for (method, path, operation) in operations(&doc) {
        let name = format!("{method} {path}");
        if let Some(body) = operation.get("requestBody") {
            let schema = &body["content"]["application/json"]["schema"];
            assert!(
                referenced_schema(&doc, schema).is_some(),
                "{name}: request body {schema} is not a known schema"
            );
        }

        let responses = operation["responses"].as_object().unwrap();
        if let Some(ok) = responses.get("200") {
            let content = ok["content"].as_object().unwrap();
            if let Some(json) = content.get("application/json") {
                let schema = &json["schema"];
                if free_form.contains(&(method.clone(), path.clone())) {
                    assert_eq!(schema["type"], "object", "{name}");
                } else {
                    assert!(
                        referenced_schema(&doc, schema).is_some(),
                        "{name}: 200 answer {schema} is not a known schema"
                    );
                }
            } else {
                assert!(
                    content.keys().all(|t| t.starts_with("text/")),
                    "{name}: 200 answer is neither JSON nor text"
                );
            }
        } else {
            assert!(responses.contains_key("204"), "{name} documents no success");
        }

        for class in ['4', '5'] {
            assert!(
                responses.keys().any(|s| s.starts_with(class)),
                "{name} documents no {class}xx answer"
            );
        }
        for (status, response) in responses {
            let failure = status.starts_with('4') || status.starts_with('5');
            if failure && path.starts_with(FLASHBACK_PREFIX) && status != "404" {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/FlashbackFailure",
                    "{name} {status}"
                );
                continue;
            }
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{name} {status}"
                );
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn security_schemes_are_the_two_keys() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let doc = fetch(&server).await;
    let schemes = &doc["components"]["securitySchemes"];
    for (name, prefix) in [("api_key", "sk_"), ("publishable_key", "pk_")] {
        let scheme = &schemes[name];
        assert_eq!(scheme["type"], "apiKey", "{name}");
        assert_eq!(scheme["in"], "header", "{name}");
        assert_eq!(scheme["name"], "X-Api-Key", "{name}");
        assert!(
            scheme["description"].as_str().unwrap().contains(prefix),
            "{name}"
        );
    }

    let public = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/",
        "/.well-known/jwks.json",
        "/.well-known/webauthn",
        "/.well-known/assetlinks.json",
        "/.well-known/apple-app-site-association",
    ];
    for (method, path, operation) in operations(&doc) {
        let name = format!("{method} {path}");
        let mut named: Vec<&str> = operation["security"]
            .as_array()
            .map(|list| {
                list.iter()
                    .flat_map(|requirement| requirement.as_object().unwrap().keys())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        named.sort_unstable();
        let expected: &[&str] = if public.contains(&path.as_str())
            || FIDO_CONFORMANCE.contains(&path.as_str())
            || MAILCHEAP_PUBLIC.contains(&path.as_str())
            || path.starts_with(JITSUDO_SIGN_IN_PREFIX)
        {
            &[]
        } else if path.starts_with(MAILCHEAP_PREFIX) {
            &["mailcheap_basic"]
        } else if path.starts_with(STREAMBIRD_PREFIX) {
            &["streambird_key"]
        } else if path.starts_with(ADMIN_PREFIX) {
            &["admin_key"]
        } else if PUBLISHABLE.contains(&path.as_str()) {
            &["api_key", "publishable_key"]
        } else if path.starts_with("/me/")
            || path.starts_with(FLASHBACK_PREFIX)
            || path.starts_with(JITSUDO_USER_PREFIX)
        {
            &["user_token"]
        } else {
            &["api_key"]
        };
        assert_eq!(named, expected, "{name}");
        let tenant_header = operation["parameters"].as_array().is_some_and(|params| {
            params.iter().any(|p| {
                p["name"] == "X-Tenant-ID" && p["in"] == "header" && p["required"] == false
            })
        });
        let keyed = !expected.is_empty()
            && !path.starts_with(ADMIN_PREFIX)
            && !path.starts_with(STREAMBIRD_PREFIX)
            || path.starts_with(JITSUDO_SIGN_IN_PREFIX);
        assert_eq!(tenant_header, keyed, "{name}: X-Tenant-ID");
    }
    server.stop().await;
}

#[tokio::test]
async fn description_lists_every_error_code_with_its_status() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let doc = fetch(&server).await;
    let description = doc["info"]["description"].as_str().unwrap();
    let row = |code: &str, status: u16| format!("| `{code}` | {status} |");

    for (code, status) in API_CODES {
        assert!(description.contains(&row(code, *status)), "{code} {status}");
    }
    for code in passkeyd_webauthn::ERROR_CODES {
        let expected = if *code == "credential_excluded" {
            format!("{} answered as `credential_exists` |", row(code, 409))
        } else {
            row(code, 400)
        };
        assert!(description.contains(&expected), "{code}: {expected}");
    }

    // Codes written in the source, so a new one cannot go undocumented: the string codes of
    // `ApiError::{BadRequest, Conflict, Token}` anywhere, and every code `error.rs` maps to.
    let mut in_source = BTreeSet::new();
    for (file, text) in source_files() {
        for variant in ["BadRequest(", "Conflict(", "Token("] {
            let needle = format!("ApiError::{variant}");
            for (at, _) in text.match_indices(&needle) {
                let rest = text[at + needle.len()..].trim_start();
                if let Some(literal) = rest.strip_prefix('"') {
                    in_source.insert(literal[..literal.find('"').unwrap()].to_owned());
                }
            }
        }
        if file.ends_with("/src/error.rs") {
            for (at, _) in text.match_indices("=> \"") {
                let literal = &text[at + 4..];
                let code = &literal[..literal.find('"').unwrap()];
                if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    in_source.insert(code.to_owned());
                }
            }
        }
    }
    assert!(in_source.contains("token_used") && in_source.contains("method_not_allowed"));
    for code in &in_source {
        assert!(
            description.contains(&format!("| `{code}` | ")),
            "{code} (from the source) is not in the description"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn every_reference_resolves() {
    fn walk<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r);
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(list) => list.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let doc = fetch(&server).await;
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(refs.len() > 20, "{refs:?}");
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    server.stop().await;
}

/// Every `ToSchema` type in the source, by the name it has in the document (`#[schema(as =
/// ...)]` or the type's own name): utoipa keeps one schema per name and silently drops the
/// others, so two types with one name document one of them wrongly. A type added later is found
/// here without being listed.
#[test]
fn schema_names_are_unique() {
    let mut names: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (file, text) in source_files() {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[derive(") {
            rest = &rest[at + "#[derive(".len()..];
            let derive = &rest[..rest.find(")]").unwrap()];
            if !derive.split(',').any(|d| d.trim().ends_with("ToSchema")) {
                continue;
            }
            // The item the derive applies to, and the attributes before it.
            let item = ["pub struct ", "pub enum ", "struct ", "enum "]
                .iter()
                .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
                .min()
                .unwrap();
            let attributes = &rest[..item.0];
            let ident: String = rest[item.0 + item.1..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let name = attributes
                .find("as = ")
                .map(|i| {
                    attributes[i + "as = ".len()..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect::<String>()
                        .rsplit("::")
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .unwrap_or(ident.clone());
            names
                .entry(name)
                .or_default()
                .push(format!("{file}: {ident}"));
        }
    }
    assert!(names.contains_key("ErrorBody"), "{names:?}");
    let collisions: Vec<_> = names.iter().filter(|(_, types)| types.len() > 1).collect();
    assert!(
        collisions.is_empty(),
        "schema names used by several types (give each a unique name with \
         #[schema(as = DialectName)]): {collisions:?}"
    );
}

/// The native sign-in begin documents the native answer, not a dialect's of the same type name.
#[tokio::test]
async fn native_answers_are_the_native_schemas() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let doc = fetch(&server).await;
    for (path, field) in [
        (
            "/webauthn/authentication/request",
            "publicKeyCredentialRequestOptions",
        ),
        (
            "/webauthn/registration/request",
            "publicKeyCredentialCreationOptions",
        ),
    ] {
        let ok = &doc["paths"][path]["post"]["responses"]["200"]["content"]["application/json"];
        let schema = referenced_schema(&doc, &ok["schema"]).unwrap();
        assert!(
            schema["properties"].get(field).is_some()
                && schema["properties"].get("session").is_some(),
            "{path}: {schema}"
        );
    }
    for name in [
        "StreambirdAuthenticationBegun",
        "StreambirdRegistrationBegun",
    ] {
        assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
    }
    server.stop().await;
}
