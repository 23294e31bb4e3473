//! Tests against a real PostgreSQL server. Each test creates a database of its own from the
//! admin URL in `PASSKEYD_TEST_DATABASE_URL` and drops it at the end; without that variable
//! they print a notice and pass.

use std::io::Write;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Barrier};

use super::*;
use crate::api_keys::ApiKeyKind;
use crate::store::conformance::{self, credential, registration, tenant, tid, user, NOW};
use crate::store::SessionKind;

const ENV: &str = "PASSKEYD_TEST_DATABASE_URL";

fn test_options() -> PostgresOptions {
    PostgresOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(2),
        startup_timeout: Duration::from_secs(20),
    }
}

/// A fresh database, dropped (`WITH (FORCE)`) when this value goes, even if the test panics.
struct TestDb {
    admin: PgConnectOptions,
    name: String,
    options: PgConnectOptions,
}

impl TestDb {
    /// `None` (after saying so) when no server is configured.
    async fn create(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var(ENV) else {
            // Straight to stderr, not `eprintln!`, which the test harness captures.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED store::postgres::tests::{test}: set {ENV} to an admin URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
            );
            return None;
        };
        let admin = PgConnectOptions::from_str(&admin_url).expect("PASSKEYD_TEST_DATABASE_URL");
        let mut bytes = [0u8; 8];
        SystemRandom::new().fill(&mut bytes).unwrap();
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("pk_{name}");
        let mut conn = PgConnection::connect_with(&admin).await.unwrap();
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        conn.close().await.unwrap();
        let options = admin.clone().database(&name);
        Some(Self {
            admin,
            name,
            options,
        })
    }

    async fn open(&self) -> PostgresStore {
        PostgresStore::open_with(self.options.clone(), test_options())
            .await
            .unwrap()
    }

    async fn connect(&self) -> PgConnection {
        PgConnection::connect_with(&self.options).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await, and the test's runtime may be the current thread: use another.
        let dropped = std::thread::spawn(
            move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let mut conn = PgConnection::connect_with(&admin).await?;
                    conn.execute(sql.as_str()).await?;
                    conn.close().await?;
                    Ok(())
                })
            },
        )
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cannot drop test database {}: {e}", self.name),
            Err(_) => eprintln!(
                "cannot drop test database {}: the thread panicked",
                self.name
            ),
        }
    }
}

fn api_key(prefix: &str, created_at: i64) -> NewApiKey {
    NewApiKey {
        id: format!("id-{prefix}"),
        kind: ApiKeyKind::Secret,
        prefix: prefix.to_owned(),
        key_hash: [7; 32],
        label: Some("ci".to_owned()),
        created_at,
    }
}

fn session(byte: u8, expires_at: i64) -> Session {
    Session {
        id: [byte; 32],
        kind: SessionKind::Authentication,
        state: r#"{"challenge":"abc"}"#.to_owned(),
        expires_at,
    }
}

fn registration_token(byte: u8, expires_at: i64) -> RegistrationToken {
    RegistrationToken {
        id: [byte; 32],
        user_id: "u1".to_owned(),
        user_name: "u1@example.com".to_owned(),
        display_name: "User 1".to_owned(),
        expires_at,
    }
}

fn signing_key(kid: &str, created_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: "ES256".to_owned(),
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        sealed_private_key: vec![1, 2, 3],
        created_at,
        retired_at: None,
    }
}

fn audit(action: &str) -> AuditEvent {
    AuditEvent {
        id: 0,
        at: NOW,
        actor: "cli".to_owned(),
        action: action.to_owned(),
        subject: Some("u1".to_owned()),
        outcome: "success".to_owned(),
        details: serde_json::json!({ "n": 1 }),
        ip: Some("127.0.0.1".to_owned()),
        request_id: None,
        webhooks: Vec::new(),
    }
}

