//! Latency of the hot store calls on a real file: refresh rotation (a `BEGIN IMMEDIATE`
//! write of two statements), code redemption (one `UPDATE … RETURNING`) and client lookup (a
//! read), with `synchronous = FULL` and `NORMAL`.
//!
//! `cargo bench -p opkit-sqlite --bench store`. Each call goes through the pool and tokio's
//! blocking pool, as a host's would; the files live in the system temp dir and are removed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use opkit::client::{AuthMethod, Client, ClientSettings, GrantType, ResponseType};
use opkit::jose::Algorithm;
use opkit::scope::Scopes;
use opkit::secret::SecretHash;
use opkit::store::{
    ClientStore, CodeRecord, CodeRedemption, CodeStore, GrantId, RefreshRecord, RefreshRotation,
    RefreshTokenStore,
};
use opkit_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use time::{Duration, OffsetDateTime};

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000)
}

fn scopes() -> Scopes {
    Scopes::parse("openid profile offline_access").expect("scopes")
}

fn refresh(n: u64) -> RefreshRecord {
    RefreshRecord {
        hash: SecretHash::of(&format!("refresh-{n}")),
        grant_id: GrantId("bench-grant".into()),
        client_id: "bench-client".into(),
        subject: "bench-subject".into(),
        scopes: scopes(),
        auth_time: t0(),
        issued_at: t0(),
        expires_at: t0() + Duration::days(30),
    }
}

fn code(n: u64) -> CodeRecord {
    CodeRecord {
        hash: SecretHash::of(&format!("code-{n}")),
        grant_id: GrantId("bench-grant".into()),
        client_id: "bench-client".into(),
        subject: "bench-subject".into(),
        redirect_uri: Some("https://rp.example/cb".into()),
        scopes: scopes(),
        nonce: Some("nonce".into()),
        challenge: None,
        auth_time: t0(),
        expires_at: t0() + Duration::minutes(1),
    }
}

fn client() -> Client {
    Client {
        id: "0001".into(),
        client_id: "bench-client".into(),
        secrets: vec![],
        registration_access_token: None,
        settings: ClientSettings {
            name: "Bench".into(),
            description: None,
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            id_token_signed_response_alg: Algorithm::Es256,
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            response_types: vec![ResponseType::CODE],
            allowed_scopes: scopes(),
            allowed_origins: vec![],
            logo_uri: None,
            logo_dark_mode_uri: None,
            require_pkce: true,
            allow_plain_pkce: false,
            introspect_any_token: false,
            refresh_grace: None,
            allowed_resources: Vec::new(),
            userinfo_signed_response_alg: None,
            metadata: BTreeMap::new(),
        },
        date_created: t0(),
        date_modified: t0(),
        revision: 0,
    }
}

struct BenchDir(PathBuf);

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir =
        BenchDir(std::env::temp_dir().join(format!("opkit-sqlite-bench-{}", std::process::id())));
    for (name, level) in [("full", Synchronous::Full), ("normal", Synchronous::Normal)] {
        let options = SqliteOptions::default().synchronous(level);
        let store = rt
            .block_on(SqliteStore::open(dir.0.join(format!("{name}.db")), options))
            .expect("open");
        rt.block_on(store.insert_client(client())).expect("client");
        rt.block_on(store.put_refresh_token(refresh(0)))
            .expect("refresh");

        let mut group = c.benchmark_group(format!("sqlite_{name}"));
        group
            .sample_size(30)
            .warm_up_time(StdDuration::from_secs(1))
            .measurement_time(StdDuration::from_secs(4));

        let mut n = 0u64;
        group.bench_function("refresh_rotation", |b| {
            b.iter(|| {
                let presented = refresh(n).hash;
                n += 1;
                let done = rt.block_on(store.rotate_refresh_token(&presented, refresh(n)));
                assert_eq!(done.expect("rotate"), RefreshRotation::Rotated);
            })
        });

        let mut m = 0u64;
        group.bench_function("code_redemption", |b| {
            b.iter_batched(
                || {
                    m += 1;
                    let c = code(m);
                    rt.block_on(store.put_code(c.clone())).expect("put code");
                    c.hash
                },
                |hash| {
                    let done = rt.block_on(store.redeem_code(&hash)).expect("redeem");
                    assert!(matches!(done, CodeRedemption::Redeemed(_)));
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_function("client_lookup", |b| {
            b.iter(|| {
                let found = rt.block_on(store.client("bench-client")).expect("lookup");
                assert!(found.is_some());
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
