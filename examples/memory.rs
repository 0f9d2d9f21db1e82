//! How much memory the in-memory grant store takes for a million refresh tokens.
//!
//! Inserts grants and refresh tokens through the [`GrantStore`] trait into a [`MemoryStore`],
//! as the code flow does (one grant per token family, the family's first refresh token
//! carrying the grant's client, subject, scopes and `auth_time`), and prints how much the
//! process's resident set grew (Linux: `/proc/self/status`).
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

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use opkit::host::SystemRng;
use opkit::scope::Scopes;
use opkit::secret::{random_token, IssuedSecret};
use opkit::store::{Grant, GrantId, GrantStore, MemoryStore, RefreshRecord, RefreshRotation};
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
}

fn options() -> Options {
    let mut o = Options {
        tokens: 1_000_000,
        users: 250_000,
        clients: 50,
        per_grant: 1,
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
            _ => panic!("unknown option {name}"),
        }
    }
    o
}

fn main() {
    let o = options();
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