fn credential_use(expected: u32, new: u32, at: i64) -> CredentialUse {
    CredentialUse {
        expected_sign_count: expected,
        sign_count: new,
        backup_eligible: true,
        backup_state: true,
        at,
        reset_failures: true,
    }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, name: &str) {
    match result {
        Err(StoreError::Conflict(got)) => assert_eq!(got, name),
        other => panic!("expected Conflict({name}), got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}

/// Runs `task` on `n` tasks spread over `stores`, all released at once; returns the results.
async fn race<T, F, Fut>(stores: &[Arc<PostgresStore>], n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<PostgresStore>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let run = task(stores[i % stores.len()].clone(), i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                run.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

async fn two_stores(db: &TestDb) -> Vec<Arc<PostgresStore>> {
    vec![Arc::new(db.open().await), Arc::new(db.open().await)]
}

async fn close_all(stores: &[Arc<PostgresStore>]) {
    for store in stores {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_run_concurrently_and_twice_are_a_no_op() {
    let Some(db) = TestDb::create("migrations_run_concurrently_and_twice_are_a_no_op").await else {
        return;
    };
    // Four nodes starting at once on an empty database: the advisory lock serializes them.
    let options = db.options.clone();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let options = options.clone();
            tokio::spawn(async move { PostgresStore::open_with(options, test_options()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for handle in handles {
        stores.push(handle.await.unwrap().unwrap());
    }
    // And once more, later.
    let again = db.open().await;
    let mut conn = db.connect().await;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let embedded: Vec<(i64, bool)> = super::migrate::MIGRATOR
        .iter()
        .map(|m| (m.version, true))
        .collect();
    assert!(!embedded.is_empty());
    assert_eq!(applied, embedded);
    again.insert_tenant(&tenant("a")).await.unwrap();
    assert_eq!(stores[0].count_tenants().await.unwrap(), 1);
    conn.close().await.unwrap();
    again.close().await;
    for store in stores {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_take_session_has_one_winner() {
    let Some(db) = TestDb::create("concurrent_take_session_has_one_winner").await else {
        return;
    };
    let stores = two_stores(&db).await;
    let t = tid("a");
    stores[0].insert_tenant(&tenant("a")).await.unwrap();
    for round in 0..20u8 {
        stores[0]
            .insert_session(&t, &session(round, NOW))
            .await
            .unwrap();
        let results = race(&stores, 8, |store, _| {
            let t = t.clone();
            async move { store.take_session(&t, &[round; 32]).await }
        })
        .await;
        let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .all(|r| r.is_ok() || matches!(r, Err(StoreError::NotFound))),
            "{results:?}"
        );
        let token = registration_token(round, NOW);
        stores[1]
            .insert_registration_token(&t, &token)
            .await
            .unwrap();
        let results = race(&stores, 8, |store, _| {
            let t = t.clone();
            async move { store.take_registration_token(&t, &[round; 32]).await }
        })
        .await;
        let won: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
        assert_eq!(won, [token], "round {round}");
    }
    close_all(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_record_credential_use_has_one_winner() {
    let Some(db) = TestDb::create("concurrent_record_credential_use_has_one_winner").await else {
        return;
    };
    let stores = two_stores(&db).await;
    let t = tid("a");
    stores[0].insert_tenant(&tenant("a")).await.unwrap();
    let mut c = credential(b"cred", "u1", NOW);
    c.sign_count = 0;
    stores[0]
        .insert_registration(&t, &registration(user("u1", 1), c))
        .await
        .unwrap();
    for round in 0..20u32 {
        let results = race(&stores, 8, |store, i| {
            let t = t.clone();
            let at = NOW + i64::try_from(i).unwrap();
            async move {
                store
                    .record_credential_use(&t, b"cred", &credential_use(round, round + 1, at))
                    .await
            }
        })
        .await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        for result in results {
            if result.is_err() {
                assert_conflict(result, "counter_changed");
            }
        }
        let stored = stores[1].credential(&t, b"cred").await.unwrap();
        assert_eq!(stored.sign_count, round + 1);
    }
    close_all(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bootstrap_inserts_have_one_winner() {
    let Some(db) = TestDb::create("concurrent_bootstrap_inserts_have_one_winner").await else {
        return;
    };
    let stores = two_stores(&db).await;
    for round in 0..20 {
        let id = format!("t{round}");
        let results = race(&stores, 8, |store, _| {
            let tenant = tenant(&id);
            async move { store.insert_tenant_if_absent(&tenant).await.unwrap() }
        })
        .await;
        assert_eq!(results.iter().filter(|created| **created).count(), 1);
        let t = tid(&id);
        let results = race(&stores, 8, |store, i| {
            let t = t.clone();
            // Different row IDs, the same prefix: the prefix decides.
            let mut key = api_key(&format!("sk_{round}"), NOW);
            key.id = format!("id-{round}-{i}");
            async move { store.insert_api_key_if_absent(&t, &key).await.unwrap() }
        })
        .await;
        assert_eq!(results.iter().filter(|stored| **stored).count(), 1);
    }
    assert_eq!(stores[1].count_tenants().await.unwrap(), 20);
    close_all(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_counters_and_redemptions_are_atomic() {
    let Some(db) = TestDb::create("concurrent_counters_and_redemptions_are_atomic").await else {
        return;
    };
    let stores = two_stores(&db).await;
    let t = tid("a");
    stores[0].insert_tenant(&tenant("a")).await.unwrap();
    stores[0]
        .insert_registration(
            &t,
            &registration(user("u1", 1), credential(b"c", "u1", NOW)),
        )
        .await
        .unwrap();
    let mut counts = race(&stores, 8, |store, _| {
        let t = t.clone();
        async move { store.record_failure(&t, "u1", 1).await.unwrap() }
    })
    .await;
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3, 4, 5, 6, 7, 8]);
    let redeemed = race(&stores, 8, |store, _| {
        let t = t.clone();
        async move { store.redeem_token(&t, "jti-1", NOW).await.unwrap() }
    })
    .await;
    assert_eq!(redeemed.iter().filter(|r| **r).count(), 1);
    close_all(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations() {
    let Some(db) = TestDb::create("concurrent_registrations").await else {
        return;
    };
    let stores = two_stores(&db).await;
    let t = tid("a");
    stores[0].insert_tenant(&tenant("a")).await.unwrap();
    // The same new user registering two credentials at once: the user is created once.
    let results = race(&stores, 2, |store, i| {
        let t = t.clone();
        let reg = registration(user("u1", 1), credential(&[b'c', i as u8], "u1", NOW));
        async move { store.insert_registration(&t, &reg).await }
    })
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(stores[0].credentials(&t, "u1").await.unwrap().len(), 2);
    // Eight new users wanting one name: one gets it.
    let results = race(&stores, 8, |store, i| {
        let t = t.clone();
        let mut u = user(&format!("n{i}"), 10 + i as u8);
        u.name = "taken@example.com".to_owned();
        let reg = registration(u, credential(&[b'n', i as u8], &format!("n{i}"), NOW));
        async move { store.insert_registration(&t, &reg).await }
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for result in results {
        if result.is_err() {
            assert_conflict(result, "user_name_taken");
        }
    }
    // The losers left neither a user nor a credential behind.
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE id LIKE 'n%'")
        .fetch_one(&stores[0].pool)
        .await
        .unwrap();
    let (credentials,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM credentials WHERE user_id LIKE 'n%'")
            .fetch_one(&stores[0].pool)
            .await
            .unwrap();
    assert_eq!((users, credentials), (1, 1));
    close_all(&stores).await;
}

#[tokio::test]
async fn insert_registration_conflicts() {
    let Some(db) = TestDb::create("insert_registration_conflicts").await else {
        return;
    };
    let store = db.open().await;
    let t = tid("a");
    store.insert_tenant(&tenant("a")).await.unwrap();
    store.insert_tenant(&tenant("b")).await.unwrap();
    store
        .insert_registration(
            &t,
            &registration(user("u1", 1), credential(b"c1", "u1", NOW)),
        )
        .await
        .unwrap();

    // The same credential ID twice, for the same user or another one (who is then not created).
    assert_conflict(
        store
            .insert_registration(
                &t,
                &registration(user("u1", 1), credential(b"c1", "u1", NOW)),
            )
            .await,
        "credential_exists",
    );
    assert_conflict(
        store
            .insert_registration(
                &t,
                &registration(user("u2", 2), credential(b"c1", "u2", NOW)),
            )
            .await,
        "credential_exists",
    );
    assert_not_found(store.user(&t, "u2").await);

    // Another user with u1's name.
    let mut u3 = user("u3", 3);
    u3.name = user("u1", 1).name;
    assert_conflict(
        store
            .insert_registration(&t, &registration(u3, credential(b"c3", "u3", NOW)))
            .await,
        "user_name_taken",
    );
    assert_not_found(store.credential(&t, b"c3").await);

    // u1 again with another user handle: the user was deleted and recreated meanwhile.
    assert_conflict(
        store
            .insert_registration(
                &t,
                &registration(user("u1", 9), credential(b"c4", "u1", NOW)),
            )
            .await,
        "user_changed",
    );
    assert_not_found(store.credential(&t, b"c4").await);

    // Credential IDs and user names are unique per tenant only.
    store
        .insert_registration(
            &tid("b"),
            &registration(user("u1", 1), credential(b"c1", "u1", NOW)),
        )
        .await
        .unwrap();

    // An unknown tenant.
    assert_not_found(
        store
            .insert_registration(
                &tid("nope"),
                &registration(user("u1", 1), credential(b"c1", "u1", NOW)),
            )
            .await,
    );

    // The pool is still usable after the aborted transactions.
    assert_eq!(store.credentials(&t, "u1").await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn round_trip_of_every_method() {
    let Some(db) = TestDb::create("round_trip_of_every_method").await else {
        return;
    };
    let store = db.open().await;
    store.ping().await.unwrap();

    // Tenants.
    assert_eq!(store.count_tenants().await.unwrap(), 0);
    let a = tid("a-z");
    let b = tid("a_y");
    store.insert_tenant(&tenant("a-z")).await.unwrap();
    assert_conflict(store.insert_tenant(&tenant("a-z")).await, "tenant_exists");
    assert!(!store.insert_tenant_if_absent(&tenant("a-z")).await.unwrap());
    assert!(store.insert_tenant_if_absent(&tenant("a_y")).await.unwrap());
    store.insert_tenant(&tenant("b-x")).await.unwrap();
    assert_eq!(store.count_tenants().await.unwrap(), 3);
    assert_eq!(store.tenant(&a).await.unwrap(), tenant("a-z"));
    assert_not_found(store.tenant(&tid("nope")).await);
    let ids: Vec<_> = store
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["a-z", "a_y", "b-x"], "byte order, as SQLite");

    let renamed = store
        .update_tenant(
            &a,
            &TenantUpdate {
                name: Some("Renamed".to_owned()),
                ..TenantUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        renamed,
        Tenant {
            name: "Renamed".to_owned(),
            ..tenant("a-z")
        }
    );
    let update = TenantUpdate {
        name: None,
        rp_id: Some("login.example.com".to_owned()),
        rp_name: Some("Login".to_owned()),
        origins: Some(vec![
            "https://login.example.com".to_owned(),
            "https://x".to_owned(),
        ]),
    };
    let updated = store.update_tenant(&a, &update).await.unwrap();
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.rp_id, "login.example.com");
    assert_eq!(updated.rp_name, "Login");
    assert_eq!(updated.origins, update.origins.clone().unwrap());
    assert_eq!(store.tenant(&a).await.unwrap(), updated);
    assert_not_found(store.update_tenant(&tid("nope"), &update).await);
    let mut settings = serde_json::Map::new();
    settings.insert("open_signup".to_owned(), serde_json::Value::Bool(true));
    settings.insert("z".to_owned(), serde_json::json!({"nested": [1, 2]}));
    let with_settings = store.update_tenant_settings(&a, &settings).await.unwrap();
    assert_eq!(with_settings.settings, settings);
    assert_eq!(store.tenant(&a).await.unwrap().settings, settings);
    assert_not_found(store.update_tenant_settings(&tid("nope"), &settings).await);

    // API keys.
    store
        .insert_api_key(&a, &api_key("sk_1", NOW))
        .await
        .unwrap();
    assert_conflict(
        store.insert_api_key(&b, &api_key("sk_1", NOW)).await,
        "api_key_exists",
    );
    assert_not_found(
        store
            .insert_api_key(&tid("nope"), &api_key("sk_9", NOW))
            .await,
    );
    assert!(!store
        .insert_api_key_if_absent(&a, &api_key("sk_1", NOW))
        .await
        .unwrap());
    assert!(store
        .insert_api_key_if_absent(&a, &api_key("sk_2", NOW + 1))
        .await
        .unwrap());
    store
        .insert_api_key(&a, &api_key("sk_0", NOW + 1))
        .await
        .unwrap();
    store
        .insert_api_key(&b, &api_key("pk_b", NOW))
        .await
        .unwrap();
    let key = store.api_key_by_prefix("sk_1").await.unwrap();
    assert_eq!(
        key,
        ApiKey {
            id: "id-sk_1".to_owned(),
            tenant_id: a.clone(),
            kind: ApiKeyKind::Secret,
            prefix: "sk_1".to_owned(),
            key_hash: vec![7; 32],
            label: Some("ci".to_owned()),
            created_at: NOW,
            revoked_at: None,
        }
    );
    assert_eq!(store.api_key_by_prefix("pk_b").await.unwrap().tenant_id, b);
    assert_not_found(store.api_key_by_prefix("sk_none").await);
    let prefixes: Vec<_> = store
        .api_keys(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.prefix)
        .collect();
    assert_eq!(prefixes, ["sk_0", "sk_2", "sk_1"]);
    assert_not_found(store.revoke_api_key(&b, "sk_1", NOW + 5).await);
    store.revoke_api_key(&a, "sk_1", NOW + 5).await.unwrap();
    store.revoke_api_key(&a, "sk_1", NOW + 9).await.unwrap();
    assert_eq!(
        store.api_key_by_prefix("sk_1").await.unwrap().revoked_at,
        Some(NOW + 5)
    );
    assert_not_found(store.revoke_api_key(&a, "sk_none", NOW).await);

    // Users and credentials.
    let u1 = user("u1", 1);
    let mut c1 = credential(b"c1", "u1", NOW);
    c1.friendly_name = Some("Laptop".to_owned());
    store
        .insert_registration(&a, &registration(u1.clone(), c1.clone()))
        .await
        .unwrap();
    assert_eq!(store.user(&a, "u1").await.unwrap(), u1);
    assert_eq!(store.user_by_name(&a, &u1.name).await.unwrap(), u1);
    assert_eq!(store.user_by_handle(&a, &u1.user_handle).await.unwrap(), u1);
    assert_not_found(store.user(&b, "u1").await);
    assert_not_found(store.user_by_name(&b, &u1.name).await);
    assert_not_found(store.user_by_handle(&b, &u1.user_handle).await);
    assert_not_found(store.user_by_handle(&a, &[1; 31]).await);
    assert_eq!(store.credential(&a, b"c1").await.unwrap(), c1);
    assert_not_found(store.credential(&b, b"c1").await);

    // Failures count up, and a new registration resets them.
    assert_eq!(store.record_failure(&a, "u1", 1).await.unwrap(), 1);
    assert_eq!(store.record_failure(&a, "u1", 1).await.unwrap(), 2);
    assert_not_found(store.record_failure(&b, "u1", 1).await);
    assert_not_found(store.record_failure(&a, "nobody", 1).await);
    let c0 = credential(b"c0", "u1", NOW + 10);
    store
        .insert_registration(&a, &registration(u1.clone(), c0.clone()))
        .await
        .unwrap();
    assert_eq!(store.user(&a, "u1").await.unwrap().failed_attempts, 0);
    assert_eq!(
        store.credentials(&a, "u1").await.unwrap(),
        [c1.clone(), c0.clone()]
    );
    assert!(store.credentials(&b, "u1").await.unwrap().is_empty());

    // Assertions: a compare-and-set that also resets failures.
    assert_eq!(store.record_failure(&a, "u1", 1).await.unwrap(), 1);
    store
        .record_credential_use(&a, b"c1", &credential_use(5, 6, NOW + 20))
        .await
        .unwrap();
    let used = store.credential(&a, b"c1").await.unwrap();
    assert_eq!(
        used,
        Credential {
            sign_count: 6,
            backup_eligible: true,
            backup_state: true,
            last_used_at: Some(NOW + 20),
            ..c1.clone()
        }
    );
    assert_eq!(store.user(&a, "u1").await.unwrap().failed_attempts, 0);
    assert_conflict(
        store
            .record_credential_use(&a, b"c1", &credential_use(5, 7, NOW))
            .await,
        "counter_changed",
    );
    assert_conflict(
        store
            .record_credential_use(&b, b"c1", &credential_use(6, 7, NOW))
            .await,
        "counter_changed",
    );
    assert_conflict(
        store
            .record_credential_use(&a, b"none", &credential_use(0, 1, NOW))
            .await,
        "counter_changed",
    );
    // Authenticators without a counter stay at zero.
    store
        .record_credential_use(&a, b"c0", &credential_use(5, 5, NOW + 30))
        .await
        .unwrap();

    let renamed = store
        .rename_credential(&a, b"c1", Some("Phone"))
        .await
        .unwrap();
    assert_eq!(renamed.friendly_name.as_deref(), Some("Phone"));
    let cleared = store.rename_credential(&a, b"c1", None).await.unwrap();
    assert_eq!(cleared.friendly_name, None);
    assert_not_found(store.rename_credential(&b, b"c1", Some("x")).await);

    assert_not_found(store.delete_credential(&b, b"c0").await);
    store.delete_credential(&a, b"c0").await.unwrap();
    assert_not_found(store.delete_credential(&a, b"c0").await);
    assert_eq!(store.credentials(&a, "u1").await.unwrap().len(), 1);

    // Sessions.
    store.insert_session(&a, &session(1, NOW)).await.unwrap();
    assert_conflict(
        store.insert_session(&a, &session(1, NOW)).await,
        "session_exists",
    );
    assert_not_found(store.insert_session(&tid("nope"), &session(2, NOW)).await);
    assert_not_found(store.take_session(&b, &[1; 32]).await);
    let mut registration_session = session(3, 10);
    registration_session.kind = SessionKind::Registration;
    store
        .insert_session(&a, &registration_session)
        .await
        .unwrap();
    assert_eq!(
        store.take_session(&a, &[1; 32]).await.unwrap(),
        session(1, NOW)
    );
    assert_not_found(store.take_session(&a, &[1; 32]).await);
    // Expired ones too: the caller says so.
    assert_eq!(
        store.take_session(&a, &[3; 32]).await.unwrap(),
        registration_session
    );

    // Registration tokens.
    store
        .insert_registration_token(&a, &registration_token(1, NOW))
        .await
        .unwrap();
    assert_conflict(
        store
            .insert_registration_token(&a, &registration_token(1, NOW))
            .await,
        "registration_token_exists",
    );
    assert_not_found(
        store
            .insert_registration_token(&tid("nope"), &registration_token(2, NOW))
            .await,
    );
    assert_not_found(store.take_registration_token(&b, &[1; 32]).await);
    assert_eq!(
        store.take_registration_token(&a, &[1; 32]).await.unwrap(),
        registration_token(1, NOW)
    );
    assert_not_found(store.take_registration_token(&a, &[1; 32]).await);

    // Signing keys.
    store
        .insert_signing_key(&a, &signing_key("k1", NOW))
        .await
        .unwrap();
    let mut k2 = signing_key("k2", NOW + 1);
    k2.retired_at = Some(NOW + 2);
    store.insert_signing_key(&a, &k2).await.unwrap();
    store
        .insert_signing_key(&a, &signing_key("k0", NOW + 1))
        .await
        .unwrap();
    assert_conflict(
        store.insert_signing_key(&b, &signing_key("k1", NOW)).await,
        "signing_key_exists",
    );
    assert_not_found(
        store
            .insert_signing_key(&tid("nope"), &signing_key("k9", NOW))
            .await,
    );
    assert_eq!(
        store.signing_keys(&a).await.unwrap(),
        [signing_key("k0", NOW + 1), k2, signing_key("k1", NOW)]
    );
    assert!(store.signing_keys(&b).await.unwrap().is_empty());

    // Redeemed tokens.
    assert!(store.redeem_token(&a, "jti", NOW).await.unwrap());
    assert!(!store.redeem_token(&a, "jti", NOW).await.unwrap());
    assert!(store.redeem_token(&b, "jti", NOW).await.unwrap());

    // Sweeping: strictly before `now`.
    store.insert_session(&a, &session(4, 100)).await.unwrap();
    store.insert_session(&a, &session(5, 1000)).await.unwrap();
    store
        .insert_registration_token(&a, &registration_token(4, 100))
        .await
        .unwrap();
    store
        .insert_registration_token(&a, &registration_token(5, 5000))
        .await
        .unwrap();
    assert!(store.redeem_token(&a, "old", 100).await.unwrap());
    assert_eq!(store.sweep_expired(1000).await.unwrap(), 3);
    assert_not_found(store.take_session(&a, &[4; 32]).await);
    store.take_session(&a, &[5; 32]).await.unwrap();
    store.take_registration_token(&a, &[5; 32]).await.unwrap();
    assert!(store.redeem_token(&a, "old", 100).await.unwrap());
    assert!(!store.redeem_token(&a, "jti", NOW).await.unwrap());

    // Audit events.
    for action in ["one", "two", "three"] {
        store.insert_audit_event(&a, &audit(action)).await.unwrap();
    }
    store.insert_audit_event(&b, &audit("other")).await.unwrap();
    let events = store.audit_events(&a, None, 10).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["three", "two", "one"]);
    assert!(events[0].id > events[1].id && events[1].id > events[2].id);
    assert_eq!(
        events[2],
        AuditEvent {
            id: events[2].id,
            ..audit("one")
        }
    );
    let older = store.audit_events(&a, Some(events[0].id), 1).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].action, "two");
    assert_eq!(store.audit_events(&b, None, 10).await.unwrap().len(), 1);
    assert!(store.audit_events(&a, None, 0).await.unwrap().is_empty());

    // Deleting a user takes their credentials.
    assert_not_found(store.delete_user(&b, "u1").await);
    store.delete_user(&a, "u1").await.unwrap();
    assert_not_found(store.delete_user(&a, "u1").await);
    assert_not_found(store.user(&a, "u1").await);
    assert_not_found(store.credential(&a, b"c1").await);

    store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Backend(_))));
}

#[tokio::test]
async fn undecodable_rows_are_backend_errors() {
    let Some(db) = TestDb::create("undecodable_rows_are_backend_errors").await else {
        return;
    };
    let store = db.open().await;
    store.insert_tenant(&tenant("a")).await.unwrap();
    let mut conn = db.connect().await;
    conn.execute("UPDATE tenants SET origins = 'not json'")
        .await
        .unwrap();
    assert!(matches!(
        store.tenant(&tid("a")).await,
        Err(StoreError::Backend(e)) if e.downcast_ref::<sqlx::Error>().is_none()
    ));
    conn.close().await.unwrap();
    store.close().await;
}

/// A TCP proxy in front of the test server that can play an unreachable server: while down,
/// it closes new connections at once and cuts the open ones.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    refused: mpsc::UnboundedReceiver<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr, up: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up_tx, up_rx) = watch::channel(up);
        let (refused_tx, refused) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*up_rx.borrow() {
                    drop(client);
                    let _ = refused_tx.send(());
                    continue;
                }
                let mut up = up_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self {
            addr,
            up: up_tx,
            refused,
        }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

async fn upstream(db: &TestDb) -> SocketAddr {
    tokio::net::lookup_host((db.admin.get_host(), db.admin.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_waits_for_the_server_and_ping_follows_reachability() {
    let Some(db) = TestDb::create("open_waits_for_the_server_and_ping_follows_reachability").await
    else {
        return;
    };
    let mut proxy = Proxy::start(upstream(&db).await, false).await;
    let options = db.options.clone().host("127.0.0.1").port(proxy.addr.port());
    let opening = tokio::spawn(PostgresStore::open_with(options, test_options()));
    // The server is "down" for the first two attempts.
    proxy.refused.recv().await.unwrap();
    proxy.refused.recv().await.unwrap();
    assert!(!opening.is_finished());
    proxy.set_up(true);
    let store = opening.await.unwrap().unwrap();
    store.ping().await.unwrap();
    store.insert_tenant(&tenant("a")).await.unwrap();

    // Down again: readiness fails (within the acquire timeout), then recovers.
    proxy.set_up(false);
    assert!(matches!(store.ping().await, Err(StoreError::Backend(_))));
    proxy.set_up(true);
    store.ping().await.unwrap();
    assert_eq!(store.count_tenants().await.unwrap(), 1);
    store.close().await;
}

#[tokio::test]
async fn open_gives_up_when_the_server_stays_unreachable() {
    // Needs no server: a port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/none");
    let options = PostgresOptions {
        startup_timeout: Duration::from_millis(1500),
        ..test_options()
    };
    let started = std::time::Instant::now();
    let result = PostgresStore::open(&url, options).await;
    assert!(
        matches!(&result, Err(OpenError::Connect(e)) if matches!(e.downcast_ref(), Some(sqlx::Error::Io(_)))),
        "{result:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "it retried");
}

#[tokio::test]
async fn open_fails_at_once_when_the_server_refuses() {
    let Some(db) = TestDb::create("open_fails_at_once_when_the_server_refuses").await else {
        return;
    };
    let missing = db.options.clone().database(&format!("{}_missing", db.name));
    let started = std::time::Instant::now();
    let result = PostgresStore::open_with(missing, test_options()).await;
    assert!(
        matches!(&result, Err(OpenError::Connect(e)) if matches!(e.downcast_ref(), Some(sqlx::Error::Database(_)))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "no retries");
}

/// The conformance suite ([`conformance`]) on PostgreSQL, one database per case.
macro_rules! conformance_on_postgres {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let Some(db) = TestDb::create(stringify!($case)).await else {
                return;
            };
            let store = db.open().await;
            conformance::$case(&store).await;
            store.close().await;
        }
    )*};
}

conformance_on_postgres!(
    own_credential_deletes_keep_the_last,
    registrations_stop_at_the_limit,
    failures_count_with_their_time,
    sign_ins_store_their_event_with_their_use,
    registrations_store_their_event_with_them,
    database_time_is_the_real_time,
    mds_blobs_only_move_forward,
    webhook_deliveries_are_leased_to_one_node_at_a_time,
    changes_store_their_webhook_messages_with_them,
    credentials_are_known_across_tenants_of_one_rp_id,
);
