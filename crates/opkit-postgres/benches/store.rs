//! Latency of the two hot writes, refresh rotation and code redemption, against a throwaway
//! PostgreSQL server (`TestCluster`), with 10 000 refresh tokens pre-filled, and with
//! 10 000 000 when `OPKIT_BENCH_BIG=1`. Each case runs on a database of its own, filled by one
//! `INSERT … SELECT … generate_series` statement and analysed.
//!
//! `cargo bench -p opkit-postgres` (add `OPKIT_BENCH_BIG=1` for the large case: several
//! minutes of filling and a few GB of disk). CI only builds it (`cargo bench --no-run`).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use opkit::scope::Scopes;
use opkit::secret::SecretHash;
use opkit::store::{
    CodeRecord, CodeRedemption, CodeStore, Grant, GrantId, GrantStore, RefreshRecord,
    RefreshRotation, RefreshTokenStore,
};
use opkit_postgres::testing::TestCluster;
use opkit_postgres::{PostgresOptions, PostgresStore};
use time::OffsetDateTime;

fn grant() -> Grant {
    let now = OffsetDateTime::now_utc();
    let mut scopes = Scopes::new();
    scopes.insert("openid");
    scopes.insert("offline_access");
    Grant {
        id: GrantId("bench-grant".into()),
        client_id: "bench-client".into(),
        subject: Some("bench-user".into()),
        scopes,
        auth_time: Some(now),
        created_at: now,
        expires_at: now + time::Duration::days(30),
        revoked: false,
        resource: None,
    }
}

fn refresh(secret: &str, g: &Grant) -> RefreshRecord {
    RefreshRecord {
        hash: SecretHash::of(secret),
        grant_id: g.id.clone(),
        client_id: g.client_id.clone(),
        subject: "bench-user".into(),
        scopes: g.scopes.clone(),
        auth_time: g.created_at,
        issued_at: OffsetDateTime::now_utc(),
        expires_at: g.expires_at,
    }
}

fn code(secret: &str, g: &Grant) -> CodeRecord {
    CodeRecord {
        hash: SecretHash::of(secret),
        grant_id: g.id.clone(),
        client_id: g.client_id.clone(),
        subject: "bench-user".into(),
        redirect_uri: Some("https://rp.example/cb".into()),
        scopes: g.scopes.clone(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        challenge: None,
        auth_time: g.created_at,
        expires_at: g.expires_at,
    }
}

/// `n` refresh tokens of as many grants, expiring over the next days, and 10 000 codes.
fn fill(n: u64) -> String {
    format!(
        "INSERT INTO refresh_tokens (hash, grant_id, doc, expires_at, rotated) \
         SELECT sha256(('filler-' || i)::bytea), 'filler-grant-' || (i % 1000000), \
             '{{\"filler\":true}}', now() + (i % 100000) * interval '1 second', i % 3 = 0 \
         FROM generate_series(1, {n}) AS i; \
         INSERT INTO codes (hash, grant_id, doc, expires_at, redeemed) \
         SELECT sha256(('filler-code-' || i)::bytea), 'filler-grant-' || i, \
             '{{\"filler\":true}}', now() + i * interval '1 second', i % 2 = 0 \
         FROM generate_series(1, 10000) AS i; \
         ANALYZE refresh_tokens; ANALYZE codes;"
    )
}

fn bench(c: &mut Criterion) {
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut sizes = vec![10_000u64];
    if std::env::var("OPKIT_BENCH_BIG").as_deref() == Ok("1") {
        sizes.push(10_000_000);
    }
    for n in sizes {
        let url = cluster.fresh_database();
        let store = runtime
            .block_on(PostgresStore::connect(&url, PostgresOptions::default()))
            .expect("connect");
        let started = Instant::now();
        cluster.execute(&url, &fill(n));
        eprintln!("filled {n} refresh tokens in {:.1?}", started.elapsed());

        let g = grant();
        runtime
            .block_on(store.create_grant(g.clone()))
            .expect("grant");
        let first = refresh(&format!("bench-{n}-0"), &g);
        runtime
            .block_on(store.put_refresh_token(first.clone()))
            .expect("first token");

        let mut group = c.benchmark_group(format!("postgres/{n}_refresh_tokens"));
        group
            .sample_size(50)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(5));

        // One family's chain: each iteration rotates the token the previous one issued.
        let mut current = first.hash;
        let mut i = 0u64;
        group.bench_function("rotate_refresh_token", |b| {
            b.iter(|| {
                i += 1;
                let next = refresh(&format!("bench-{n}-{i}"), &g);
                let next_hash = next.hash;
                let outcome = runtime
                    .block_on(store.rotate_refresh_token(&current, next))
                    .expect("rotate");
                assert_eq!(outcome, RefreshRotation::Rotated);
                current = next_hash;
            })
        });

        let mut j = 0u64;
        group.bench_function("redeem_code", |b| {
            b.iter_batched(
                || {
                    j += 1;
                    let c = code(&format!("bench-code-{n}-{j}"), &g);
                    let hash = c.hash;
                    runtime.block_on(store.put_code(c)).expect("put_code");
                    hash
                },
                |hash| {
                    let outcome = runtime.block_on(store.redeem_code(&hash)).expect("redeem");
                    assert!(matches!(outcome, CodeRedemption::Redeemed(_)));
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
