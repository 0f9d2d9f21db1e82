//! The kit's default limiter over real HTTP: password guesses are counted before the password
//! hash (so parallel guesses get no more checks than the budget), `Retry-After` is the real
//! delay, and an attacker's failures do not slow the account's owner at another address.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opkit::client::{validate, MetadataSource, NewClient};
use opkit::config::RegistrationPolicy;
use opkit::host::SystemRng;
use opkit::jose::{Algorithm, KeySet, SigningKey};
use opkit::store::{MemoryStore, MemoryUsers, StoreResult, UserStore};
use opkit::Config;
use opkit_axum::limiter::Policy;
use opkit_axum::{Limiter, OpenIdProvider};
use serde_json::json;

/// The users, counting real password checks; each takes a while, like a password hash.
#[derive(Clone)]
struct Counting {
    users: Arc<MemoryUsers>,
    checks: Arc<AtomicU32>,
}

impl UserStore for Counting {
    async fn claims(&self, subject: &str) -> StoreResult<Option<Arc<opkit::claims::UserClaims>>> {
        self.users.claims(subject).await
    }
    async fn authenticate(&self, username: &str, password: &str) -> StoreResult<Option<String>> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.users.authenticate(username, password).await
    }
}

struct Server {
    base: String,
    client_id: String,
    secret: String,
    checks: Arc<AtomicU32>,
}

/// A provider with the password grant, served by axum with the peer address (`ConnectInfo`).
async fn start(policy: Policy) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::new(&base).unwrap();
    config.registration = RegistrationPolicy::Open;
    config.password_grant_enabled = true;
    let users = MemoryUsers::new().with_iterations(1000);
    users
        .add_user("alice", "wonderland", "alice-id", Default::default())
        .unwrap();
    let checks = Arc::new(AtomicU32::new(0));
    let users = Counting {
        users: Arc::new(users),
        checks: checks.clone(),
    };
    let mut keys = KeySet::new();
    let key = SigningKey::generate(Algorithm::Es256, "es-1", &SystemRng::new()).unwrap();
    keys.insert(key).unwrap();
    let app = OpenIdProvider::new(config, keys, MemoryStore::new(), users)
        .rate_limit(Arc::new(Limiter::with_policy(policy)))
        .build()
        .unwrap();
    let metadata = json!({
        "name": "Legacy app",
        "redirect_uris": [],
        "id_token_signed_response_alg": "ES256",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["password"],
    });
    let settings = validate(
        metadata.as_object().unwrap(),
        MetadataSource::Management,
        true,
    )
    .unwrap();
    let created = app
        .provider()
        .create_client(settings, NewClient::new())
        .await
        .unwrap();
    // The kit's own serving loop, which hands each request its peer's address.
    tokio::spawn(opkit_axum::serve(
        listener,
        app.router(),
        1,
        std::future::pending(),
    ));
    Server {
        base,
        client_id: created.client.client_id.clone(),
        secret: created.client_secret.unwrap(),
        checks,
    }
}

/// A password grant request from `from` (a loopback address); status and `Retry-After`.
async fn guess(server: &Server, from: &str, password: &str) -> (u16, Option<u64>) {
    let http = reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap();
    let resp = http
        .post(format!("{}/token", server.base))
        .basic_auth(&server.client_id, Some(&server.secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (resp.status().as_u16(), retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_get_no_more_checks_than_the_budget() {
    let server = start(Policy::default()).await;
    let guesses = (0..60).map(|_| guess(&server, "127.0.0.1", "wrong"));
    let answers = futures_join_all(guesses).await;
    let checks = server.checks.load(Ordering::SeqCst);
    assert!(
        checks <= 5,
        "{checks} real password checks for a budget of 5"
    );
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 400).count() as u32,
        checks
    );
    for (status, retry_after) in &answers {
        if *status == 429 {
            assert_eq!(*retry_after, Some(1));
        } else {
            assert_eq!((*status, *retry_after), (400, None));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honest_and_the_victim_elsewhere_is_not_slowed() {
    let server = start(Policy::default()).await;
    for _ in 0..5 {
        assert_eq!(guess(&server, "127.0.0.1", "wrong").await, (400, None));
    }
    // Locked for the attacker's address, with the real delay announced.
    let (status, retry_after) = guess(&server, "127.0.0.1", "wrong").await;
    assert_eq!((status, retry_after), (429, Some(1)));
    // The owner at another address signs in at once.
    assert_eq!(guess(&server, "127.0.0.2", "wonderland").await, (200, None));
    // Waiting exactly Retry-After lets the next check through (the delay then doubles).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(guess(&server, "127.0.0.1", "wrong").await, (400, None));
    assert_eq!(guess(&server, "127.0.0.1", "wrong").await, (429, Some(2)));
    // And after the delay, the right password works from there too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(guess(&server, "127.0.0.1", "wonderland").await, (200, None));
}

/// Await all, concurrently (spawned, so they really run in parallel).
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future,
{
    let mut out = Vec::new();
    let mut set = Vec::new();
    for f in futures {
        set.push(f);
    }
    // The guesses borrow the server, so they are polled together on this task.
    let mut pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(done.into_iter().flatten());
    out
}
