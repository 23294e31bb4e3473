//! Probes, request IDs and the error envelope, over real HTTP.

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::common::{envelope, Server};

#[tokio::test]
async fn health_and_readiness() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    for path in ["/healthz", "/readyz"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "status": "ok" }));
    }
    server.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_store_is_gone() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    server.state.store.close().await;
    let response = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response, 503).await, "unavailable");
    let response = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "liveness does not depend on the store"
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let response = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42");

    let first = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let second = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id(&first).len(), 22);
    assert_ne!(id(&first), id(&second));
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let response = server.client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(envelope(response, 404).await, "not_found");
    let response = server
        .client
        .delete(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response, 405).await, "method_not_allowed");
    server.stop().await;
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let response = server
        .client
        .post(server.url("/tenant"))
        .header("content-type", "application/json")
        .body(vec![b' '; passkeyd::BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response, 413).await, "payload_too_large");
    server.stop().await;
}
