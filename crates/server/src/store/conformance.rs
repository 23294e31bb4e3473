//! The store's conformance suite: what every backend must do, as functions over `&dyn Store`,
//! run by the SQLite tests (always) and the PostgreSQL tests (with
//! `PASSKEYD_TEST_DATABASE_URL`). A rule a backend keeps in SQL (one transaction, a locked row)
//! is checked here once for both, with the races that would break it.

use super::{Credential, NewRegistration, Store, StoreError, Tenant, User};
use crate::tenant::TenantId;

/// The time the fixtures are made at.
pub(super) const NOW: i64 = 1_700_000_000;

pub(super) fn tid(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

pub(super) fn tenant(id: &str) -> Tenant {
    Tenant {
        id: tid(id),
        name: format!("Tenant {id}"),
        rp_id: "example.com".to_owned(),
        rp_name: "Example".to_owned(),
        origins: vec!["https://example.com".to_owned()],
        settings: serde_json::Map::new(),
        created_at: NOW,
    }
}

pub(super) fn user(id: &str, handle: u8) -> User {
    User {
        id: id.to_owned(),
        user_handle: vec![handle; 32],
        name: format!("{id}@example.com"),
        display_name: format!("User {id}"),
        failed_attempts: 0,
        last_failed_at: None,
        created_at: NOW,
    }
}

pub(super) fn credential(id: &[u8], user_id: &str, created_at: i64) -> Credential {
    Credential {
        id: id.to_vec(),
        user_id: user_id.to_owned(),
        public_key: vec![0xa5, 1, 2, 3],
        algorithm: -7,
        sign_count: 5,
        uv_initialized: true,
        backup_eligible: true,
        backup_state: false,
        transports: vec!["internal".to_owned(), "hybrid".to_owned()],
        aaguid: vec![0xad; 16],
        attestation_format: "packed".to_owned(),
        attestation_type: "self".to_owned(),
        attestation_object: vec![0xa3, 0x63],
        friendly_name: None,
        created_at,
        last_used_at: None,
        prf_enabled: false,
    }
}

pub(super) fn registration(user: User, credential: Credential) -> NewRegistration {
    NewRegistration {
        user,
        credential,
        max_credentials: None,
    }
}

/// A tenant `a` with user `u1` holding credentials `c0` and `c1`.
async fn two_credentials(store: &dyn Store) -> TenantId {
    let a = tid("a");
    store.insert_tenant(&tenant("a")).await.unwrap();
    for id in [b"c0", b"c1"] {
        store
            .insert_registration(&a, &registration(user("u1", 1), credential(id, "u1", NOW)))
            .await
            .unwrap();
    }
    a
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, code: &str) {
    match result {
        Err(StoreError::Conflict(found)) => assert_eq!(found, code),
        other => panic!("expected Conflict({code}), got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
}

/// `delete_own_credential`: only the owner's, never the last one with `keep_one`, and two
/// racing deletes of a user's last two leave one.
pub(super) async fn own_credential_deletes_keep_the_last(store: &dyn Store) {
    let a = two_credentials(store).await;
    store
        .insert_registration(
            &a,
            &registration(user("u2", 2), credential(b"d0", "u2", NOW)),
        )
        .await
        .unwrap();
    assert_not_found(store.delete_own_credential(&a, "u1", b"d0", true).await);
    assert_not_found(store.delete_own_credential(&a, "u1", b"nope", true).await);
    assert_not_found(
        store
            .delete_own_credential(&tid("b"), "u1", b"c0", true)
            .await,
    );
    store
        .delete_own_credential(&a, "u1", b"c0", true)
        .await
        .unwrap();
    assert_conflict(
        store.delete_own_credential(&a, "u1", b"c1", true).await,
        "last_credential",
    );
    assert_eq!(store.credentials(&a, "u1").await.unwrap().len(), 1);
    store
        .delete_own_credential(&a, "u1", b"c1", false)
        .await
        .unwrap();
    assert!(store.credentials(&a, "u1").await.unwrap().is_empty());

    for round in 0..5_u8 {
        let id = format!("racer{round}");
        for c in [b"r0", b"r1"] {
            let mut credential = credential(c, &id, NOW);
            credential.id.push(round);
            store
                .insert_registration(&a, &registration(user(&id, 10 + round), credential))
                .await
                .unwrap();
        }
        let (r0, r1) = ([b'r', b'0', round], [b'r', b'1', round]);
        let (first, second) = tokio::join!(
            store.delete_own_credential(&a, &id, &r0, true),
            store.delete_own_credential(&a, &id, &r1, true),
        );
        assert!(first.is_ok() != second.is_ok(), "{first:?} {second:?}");
        assert_eq!(store.credentials(&a, &id).await.unwrap().len(), 1);
    }
}

/// `NewRegistration::max_credentials`: counted in the registration's transaction, so two
/// racing registrations cannot both take the last place.
pub(super) async fn registrations_stop_at_the_limit(store: &dyn Store) {
    let a = two_credentials(store).await;
    let limited = |id: &[u8]| NewRegistration {
        max_credentials: Some(3),
        ..registration(user("u1", 1), credential(id, "u1", NOW))
    };
    let (c2, c3) = (limited(b"c2"), limited(b"c3"));
    let (first, second) = tokio::join!(
        store.insert_registration(&a, &c2),
        store.insert_registration(&a, &c3),
    );
    assert!(first.is_ok() != second.is_ok(), "{first:?} {second:?}");
    let refused = if first.is_err() { first } else { second };
    assert_conflict(refused, "credential_limit");
    assert_eq!(store.credentials(&a, "u1").await.unwrap().len(), 3);
    // No limit (bulk loads) is no limit.
    store
        .insert_registration(
            &a,
            &registration(user("u1", 1), credential(b"c4", "u1", NOW)),
        )
        .await
        .unwrap();
}

/// `record_failure` counts and keeps the time of the last failure; a reset clears the count.
pub(super) async fn failures_count_with_their_time(store: &dyn Store) {
    let a = two_credentials(store).await;
    assert_eq!(store.record_failure(&a, "u1", NOW + 10).await.unwrap(), 1);
    assert_eq!(store.record_failure(&a, "u1", NOW + 20).await.unwrap(), 2);
    let stored = store.user(&a, "u1").await.unwrap();
    assert_eq!(
        (stored.failed_attempts, stored.last_failed_at),
        (2, Some(NOW + 20))
    );
    assert_not_found(store.record_failure(&a, "nobody", NOW).await);
    store.reset_failures(&a, "u1").await.unwrap();
    assert_eq!(store.user(&a, "u1").await.unwrap().failed_attempts, 0);
}

/// A sign-in's use and its audit event are stored together, and a lost compare-and-set stores
/// neither; a user inserted twice at once is inserted once (both callers see it), and a name
/// another user holds is `user_name_taken`.
pub(super) async fn sign_ins_store_their_event_with_their_use(store: &dyn Store) {
    let a = two_credentials(store).await;
    let event = |outcome: &str| super::AuditEvent {
        id: 0,
        at: NOW,
        actor: "api_key:sk_test".to_owned(),
        action: "authentication.finish".to_owned(),
        subject: Some("user:u1".to_owned()),
        outcome: outcome.to_owned(),
        details: serde_json::json!({}),
        ip: None,
        request_id: None,
        webhooks: Vec::new(),
    };
    let update = super::CredentialUse {
        expected_sign_count: 5,
        sign_count: 6,
        backup_eligible: true,
        backup_state: true,
        at: NOW + 1,
        reset_failures: true,
    };
    store
        .record_sign_in(&a, b"c0", &update, &event("success"))
        .await
        .unwrap();
    // The same counter again: another sign-in got there first.
    let lost = store
        .record_sign_in(&a, b"c0", &update, &event("lost"))
        .await;
    assert!(matches!(lost, Err(StoreError::Conflict("counter_changed"))));
    let stored = store.credential(&a, b"c0").await.unwrap();
    assert_eq!((stored.sign_count, stored.last_used_at), (6, Some(NOW + 1)));
    let events = store.audit_events(&a, None, 10).await.unwrap();
    let outcomes: Vec<&str> = events.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["success"]);

    let new = user("u2", 2);
    let (first, second) = futures_util::future::join(
        store.insert_user_if_absent(&a, &new),
        store.insert_user_if_absent(&a, &new),
    )
    .await;
    let created = [first.unwrap(), second.unwrap()];
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    let same_name = User {
        id: "u3".to_owned(),
        user_handle: vec![3; 32],
        ..new
    };
    assert!(matches!(
        store.insert_user_if_absent(&a, &same_name).await,
        Err(StoreError::Conflict("user_name_taken"))
    ));
}

/// A registration and its audit event are stored together; a refused one stores neither.
pub(super) async fn registrations_store_their_event_with_them(store: &dyn Store) {
    let a = two_credentials(store).await;
    let event = |outcome: &str| super::AuditEvent {
        id: 0,
        at: NOW,
        actor: "api_key:sk_test".to_owned(),
        action: "registration.finish".to_owned(),
        subject: Some("user:u1".to_owned()),
        outcome: outcome.to_owned(),
        details: serde_json::json!({"aaguid": "x"}),
        ip: None,
        request_id: None,
        webhooks: Vec::new(),
    };
    let mut third = registration(user("u1", 1), credential(b"c2", "u1", NOW));
    store
        .record_registration(&a, &third, &event("success"))
        .await
        .unwrap();
    third.credential.id = b"c3".to_vec();
    third.max_credentials = Some(3);
    let refused = store
        .record_registration(&a, &third, &event("refused"))
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Conflict("credential_limit"))
    ));
    assert_eq!(store.credentials(&a, "u1").await.unwrap().len(), 3);
    let events = store.audit_events(&a, None, 10).await.unwrap();
    let outcomes: Vec<&str> = events.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["success"]);
    assert_eq!(events[0].details, serde_json::json!({"aaguid": "x"}));
}

