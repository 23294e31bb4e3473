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
