//! The store's conformance suite ([`crate::store::conformance`]) on SQLite: a database file of
//! its own per case, as the server keeps it (WAL, one writer).

use tempfile::TempDir;

use super::SqliteStore;
use crate::store::conformance;
use crate::store::Store;

async fn store() -> (TempDir, SqliteStore) {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("passkeyd.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    (dir, store)
}

macro_rules! conformance_on_sqlite {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let (_dir, store) = store().await;
            conformance::$case(&store).await;
            store.close().await;
        }
    )*};
}

conformance_on_sqlite!(
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