/// The database's clock, where it has one of its own, is the real time (within the test's
/// run): `passkeyd doctor` measures this host's skew against it.
pub(super) async fn database_time_is_the_real_time(store: &dyn Store) {
    let before = crate::state::system_now().0;
    let database = store.database_time().await.unwrap();
    let after = crate::state::system_now().0;
    if let Some(now) = database {
        assert!(
            (before - 2..=after + 2).contains(&now),
            "{before} <= {now} <= {after}"
        );
    }
}

/// The MDS row: one lease holder at a time, a BLOB replaced only by a higher serial number
/// (the same bytes are `Unchanged`, anything else lower or equal a rollback), every attempt
/// recorded, and the lease released by the holder's record.
pub(super) async fn mds_blobs_only_move_forward(store: &dyn Store) {
    use super::mds::{MdsAttempt, MdsOutcome, StoredBlob};
    let blob = |no: u64, text: &str| StoredBlob {
        no,
        next_update: "2044-01-01".to_owned(),
        jwt: text.to_owned(),
        sha256: text.as_bytes().to_vec(),
        stored_at: NOW,
    };
    let attempt = |holder: &str, blob: Option<StoredBlob>, failure: Option<&str>| MdsAttempt {
        at: NOW,
        holder: holder.to_owned(),
        blob,
        failure: failure.map(str::to_owned),
        etag: Some("\"e\"".to_owned()),
        last_modified: None,
    };
    assert_eq!(store.mds_version().await.unwrap(), None);
    assert!(store.take_mds_lease("a", NOW, NOW + 300).await.unwrap());
    assert!(!store.take_mds_lease("b", NOW + 1, NOW + 301).await.unwrap());
    assert!(store.take_mds_lease("a", NOW + 1, NOW + 301).await.unwrap());
    let outcome = store
        .record_mds_attempt(&attempt("a", Some(blob(5, "five")), None))
        .await
        .unwrap();
    assert_eq!(outcome, MdsOutcome::Stored);
    // Released by the record.
    assert!(store.take_mds_lease("b", NOW + 2, NOW + 302).await.unwrap());
    for (offered, expected) in [
        (blob(5, "five"), MdsOutcome::Unchanged),
        (blob(5, "other five"), MdsOutcome::Rollback { current: 5 }),
        (blob(4, "four"), MdsOutcome::Rollback { current: 5 }),
        (blob(6, "six"), MdsOutcome::Stored),
    ] {
        let outcome = store
            .record_mds_attempt(&attempt("b", Some(offered), None))
            .await
            .unwrap();
        assert_eq!(outcome, expected);
    }
    assert_eq!(
        store.mds_version().await.unwrap(),
        Some((6, b"six".to_vec()))
    );
    store
        .record_mds_attempt(&attempt("b", None, Some("mds_signature_invalid")))
        .await
        .unwrap();
    let state = store.mds_state().await.unwrap();
    assert_eq!(
        state.blob.map(|b| (b.no, b.jwt)),
        Some((6, "six".to_owned()))
    );
    assert_eq!(state.last_result.as_deref(), Some("mds_signature_invalid"));
    assert_eq!(state.last_attempt_at, Some(NOW));
    assert_eq!(state.etag.as_deref(), Some("\"e\""));
    // An expired lease is free for anyone.
    assert!(store.take_mds_lease("c", NOW, NOW + 10).await.unwrap());
    assert!(store.take_mds_lease("d", NOW + 10, NOW + 20).await.unwrap());
}

