//! Operating under abuse (issue 15): what anonymous callers may make the provider hold is
//! bounded, over real HTTP through `opkit_axum::serve` (which hands each request its peer's
//! address). Registration is closed by default; when open it is a quota per source, and one
//! document is small; an anonymously registered client gets no CORS origin and cannot
//! introspect another client's token; and one source opening login pages in a loop is refused
//! before it can evict other users' pending logins.
//!
//! Two sources on one machine: Linux routes all of 127.0.0.0/8 to the loopback interface, so a
//! client socket bound to 127.0.0.2 is another source than one bound to 127.0.0.1.

mod support;

use std::net::IpAddr;
use std::sync::Arc;

use opkit::config::RegistrationPolicy;
use opkit::host::SystemRng;
use opkit::jose::{Algorithm, KeySet, SigningKey};
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::Config;
use opkit_axum::limiter::{Policy, Quota};
use opkit_axum::{Limiter, MemoryPending, OpenIdProvider};
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};

use support::*;

type Builder = OpenIdProvider<MemoryStore, MemoryUsers>;

struct Server {
    base: String,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A provider on a loopback port with user alice; `tweak` changes the configuration and
/// `build` the builder. Served by the kit's own loop, so the kit knows each peer.
async fn start(tweak: impl FnOnce(&mut Config), build: impl FnOnce(Builder) -> Builder) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::new(&base).unwrap();
    tweak(&mut config);
    let users = MemoryUsers::new().with_iterations(1000);
    users
        .add_user("alice", "wonderland", "alice-id", Default::default())
        .unwrap();
    let mut keys = KeySet::new();
    let key = SigningKey::generate(Algorithm::Es256, "es-1", &SystemRng::new()).unwrap();
    keys.insert(key).unwrap();
    let app = build(OpenIdProvider::new(config, keys, MemoryStore::new(), users))
        .build()
        .unwrap();
    tokio::spawn(opkit_axum::serve(
        listener,
        app.router(),
        2,
        std::future::pending(),
    ));
    Server { base }
}

async fn open() -> Server {
    start(|c| c.registration = RegistrationPolicy::Open, |b| b).await
}

/// A browser-like client (cookies, no redirects) whose requests come from `source`, a
/// loopback address.
fn from(source: &str) -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(source.parse::<IpAddr>().ok())
        .build()
        .unwrap()
}

async fn register(http: &Client, server: &Server, doc: &Value) -> Response {
    http.post(server.url("/register"))
        .json(doc)
        .send()
        .await
        .unwrap()
}

fn small() -> Value {
    json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "none"})
}

