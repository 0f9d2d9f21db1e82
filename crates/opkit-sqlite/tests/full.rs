//! A full database: with `SqliteOptions::max_size`, a write that would grow the file past the
//! cap fails with an error saying the database is full (a retry may succeed once a purge frees
//! pages, so it is `Unavailable`, answered 503), the kit's stores answer `StateError::Full`,
//! and reads go on.

mod common;

use common::{options, TempDir};
use opkit::secret::SecretHash;
use opkit::store::{RevokedTokenStore, StoreErrorKind};
use opkit_axum::{SessionRecord, SessionStore, StateError};
use opkit_sqlite::SqliteStore;
use time::{Duration, OffsetDateTime};

#[tokio::test]
async fn a_database_at_its_size_cap_says_it_is_full_and_still_reads() {
    let dir = TempDir::new("full");
    let store = SqliteStore::open(dir.db("full.db"), options().max_size(256 * 1024))
        .await
        .unwrap();
    let later = OffsetDateTime::now_utc() + Duration::hours(1);
    let padding = "x".repeat(200);
    let mut written = 0;
    let err = loop {
        match store
            .revoke_access_token(&format!("jti-{written}-{padding}"), later)
            .await
        {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 100_000, "the cap never took effect");
    };
    assert!(written > 10, "the cap left room for some writes first");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("full"), "{err}");
    assert!(store
        .is_access_token_revoked(&format!("jti-0-{padding}"))
        .await
        .unwrap());

    let session = SessionRecord {
        session: opkit::Session {
            subject: "alice".into(),
            auth_time: OffsetDateTime::now_utc(),
        },
        username: padding.repeat(20),
    };
    let now = OffsetDateTime::now_utc();
    let mut refused = None;
    for i in 0..1_000 {
        let id = SecretHash::of(&format!("session-{i}"));
        if let Err(e) = store.insert(id, session.clone(), later, now).await {
            refused = Some(e);
            break;
        }
    }
    assert!(matches!(refused, Some(StateError::Full)), "{refused:?}");
}
