//! First start: the default tenant and its key; keys stored only as hashes.

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use passkeyd::bootstrap::bootstrap;
use passkeyd::store;
use passkeyd::tenant::TenantId;
use tempfile::TempDir;

use crate::common::{backend_config, secret_key, secret_keys, Server};

#[tokio::test]
async fn two_starts_with_the_same_bootstrap_key_keep_one_tenant_and_one_key() {
    let dir = TempDir::new().unwrap();
    let key = secret_key();
    let first = Server::start_with_key(dir.path(), key.clone()).await;
    first.stop().await;
    let second = Server::start_with_key(dir.path(), key.clone()).await;

    let store = &second.state.store;
    assert_eq!(store.count_tenants().await.unwrap(), 1);
    let keys = secret_keys(store.as_ref(), &TenantId::default_tenant()).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].prefix, key.prefix());
    let response = second
        .client
        .get(second.url("/tenant"))
        .header("x-api-key", key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    second.stop().await;
}

#[tokio::test]
async fn concurrent_bootstraps_agree() {
    let dir = TempDir::new().unwrap();
    let key = secret_key();
    let config = backend_config(dir.path(), &[("PASSKEYD_BOOTSTRAP_API_KEY", key.expose())]).await;
    let a = store::open(&config).await.unwrap();
    let b = store::open(&config).await.unwrap();
    let rng = SystemRandom::new();
    let (ra, rb) = tokio::join!(
        bootstrap(a.as_ref(), &config, &rng, 1),
        bootstrap(b.as_ref(), &config, &rng, 1)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(
        ra.tenant_created ^ rb.tenant_created,
        "exactly one node created it"
    );
    assert!(ra.generated_key.is_none() && rb.generated_key.is_none());
    assert_eq!(a.count_tenants().await.unwrap(), 1);
    assert_eq!(
        secret_keys(a.as_ref(), &TenantId::default_tenant())
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn without_a_bootstrap_key_one_is_generated_once() {
    let dir = TempDir::new().unwrap();
    let config = backend_config(dir.path(), &[]).await;
    let store = store::open(&config).await.unwrap();
    let rng = SystemRandom::new();
    let first = bootstrap(store.as_ref(), &config, &rng, 1).await.unwrap();
    let key = first.generated_key.expect("a key for the new tenant");
    assert!(first.tenant_created);
    let stored = store.api_key_by_prefix(key.prefix()).await.unwrap();
    assert!(key.hash().matches(&stored.key_hash));

    let again = bootstrap(store.as_ref(), &config, &rng, 2).await.unwrap();
    assert!(!again.tenant_created && again.generated_key.is_none());
    assert_eq!(
        secret_keys(store.as_ref(), &TenantId::default_tenant())
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_bootstrap_key_for_a_missing_default_tenant_is_an_error() {
    // A database whose only tenant is not `default`.
    let other = TempDir::new().unwrap();
    let config_other = backend_config(other.path(), &[]).await;
    let store = store::open(&config_other).await.unwrap();
    let acme = passkeyd::store::Tenant {
        id: TenantId::parse("acme").unwrap(),
        name: "acme".into(),
        rp_id: "acme.example.com".into(),
        rp_name: "acme".into(),
        origins: vec!["https://acme.example.com".into()],
        settings: serde_json::Map::new(),
        created_at: 1,
    };
    store.insert_tenant(&acme).await.unwrap();
    let key = secret_key();
    let with_key = backend_config(
        other.path(),
        &[("PASSKEYD_BOOTSTRAP_API_KEY", key.expose())],
    )
    .await;
    let error = bootstrap(store.as_ref(), &with_key, &SystemRandom::new(), 1)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("no tenant \"default\""),
        "{error}"
    );
}

/// Everything the database keeps: on SQLite every byte of its files, WAL included; on
/// PostgreSQL every row of every table as text (binary columns in hex).
async fn stored_bytes(dir: &Path) -> Vec<u8> {
    use sqlx::{Connection, Row};
    let Some(url) = crate::common::database_for(dir).await else {
        return database_bytes(dir);
    };
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut all = Vec::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in rows {
            all.extend(row.get::<String, _>(0).into_bytes());
        }
    }
    conn.close().await.unwrap();
    assert!(!all.is_empty());
    all
}

/// Every byte the SQLite database keeps, WAL included.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("passkeyd.db")
        {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    assert!(!all.is_empty());
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir).await;
    let acme = server.add_tenant("acme").await;
    let keys = [server.key.clone(), acme];
    let check = |bytes: &[u8]| {
        for key in &keys {
            let secret_part = &key.expose()[key.prefix().len() + 1..];
            assert!(!contains(bytes, key.expose().as_bytes()));
            assert!(!contains(bytes, secret_part.as_bytes()));
            assert!(
                contains(bytes, key.prefix().as_bytes()),
                "the prefix is stored"
            );
            let hex: String = key.hash().0.iter().map(|b| format!("{b:02x}")).collect();
            assert!(
                contains(bytes, &key.hash().0) || contains(bytes, hex.as_bytes()),
                "the hash is stored"
            );
        }
    };
    check(&stored_bytes(dir.path()).await);
    server.stop().await;
    check(&stored_bytes(dir.path()).await);
}

#[tokio::test]
async fn a_localhost_default_tenant_gets_open_sign_up_and_a_demo_key_and_others_do_not() {
    let dir = TempDir::new().unwrap();
    let config = backend_config(dir.path(), &[]).await;
    let store = store::open(&config).await.unwrap();
    bootstrap(store.as_ref(), &config, &SystemRandom::new(), 1)
        .await
        .unwrap();
    let tenant = store.tenant(&TenantId::default_tenant()).await.unwrap();
    let settings = passkeyd::settings::TenantSettings::from_map(&tenant.settings).unwrap();
    assert!(settings.open_signup);
    let demo = settings.demo_publishable_key.expect("a demo key");
    let demo = passkeyd::api_keys::ApiKeySecret::parse(&demo).unwrap();
    assert_eq!(demo.kind(), passkeyd::api_keys::ApiKeyKind::Publishable);
    assert!(store.api_key_by_prefix(demo.prefix()).await.is_ok());

    let dir = TempDir::new().unwrap();
    let config = crate::common::backend_config(
        dir.path(),
        &[
            ("PASSKEYD_RP_ID", "example.com"),
            ("PASSKEYD_ORIGINS", "https://example.com"),
        ],
    )
    .await;
    let store = store::open(&config).await.unwrap();
    bootstrap(store.as_ref(), &config, &SystemRandom::new(), 1)
        .await
        .unwrap();
    let tenant = store.tenant(&TenantId::default_tenant()).await.unwrap();
    let settings = passkeyd::settings::TenantSettings::from_map(&tenant.settings).unwrap();
    assert!(!settings.open_signup);
    assert!(settings.demo_publishable_key.is_none());
    assert_eq!(store.api_keys(&tenant.id).await.unwrap().len(), 1);
}