fn retry_after(resp: &Response) -> Option<u64> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_closed_by_default() {
    let server = start(|_| {}, |b| b).await;
    let http = from("127.0.0.1");
    let doc = get_json(&http, &server.url("/.well-known/openid-configuration")).await;
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");
    // Not served at all (RFC 7591 has no endpoint to answer from when it is off).
    assert_eq!(register(&http, &server, &small()).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_registration_is_a_quota_per_source() {
    // The kit's own limiter, with its documented default of 20 per source per hour.
    let server = open().await;
    let attacker = from("127.0.0.1");
    // Refused documents do not spend the quota.
    let mut wrong = small();
    wrong["redirect_uris"] = json!(["http://rp.example/cb"]);
    for _ in 0..5 {
        let resp = register(&attacker, &server, &wrong).await;
        assert_eq!(resp.status(), 400);
    }
    for i in 0..20 {
        let resp = register(&attacker, &server, &small()).await;
        assert_eq!(resp.status(), 201, "registration {i}");
    }
    let refused = register(&attacker, &server, &small()).await;
    assert_eq!(refused.status(), 429);
    // Retry-After is the time until the next registration: one hour / 20.
    assert_eq!(retry_after(&refused), Some(180));
    assert!(is_json(&refused));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // Another source still registers.
    let other = from("127.0.0.2");
    assert_eq!(register(&other, &server, &small()).await.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_registration_stays_small() {
    let server = open().await;
    let http = from("127.0.0.1");
    // Over the body limit: the OAuth JSON 413.
    let mut huge = small();
    huge["contacts"] = json!(["x".repeat(70 * 1024)]);
    let resp = register(&http, &server, &huge).await;
    assert_eq!(resp.status(), 413);
    assert!(is_json(&resp));
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    // Within the body limit but more than one registration may keep (the 62 KB).
    let mut large = small();
    large["contacts"] = json!(["x".repeat(40 * 1024)]);
    let resp = register(&http, &server, &large).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
    let description = body["error_description"].as_str().unwrap_or("");
    assert!(description.starts_with("contacts: "), "{body}");
    let mut many = small();
    many["redirect_uris"] = json!((0..17)
        .map(|i| format!("https://rp.example/{i}"))
        .collect::<Vec<_>>());
    let resp = register(&http, &server, &many).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_client_gets_no_cors_origin() {
    const EVIL: &str = "https://evil.example";
    let server = open().await;
    let http = from("127.0.0.1");
    let mut doc = small();
    doc["allowed_origins"] = json!([EVIL]);
    let resp = register(&http, &server, &doc).await;
    assert_eq!(resp.status(), 201);
    let client: Value = resp.json().await.unwrap();
    assert!(client.get("allowed_origins").is_none(), "{client}");
    let client_id = client["client_id"].as_str().unwrap();

    let preflight = http
        .request(Method::OPTIONS, server.url("/token"))
        .header("origin", EVIL)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 403);
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let token = http
        .post(server.url("/token"))
        .header("origin", EVIL)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "bogus"),
            ("redirect_uri", "https://rp.example/cb"),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 400);
    assert!(token.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_client_cannot_introspect_another_clients_token() {
    let server = open().await;
    let http = from("127.0.0.1");
    let service = json!({"grant_types": ["client_credentials"]});
    let owner: Value = register(&http, &server, &service)
        .await
        .json()
        .await
        .unwrap();
    let mut sneaky_doc = service.clone();
    sneaky_doc["introspect_any_token"] = json!(true);
    let sneaky: Value = register(&http, &server, &sneaky_doc)
        .await
        .json()
        .await
        .unwrap();
    assert!(sneaky.get("introspect_any_token").is_none(), "{sneaky}");
    let creds = |c: &Value| {
        (
            c["client_id"].as_str().unwrap().to_owned(),
            c["client_secret"].as_str().unwrap().to_owned(),
        )
    };
    let (owner_id, owner_secret) = creds(&owner);
    let (sneaky_id, sneaky_secret) = creds(&sneaky);
    let resp = http
        .post(server.url("/token"))
        .basic_auth(&owner_id, Some(&owner_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    let introspect = |id: String, secret: String| {
        http.post(server.url("/introspect"))
            .basic_auth(id, Some(secret))
            .form(&[("token", access_token)])
            .send()
    };
    let own: Value = introspect(owner_id.clone(), owner_secret)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["active"], true, "{own}");
    let other: Value = introspect(sneaky_id, sneaky_secret)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other, json!({"active": false}));
}

/// Status, `Retry-After` and body of a GET from a fresh client at `source` (no cookies: each
/// request is a new browser, as a flooder's are).
async fn open_page(source: &str, url: &str) -> (u16, Option<u64>, String) {
    let resp = from(source).get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = retry_after(&resp);
    (status, retry, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_flooding_the_login_page_cannot_evict_other_users_logins() {
    // A small pending store (8 steps, evicting the one expiring soonest when full) and a small
    // quota (4 pages per source, one more every 2 s), so the flood is short.
    let policy = Policy {
        pending_steps_per_source: Quota::new(4, std::time::Duration::from_secs(8)),
        ..Policy::default()
    };
    let server = start(
        |c| c.registration = RegistrationPolicy::Open,
        |b| {
            b.pending_store(MemoryPending::new(8))
                .rate_limit(Arc::new(Limiter::with_policy(policy)))
        },
    )
    .await;
    let user = from("127.0.0.2");
    let doc = get_json(&user, &server.url("/.well-known/openid-configuration")).await;
    let client_id = register_public(&user, &doc).await;
    let url = authorize_url(&doc, &client_id);

    // A user at 127.0.0.2 opens the login page before the flood.
    let page = user.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let login = form_of(&page.text().await.unwrap());

    // 127.0.0.1 opens it 20 times, as 20 new browsers: 4 pages, then 429 with the time until
    // the next one, on the kit's message page.
    let mut shown = 0;
    for _ in 0..20 {
        match open_page("127.0.0.1", &url).await {
            (200, None, _) => shown += 1,
            (429, Some(retry), html) => {
                assert!((1..=2).contains(&retry), "Retry-After: {retry}");
                assert!(html.contains("temporarily_unavailable"), "{html}");
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(shown, 4);
    // The announced wait is honest: after it, the flooder gets one more page.
    let (status, retry, _) = open_page("127.0.0.1", &url).await;
    assert_eq!(status, 429);
    tokio::time::sleep(std::time::Duration::from_secs(retry.unwrap_or(2))).await;
    assert_eq!(open_page("127.0.0.1", &url).await.0, 200);

    // The user's login, opened before the flood, still completes.
    let resp = post_login(&user, &login, "alice", "wonderland").await;
    assert_eq!(resp.status(), 200, "the user's pending login was evicted");
    let consent = form_of(&resp.text().await.unwrap());
    let resp = post_consent(&user, &consent, "allow").await;
    assert_eq!(resp.status(), 303);
    let params = params_of(&location(&resp));
    let tokens = redeem(&user, &doc, &client_id, &params["code"]).await;
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn logout_confirmation_pages_count_in_the_same_quota() {
    // A signed-in browser asking to log out without an id_token_hint gets a confirmation page,
    // which holds a pending step: one source cannot make them without bound either.
    let policy = Policy {
        pending_steps_per_source: Quota::new(3, std::time::Duration::from_secs(600)),
        ..Policy::default()
    };
    let server = start(
        |c| c.registration = RegistrationPolicy::Open,
        |b| b.rate_limit(Arc::new(Limiter::with_policy(policy))),
    )
    .await;
    let browser = from("127.0.0.2");
    let doc = get_json(&browser, &server.url("/.well-known/openid-configuration")).await;
    let client_id = register_public(&browser, &doc).await;
    // Sign in: the login page and the consent page take two of the three places.
    let page = browser
        .get(authorize_url(&doc, &client_id))
        .send()
        .await
        .unwrap();
    let login = form_of(&page.text().await.unwrap());
    let consent = post_login(&browser, &login, "alice", "wonderland").await;
    assert_eq!(consent.status(), 200);
    let logout = doc["end_session_endpoint"].as_str().unwrap();
    let first = browser.get(logout).send().await.unwrap();
    assert_eq!(first.status(), 200, "the third place: a confirmation page");
    let second = browser.get(logout).send().await.unwrap();
    assert_eq!(second.status(), 429);
    assert!(retry_after(&second).is_some());
}