/// A webhook message for the conformance cases, written at `at` (ms).
fn message(id: &str, at: i64) -> super::NewWebhookMessage {
    super::NewWebhookMessage {
        id: id.to_owned(),
        message_id: format!("msg_{id}"),
        endpoint_url: "https://hooks.example.com/a".to_owned(),
        event_type: "credential.renamed".to_owned(),
        payload: "{}".to_owned(),
        created_at: at,
    }
}

/// An audit event carrying `messages`.
fn event_with(action: &str, messages: Vec<super::NewWebhookMessage>) -> super::AuditEvent {
    super::AuditEvent {
        at: NOW,
        actor: "cli".to_owned(),
        action: action.to_owned(),
        outcome: "success".to_owned(),
        details: serde_json::json!({}),
        webhooks: messages,
        ..super::AuditEvent::default()
    }
}

/// The outbox: messages are stored with their audit event; a lease gives a delivery to one
/// node at a time (racing nodes get disjoint rows), only the holder records an attempt, a
/// lease that ran out frees the row for another node, delivered and failed rows are not
/// leased again until a redelivery; every read and redelivery is the tenant's own.
pub(super) async fn webhook_deliveries_are_leased_to_one_node_at_a_time(store: &dyn Store) {
    use super::{DeliveryStatus, WebhookAttempt};
    let (a, b) = (tid("a"), tid("b"));
    store.insert_tenant(&tenant("a")).await.unwrap();
    store.insert_tenant(&tenant("b")).await.unwrap();
    let now = NOW * 1000;
    let messages: Vec<_> = (0..20)
        .map(|i| message(&format!("whd_{i:02}"), now))
        .collect();
    store
        .insert_audit_event(&a, &event_with("credential.rename", messages))
        .await
        .unwrap();
    assert!(store
        .webhook_deliveries(&b, None, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.webhook_deliveries(&a, None, 100).await.unwrap().len(),
        20
    );

    // Two nodes race for the rows: each row goes to one of them.
    let (one, two) = tokio::join!(
        store.lease_webhook_deliveries("node1", now, 1_000, 15),
        store.lease_webhook_deliveries("node2", now, 1_000, 15),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    let mut ids: Vec<_> = one
        .iter()
        .chain(&two)
        .map(|d| d.message.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), one.len() + two.len(), "a row leased twice");
    assert_eq!(ids.len(), 20);
    assert!(store
        .lease_webhook_deliveries("node3", now + 999, 1_000, 50)
        .await
        .unwrap()
        .is_empty());

    // Only the holder records; delivered rows stay delivered.
    let taken = &one[0];
    let delivered = WebhookAttempt {
        at: now + 10,
        status: DeliveryStatus::Delivered,
        next_attempt_at: now + 10,
        http_status: Some(204),
        error: None,
        response_excerpt: None,
    };
    assert!(!store
        .finish_webhook_attempt(&taken.message.id, "node2", &delivered)
        .await
        .unwrap());
    assert!(store
        .finish_webhook_attempt(&taken.message.id, "node1", &delivered)
        .await
        .unwrap());
    // A failed attempt, due again later.
    let retry = WebhookAttempt {
        status: DeliveryStatus::Pending,
        next_attempt_at: now + 5_000,
        http_status: Some(500),
        error: Some("http_500".to_owned()),
        response_excerpt: Some("oops".to_owned()),
        ..delivered.clone()
    };
    let retried = &one[1];
    assert!(store
        .finish_webhook_attempt(&retried.message.id, "node1", &retry)
        .await
        .unwrap());

    // The leases run out: the 18 others go to node3; the retried one waits for its time.
    let later = store
        .lease_webhook_deliveries("node3", now + 1_001, 10_000, 50)
        .await
        .unwrap();
    assert_eq!(later.len(), 18);
    assert!(later.iter().all(|d| d.message.id != taken.message.id));
    let due = store
        .lease_webhook_deliveries("node3", now + 5_000, 1_000, 50)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message.id, retried.message.id);
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].last_error.as_deref(), Some("http_500"));
    assert_eq!(due[0].response_excerpt.as_deref(), Some("oops"));
    // node1's lease on it is gone: its late record is refused.
    assert!(!store
        .finish_webhook_attempt(&retried.message.id, "node1", &retry)
        .await
        .unwrap());

    // A redelivery is the tenant's own and makes the row due again, attempts afresh.
    assert_not_found(store.redeliver_webhook(&b, &taken.message.id, now).await);
    let again = store
        .redeliver_webhook(&a, &taken.message.id, now + 6_000)
        .await
        .unwrap();
    assert_eq!(again.status, DeliveryStatus::Pending);
    assert_eq!(again.attempts, 0);
    assert_eq!(again.delivered_at, Some(now + 10));
    let leased = store
        .lease_webhook_deliveries("node4", now + 6_000, 1_000, 50)
        .await
        .unwrap();
    assert!(leased.iter().any(|d| d.message.id == taken.message.id));
    // Newest first, paged by creation time.
    store
        .insert_audit_event(
            &a,
            &event_with("credential.rename", vec![message("whd_new", now + 1)]),
        )
        .await
        .unwrap();
    let page = store.webhook_deliveries(&a, None, 1).await.unwrap();
    assert_eq!(page[0].message.id, "whd_new");
    let older = store
        .webhook_deliveries(&a, Some(now + 1), 100)
        .await
        .unwrap();
    assert_eq!(older.len(), 20);
}

