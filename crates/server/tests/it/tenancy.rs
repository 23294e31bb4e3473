//! API key authentication and tenant isolation.

use serde_json::Value;
use tempfile::TempDir;

use crate::common::{envelope, secret_key, Server};

#[tokio::test]
async fn the_tenant_route_needs_a_valid_secret_key() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let get = |key: Option<&str>| {
        let mut request = server.client.get(server.url("/tenant"));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send()
    };

    let response = get(Some(server.key.expose())).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], "default");
    assert_eq!(body["rpId"], "localhost");
    assert_eq!(
        body["origins"],
        serde_json::json!(["http://localhost:8080"])
    );

    let unknown = secret_key();
    let same_prefix_wrong_secret = format!("{}_{}", server.key.prefix(), "A".repeat(43));
    let publishable = server.key.expose().replacen("sk_", "pk_", 1);
    for key in [
        None,
        Some(""),
        Some("not a key"),
        Some(unknown.expose()),
        Some(same_prefix_wrong_secret.as_str()),
        Some(publishable.as_str()),
    ] {
        let response = get(key).await.unwrap();
        assert_eq!(envelope(response, 401).await, "unauthenticated", "{key:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn revoked_keys_stop_working() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let tenant = passkeyd::tenant::TenantId::default_tenant();
    server
        .state
        .store
        .revoke_api_key(&tenant, server.key.prefix(), 1_700_000_001)
        .await
        .unwrap();
    let response = server
        .client
        .get(server.url("/tenant"))
        .header("x-api-key", server.key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response, 401).await, "unauthenticated");
    server.stop().await;
}

#[tokio::test]
async fn x_tenant_id_must_match_the_key() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let get = |tenant: &str| {
        server
            .client
            .get(server.url("/tenant"))
            .header("x-api-key", server.key.expose())
            .header("x-tenant-id", tenant)
            .send()
    };
    assert_eq!(get("default").await.unwrap().status(), 200);
    let response = get("acme").await.unwrap();
    assert_eq!(envelope(response, 403).await, "tenant_mismatch");

    // Naming a tenant does not help a caller without a valid key.
    let response = server
        .client
        .get(server.url("/tenant"))
        .header("x-tenant-id", "default")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response, 401).await, "unauthenticated");
    server.stop().await;
}

#[tokio::test]
async fn a_key_sees_only_its_own_tenant() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let acme = server.add_tenant("acme").await;

    let response = server
        .client
        .get(server.url("/tenant"))
        .header("x-api-key", acme.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], "acme");
    assert_eq!(body["rpId"], "acme.example.com");

    // acme's key cannot act for the default tenant by naming it.
    let response = server
        .client
        .get(server.url("/tenant"))
        .header("x-api-key", acme.expose())
        .header("x-tenant-id", "default")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response, 403).await, "tenant_mismatch");

    // Store level: listing and revoking are scoped to the tenant named.
    let store = &server.state.store;
    let default = passkeyd::tenant::TenantId::default_tenant();
    let acme_id = passkeyd::tenant::TenantId::parse("acme").unwrap();
    let default_keys = crate::common::secret_keys(store.as_ref(), &default).await;
    assert_eq!(default_keys.len(), 1);
    assert!(default_keys.iter().all(|k| k.prefix != acme.prefix()));
    assert!(matches!(
        store.revoke_api_key(&default, acme.prefix(), 1).await,
        Err(passkeyd::store::StoreError::NotFound)
    ));
    assert!(store.api_keys(&acme_id).await.unwrap()[0]
        .revoked_at
        .is_none());
    server.stop().await;
}
