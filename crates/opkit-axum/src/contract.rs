//! The contracts of [`SessionStore`] and [`PendingStore`] as checks a store implementation runs
//! in its tests, the same suite for the in-memory stores and a durable one:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! opkit_axum::contract::session_store(&opkit_axum::MemorySessions::new(100)).await;
//! opkit_axum::contract::pending_store(&opkit_axum::MemoryPending::new(100)).await;
//! # }
//! ```
//!
//! Each check uses ids of its own (random), so it can run against a store that holds other
//! records. They panic on the first broken rule, like assertions in a test.

use opkit::host::{Rng, SystemRng};
use opkit::secret::{random_token, SecretHash};
use opkit::Session;
use time::{Duration, OffsetDateTime};

use crate::state::{PendingRecord, PendingStep, PendingStore, SessionRecord, SessionStore};

fn fresh_id(rng: &dyn Rng) -> SecretHash {
    SecretHash::of(&random_token(rng, 32).expect("the system random source"))
}

fn now() -> OffsetDateTime {
    // Whole seconds: a store may keep expiry with second precision.
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// Check a [`SessionStore`]: a record is returned until its expiry and never after, `remove`
/// forgets it (and succeeds for an unknown id), `purge_expired` removes what expired and
/// nothing else, and a record comes back as it was stored.
///
/// # Panics
///
/// On the first rule the store breaks, or if it fails.
pub async fn session_store<T: SessionStore + ?Sized>(store: &T) {
    let rng = SystemRng::new();
    let now = now();
    let record = |user: &str| SessionRecord {
        session: Session {
            subject: format!("sub-{user}"),
            auth_time: now,
        },
        username: user.to_owned(),
    };
    let (live, short) = (fresh_id(&rng), fresh_id(&rng));
    let later = now + Duration::hours(1);
    store
        .insert(live, record("a"), later, now)
        .await
        .expect("insert");
    store
        .insert(short, record("b"), now + Duration::seconds(10), now)
        .await
        .expect("insert");
    let got = store.get(live, now).await.expect("get");
    assert_eq!(got, Some(record("a")), "a session comes back as stored");
    let expired_at = now + Duration::seconds(10);
    assert_eq!(
        store.get(short, expired_at).await.expect("get"),
        None,
        "not at its expiry"
    );
    let purged = store.purge_expired(expired_at).await.expect("purge");
    assert!(purged >= 1, "purge_expired removes an expired session");
    assert_eq!(
        store.get(live, expired_at).await.expect("get"),
        Some(record("a")),
        "purge keeps live sessions"
    );
    store.remove(live).await.expect("remove");
    assert_eq!(
        store.get(live, now).await.expect("get"),
        None,
        "remove forgets"
    );
    store
        .remove(fresh_id(&rng))
        .await
        .expect("removing an unknown id succeeds");
}

/// Check a [`PendingStore`]: `take` returns a record once with its expiry (single use, also
/// when two takes race), never after the expiry, `put` replaces, and `purge_expired` removes
/// what expired and nothing else.
///
/// # Panics
///
/// On the first rule the store breaks, or if it fails.
pub async fn pending_store<T: PendingStore + ?Sized>(store: &T) {
    let rng = SystemRng::new();
    let now = now();
    let record = |params: &str| PendingRecord {
        step: PendingStep::Logout {
            params: params.to_owned(),
        },
        csrf: "csrf".to_owned(),
        browser: SecretHash::of("browser"),
        failed_logins: 2,
    };
    let params = |r: &PendingRecord| match &r.step {
        PendingStep::Logout { params } => params.clone(),
        _ => String::new(),
    };
    let later = now + Duration::minutes(10);

    let id = fresh_id(&rng);
    store
        .put(id, record("first"), later, now)
        .await
        .expect("put");
    store
        .put(id, record("second"), later, now)
        .await
        .expect("put replaces");
    let (taken, expires_at) = store
        .take(id, now)
        .await
        .expect("take")
        .expect("a live record");
    assert_eq!(params(&taken), "second", "put replaces the record");
    assert_eq!((taken.csrf.as_str(), taken.failed_logins), ("csrf", 2));
    assert_eq!(taken.browser, SecretHash::of("browser"));
    assert_eq!(expires_at, later, "take returns the expiry");
    assert!(
        store.take(id, now).await.expect("take").is_none(),
        "single use"
    );

    let id = fresh_id(&rng);
    store
        .put(id, record("race"), later, now)
        .await
        .expect("put");
    let (a, b) = tokio::join!(store.take(id, now), store.take(id, now));
    let winners = [a.expect("take"), b.expect("take")]
        .iter()
        .filter(|t| t.is_some())
        .count();
    assert_eq!(
        winners, 1,
        "of two concurrent takes exactly one gets the record"
    );

    let (expiring, live) = (fresh_id(&rng), fresh_id(&rng));
    let soon = now + Duration::seconds(10);
    store
        .put(expiring, record("x"), soon, now)
        .await
        .expect("put");
    store.put(live, record("y"), later, now).await.expect("put");
    let purged = store.purge_expired(soon).await.expect("purge");
    assert!(purged >= 1, "purge_expired removes an expired step");
    assert!(
        store.take(expiring, now).await.expect("take").is_none(),
        "purged"
    );
    let kept = store
        .take(live, soon)
        .await
        .expect("take")
        .expect("purge keeps live steps");
    assert_eq!(params(&kept.0), "y");

    let id = fresh_id(&rng);
    store.put(id, record("z"), soon, now).await.expect("put");
    assert!(
        store.take(id, soon).await.expect("take").is_none(),
        "not at its expiry"
    );
}

#[cfg(test)]
mod tests {
    use crate::{MemoryPending, MemorySessions};

    #[tokio::test]
    async fn memory_stores_keep_the_contracts() {
        super::session_store(&MemorySessions::new(10)).await;
        super::pending_store(&MemoryPending::new(10)).await;
    }
}
