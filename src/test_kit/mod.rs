//! Contract tests for store implementations (feature `test-kit`).
//!
//! A host that backs [`ClientStore`] or [`Store`] with its own database runs these checks
//! against it in its test suite. Each check panics, naming the contract broken, at the first
//! violation; a store error is a failure too.
//!
//! | check | what it covers |
//! |-------|----------------|
//! | [`check_client_store`] | insert, lookups by `client_id` and by `id`, update, delete, conflicts on duplicate `id` and `client_id`, keyset pagination both ways |
//! | [`check_store`] | grants and their revocation (one, or by client and subject), codes (redeem, replay, unknown), refresh tokens (lookup, rotation, reuse, unknown), grace reuses of a rotated token (window, count, conflicts, revocation), what a revoked grant leaves usable, consents, revoked access tokens, bounded purges |
//! | [`check_all`] | the three checks that need no second thread: client, store, interleaved |
//! | [`check_store_concurrency`] | 16 threads racing to redeem one code, to rotate one refresh token and to reuse the rotated token within its grace window |
//! | [`check_store_interleaved`] | the same races as concurrent futures of one task, for stores whose futures need the caller's runtime |
//! | [`check_key_store`] | signing keys: one per `(alg, generation)` and `kid`, bytes kept, order, deletion, racing inserts |
//! | [`check_user_store`] | a filled user store: right, wrong and empty passwords, unknown users, claims |
//!
//! `make` must return an **empty** store each time it is called (each check uses a few). The
//! records use whole-second UTC times, issued in 2023 and expiring in 2100, so a store that
//! keeps only microseconds, drops the offset or sets a time-to-live from `expires_at` still
//! round-trips them.
//!
//! ```no_run
//! use opkit::store::MemoryStore;
//! use opkit::test_kit;
//!
//! # async fn contract_tests() {
//! // In a host's test, for example inside `#[tokio::test]`:
//! test_kit::check_all(MemoryStore::new).await; // client, store and interleaved checks
//! test_kit::check_store_concurrency(MemoryStore::new).await; // needs futures that run anywhere
//! # }
//! ```
//!
//! The kit pulls in no async runtime: the concurrency check drives the store's futures on its
//! own threads with a minimal executor, so it suits stores whose futures run anywhere (an
//! in-memory store, a blocking driver). A store whose futures need the caller's runtime (say,
//! one using tokio's I/O) uses [`check_store_interleaved`] instead.

mod keys;
mod users;

pub use keys::check_key_store;
pub use users::check_user_store;

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use time::{Duration, OffsetDateTime};

use crate::client::{AuthMethod, Client, ClientSecret, ClientSettings, GrantType, ResponseType};
use crate::jose::Algorithm;
use crate::pkce::{ChallengeMethod, CodeChallenge};
use crate::scope::Scopes;
use crate::secret::SecretHash;
use crate::store::{
    ClientStore, CodeRecord, CodeRedemption, Consent, Grant, GrantId, RefreshLookup, RefreshRecord,
    RefreshReuse, RefreshRotation, SortOrder, Store, StoreErrorKind, StoreResult,
};

/// How many threads (or futures) race in the concurrency checks.
const RACERS: usize = 16;
/// How many times each race is run.
const ROUNDS: usize = 8;
/// How many grace reuses the racing reuses of one rotated token may share.
const GRACE_REUSES: u32 = 5;

// ---------------------------------------------------------------------------------------------
// Reporting

#[track_caller]
fn broken(store: &str, contract: &str, detail: impl Display) -> ! {
    panic!("{store} contract broken — {contract}: {detail}")
}

#[track_caller]
fn ok<T>(r: StoreResult<T>, store: &str, call: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => broken(store, call, format_args!("the call failed: {e}")),
    }
}

#[track_caller]
fn same<T: PartialEq + Debug>(store: &str, contract: &str, got: T, want: T) {
    if got != want {
        broken(store, contract, format_args!("got {got:?}, want {want:?}"));
    }
}

const CLIENTS: &str = "ClientStore";
const GRANTS: &str = "GrantStore";

// ---------------------------------------------------------------------------------------------
// Fixtures

/// 2023-11-14T22:13:20Z.
fn issued_at() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000)
}

/// 2100-01-01T00:00:00Z.
fn far_future() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::seconds(4_102_444_800)
}

fn scopes(values: &[&str]) -> Scopes {
    let mut s = Scopes::new();
    for v in values {
        s.insert(v);
    }
    s
}

fn client(id: &str, client_id: &str) -> Client {
    let mut metadata = BTreeMap::new();
    metadata.insert("tier".to_owned(), serde_json::Value::from("gold"));
    Client {
        id: id.to_owned(),
        client_id: client_id.to_owned(),
        secrets: vec![ClientSecret {
            id: format!("{id}-secret"),
            name: "primary".to_owned(),
            hash: SecretHash::of(&format!("{client_id} secret")),
            created_at: issued_at(),
            expires_at: Some(far_future()),
        }],
        registration_access_token: Some(SecretHash::of(&format!("{client_id} rat"))),
        settings: ClientSettings {
            name: format!("Client {id}"),
            description: Some("a test client".to_owned()),
            redirect_uris: vec!["https://rp.example/cb".to_owned()],
            post_logout_redirect_uris: vec!["https://rp.example/".to_owned()],
            id_token_signed_response_alg: Algorithm::Es256,
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            response_types: vec![ResponseType::CODE],
            allowed_scopes: scopes(&["openid", "profile", "offline_access"]),
            allowed_origins: vec!["https://rp.example".to_owned()],
            logo_uri: None,
            logo_dark_mode_uri: None,
            require_pkce: true,
            allow_plain_pkce: false,
            introspect_any_token: false,
            refresh_grace: None,
            allowed_resources: Vec::new(),
            userinfo_signed_response_alg: None,
            metadata,
        },
        date_created: issued_at(),
        date_modified: issued_at(),
        revision: 0,
    }
}

fn grant(id: &str, client_id: &str, subject: Option<&str>) -> Grant {
    Grant {
        id: GrantId(id.to_owned()),
        client_id: client_id.to_owned(),
        subject: subject.map(str::to_owned),
        scopes: scopes(&["openid", "profile", "offline_access"]),
        auth_time: subject.map(|_| issued_at() - Duration::seconds(30)),
        created_at: issued_at(),
        expires_at: far_future(),
        revoked: false,
        resource: None,
    }
}