/// The recorded changes store their audit event and its webhook messages with the change,
/// and a change that fails stores neither.
pub(super) async fn changes_store_their_webhook_messages_with_them(store: &dyn Store) {
    let a = two_credentials(store).await;
    let now = NOW * 1000;
    let deliveries = async || store.webhook_deliveries(&a, None, 100).await.unwrap().len();
    let events = async || store.audit_events(&a, None, 100).await.unwrap().len();

    // Failures: an unknown credential, the last one kept.
    let event = event_with("credential.rename", vec![message("whd_1", now)]);
    assert_not_found(
        store
            .rename_credential_recorded(&a, b"nope", Some("x"), &event)
            .await,
    );
    assert_not_found(store.delete_credential_recorded(&a, b"nope", &event).await);
    store.delete_credential(&a, b"c1").await.unwrap();
    assert_conflict(
        store
            .delete_own_credential_recorded(&a, "u1", b"c0", true, &event)
            .await,
        "last_credential",
    );
    assert_eq!((deliveries().await, events().await), (0, 0));

    // Successes: each with its event and message.
    let renamed = store
        .rename_credential_recorded(&a, b"c0", Some("Laptop"), &event)
        .await
        .unwrap();
    assert_eq!(renamed.friendly_name.as_deref(), Some("Laptop"));
    let event = event_with("backup_codes.regenerate", vec![message("whd_2", now)]);
    store
        .replace_backup_codes_recorded(&a, "u1", &[[7; 32]], NOW, &event)
        .await
        .unwrap();
    assert_eq!(
        store.unused_backup_codes(&a, "u1").await.unwrap(),
        [[7; 32]]
    );
    let event = event_with("credential.delete", vec![message("whd_3", now)]);
    store
        .delete_own_credential_recorded(&a, "u1", b"c0", false, &event)
        .await
        .unwrap();
    assert_not_found(store.credential(&a, b"c0").await);
    assert_eq!((deliveries().await, events().await), (3, 3));
    // A message ID taken refuses the whole unit.
    store
        .insert_registration(
            &a,
            &registration(user("u1", 1), credential(b"c2", "u1", NOW)),
        )
        .await
        .unwrap();
    let event = event_with("credential.delete", vec![message("whd_3", now)]);
    assert!(store
        .delete_credential_recorded(&a, b"c2", &event)
        .await
        .is_err());
    assert!(store.credential(&a, b"c2").await.is_ok());
    assert_eq!((deliveries().await, events().await), (3, 3));
}

