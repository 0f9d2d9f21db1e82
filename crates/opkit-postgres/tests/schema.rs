//! Migrations, query plans, a read-only database, and rotations raced by two instances.

mod common;

use std::collections::HashMap;

use opkit::secret::SecretHash;
use opkit::store::{
    CodeStore, Grant, GrantId, GrantStore, RefreshRecord, RefreshReuse, RefreshRotation,
    RefreshTokenStore, StoreErrorKind,
};
use opkit_postgres::testing::{HOT_QUERIES, VERSION_TABLE};
use opkit_postgres::{ConnectError, PostgresStore, SCHEMA_VERSION};
use time::{Duration, OffsetDateTime};

use common::{cluster, options};

fn database_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_migrating_one_empty_database_together_all_come_up() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    let (a, b, c) = tokio::join!(
        PostgresStore::connect(&url, options()),
        PostgresStore::connect(&url, options()),
        PostgresStore::connect(&url, options()),
    );
    for store in [a, b, c] {
        let store = store.expect("every instance comes up");
        store
            .revoke_grant(&GrantId("g".into()))
            .await
            .expect("the schema is there");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_with_a_typed_error() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    drop(
        PostgresStore::connect(&url, options())
            .await
            .expect("migrate"),
    );
    let newer = SCHEMA_VERSION + 1;
    cluster.execute(
        &url,
        &format!("INSERT INTO {VERSION_TABLE} (version, name) VALUES ({newer}, 'from the future')"),
    );
    match PostgresStore::connect(&url, options()).await {
        Err(e @ ConnectError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (newer, SCHEMA_VERSION));
            let text = e.to_string();
            assert!(
                text.contains(&newer.to_string()) && text.contains("newer"),
                "{text}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema was used"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_to_a_current_schema_changes_nothing() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    let first = PostgresStore::connect(&url, options())
        .await
        .expect("migrate");
    let grant = grant("g-keep");
    first.create_grant(grant.clone()).await.expect("create");
    let second = PostgresStore::connect(&url, options())
        .await
        .expect("again");
    assert_eq!(second.grant(&grant.id).await.expect("grant"), Some(grant));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_gives_a_clear_backend_error() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    drop(
        PostgresStore::connect(&url, options())
            .await
            .expect("migrate"),
    );
    cluster.execute(
        &url,
        &format!(
            "ALTER DATABASE {} SET default_transaction_read_only = on",
            database_name(&url)
        ),
    );
    // A current schema needs no writes, so the store opens; reads work, writes do not.
    let store = PostgresStore::connect(&url, options())
        .await
        .expect("a read-only database with a current schema opens");
    assert_eq!(
        store.grant(&GrantId("none".into())).await.expect("read"),
        None
    );
    let err = store
        .create_grant(grant("g-ro"))
        .await
        .expect_err("a write to a read-only database");
    assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
}

fn grant(id: &str) -> Grant {
    let now = OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000);
    Grant {
        id: GrantId(id.into()),
        client_id: "client".into(),
        subject: Some("alice".into()),
        scopes: opkit::scope::Scopes::new(),
        auth_time: Some(now),
        created_at: now,
        expires_at: now + Duration::days(30),
        revoked: false,
        resource: None,
    }
}

fn refresh(secret: &str, grant: &Grant) -> RefreshRecord {
    RefreshRecord {
        hash: SecretHash::of(secret),
        grant_id: grant.id.clone(),
        client_id: grant.client_id.clone(),
        subject: "alice".into(),
        scopes: grant.scopes.clone(),
        auth_time: grant.created_at,
        issued_at: grant.created_at,
        expires_at: grant.expires_at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_100_rotations_of_one_token_rotate_it_once() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    let instance = || PostgresStore::connect(&url, options().max_connections(16));
    let (a, b) = tokio::join!(instance(), instance());
    let (a, b) = (a.expect("instance a"), b.expect("instance b"));
    let g = grant("g-race");
    a.create_grant(g.clone()).await.expect("grant");
    let presented = refresh("presented", &g);
    a.put_refresh_token(presented.clone())
        .await
        .expect("put presented");

    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let next = refresh(&format!("next-{i}"), &g);
            let hash = presented.hash;
            tokio::spawn(async move { store.rotate_refresh_token(&hash, next).await })
        })
        .collect();
    let mut rotated = Vec::new();
    let mut reused = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("task").expect("rotate") {
            RefreshRotation::Rotated => rotated.push(i),
            RefreshRotation::Reused { grant_id } => {
                assert_eq!(grant_id, g.id);
                reused += 1;
            }
            RefreshRotation::Unknown => panic!("the presented token was lost"),
        }
    }
    assert_eq!(rotated.len(), 1, "exactly one rotation wins");
    assert_eq!(reused, 99);
    // Only the winner's next token was stored.
    for i in 0..100 {
        let found = b
            .refresh_token(&SecretHash::of(&format!("next-{i}")))
            .await
            .expect("lookup");
        assert_eq!(found.is_some(), rotated == [i], "next-{i}");
    }
}

