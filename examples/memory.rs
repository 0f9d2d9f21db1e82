//! How much memory the in-memory grant store takes for a million refresh tokens.
//!
//! Inserts grants and refresh tokens through the [`GrantStore`] and [`RefreshTokenStore`]
//! traits into a [`MemoryStore`] (maps behind locks), as the code flow does (one grant per
//! token family, the family's first refresh token carrying the grant's client, subject, scopes
//! and `auth_time`), and prints how much the process's resident set grew (Linux:
//! `/proc/self/status`).
//!
//! ```text
//! cargo run --release --example memory                       # 1M grants, 1M tokens
//! cargo run --release --example memory -- --tokens 1000000 --users 1000000   # every user distinct
//! cargo run --release --example memory -- --per-grant 4      # 250k grants with 4 tokens each
//! ```
//!
//! Options: `--tokens N` (default 1 000 000), `--users N` distinct subjects (default 250 000),
//! `--clients N` (default 50), `--per-grant N` refresh tokens per grant (default 1; more than
//! one models a family with rotated tokens not yet purged, the older ones marked rotated).
//!
//! `--steady RATE` measures something else: the store's CPU time per sign-in at the steady
//! state of a provider serving RATE code-flow sign-ins per second (no `offline_access`), as
//! `benches/flows.rs` models it. Each sign-in is what the code flow asks of the store
//! (`create_grant` and `put_code` at the authorization endpoint, `redeem_code` and `grant` at
//! the token endpoint); a janitor calls `Store::purge_expired` every 60 s of provider time in
//! batches of 10 000. The provider's time is simulated: one grant lifetime (3660 s) to reach
//! the steady state, then `--minutes N` (default 10) measured. Ids and secrets are made before
//! timing, so only the store counts.
//!
//! ```text
//! cargo run --release --example memory -- --steady 100
//! ```

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use opkit::host::SystemRng;
use opkit::pkce::{ChallengeMethod, CodeChallenge};
use opkit::scope::Scopes;
use opkit::secret::{random_token, IssuedSecret};
use opkit::store::{
    CodeRecord, CodeRedemption, CodeStore, Grant, GrantId, GrantStore, MemoryStore, RefreshRecord,
    RefreshRotation, RefreshTokenStore, Store,
};
use time::{Duration, OffsetDateTime};

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// The memory store's futures are ready on their first poll.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// The resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

struct Options {
    tokens: usize,
    users: usize,
    clients: usize,
    per_grant: usize,
    steady: usize,
    minutes: usize,
}

fn options() -> Options {
    let mut o = Options {
        tokens: 1_000_000,
        users: 250_000,
        clients: 50,
        per_grant: 1,
        steady: 0,
        minutes: 10,
    };
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        let value: usize = args
            .next()
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("{name} needs a number"));
        match name.as_str() {
            "--tokens" => o.tokens = value,
            "--users" => o.users = value.max(1),
            "--clients" => o.clients = value.max(1),
            "--per-grant" => o.per_grant = value.max(1),
            "--steady" => o.steady = value.max(1),
            "--minutes" => o.minutes = value.max(1),
            _ => panic!("unknown option {name}"),
        }
    }
    o
}

/// This thread's CPU time (user + system), in seconds.
fn cpu_seconds() -> f64 {
    cpu_time::ThreadTime::now().as_duration().as_secs_f64()
}

/// The store's cost per sign-in at a steady state of `rate` sign-ins per second (`--steady`).
fn steady(rate: usize, minutes: usize) {
    let rng = SystemRng::new();
    let store = MemoryStore::new();
    let client_id = "6f1c2a7e-3b4d-4e5f-9a0b-000000000001".to_owned();
    let scopes = Scopes::parse("openid profile email").unwrap();
    let challenge = CodeChallenge::new(
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ChallengeMethod::S256,
    )
    .unwrap();
    // opkit's defaults: a grant without `offline_access` lives code_ttl + the longest token
    // lifetime (60 s + 1 h); a code 60 s.
    let (grant_life, code_ttl, purge_every) = (3660, 60, 60);
    let step = Duration::nanoseconds(1_000_000_000 / rate as i64);
    let start = OffsetDateTime::now_utc();
    let mut now = start;
    let (mut requests_s, mut purge_s, mut signed_in, mut minute) = (0.0, 0.0, 0usize, 0);
    let warm_minutes = grant_life / purge_every + 1;
    let before = rss();
    while minute < warm_minutes + minutes {
        // One minute of sign-ins: ids and secrets first (not the store's work), then the store.
        let batch: Vec<(Grant, CodeRecord)> = (0..rate * purge_every)
            .map(|i| {
                let at = now + step * i as i32;
                let subject = format!("{:012}", (signed_in + i) % 1_000_000);
                let grant = Grant {
                    id: GrantId(random_token(&rng, 16).expect("rng")),
                    client_id: client_id.clone(),
                    subject: Some(subject.clone()),
                    scopes: scopes.clone(),
                    auth_time: Some(at),
                    created_at: at,
                    expires_at: at + Duration::seconds(grant_life as i64),
                    revoked: false,
                    resource: None,
                };
                let code = CodeRecord {
                    hash: IssuedSecret::generate(&rng).expect("rng").hash,
                    grant_id: grant.id.clone(),
                    client_id: client_id.clone(),
                    subject,
                    redirect_uri: Some("https://app.example.com/oidc/callback".into()),
                    scopes: scopes.clone(),
                    nonce: Some("n-0S6_WzA2Mj-8kLq3rT".into()),
                    challenge: Some(challenge.clone()),
                    auth_time: at,
                    expires_at: at + Duration::seconds(code_ttl),
                };
                (grant, code)
            })
            .collect();
        let measured = minute >= warm_minutes;
        let t = cpu_seconds();
        for (grant, code) in batch {
            let (id, hash) = (grant.id.clone(), code.hash);
            block_on(store.create_grant(grant)).expect("create_grant");
            block_on(store.put_code(code)).expect("put_code");
            let redeemed = block_on(store.redeem_code(&hash)).expect("redeem_code");
            assert!(matches!(redeemed, CodeRedemption::Redeemed(_)));
            assert!(block_on(store.grant(&id)).expect("grant").is_some());
        }
        if measured {
            requests_s += cpu_seconds() - t;
        }
        signed_in += rate * purge_every;
        now += Duration::seconds(purge_every as i64);
        let t = cpu_seconds();
        block_on(store.purge_expired(now, 10_000)).expect("purge");
        if measured {
            purge_s += cpu_seconds() - t;
        }
        minute += 1;
    }
    let n = (rate * purge_every * minutes) as f64;
    let stats = store.stats();
    println!(
        "steady state at {rate} sign-ins/s: {} grants, {} codes live; RSS growth {:.1} MB",
        stats.grants,
        stats.codes,
        rss().saturating_sub(before) as f64 / 1e6
    );
    println!(
        "store CPU per sign-in over {minutes} min of provider time: requests {:.2} µs + purge {:.2} µs = {:.2} µs",
        requests_s * 1e6 / n,
        purge_s * 1e6 / n,
        (requests_s + purge_s) * 1e6 / n
    );
}