/// `credential_known_to_rp_id`: a credential counts as known in every tenant of its RP ID,
/// never in a tenant of another RP ID.
pub(super) async fn credentials_are_known_across_tenants_of_one_rp_id(store: &dyn Store) {
    let a = two_credentials(store).await;
    assert!(store
        .credential_known_to_rp_id("example.com", b"c0")
        .await
        .unwrap());
    assert!(!store
        .credential_known_to_rp_id("example.com", b"nope")
        .await
        .unwrap());
    assert!(!store
        .credential_known_to_rp_id("other.example", b"c0")
        .await
        .unwrap());
    let mut other = tenant("b");
    other.rp_id = "other.example".to_owned();
    store.insert_tenant(&other).await.unwrap();
    store
        .insert_registration(
            &tid("b"),
            &registration(user("u9", 9), credential(b"c9", "u9", NOW)),
        )
        .await
        .unwrap();
    assert!(store
        .credential_known_to_rp_id("other.example", b"c9")
        .await
        .unwrap());
    assert!(!store
        .credential_known_to_rp_id("example.com", b"c9")
        .await
        .unwrap());
    store.delete_credential(&a, b"c0").await.unwrap();
    assert!(!store
        .credential_known_to_rp_id("example.com", b"c0")
        .await
        .unwrap());
}