/// The grace window across instances: 100 reuses of one rotated token from two pools, at most
/// 7 allowed: exactly 7 granted, and exactly their next tokens stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_100_grace_reuses_grant_exactly_the_count() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    let instance = || PostgresStore::connect(&url, options().max_connections(16));
    let (a, b) = tokio::join!(instance(), instance());
    let (a, b) = (a.expect("instance a"), b.expect("instance b"));
    let g = grant("g-grace-race");
    a.create_grant(g.clone()).await.expect("grant");
    let presented = refresh("grace-presented", &g);
    a.put_refresh_token(presented.clone())
        .await
        .expect("put presented");
    let rotation = a
        .rotate_refresh_token(&presented.hash, refresh("grace-successor", &g))
        .await
        .expect("rotate");
    assert_eq!(rotation, RefreshRotation::Rotated);

    let window_start = g.created_at - Duration::seconds(30);
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let next = refresh(&format!("grace-next-{i}"), &g);
            let hash = presented.hash;
            tokio::spawn(async move {
                store
                    .reuse_rotated_refresh_token(&hash, window_start, 7, next)
                    .await
            })
        })
        .collect();
    let mut granted = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("task").expect("reuse") {
            RefreshReuse::Granted => granted.push(i),
            RefreshReuse::Refused { grant_id } => assert_eq!(grant_id, g.id),
            RefreshReuse::Unknown => panic!("the presented token was lost"),
        }
    }
    assert_eq!(granted.len(), 7, "exactly the count is granted");
    for i in 0..100 {
        let found = b
            .refresh_token(&SecretHash::of(&format!("grace-next-{i}")))
            .await
            .expect("lookup");
        assert_eq!(found.is_some(), granted.contains(&i), "grace-next-{i}");
    }
}

/// A database at version 1 (before grace windows) migrates in place: a token rotated back then
/// has no rotation time and gets no grace, a token active then rotates and has its grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_migrates_and_its_old_rotations_get_no_grace() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    let g = grant("g-v1");
    let old = |secret: &str, rotated: bool| {
        let r = refresh(secret, &g);
        let doc = serde_json::to_string(&r).unwrap().replace('\'', "''");
        format!(
            "INSERT INTO refresh_tokens (hash, grant_id, doc, expires_at, rotated) \
             VALUES (sha256('{secret}'::bytea), '{}', '{doc}', now() + interval '1 day', {rotated});",
            g.id.0
        )
    };
    cluster.execute(
        &url,
        &format!(
            "{}\nCREATE TABLE {VERSION_TABLE} (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now());\n\
             INSERT INTO {VERSION_TABLE} (version, name) VALUES (1, 'initial');\n{}\n{}",
            include_str!("../migrations/0001_initial.sql"),
            old("v1-rotated", true),
            old("v1-active", false),
        ),
    );
    let store = PostgresStore::connect(&url, options())
        .await
        .expect("migrate from version 1");
    store.create_grant(g.clone()).await.expect("grant");
    let long_ago = g.created_at - Duration::days(365);
    let refused = store
        .reuse_rotated_refresh_token(
            &SecretHash::of("v1-rotated"),
            long_ago,
            10,
            refresh("v1-next-1", &g),
        )
        .await
        .expect("reuse");
    assert_eq!(
        refused,
        RefreshReuse::Refused {
            grant_id: g.id.clone()
        }
    );
    let rotation = store
        .rotate_refresh_token(&SecretHash::of("v1-active"), refresh("v1-next-2", &g))
        .await
        .expect("rotate");
    assert_eq!(rotation, RefreshRotation::Rotated);
    let granted = store
        .reuse_rotated_refresh_token(
            &SecretHash::of("v1-active"),
            long_ago,
            1,
            refresh("v1-next-3", &g),
        )
        .await
        .expect("reuse");
    assert_eq!(granted, RefreshReuse::Granted);
}