fn main() {
    let o = options();
    if o.steady > 0 {
        return steady(o.steady, o.minutes);
    }
    let rng = SystemRng::new();
    let now = OffsetDateTime::now_utc();

    // What the host already holds and the store shares: client ids (UUIDs, as opkit makes
    // them) and scope sets. Built before the baseline so only the store is measured.
    let clients: Vec<String> = (0..o.clients)
        .map(|i| format!("6f1c2a7e-3b4d-4e5f-9a0b-{i:012x}"))
        .collect();
    let scope_sets = [
        Scopes::parse("openid profile email offline_access").unwrap(),
        Scopes::parse("openid email offline_access").unwrap(),
        Scopes::parse("openid profile email phone offline_access").unwrap(),
    ];

    let store = MemoryStore::new();
    let before = rss();
    let start = Instant::now();
    let grants = o.tokens.div_ceil(o.per_grant);
    let mut inserted = 0usize;
    let mut last_hash = None;
    for g in 0..grants {
        // A user signs in to a client: a grant (its refresh-token family).
        let subject = format!("{:012}", (g.wrapping_mul(2_654_435_761)) % o.users);
        let client_id = &clients[g % clients.len()];
        let scopes = &scope_sets[g % scope_sets.len()];
        let auth_time = now - Duration::seconds((g % 86_400) as i64);
        let grant = Grant {
            id: GrantId(random_token(&rng, 16).expect("rng")),
            client_id: client_id.clone(),
            subject: Some(subject.clone()),
            scopes: scopes.clone(),
            auth_time: Some(auth_time),
            created_at: now,
            expires_at: now + Duration::days(90),
            revoked: false,
            resource: None,
        };
        block_on(store.create_grant(grant.clone())).expect("create_grant");
        // The family's tokens: the first stored, each later one a rotation of the previous.
        let mut previous = None;
        for _ in 0..o.per_grant {
            if inserted == o.tokens {
                break;
            }
            let secret = IssuedSecret::generate(&rng).expect("rng");
            let record = RefreshRecord {
                hash: secret.hash,
                grant_id: grant.id.clone(),
                client_id: client_id.clone(),
                subject: subject.clone(),
                scopes: scopes.clone(),
                auth_time,
                issued_at: now,
                expires_at: now + Duration::days(14),
            };
            match previous {
                None => block_on(store.put_refresh_token(record)).expect("put_refresh_token"),
                Some(prev) => {
                    let r = block_on(store.rotate_refresh_token(&prev, record)).expect("rotate");
                    assert_eq!(r, RefreshRotation::Rotated);
                }
            }
            previous = Some(secret.hash);
            last_hash = Some(secret.hash);
            inserted += 1;
        }
    }
    let elapsed = start.elapsed();
    let after = rss();

    // The store still answers.
    let last = last_hash.expect("at least one token");
    let found = block_on(store.refresh_token(&last)).expect("lookup");
    assert!(found.is_some_and(|l| !l.rotated));

    let stats = store.stats();
    let delta = after.saturating_sub(before);
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "grants: {}  refresh tokens: {}  distinct subjects: {}  clients: {}  tokens per grant: {}",
        stats.grants,
        stats.refresh_tokens,
        o.users.min(grants),
        o.clients,
        o.per_grant
    );
    println!(
        "RSS before: {:.1} MB  after: {:.1} MB  delta: {:.1} MB  ({:.0} bytes per refresh token, grant included)",
        mb(before),
        mb(after),
        mb(delta),
        delta as f64 / inserted.max(1) as f64
    );
    println!(
        "inserted in {:.2} s ({:.2} µs per grant + token, SHA-256 and random source included)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / inserted.max(1) as f64
    );
    println!(
        "inline sizes (heap strings not included): Grant {} B, RefreshRecord {} B, SecretHash {} B",
        std::mem::size_of::<Grant>(),
        std::mem::size_of::<RefreshRecord>(),
        std::mem::size_of::<opkit::secret::SecretHash>()
    );
    let limit = 500.0;
    println!(
        "target: 1M refresh tokens in under {limit} MB: {}",
        if mb(delta) * 1_000_000.0 / (inserted.max(1) as f64) < limit {
            "met"
        } else {
            "NOT met"
        }
    );
    drop(store);
}