fn code(secret: &str, g: &Grant) -> CodeRecord {
    CodeRecord {
        hash: SecretHash::of(secret),
        grant_id: g.id.clone(),
        client_id: g.client_id.clone(),
        subject: g
            .subject
            .clone()
            .unwrap_or_else(|| "kit-subject".to_owned()),
        redirect_uri: Some("https://rp.example/cb".to_owned()),
        scopes: g.scopes.clone(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        challenge: Some(CodeChallenge {
            challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            method: ChallengeMethod::S256,
        }),
        auth_time: issued_at() - Duration::seconds(30),
        expires_at: far_future(),
    }
}

fn refresh(secret: &str, g: &Grant) -> RefreshRecord {
    RefreshRecord {
        hash: SecretHash::of(secret),
        grant_id: g.id.clone(),
        client_id: g.client_id.clone(),
        subject: g
            .subject
            .clone()
            .unwrap_or_else(|| "kit-subject".to_owned()),
        scopes: g.scopes.clone(),
        auth_time: issued_at() - Duration::seconds(30),
        issued_at: issued_at(),
        expires_at: far_future(),
    }
}

fn consent(subject: &str, client_id: &str, values: &[&str], granted_secs: i64) -> Consent {
    Consent {
        subject: subject.to_owned(),
        client_id: client_id.to_owned(),
        scopes: scopes(values),
        granted_at: issued_at() + Duration::seconds(granted_secs),
    }
}

fn ids(clients: &[Arc<Client>]) -> Vec<&str> {
    clients.iter().map(|c| c.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// ClientStore

/// Check a [`ClientStore`]: lookups by `client_id` and by management `id`, insert with
/// conflicts on a duplicate `id` or `client_id`, update, delete, and keyset pagination in both
/// orders (with inserts between pages). `make` returns an empty store; it is called once per
/// part.
pub async fn check_client_store<S: ClientStore>(make: impl Fn() -> S) {
    client_crud(&make()).await;
    client_conflicts(&make()).await;
    client_update(&make()).await;
    client_pagination(&make()).await;
    client_origins(&make()).await;
}

async fn allowed_origin<S: ClientStore>(s: &S, origin: &str) -> bool {
    ok(s.origin_allowed(origin).await, CLIENTS, "origin_allowed")
}

async fn client_origins<S: ClientStore>(s: &S) {
    const APP: &str = "https://app.example";
    same(
        CLIENTS,
        "origin_allowed is false on an empty store",
        allowed_origin(s, APP).await,
        false,
    );
    let mut a = client("kit-origin-a", "kit-origin-client-a");
    a.settings.allowed_origins = vec![APP.to_owned()];
    ok(s.insert_client(a.clone()).await, CLIENTS, "insert_client");
    let mut b = client("kit-origin-b", "kit-origin-client-b");
    b.settings.allowed_origins = vec![APP.to_owned()];
    ok(s.insert_client(b.clone()).await, CLIENTS, "insert_client");
    same(
        CLIENTS,
        "origin_allowed(listed origin)",
        allowed_origin(s, APP).await,
        true,
    );
    same(
        CLIENTS,
        "origin_allowed compares exactly",
        allowed_origin(s, "https://app.example/").await,
        false,
    );
    same(
        CLIENTS,
        "origin_allowed(unlisted origin)",
        allowed_origin(s, "https://evil.example").await,
        false,
    );
    a.settings.allowed_origins.clear();
    ok(s.update_client(a).await, CLIENTS, "update_client");
    same(
        CLIENTS,
        "origin_allowed while another client still lists it",
        allowed_origin(s, APP).await,
        true,
    );
    ok(
        s.delete_client("kit-origin-b").await,
        CLIENTS,
        "delete_client",
    );
    same(
        CLIENTS,
        "origin_allowed after the last client listing it is gone",
        allowed_origin(s, APP).await,
        false,
    );
}

async fn client_crud<S: ClientStore>(s: &S) {
    let a = client("kit-crud-a", "kit-client-a");
    ok(s.insert_client(a.clone()).await, CLIENTS, "insert_client");

    let by_client_id = ok(s.client("kit-client-a").await, CLIENTS, "client");
    same(
        CLIENTS,
        "client(client_id) returns the inserted client",
        by_client_id.as_deref(),
        Some(&a),
    );
    let by_id = ok(s.client_by_id("kit-crud-a").await, CLIENTS, "client_by_id");
    same(
        CLIENTS,
        "client_by_id(id) returns the inserted client",
        by_id.as_deref(),
        Some(&a),
    );

    let crossed = ok(s.client("kit-crud-a").await, CLIENTS, "client");
    same(
        CLIENTS,
        "client() looks up client_id, not the management id",
        crossed,
        None,
    );
    let crossed = ok(
        s.client_by_id("kit-client-a").await,
        CLIENTS,
        "client_by_id",
    );
    same(
        CLIENTS,
        "client_by_id() looks up the management id, not client_id",
        crossed,
        None,
    );
    let unknown = ok(s.client("kit-no-such-client").await, CLIENTS, "client");
    same(
        CLIENTS,
        "client() of an unknown client_id is None",
        unknown,
        None,
    );

    let deleted = ok(
        s.delete_client("kit-crud-a").await,
        CLIENTS,
        "delete_client",
    );
    same(
        CLIENTS,
        "delete_client returns the deleted client",
        deleted.as_deref(),
        Some(&a),
    );
    let gone = ok(s.client("kit-client-a").await, CLIENTS, "client");
    same(CLIENTS, "a deleted client is gone by client_id", gone, None);
    let gone = ok(s.client_by_id("kit-crud-a").await, CLIENTS, "client_by_id");
    same(CLIENTS, "a deleted client is gone by id", gone, None);
    let again = ok(
        s.delete_client("kit-crud-a").await,
        CLIENTS,
        "delete_client",
    );
    same(
        CLIENTS,
        "deleting a deleted client returns None",
        again,
        None,
    );

    let reuse = client("kit-crud-b", "kit-client-a");
    if let Err(e) = s.insert_client(reuse.clone()).await {
        broken(
            CLIENTS,
            "a deleted client's client_id can be registered again",
            e,
        );
    }
    let found = ok(s.client("kit-client-a").await, CLIENTS, "client");
    same(
        CLIENTS,
        "client() finds the new holder of a reused client_id",
        found.as_deref(),
        Some(&reuse),
    );
}

async fn client_conflicts<S: ClientStore>(s: &S) {
    let a = client("kit-conf-a", "kit-client-ca");
    ok(s.insert_client(a.clone()).await, CLIENTS, "insert_client");

    match s
        .insert_client(client("kit-conf-a", "kit-client-other"))
        .await
    {
        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
        Err(e) => broken(
            CLIENTS,
            "insert_client with a duplicate id fails with Conflict",
            format_args!("failed with {e}"),
        ),
        Ok(()) => broken(
            CLIENTS,
            "insert_client with a duplicate id fails with Conflict",
            "it succeeded",
        ),
    }
    let ghost = ok(s.client("kit-client-other").await, CLIENTS, "client");
    same(CLIENTS, "a conflicting insert stores nothing", ghost, None);

    match s.insert_client(client("kit-conf-b", "kit-client-ca")).await {
        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
        Err(e) => broken(
            CLIENTS,
            "insert_client with a duplicate client_id fails with Conflict",
            format_args!("failed with {e}"),
        ),
        Ok(()) => broken(
            CLIENTS,
            "insert_client with a duplicate client_id fails with Conflict",
            "it succeeded",
        ),
    }
    let ghost = ok(s.client_by_id("kit-conf-b").await, CLIENTS, "client_by_id");
    same(CLIENTS, "a conflicting insert stores nothing", ghost, None);
    let kept = ok(s.client("kit-client-ca").await, CLIENTS, "client");
    same(
        CLIENTS,
        "a conflicting insert leaves the existing client",
        kept.as_deref(),
        Some(&a),
    );
}

async fn client_update<S: ClientStore>(s: &S) {
    let a = client("kit-upd-a", "kit-client-ua");
    let b = client("kit-upd-b", "kit-client-ub");
    ok(s.insert_client(a.clone()).await, CLIENTS, "insert_client");
    ok(s.insert_client(b.clone()).await, CLIENTS, "insert_client");

    let mut a2 = a.clone();
    a2.settings.name = "Renamed".to_owned();
    a2.settings
        .redirect_uris
        .push("https://rp.example/other".to_owned());
    a2.date_modified = issued_at() + Duration::seconds(60);
    let updated = ok(s.update_client(a2.clone()).await, CLIENTS, "update_client");
    same(
        CLIENTS,
        "update_client of an existing client returns true",
        updated,
        true,
    );
    a2.revision += 1;
    let got = ok(s.client("kit-client-ua").await, CLIENTS, "client");
    same(
        CLIENTS,
        "update_client replaces the client (by client_id)",
        got.as_deref(),
        Some(&a2),
    );
    let got = ok(s.client_by_id("kit-upd-a").await, CLIENTS, "client_by_id");
    same(
        CLIENTS,
        "update_client replaces the client (by id)",
        got.as_deref(),
        Some(&a2),
    );

    // An update based on an older revision is refused and changes nothing.
    let mut stale = a.clone();
    stale.settings.name = "Stale".to_owned();
    match s.update_client(stale).await {
        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
        other => broken(
            CLIENTS,
            "update_client with a stale revision fails with Conflict",
            format_args!("got {other:?}"),
        ),
    }
    let kept = ok(s.client_by_id("kit-upd-a").await, CLIENTS, "client_by_id");
    same(
        CLIENTS,
        "a stale update changes nothing",
        kept.as_deref(),
        Some(&a2),
    );

    let missing = client("kit-upd-missing", "kit-client-umissing");
    let updated = ok(s.update_client(missing).await, CLIENTS, "update_client");
    same(
        CLIENTS,
        "update_client of an unknown id returns false",
        updated,
        false,
    );
    let ghost = ok(
        s.client_by_id("kit-upd-missing").await,
        CLIENTS,
        "client_by_id",
    );
    same(
        CLIENTS,
        "update_client of an unknown id inserts nothing",
        ghost,
        None,
    );

    // Taking another client's client_id must not take over its lookups.
    let mut hijack = a2.clone();
    hijack.client_id = "kit-client-ub".to_owned();
    match s.update_client(hijack).await {
        Err(e) if e.kind() == StoreErrorKind::Conflict => {
            let kept = ok(s.client_by_id("kit-upd-a").await, CLIENTS, "client_by_id");
            same(
                CLIENTS,
                "a conflicting update changes nothing",
                kept.as_deref(),
                Some(&a2),
            );
        }
        Err(e) => broken(
            CLIENTS,
            "update_client to another client's client_id fails with Conflict (or is ignored)",
            format_args!("failed with {e}"),
        ),
        Ok(_) => {}
    }
    let b_now = ok(s.client("kit-client-ub").await, CLIENTS, "client");
    same(
        CLIENTS,
        "an update never hands one client's client_id to another",
        b_now.as_deref(),
        Some(&b),
    );
}

async fn client_pagination<S: ClientStore>(s: &S) {
    for id in [
        "kit-p03", "kit-p01", "kit-p05", "kit-p02", "kit-p04", "kit-p07", "kit-p06",
    ] {
        ok(
            s.insert_client(client(id, &format!("{id}-cid"))).await,
            CLIENTS,
            "insert_client",
        );
    }
    let list = |after: Option<&'static str>, limit: usize, order: SortOrder| async move {
        ids(&ok(
            s.list_clients(after, limit, order).await,
            CLIENTS,
            "list_clients",
        ))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<String>>()
    };
    let asc = SortOrder::Ascending;
    let desc = SortOrder::Descending;
    let contract = "list_clients orders by id and starts after `after` (exclusive)";
    same(
        CLIENTS,
        contract,
        list(None, 100, asc).await,
        strings(&[
            "kit-p01", "kit-p02", "kit-p03", "kit-p04", "kit-p05", "kit-p06", "kit-p07",
        ]),
    );
    same(
        CLIENTS,
        contract,
        list(None, 3, asc).await,
        strings(&["kit-p01", "kit-p02", "kit-p03"]),
    );
    same(
        CLIENTS,
        contract,
        list(Some("kit-p03"), 3, asc).await,
        strings(&["kit-p04", "kit-p05", "kit-p06"]),
    );
    same(
        CLIENTS,
        contract,
        list(Some("kit-p06"), 3, asc).await,
        strings(&["kit-p07"]),
    );
    same(
        CLIENTS,
        contract,
        list(Some("kit-p07"), 3, asc).await,
        strings(&[]),
    );
    same(
        CLIENTS,
        "list_clients returns at most `limit` clients",
        list(None, 0, asc).await,
        strings(&[]),
    );

    same(
        CLIENTS,
        contract,
        list(None, 3, desc).await,
        strings(&["kit-p07", "kit-p06", "kit-p05"]),
    );
    same(
        CLIENTS,
        contract,
        list(Some("kit-p05"), 3, desc).await,
        strings(&["kit-p04", "kit-p03", "kit-p02"]),
    );
    same(
        CLIENTS,
        contract,
        list(Some("kit-p02"), 3, desc).await,
        strings(&["kit-p01"]),
    );
    same(
        CLIENTS,
        contract,
        list(Some("kit-p01"), 3, desc).await,
        strings(&[]),
    );

    let cursor = "list_clients accepts an `after` that is not a stored id";
    same(
        CLIENTS,
        cursor,
        list(Some("kit-p035"), 2, asc).await,
        strings(&["kit-p04", "kit-p05"]),
    );
    same(
        CLIENTS,
        cursor,
        list(Some("kit-p035"), 2, desc).await,
        strings(&["kit-p03", "kit-p02"]),
    );

    // Inserts between two pages neither repeat nor skip a client.
    let first = list(None, 3, asc).await;
    same(
        CLIENTS,
        contract,
        first,
        strings(&["kit-p01", "kit-p02", "kit-p03"]),
    );
    ok(
        s.insert_client(client("kit-p00", "kit-p00-cid")).await,
        CLIENTS,
        "insert_client",
    );
    ok(
        s.insert_client(client("kit-p045", "kit-p045-cid")).await,
        CLIENTS,
        "insert_client",
    );
    same(
        CLIENTS,
        "list_clients pages are stable under concurrent inserts (keyset, not offset)",
        list(Some("kit-p03"), 3, asc).await,
        strings(&["kit-p04", "kit-p045", "kit-p05"]),
    );
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// GrantStore

/// Check a [`Store`] one call at a time: grants, revocation of one grant and of a client's
/// (or a subject's) grants, authorization codes, refresh token rotation and reuse, what a
/// revoked grant leaves usable, consents and revoked access tokens. `make` returns an empty
/// store; it is called once per part.
pub async fn check_store<S: Store>(make: impl Fn() -> S) {
    grants(&make()).await;
    revoke_by_client(&make()).await;
    codes(&make()).await;
    refresh_tokens(&make()).await;
    refresh_grace(&make()).await;
    revoked_grant_leaves_nothing_usable(&make()).await;
    consents(&make()).await;
    access_tokens(&make()).await;
    purge(&make()).await;
}

/// Every check of the kit that needs no second thread: [`check_client_store`],
/// [`check_store`] and [`check_store_interleaved`]. A store whose futures run anywhere adds
/// [`check_store_concurrency`].
pub async fn check_all<S: Store>(make: impl Fn() -> S) {
    check_client_store(&make).await;
    check_store(&make).await;
    check_store_interleaved(&make).await;
}

/// The bounded purges: each removes at most `limit` records, only those whose `expires_at` is
/// at or before `now`, and says how many; what has not expired stays usable (a redeemed code
/// and a rotated refresh token still report a replay); [`Store::purge_expired`] drains them.
async fn purge<S: Store>(s: &S) {
    const PURGE: &str = "purge";
    let soon = issued_at() + Duration::hours(1);
    let mut expiring = Vec::new();
    for i in 0..3 {
        let mut g = grant(
            &format!("kit-purge-grant-{i}"),
            "kit-client",
            Some("kit-alice"),
        );
        g.expires_at = soon;
        ok(s.create_grant(g.clone()).await, PURGE, "create_grant");
        let mut c = code(&format!("kit-purge-code-{i}"), &g);
        c.expires_at = soon;
        ok(s.put_code(c).await, PURGE, "put_code");
        let mut r = refresh(&format!("kit-purge-refresh-{i}"), &g);
        r.expires_at = soon;
        ok(s.put_refresh_token(r).await, PURGE, "put_refresh_token");
        let jti = format!("kit-purge-jti-{i}");
        ok(
            s.revoke_access_token(&jti, soon).await,
            PURGE,
            "revoke_access_token",
        );
        expiring.push(g);
    }
    let keep = grant("kit-purge-keep", "kit-client", Some("kit-alice"));
    ok(s.create_grant(keep.clone()).await, PURGE, "create_grant");
    let kept_code = code("kit-purge-keep-code", &keep);
    ok(s.put_code(kept_code.clone()).await, PURGE, "put_code");
    ok(s.redeem_code(&kept_code.hash).await, PURGE, "redeem_code");
    let kept_refresh = refresh("kit-purge-keep-refresh", &keep);
    ok(
        s.put_refresh_token(kept_refresh.clone()).await,
        PURGE,
        "put_refresh_token",
    );
    let kept_next = refresh("kit-purge-keep-refresh-next", &keep);
    ok(
        s.rotate_refresh_token(&kept_refresh.hash, kept_next.clone())
            .await,
        PURGE,
        "rotate_refresh_token",
    );
    ok(
        s.revoke_access_token("kit-purge-keep-jti", far_future())
            .await,
        PURGE,
        "revoke_access_token",
    );

    // Nothing has expired a second before.
    let before = soon - Duration::seconds(1);
    let counts = ok(s.purge_expired(before, 10).await, PURGE, "purge_expired");
    same(
        PURGE,
        "purge_expired removes nothing unexpired",
        counts,
        Default::default(),
    );

    // A batch is bounded.
    let n = ok(
        s.purge_expired_codes(soon, 2).await,
        PURGE,
        "purge_expired_codes",
    );
    same(PURGE, "purge_expired_codes removes at most `limit`", n, 2);
    let n = ok(
        s.purge_expired_refresh_tokens(soon, 1).await,
        PURGE,
        "purge_expired_refresh_tokens",
    );
    same(
        PURGE,
        "purge_expired_refresh_tokens removes at most `limit`",
        n,
        1,
    );

    // The rest drains, and exactly the expired records go.
    let counts = ok(s.purge_expired(soon, 2).await, PURGE, "purge_expired");
    same(
        PURGE,
        "purge_expired removes the remaining expired codes",
        counts.codes,
        1,
    );
    same(
        PURGE,
        "purge_expired removes the remaining expired refresh tokens",
        counts.refresh_tokens,
        2,
    );
    same(
        PURGE,
        "purge_expired removes every expired revoked token",
        counts.revoked_access_tokens,
        3,
    );
    same(
        PURGE,
        "purge_expired removes every expired grant",
        counts.grants,
        3,
    );
    for g in &expiring {
        let got = ok(s.grant(&g.id).await, PURGE, "grant");
        same(PURGE, "an expired grant is purged", got, None);
    }
    let got = ok(
        s.is_access_token_revoked("kit-purge-jti-0").await,
        PURGE,
        "is_access_token_revoked",
    );
    same(PURGE, "an expired revoked token is forgotten", got, false);

    let kept = "purging leaves unexpired records, redeemed and rotated ones included";
    same(
        PURGE,
        kept,
        ok(s.grant(&keep.id).await, PURGE, "grant"),
        Some(keep.clone()),
    );
    match ok(s.redeem_code(&kept_code.hash).await, PURGE, "redeem_code") {
        CodeRedemption::Replayed { grant_id } => same(PURGE, kept, grant_id, keep.id.clone()),
        other => broken(
            PURGE,
            kept,
            format_args!("a redeemed code now gives {other:?}"),
        ),
    }
    match ok(
        s.refresh_token(&kept_refresh.hash).await,
        PURGE,
        "refresh_token",
    ) {
        Some(lookup) => same(PURGE, kept, lookup.rotated, true),
        None => broken(
            PURGE,
            kept,
            "a rotated refresh token was purged before it expired",
        ),
    }
    let got = ok(
        s.is_access_token_revoked("kit-purge-keep-jti").await,
        PURGE,
        "is_access_token_revoked",
    );
    same(PURGE, kept, got, true);
}

async fn grants<S: Store>(s: &S) {
    // A grant for a resource (RFC 8707): its refreshes and tokens are for it.
    let g = Grant {
        resource: Some("https://api.example.com/orders".into()),
        ..grant("kit-grant-1", "kit-client", Some("kit-alice"))
    };
    ok(s.create_grant(g.clone()).await, GRANTS, "create_grant");
    let got = ok(s.grant(&g.id).await, GRANTS, "grant");
    same(
        GRANTS,
        "grant() returns the created grant, its resource included",
        got,
        Some(g.clone()),
    );

    // A client acting on its own behalf: no subject, no auth_time.
    let cc = grant("kit-grant-cc", "kit-client", None);
    ok(s.create_grant(cc.clone()).await, GRANTS, "create_grant");
    let got = ok(s.grant(&cc.id).await, GRANTS, "grant");
    same(
        GRANTS,
        "grant() round-trips a grant without subject",
        got,
        Some(cc.clone()),
    );

    let unknown = ok(
        s.grant(&GrantId("kit-no-such-grant".into())).await,
        GRANTS,
        "grant",
    );
    same(GRANTS, "grant() of an unknown id is None", unknown, None);

    ok(s.revoke_grant(&g.id).await, GRANTS, "revoke_grant");
    let revoked = Grant {
        revoked: true,
        ..g.clone()
    };
    let got = ok(s.grant(&g.id).await, GRANTS, "grant");
    same(
        GRANTS,
        "revoke_grant marks the grant revoked and keeps it",
        got,
        Some(revoked.clone()),
    );
    if let Err(e) = s.revoke_grant(&g.id).await {
        broken(GRANTS, "revoke_grant is idempotent", e);
    }
    let got = ok(s.grant(&g.id).await, GRANTS, "grant");
    same(GRANTS, "revoke_grant is idempotent", got, Some(revoked));
    if let Err(e) = s.revoke_grant(&GrantId("kit-no-such-grant".into())).await {
        broken(GRANTS, "revoke_grant of an unknown id succeeds", e);
    }
    let got = ok(s.grant(&cc.id).await, GRANTS, "grant");
    same(GRANTS, "revoke_grant touches no other grant", got, Some(cc));
}

async fn revoked(s: &impl Store, id: &GrantId) -> bool {
    ok(s.grant(id).await, GRANTS, "grant").is_some_and(|g| g.revoked)
}

async fn revoke_by_client<S: Store>(s: &S) {
    let g1 = grant("kit-rg-1", "kit-rg-c1", Some("kit-alice"));
    let g2 = grant("kit-rg-2", "kit-rg-c1", Some("kit-bob"));
    let g3 = grant("kit-rg-3", "kit-rg-c2", Some("kit-alice"));
    let g4 = grant("kit-rg-4", "kit-rg-c1", None);
    for g in [&g1, &g2, &g3, &g4] {
        ok(s.create_grant(g.clone()).await, GRANTS, "create_grant");
    }
    let r2 = refresh("kit-rg-refresh-2", &g2);
    let r3 = refresh("kit-rg-refresh-3", &g3);
    ok(
        s.put_refresh_token(r2.clone()).await,
        GRANTS,
        "put_refresh_token",
    );
    ok(
        s.put_refresh_token(r3.clone()).await,
        GRANTS,
        "put_refresh_token",
    );

    let n = ok(
        s.revoke_grants("kit-rg-c1", Some("kit-alice")).await,
        GRANTS,
        "revoke_grants",
    );
    same(
        GRANTS,
        "revoke_grants(client, Some(subject)) counts the grants it revoked",
        n,
        1,
    );
    let states = [
        revoked(s, &g1.id).await,
        revoked(s, &g2.id).await,
        revoked(s, &g3.id).await,
        revoked(s, &g4.id).await,
    ];
    same(
        GRANTS,
        "revoke_grants(client, Some(subject)) revokes that subject's grants at that client only",
        states,
        [true, false, false, false],
    );

    let n = ok(
        s.revoke_grants("kit-rg-c1", Some("kit-nobody")).await,
        GRANTS,
        "revoke_grants",
    );
    same(
        GRANTS,
        "revoke_grants for a subject without grants revokes nothing",
        n,
        0,
    );

    let n = ok(
        s.revoke_grants("kit-rg-c1", None).await,
        GRANTS,
        "revoke_grants",
    );
    same(
        GRANTS,
        "revoke_grants(client, None) counts the grants it newly revoked",
        n,
        2,
    );
    let states = [
        revoked(s, &g1.id).await,
        revoked(s, &g2.id).await,
        revoked(s, &g3.id).await,
        revoked(s, &g4.id).await,
    ];
    same(
        GRANTS,
        "revoke_grants(client, None) revokes every grant of that client only",
        states,
        [true, true, false, true],
    );

    let n = ok(
        s.revoke_grants("kit-rg-c1", None).await,
        GRANTS,
        "revoke_grants",
    );
    same(
        GRANTS,
        "revoke_grants does not count grants already revoked",
        n,
        0,
    );
    let n = ok(
        s.revoke_grants("kit-rg-unknown", None).await,
        GRANTS,
        "revoke_grants",
    );
    same(
        GRANTS,
        "revoke_grants for an unknown client revokes nothing",
        n,
        0,
    );

    refresh_unusable(s, &r2, "revoke_grants").await;
    let other = ok(s.refresh_token(&r3.hash).await, GRANTS, "refresh_token");
    same(
        GRANTS,
        "revoke_grants leaves other clients' refresh tokens usable",
        other,
        Some(RefreshLookup {
            record: r3,
            rotated: false,
        }),
    );
}

async fn codes<S: Store>(s: &S) {
    let g = grant("kit-code-grant", "kit-client", Some("kit-alice"));
    ok(s.create_grant(g.clone()).await, GRANTS, "create_grant");
    let c = code("kit-code-1", &g);
    ok(s.put_code(c.clone()).await, GRANTS, "put_code");

    let first = ok(s.redeem_code(&c.hash).await, GRANTS, "redeem_code");
    same(
        GRANTS,
        "redeem_code returns the stored code once",
        first,
        CodeRedemption::Redeemed(Box::new(c.clone())),
    );
    for _ in 0..2 {
        let again = ok(s.redeem_code(&c.hash).await, GRANTS, "redeem_code");
        same(
            GRANTS,
            "redeem_code of a redeemed code reports a replay with its grant",
            again,
            CodeRedemption::Replayed {
                grant_id: g.id.clone(),
            },
        );
    }
    let unknown = ok(
        s.redeem_code(&SecretHash::of("kit-no-such-code")).await,
        GRANTS,
        "redeem_code",
    );
    same(
        GRANTS,
        "redeem_code of an unknown code is Unknown",
        unknown,
        CodeRedemption::Unknown,
    );

    // Optional fields absent.
    let bare = CodeRecord {
        redirect_uri: None,
        nonce: None,
        challenge: None,
        ..code("kit-code-2", &g)
    };
    ok(s.put_code(bare.clone()).await, GRANTS, "put_code");
    let got = ok(s.redeem_code(&bare.hash).await, GRANTS, "redeem_code");
    same(
        GRANTS,
        "redeem_code round-trips a code without redirect_uri, nonce or challenge",
        got,
        CodeRedemption::Redeemed(Box::new(bare)),
    );
}

async fn refresh_tokens<S: Store>(s: &S) {
    let g = grant("kit-refresh-grant", "kit-client", Some("kit-alice"));
    ok(s.create_grant(g.clone()).await, GRANTS, "create_grant");
    let r1 = refresh("kit-refresh-1", &g);
    ok(
        s.put_refresh_token(r1.clone()).await,
        GRANTS,
        "put_refresh_token",
    );

    let got = ok(s.refresh_token(&r1.hash).await, GRANTS, "refresh_token");
    same(
        GRANTS,
        "refresh_token returns the stored token, not rotated",
        got,
        Some(RefreshLookup {
            record: r1.clone(),
            rotated: false,
        }),
    );
    let unknown = ok(
        s.refresh_token(&SecretHash::of("kit-no-such-token")).await,
        GRANTS,
        "refresh_token",
    );
    same(
        GRANTS,
        "refresh_token of an unknown token is None",
        unknown,
        None,
    );

    let r2 = RefreshRecord {
        issued_at: issued_at() + Duration::seconds(3600),
        ..refresh("kit-refresh-2", &g)
    };
    let rotation = ok(
        s.rotate_refresh_token(&r1.hash, r2.clone()).await,
        GRANTS,
        "rotate_refresh_token",
    );
    same(
        GRANTS,
        "rotate_refresh_token of an active token rotates it",
        rotation,
        RefreshRotation::Rotated,
    );
    let old = ok(s.refresh_token(&r1.hash).await, GRANTS, "refresh_token");
    same(
        GRANTS,
        "a rotated token is kept and marked rotated",
        old,
        Some(RefreshLookup {
            record: r1.clone(),
            rotated: true,
        }),
    );
    let new = ok(s.refresh_token(&r2.hash).await, GRANTS, "refresh_token");
    same(
        GRANTS,
        "rotate_refresh_token stores the next token",
        new,
        Some(RefreshLookup {
            record: r2.clone(),
            rotated: false,
        }),
    );

    let r3 = refresh("kit-refresh-3", &g);
    let reuse = ok(
        s.rotate_refresh_token(&r1.hash, r3.clone()).await,
        GRANTS,
        "rotate_refresh_token",
    );
    same(
        GRANTS,
        "rotate_refresh_token of a rotated token reports reuse with its grant",
        reuse,
        RefreshRotation::Reused {
            grant_id: g.id.clone(),
        },
    );
    let ghost = ok(s.refresh_token(&r3.hash).await, GRANTS, "refresh_token");
    same(GRANTS, "a reuse stores no next token", ghost, None);

    let r4 = refresh("kit-refresh-4", &g);
    let rotation = ok(
        s.rotate_refresh_token(&r2.hash, r4.clone()).await,
        GRANTS,
        "rotate_refresh_token",
    );
    same(
        GRANTS,
        "the newest token of a family rotates",
        rotation,
        RefreshRotation::Rotated,
    );

    let r5 = refresh("kit-refresh-5", &g);
    let unknown = ok(
        s.rotate_refresh_token(&SecretHash::of("kit-no-such-token"), r5.clone())
            .await,
        GRANTS,
        "rotate_refresh_token",
    );
    same(
        GRANTS,
        "rotate_refresh_token of an unknown token is Unknown",
        unknown,
        RefreshRotation::Unknown,
    );
    let ghost = ok(s.refresh_token(&r5.hash).await, GRANTS, "refresh_token");
    same(
        GRANTS,
        "rotating an unknown token stores no next token",
        ghost,
        None,
    );
}

/// `reuse_rotated_refresh_token` presents `token` again with `next` and must answer `want`;
/// `next` must then be stored (unrotated) exactly when the answer is `Granted`.
async fn reuse<S: Store>(
    s: &S,
    contract: &str,
    token: &RefreshRecord,
    window_start: OffsetDateTime,
    max_reuses: u32,
    next: &RefreshRecord,
    want: RefreshReuse,
) {
    let got = ok(
        s.reuse_rotated_refresh_token(&token.hash, window_start, max_reuses, next.clone())
            .await,
        GRANTS,
        "reuse_rotated_refresh_token",
    );
    let granted = got == RefreshReuse::Granted;
    same(GRANTS, contract, got, want);
    let stored = ok(s.refresh_token(&next.hash).await, GRANTS, "refresh_token");
    let expected = granted.then(|| RefreshLookup {
        record: next.clone(),
        rotated: false,
    });
    same(
        GRANTS,
        &format!("{contract} (the next token is stored exactly when the reuse is granted)"),
        stored,
        expected,
    );
}

async fn refresh_grace<S: Store>(s: &S) {
    let g = grant("kit-grace-grant", "kit-client", Some("kit-alice"));
    ok(s.create_grant(g.clone()).await, GRANTS, "create_grant");
    let refused = RefreshReuse::Refused {
        grant_id: g.id.clone(),
    };
    let r1 = refresh("kit-grace-1", &g);
    ok(
        s.put_refresh_token(r1.clone()).await,
        GRANTS,
        "put_refresh_token",
    );
    // Rotated one minute after it was issued: the rotation time is the next token's issued_at.
    let rotated_at = issued_at() + Duration::seconds(60);
    let r2 = RefreshRecord {
        issued_at: rotated_at,
        ..refresh("kit-grace-2", &g)
    };
    let before = rotated_at - Duration::seconds(30);
    let next = |n: &str| RefreshRecord {
        issued_at: rotated_at + Duration::seconds(5),
        ..refresh(&format!("kit-grace-next-{n}"), &g)
    };

    reuse(
        s,
        "reuse_rotated_refresh_token of a token that was never rotated is Refused",
        &r1,
        before,
        3,
        &next("unrotated"),
        refused.clone(),
    )
    .await;
    let rotation = ok(
        s.rotate_refresh_token(&r1.hash, r2.clone()).await,
        GRANTS,
        "rotate_refresh_token",
    );
    same(
        GRANTS,
        "rotate_refresh_token of an active token rotates it",
        rotation,
        RefreshRotation::Rotated,
    );

    let within = "reuse_rotated_refresh_token within the window and under the count is Granted";
    reuse(s, within, &r1, before, 2, &next("a"), RefreshReuse::Granted).await;
    reuse(
        s,
        "the window includes its start (rotated_at == window_start)",
        &r1,
        rotated_at,
        2,
        &next("b"),
        RefreshReuse::Granted,
    )
    .await;
    reuse(
        s,
        "reuse_rotated_refresh_token past the count is Refused",
        &r1,
        before,
        2,
        &next("c"),
        refused.clone(),
    )
    .await;
    // A conflict changes nothing: the count stays at 2, so max 3 still grants one.
    ok(
        s.put_refresh_token(next("taken")).await,
        GRANTS,
        "put_refresh_token",
    );
    match s
        .reuse_rotated_refresh_token(&r1.hash, before, 3, next("taken"))
        .await
    {
        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
        other => broken(
            GRANTS,
            "a reuse whose next hash is in use is a conflict",
            format_args!("got {other:?}"),
        ),
    }
    reuse(
        s,
        "the count covers the token's life: a larger max grants only the difference",
        &r1,
        before,
        3,
        &next("d"),
        RefreshReuse::Granted,
    )
    .await;
    reuse(
        s,
        "reuse_rotated_refresh_token past the count is Refused",
        &r1,
        before,
        3,
        &next("e"),
        refused.clone(),
    )
    .await;
    reuse(
        s,
        "reuse_rotated_refresh_token of a token rotated before window_start is Refused",
        &r1,
        rotated_at + Duration::seconds(1),
        10,
        &next("f"),
        refused.clone(),
    )
    .await;
    reuse(
        s,
        "reuse_rotated_refresh_token of an unknown token is Unknown",
        &RefreshRecord {
            hash: SecretHash::of("kit-no-such-token"),
            ..r1.clone()
        },
        before,
        3,
        &next("g"),
        RefreshReuse::Unknown,
    )
    .await;

    let old = ok(s.refresh_token(&r1.hash).await, GRANTS, "refresh_token");
    same(
        GRANTS,
        "a reused token stays rotated",
        old.map(|l| l.rotated),
        Some(true),
    );
    let successor = ok(s.refresh_token(&r2.hash).await, GRANTS, "refresh_token");
    same(
        GRANTS,
        "a grace reuse leaves the rotation's successor active",
        successor.map(|l| l.rotated),
        Some(false),
    );
    let rotation = ok(
        s.rotate_refresh_token(&r1.hash, next("h")).await,
        GRANTS,
        "rotate_refresh_token",
    );
    same(
        GRANTS,
        "a reused token never rotates again",
        rotation,
        RefreshRotation::Reused {
            grant_id: g.id.clone(),
        },
    );
    let rotation = ok(
        s.rotate_refresh_token(&next("a").hash, next("i")).await,
        GRANTS,
        "rotate_refresh_token",
    );
    same(
        GRANTS,
        "a token granted by a reuse rotates like any other",
        rotation,
        RefreshRotation::Rotated,
    );

    ok(s.revoke_grant(&g.id).await, GRANTS, "revoke_grant");
    for n in ["a", "b", "d", "i", "taken"] {
        refresh_unusable(s, &next(n), "revoke_grant (after grace reuses)").await;
    }
    refresh_unusable(s, &r2, "revoke_grant (after grace reuses)").await;
}

/// After its grant was revoked, a refresh token is gone or still names that (revoked) grant,
/// and cannot be rotated into a usable token of another grant.
async fn refresh_unusable<S: Store>(s: &S, token: &RefreshRecord, how: &str) {
    let contract = format!("after {how}, the grant's refresh tokens are unusable");
    if !revoked(s, &token.grant_id).await
        && ok(s.grant(&token.grant_id).await, GRANTS, "grant").is_some()
    {
        broken(GRANTS, &contract, "the grant is not marked revoked");
    }
    if let Some(found) = ok(s.refresh_token(&token.hash).await, GRANTS, "refresh_token") {
        if found.record.grant_id != token.grant_id {
            broken(GRANTS, &contract, "the token now names another grant");
        }
    }
}

async fn revoked_grant_leaves_nothing_usable<S: Store>(s: &S) {
    let g = grant("kit-rv-grant", "kit-client", Some("kit-alice"));
    let other = grant("kit-rv-other", "kit-client", Some("kit-alice"));
    ok(s.create_grant(g.clone()).await, GRANTS, "create_grant");
    ok(s.create_grant(other.clone()).await, GRANTS, "create_grant");
    let c = code("kit-rv-code", &g);
    let c_other = code("kit-rv-code-other", &other);
    let r1 = refresh("kit-rv-refresh-1", &g);
    let r2 = refresh("kit-rv-refresh-2", &g);
    let r_other = refresh("kit-rv-refresh-other", &other);
    ok(s.put_code(c.clone()).await, GRANTS, "put_code");
    ok(s.put_code(c_other.clone()).await, GRANTS, "put_code");
    ok(
        s.put_refresh_token(r1.clone()).await,
        GRANTS,
        "put_refresh_token",
    );
    ok(
        s.put_refresh_token(r_other.clone()).await,
        GRANTS,
        "put_refresh_token",
    );
    let rotation = ok(
        s.rotate_refresh_token(&r1.hash, r2.clone()).await,
        GRANTS,
        "rotate_refresh_token",
    );
    same(
        GRANTS,
        "rotate_refresh_token of an active token rotates it",
        rotation,
        RefreshRotation::Rotated,
    );

    ok(s.revoke_grant(&g.id).await, GRANTS, "revoke_grant");
    let contract = "after revoke_grant, the grant's codes and tokens are unusable";
    if !revoked(s, &g.id).await {
        broken(GRANTS, contract, "grant() does not show the grant revoked");
    }
    refresh_unusable(s, &r2, "revoke_grant").await;
    match ok(
        s.rotate_refresh_token(&r2.hash, refresh("kit-rv-refresh-3", &g))
            .await,
        GRANTS,
        "rotate_refresh_token",
    ) {
        RefreshRotation::Unknown | RefreshRotation::Rotated => {}
        RefreshRotation::Reused { grant_id } => same(GRANTS, contract, grant_id, g.id.clone()),
    }
    match ok(s.redeem_code(&c.hash).await, GRANTS, "redeem_code") {
        CodeRedemption::Unknown => {}
        CodeRedemption::Replayed { grant_id } => same(GRANTS, contract, grant_id, g.id.clone()),
        CodeRedemption::Redeemed(record) => same(GRANTS, contract, record.grant_id, g.id.clone()),
    }
    match ok(
        s.rotate_refresh_token(&r1.hash, refresh("kit-rv-refresh-4", &g))
            .await,
        GRANTS,
        "rotate_refresh_token",
    ) {
        RefreshRotation::Unknown => {}
        RefreshRotation::Reused { grant_id } => same(GRANTS, contract, grant_id, g.id.clone()),
        RefreshRotation::Rotated => broken(
            GRANTS,
            "a rotated token never rotates again",
            "a rotated token of a revoked grant rotated",
        ),
    }

    let untouched = "revoke_grant leaves other grants usable";
    same(GRANTS, untouched, revoked(s, &other.id).await, false);
    let got = ok(
        s.refresh_token(&r_other.hash).await,
        GRANTS,
        "refresh_token",
    );
    same(
        GRANTS,
        untouched,
        got,
        Some(RefreshLookup {
            record: r_other,
            rotated: false,
        }),
    );
    let got = ok(s.redeem_code(&c_other.hash).await, GRANTS, "redeem_code");
    same(
        GRANTS,
        untouched,
        got,
        CodeRedemption::Redeemed(Box::new(c_other)),
    );
}

async fn consents<S: Store>(s: &S) {
    let none = ok(s.consent("kit-alice", "kit-c1").await, GRANTS, "consent");
    same(GRANTS, "consent() without one is None", none, None);

    let first = consent("kit-alice", "kit-c1", &["openid"], 0);
    ok(s.put_consent(first.clone()).await, GRANTS, "put_consent");
    let got = ok(s.consent("kit-alice", "kit-c1").await, GRANTS, "consent");
    same(
        GRANTS,
        "consent() returns the stored consent",
        got,
        Some(first),
    );

    let replaced = consent(
        "kit-alice",
        "kit-c1",
        &["openid", "email", "offline_access"],
        60,
    );
    ok(s.put_consent(replaced.clone()).await, GRANTS, "put_consent");
    let got = ok(s.consent("kit-alice", "kit-c1").await, GRANTS, "consent");
    same(
        GRANTS,
        "put_consent replaces the consent of the same subject and client",
        got,
        Some(replaced),
    );

    let bob = consent("kit-bob", "kit-c1", &["openid"], 0);
    ok(s.put_consent(bob.clone()).await, GRANTS, "put_consent");
    let keyed = "consents are keyed by subject and client";
    same(
        GRANTS,
        keyed,
        ok(s.consent("kit-alice", "kit-c2").await, GRANTS, "consent"),
        None,
    );
    same(
        GRANTS,
        keyed,
        ok(s.consent("kit-carol", "kit-c1").await, GRANTS, "consent"),
        None,
    );

    let existed = ok(
        s.delete_consent("kit-alice", "kit-c1").await,
        GRANTS,
        "delete_consent",
    );
    same(
        GRANTS,
        "delete_consent of an existing consent returns true",
        existed,
        true,
    );
    let gone = ok(s.consent("kit-alice", "kit-c1").await, GRANTS, "consent");
    same(GRANTS, "delete_consent removes the consent", gone, None);
    let again = ok(
        s.delete_consent("kit-alice", "kit-c1").await,
        GRANTS,
        "delete_consent",
    );
    same(
        GRANTS,
        "delete_consent without a consent returns false",
        again,
        false,
    );
    let kept = ok(s.consent("kit-bob", "kit-c1").await, GRANTS, "consent");
    same(
        GRANTS,
        "delete_consent removes no other consent",
        kept,
        Some(bob),
    );
}

async fn access_tokens<S: Store>(s: &S) {
    let before = ok(
        s.is_access_token_revoked("kit-jti-1").await,
        GRANTS,
        "is_access_token_revoked",
    );
    same(
        GRANTS,
        "an access token is not revoked until revoke_access_token",
        before,
        false,
    );
    ok(
        s.revoke_access_token("kit-jti-1", far_future()).await,
        GRANTS,
        "revoke_access_token",
    );
    let after = ok(
        s.is_access_token_revoked("kit-jti-1").await,
        GRANTS,
        "is_access_token_revoked",
    );
    same(GRANTS, "revoke_access_token revokes the jti", after, true);
    if let Err(e) = s.revoke_access_token("kit-jti-1", far_future()).await {
        broken(GRANTS, "revoke_access_token is idempotent", e);
    }
    let still = ok(
        s.is_access_token_revoked("kit-jti-1").await,
        GRANTS,
        "is_access_token_revoked",
    );
    same(GRANTS, "revoke_access_token is idempotent", still, true);
    let other = ok(
        s.is_access_token_revoked("kit-jti-2").await,
        GRANTS,
        "is_access_token_revoked",
    );
    same(
        GRANTS,
        "revoke_access_token revokes that jti only",
        other,
        false,
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency

/// Check atomicity with real parallelism: 16 threads, released together, race
/// [`CodeStore::redeem_code`](crate::store::CodeStore::redeem_code) on one code (exactly one `Redeemed`, the others `Replayed`) and
/// [`RefreshTokenStore::rotate_refresh_token`](crate::store::RefreshTokenStore::rotate_refresh_token) on one token, each with its own next token (exactly one
/// `Rotated`, the others `Reused`, and exactly one active token left in the family), then
/// [`RefreshTokenStore::reuse_rotated_refresh_token`](crate::store::RefreshTokenStore::reuse_rotated_refresh_token)
/// on the rotated token with at most 5 reuses (exactly 5 `Granted`, the others `Refused`, and
/// exactly the granted ones' next tokens stored). Each race runs several times.
///
/// The store's futures are driven on those threads by a minimal executor (park and unpark), not
/// by the caller's runtime; for stores whose futures need a runtime, see
/// [`check_store_interleaved`]. `make` returns an empty store.
pub async fn check_store_concurrency<S: Store + Clone + 'static>(make: impl Fn() -> S) {
    let s = make();
    let g = grant("kit-race-grant", "kit-client", Some("kit-alice"));
    ok(s.create_grant(g.clone()).await, GRANTS, "create_grant");
    for round in 0..ROUNDS {
        let c = code(&format!("kit-race-code-{round}"), &g);
        ok(s.put_code(c.clone()).await, GRANTS, "put_code");
        let results = race(&s, |s| block_on(s.redeem_code(&c.hash)));
        judge_redemptions(results, &c, &g.id);

        let presented = refresh(&format!("kit-race-refresh-{round}"), &g);
        ok(
            s.put_refresh_token(presented.clone()).await,
            GRANTS,
            "put_refresh_token",
        );
        let nexts: Vec<RefreshRecord> = (0..RACERS)
            .map(|i| refresh(&format!("kit-race-refresh-{round}-next-{i}"), &g))
            .collect();
        let results = race_indexed(&s, |s, i| {
            block_on(s.rotate_refresh_token(&presented.hash, nexts[i].clone()))
        });
        judge_rotations(&s, results, &presented, &nexts, &g.id).await;

        let reuses: Vec<RefreshRecord> = (0..RACERS)
            .map(|i| refresh(&format!("kit-race-refresh-{round}-reuse-{i}"), &g))
            .collect();
        let window_start = issued_at() - Duration::seconds(60);
        let results = race_indexed(&s, |s, i| {
            block_on(s.reuse_rotated_refresh_token(
                &presented.hash,
                window_start,
                GRACE_REUSES,
                reuses[i].clone(),
            ))
        });
        judge_reuses(&s, results, &reuses, &g.id).await;
    }
}

/// The races of [`check_store_concurrency`], as 16 futures polled together by the
/// calling task: for stores whose futures must run on the caller's runtime (their I/O
/// interleaves; an in-memory store finishes each on its first poll). `make` returns an empty
/// store.
pub async fn check_store_interleaved<S: Store>(make: impl Fn() -> S) {
    let s = make();
    let g = grant("kit-join-grant", "kit-client", Some("kit-alice"));
    ok(s.create_grant(g.clone()).await, GRANTS, "create_grant");
    for round in 0..ROUNDS {
        let c = code(&format!("kit-join-code-{round}"), &g);
        ok(s.put_code(c.clone()).await, GRANTS, "put_code");
        let results = join_all((0..RACERS).map(|_| s.redeem_code(&c.hash)).collect()).await;
        judge_redemptions(results, &c, &g.id);

        let presented = refresh(&format!("kit-join-refresh-{round}"), &g);
        ok(
            s.put_refresh_token(presented.clone()).await,
            GRANTS,
            "put_refresh_token",
        );
        let nexts: Vec<RefreshRecord> = (0..RACERS)
            .map(|i| refresh(&format!("kit-join-refresh-{round}-next-{i}"), &g))
            .collect();
        let futures = nexts
            .iter()
            .map(|n| s.rotate_refresh_token(&presented.hash, n.clone()))
            .collect();
        let results = join_all(futures).await;
        judge_rotations(&s, results, &presented, &nexts, &g.id).await;

        let reuses: Vec<RefreshRecord> = (0..RACERS)
            .map(|i| refresh(&format!("kit-join-refresh-{round}-reuse-{i}"), &g))
            .collect();
        let window_start = issued_at() - Duration::seconds(60);
        let futures = reuses
            .iter()
            .map(|n| {
                s.reuse_rotated_refresh_token(
                    &presented.hash,
                    window_start,
                    GRACE_REUSES,
                    n.clone(),
                )
            })
            .collect();
        let results = join_all(futures).await;
        judge_reuses(&s, results, &reuses, &g.id).await;
    }
}

fn judge_redemptions(
    results: Vec<StoreResult<CodeRedemption>>,
    code: &CodeRecord,
    grant: &GrantId,
) {
    let contract = "redeem_code is atomic: of concurrent calls for one code, exactly one redeems it and the others see a replay";
    let mut redeemed = 0;
    for r in results {
        match ok(r, GRANTS, "redeem_code") {
            CodeRedemption::Redeemed(record) => {
                redeemed += 1;
                same(GRANTS, contract, *record, code.clone());
            }
            CodeRedemption::Replayed { grant_id } => same(GRANTS, contract, &grant_id, grant),
            CodeRedemption::Unknown => broken(GRANTS, contract, "a call saw the code as Unknown"),
        }
    }
    if redeemed != 1 {
        broken(
            GRANTS,
            contract,
            format_args!("{redeemed} of {RACERS} calls returned Redeemed"),
        );
    }
}

async fn judge_rotations<S: Store>(
    s: &S,
    results: Vec<StoreResult<RefreshRotation>>,
    presented: &RefreshRecord,
    nexts: &[RefreshRecord],
    grant: &GrantId,
) {
    let contract = "rotate_refresh_token is atomic: of concurrent calls for one token, exactly one rotates it and the others see reuse";
    let mut winners = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match ok(r, GRANTS, "rotate_refresh_token") {
            RefreshRotation::Rotated => winners.push(i),
            RefreshRotation::Reused { grant_id } => same(GRANTS, contract, &grant_id, grant),
            RefreshRotation::Unknown => broken(GRANTS, contract, "a call saw the token as Unknown"),
        }
    }
    if winners.len() != 1 {
        broken(
            GRANTS,
            contract,
            format_args!("{} of {RACERS} calls returned Rotated", winners.len()),
        );
    }
    let family = "after concurrent rotations a family has exactly one active token: the winner's";
    let old = ok(
        s.refresh_token(&presented.hash).await,
        GRANTS,
        "refresh_token",
    );
    same(GRANTS, family, old.map(|l| l.rotated), Some(true));
    for (i, next) in nexts.iter().enumerate() {
        let found = ok(s.refresh_token(&next.hash).await, GRANTS, "refresh_token");
        if winners.contains(&i) {
            same(
                GRANTS,
                family,
                found,
                Some(RefreshLookup {
                    record: next.clone(),
                    rotated: false,
                }),
            );
        } else if found.is_some() {
            broken(
                GRANTS,
                family,
                format_args!("a losing call's next token (#{i}) was stored"),
            );
        }
    }
}

/// Of `RACERS` concurrent grace reuses of one rotated token, exactly [`GRACE_REUSES`] are
/// granted (the others refused), and exactly the granted calls' next tokens are stored.
async fn judge_reuses<S: Store>(
    s: &S,
    results: Vec<StoreResult<RefreshReuse>>,
    nexts: &[RefreshRecord],
    grant: &GrantId,
) {
    let contract = "reuse_rotated_refresh_token is atomic: of concurrent calls for one rotated token, exactly max_reuses are granted and the others refused";
    let mut winners = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match ok(r, GRANTS, "reuse_rotated_refresh_token") {
            RefreshReuse::Granted => winners.push(i),
            RefreshReuse::Refused { grant_id } => same(GRANTS, contract, &grant_id, grant),
            RefreshReuse::Unknown => broken(GRANTS, contract, "a call saw the token as Unknown"),
        }
    }
    if winners.len() != GRACE_REUSES as usize {
        broken(
            GRANTS,
            contract,
            format_args!(
                "{} of {RACERS} calls returned Granted, want {GRACE_REUSES}",
                winners.len()
            ),
        );
    }
    let family = "after concurrent grace reuses, exactly the granted calls' next tokens are stored, active, in the same grant";
    for (i, next) in nexts.iter().enumerate() {
        let found = ok(s.refresh_token(&next.hash).await, GRANTS, "refresh_token");
        if winners.contains(&i) {
            same(
                GRANTS,
                family,
                found,
                Some(RefreshLookup {
                    record: next.clone(),
                    rotated: false,
                }),
            );
        } else if found.is_some() {
            broken(
                GRANTS,
                family,
                format_args!("a refused call's next token (#{i}) was stored"),
            );
        }
    }
}

/// Run `f` on `RACERS` threads, each with its own clone of the store, released together.
fn race<S, T>(store: &S, f: impl Fn(&S) -> T + Sync) -> Vec<T>
where
    S: Clone + Send,
    T: Send,
{
    race_indexed(store, |s, _| f(s))
}

fn race_indexed<S, T>(store: &S, f: impl Fn(&S, usize) -> T + Sync) -> Vec<T>
where
    S: Clone + Send,
    T: Send,
{
    let barrier = Barrier::new(RACERS);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let s = store.clone();
                let (barrier, f) = (&barrier, &f);
                scope.spawn(move || {
                    barrier.wait();
                    f(&s, i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// A minimal executor and join, so the kit needs no runtime.

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Poll `future` to completion on this thread, parking while it is pending.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        // A wake before the park makes the park return at once; a spurious return just polls
        // again.
        thread::park();
    }
}

/// Poll all `futures` together until each is done; outputs in the same order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}