/// Literal arguments for each hot query, against the rows `FILL` makes.
fn arguments() -> HashMap<&'static str, String> {
    let hash = |s: &str| format!("sha256('{s}'::bytea)");
    let at = "'2030-01-01 00:10:00+00'::timestamptz";
    HashMap::from([
        ("client by client_id", "'client-42'".to_owned()),
        ("origin allowed", "'https://app42.example'".to_owned()),
        ("grant by id", "'grant-42'".to_owned()),
        ("revoke grants of a client", "'client-42'".to_owned()),
        (
            "revoke grants of a subject",
            "'client-42', 'user-42'".to_owned(),
        ),
        ("purge grants", format!("{at}, 100")),
        ("redeem code", hash("42")),
        ("purge codes", format!("{at}, 100")),
        ("refresh lookup", hash("42")),
        (
            "rotate refresh token",
            format!(
                "{}, {}, 'grant-42', '{{}}', {at}, {at}",
                hash("42"),
                hash("new")
            ),
        ),
        (
            "grace reuse of a refresh token",
            format!(
                "{}, {}, 'grant-42', '{{}}', {at}, {at}, 3",
                hash("42"),
                hash("new")
            ),
        ),
        ("purge refresh tokens", format!("{at}, 100")),
        ("consent", "'user-42', 'client-42'".to_owned()),
        ("revoked jti", "'jti-42'".to_owned()),
        ("purge revoked jtis", format!("{at}, 100")),
        ("session get", format!("{}, {at}", hash("42"))),
        ("purge sessions", format!("{at}, 1000")),
        ("pending take", format!("{}, {at}", hash("42"))),
        ("purge pending", format!("{at}, 1000")),
    ])
}

/// A few thousand rows in every table, expiring a minute apart from 2030-01-01 on (so a purge
/// at 00:10 finds a few), then ANALYZE.
const FILL: &str = "
INSERT INTO clients SELECT 'id-' || i, 'client-' || i, 0, '{}' FROM generate_series(1, 5000) i;
INSERT INTO client_origins SELECT 'https://app' || i || '.example', 'client-' || i
    FROM generate_series(1, 5000) i;
INSERT INTO grants SELECT 'grant-' || i, 'client-' || (i % 500), 'user-' || i, '{}',
    '2030-01-01'::timestamptz + i * interval '1 minute', false FROM generate_series(1, 5000) i;
INSERT INTO codes SELECT sha256(i::text::bytea), 'grant-' || i, '{}',
    '2030-01-01'::timestamptz + i * interval '1 minute', i % 2 = 0 FROM generate_series(1, 5000) i;
INSERT INTO refresh_tokens SELECT sha256(i::text::bytea), 'grant-' || i, '{}',
    '2030-01-01'::timestamptz + i * interval '1 minute', i % 2 = 0 FROM generate_series(1, 5000) i;
INSERT INTO consents SELECT 'user-' || i, 'client-' || (i % 500), '{}' FROM generate_series(1, 5000) i;
INSERT INTO revoked_access_tokens SELECT 'jti-' || i,
    '2030-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 5000) i;
INSERT INTO kit_sessions SELECT sha256(i::text::bytea), '{}',
    '2030-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 5000) i;
INSERT INTO kit_pending SELECT sha256(i::text::bytea), '{}',
    '2030-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 5000) i;
ANALYZE;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hot_query_uses_an_index() {
    let Some(cluster) = cluster() else { return };
    let url = cluster.fresh_database();
    drop(
        PostgresStore::connect(&url, options())
            .await
            .expect("migrate"),
    );
    cluster.execute(&url, FILL);

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let arguments = arguments();
    let mut failures = Vec::new();
    for (i, (name, sql)) in HOT_QUERIES.iter().enumerate() {
        let args = arguments
            .get(name)
            .unwrap_or_else(|| panic!("no arguments for {name}"));
        client
            .batch_execute(&format!("PREPARE q{i} AS {sql}"))
            .await
            .unwrap_or_else(|e| panic!("prepare {name}: {e:?}"));
        let rows = client
            .query(&format!("EXPLAIN EXECUTE q{i}({args})"), &[])
            .await
            .unwrap_or_else(|e| panic!("explain {name}: {e:?}"));
        let plan: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let plan = plan.join("\n");
        println!("-- {name}\n{sql}\n{plan}\n");
        if plan.contains("Seq Scan") || !plan.contains("Index") {
            failures.push(format!("{name}:\n{plan}"));
        }
    }
    assert!(
        failures.is_empty(),
        "full scans on hot paths:\n{}",
        failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_code_is_a_conflict() {
    let Some(cluster) = cluster() else { return };
    let store = common::fresh_store(cluster).await;
    let g = grant("g-dup");
    store.create_grant(g.clone()).await.expect("grant");
    let err = store
        .create_grant(g.clone())
        .await
        .expect_err("duplicate grant");
    assert_eq!(err.kind(), StoreErrorKind::Conflict, "{err}");
    let code = opkit::store::CodeRecord {
        hash: SecretHash::of("code"),
        grant_id: g.id.clone(),
        client_id: g.client_id.clone(),
        subject: "alice".into(),
        redirect_uri: None,
        scopes: g.scopes.clone(),
        nonce: None,
        challenge: None,
        auth_time: g.created_at,
        expires_at: g.expires_at,
    };
    store.put_code(code.clone()).await.expect("put");
    let err = store.put_code(code).await.expect_err("duplicate code");
    assert_eq!(err.kind(), StoreErrorKind::Conflict, "{err}");
}
