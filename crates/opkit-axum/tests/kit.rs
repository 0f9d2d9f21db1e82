//! The kit's router over real HTTP (127.0.0.1, ephemeral ports): the code flow with PKCE
//! through the default login and consent pages (CSRF, browser binding, session rotation at
//! login), expiry of pending steps, CORS on exactly the four browser-facing endpoints, and
//! discovery listing exactly the endpoints that are served.

mod support;

use std::sync::{Arc, Mutex};

use opkit::config::RegistrationPolicy;
use opkit::host::{Clock, SystemRng};
use opkit::jose::{Algorithm, KeySet, SigningKey};
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::Config;
use opkit_axum::pages::{LoginView, Pages};
use opkit_axum::{OpenIdApp, OpenIdProvider};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use support::*;

/// A clock the test moves.
struct TestClock(Mutex<OffsetDateTime>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

type App = OpenIdApp<MemoryStore, MemoryUsers>;

struct Server {
    base: String,
    app: App,
    clock: Arc<TestClock>,
}

fn keys() -> KeySet {
    let mut keys = KeySet::new();
    let key = SigningKey::generate(Algorithm::Es256, "es-1", &SystemRng::new()).unwrap();
    keys.insert(key).unwrap();
    keys
}

/// A provider on a loopback port with open registration, user alice, a test clock; `tweak`
/// changes the configuration and `build` the builder.
async fn start(
    tweak: impl FnOnce(&mut Config),
    build: impl FnOnce(
        OpenIdProvider<MemoryStore, MemoryUsers>,
    ) -> OpenIdProvider<MemoryStore, MemoryUsers>,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::new(&base).unwrap();
    config.registration = RegistrationPolicy::Open;
    tweak(&mut config);
    let users = MemoryUsers::new().with_iterations(1000);
    users
        .add_user("alice", "wonderland", "alice-id", Default::default())
        .unwrap();
    let clock = Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())));
    let builder =
        OpenIdProvider::new(config, keys(), MemoryStore::new(), users).clock(clock.clone());
    let app = build(builder).build().expect("the paths are valid");
    tokio::spawn(opkit_axum::serve(
        listener,
        app.router(),
        2,
        std::future::pending(),
    ));
    Server { base, app, clock }
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The value of cookie `name` set by `resp`, if any.
fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    set_cookies(resp).iter().find_map(|c| {
        let (pair, _) = c.split_once(';')?;
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| v.to_owned())
    })
}

async fn discovery(http: &Client, base: &str) -> Value {
    get_json(http, &format!("{base}/.well-known/openid-configuration")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_with_csrf_browser_binding_and_session_rotation() {
    let server = start(|_| {}, |b| b).await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    let client_id = register_public(&http, &doc).await;
    let url = authorize_url(&doc, &client_id);

    // The login page binds itself to this browser with a cookie and locks itself down.
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let binding = set_cookies(&page).join("\n");
    assert!(
        binding.contains("opkit_browser=") && binding.contains("HttpOnly"),
        "{binding}"
    );
    assert!(
        binding.contains("SameSite=Lax") && binding.contains("Path=/"),
        "{binding}"
    );
    assert!(!binding.contains("Secure"), "http issuer: no Secure");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let login = form_of(&page.text().await.unwrap());

    // A forged CSRF token, or the right one from another browser: refused, page still usable.
    let forged = Form {
        csrf: "forged".into(),
        ..login.clone()
    };
    assert_eq!(
        post_login(&http, &forged, "alice", "wonderland")
            .await
            .status(),
        403
    );
    assert_eq!(
        post_login(&browser(), &login, "alice", "wonderland")
            .await
            .status(),
        403
    );

    // The right password: a session cookie, and the consent page.
    let resp = post_login(&http, &login, "alice", "wonderland").await;
    assert_eq!(resp.status(), 200);
    let first = cookie_value(&resp, "opkit_session").expect("a session cookie");
    let consent = form_of(&resp.text().await.unwrap());
    // The login page is single use.
    assert_eq!(
        post_login(&http, &login, "alice", "wonderland")
            .await
            .status(),
        400
    );
    let resp = post_consent(&http, &consent, "allow").await;
    assert_eq!(resp.status(), 303);
    let params = params_of(&location(&resp));
    let tokens = redeem(&http, &doc, &client_id, &params["code"]).await;
    assert!(tokens["id_token"].is_string());
    // So is the consent page.
    assert_eq!(post_consent(&http, &consent, "allow").await.status(), 400);

    // Logging in again (prompt=login) rotates the session id; the old one is dead.
    server.clock.advance(Duration::seconds(1));
    let page = http
        .get(format!("{url}&prompt=login"))
        .send()
        .await
        .unwrap();
    let login = form_of(&page.text().await.unwrap());
    let resp = post_login(&http, &login, "alice", "wonderland").await;
    let second = cookie_value(&resp, "opkit_session").expect("a new session cookie");
    assert_ne!(first, second);
    let stale = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = stale
        .get(format!("{url}&prompt=none"))
        .header("cookie", format!("opkit_session={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(params_of(&location(&resp))["error"], "login_required");
    let resp = stale
        .get(format!("{url}&prompt=none"))
        .header("cookie", format!("opkit_session={second}"))
        .send()
        .await
        .unwrap();
    assert!(params_of(&location(&resp)).contains_key("code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_steps_expire_and_are_purged() {
    let server = start(|c| c.interaction_ttl = Duration::minutes(2), |b| b).await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    let client_id = register_public(&http, &doc).await;
    let url = authorize_url(&doc, &client_id);
    let html = http.get(&url).send().await.unwrap().text().await.unwrap();
    let login = form_of(&html);

    server.clock.advance(Duration::seconds(121));
    let resp = post_login(&http, &login, "alice", "wonderland").await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("This page has expired"));

    // A fresh page works; an abandoned one is purged once expired.
    let html = http.get(&url).send().await.unwrap().text().await.unwrap();
    let login = form_of(&html);
    let _abandoned = http.get(&url).send().await.unwrap();
    let resp = post_login(&http, &login, "alice", "wonderland").await;
    assert_eq!(resp.status(), 200);
    server.clock.advance(Duration::minutes(3));
    let report = server.app.purge_expired().await.unwrap();
    assert_eq!(
        report.pending, 2,
        "the abandoned login page and the unanswered consent page"
    );
    let again = server.app.purge_expired().await.unwrap();
    assert_eq!(again.pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_only_on_token_userinfo_jwks_and_discovery() {
    let server = start(|_| {}, |b| b).await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    // Origins are the administrator's to allow (dynamic registration ignores them).
    let metadata = json!({
        "name": "SPA",
        "redirect_uris": ["https://spa.example/cb"],
        "token_endpoint_auth_method": "none",
        "id_token_signed_response_alg": "ES256",
        "allowed_origins": ["https://spa.example"],
    });
    let source = opkit::client::MetadataSource::Management;
    let settings = opkit::client::validate(metadata.as_object().unwrap(), source, false).unwrap();
    let new = opkit::client::NewClient::new();
    server
        .app
        .provider()
        .create_client(settings, new)
        .await
        .unwrap();
    let origin = "https://spa.example";
    let acao = |resp: &reqwest::Response| {
        resp.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let with_cors = [
        (
            Method::POST,
            doc["token_endpoint"].as_str().unwrap().to_owned(),
        ),
        (
            Method::GET,
            doc["userinfo_endpoint"].as_str().unwrap().to_owned(),
        ),
        (Method::GET, doc["jwks_uri"].as_str().unwrap().to_owned()),
        (
            Method::GET,
            format!("{}/.well-known/openid-configuration", server.base),
        ),
        (
            Method::GET,
            format!("{}/.well-known/oauth-authorization-server", server.base),
        ),
    ];
    for (method, url) in &with_cors {
        let preflight = http
            .request(Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", method.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{url}");
        assert_eq!(acao(&preflight).as_deref(), Some(origin), "{url}");
        let resp = http
            .request(method.clone(), url)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(acao(&resp).as_deref(), Some(origin), "{method} {url}");
        let evil = http
            .request(method.clone(), url)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(acao(&evil), None, "{url}");
    }
    let without = [
        doc["authorization_endpoint"].as_str().unwrap(),
        doc["revocation_endpoint"].as_str().unwrap(),
        doc["introspection_endpoint"].as_str().unwrap(),
        doc["registration_endpoint"].as_str().unwrap(),
        doc["end_session_endpoint"].as_str().unwrap(),
    ];
    for url in without {
        let preflight = http
            .request(Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_ne!(preflight.status(), 204, "{url}");
        assert_eq!(acao(&preflight), None, "{url}");
        let resp = http
            .post(url)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(acao(&resp), None, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_exactly_the_endpoints_served() {
    let server = start(
        |c| {
            c.paths.revocation = None;
            c.paths.introspection = Some("/oauth/introspect".into());
            c.registration = RegistrationPolicy::Closed;
        },
        |b| b,
    )
    .await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    assert!(doc.get("revocation_endpoint").is_none(), "{doc}");
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{}/oauth/introspect", server.base)
    );
    for path in ["/revoke", "/register", "/introspect", "/clients"] {
        let resp = http.post(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path} is switched off");
    }
    let mut listed = 0;
    for (name, value) in doc.as_object().unwrap() {
        if !(name.ends_with("_endpoint") || name == "jwks_uri") {
            continue;
        }
        listed += 1;
        let url = value.as_str().unwrap();
        let get = http.get(url).send().await.unwrap().status();
        let post = http.post(url).send().await.unwrap().status();
        assert!(get != 404 && post != 404, "{name} {url}: {get} {post}");
    }
    assert_eq!(
        listed, 6,
        "authorization, token, userinfo, jwks, introspection, end_session"
    );
    let resp = http
        .post(server.url("/oauth/introspect"))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 404);
}

/// A host's own login page.
struct Branded;

impl Pages for Branded {
    fn login(&self, view: &LoginView<'_>) -> String {
        format!(
            "<!DOCTYPE html><h1>ACME</h1><form method=\"post\" action=\"{}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"></form>{}",
            opkit_axum::pages::escape_html(view.action),
            opkit_axum::pages::escape_html(view.csrf),
            opkit_axum::pages::escape_html(view.client_name),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_cookies_host_pages_and_the_management_api() {
    let server = start(
        |_| {},
        |b| {
            b.pages(Branded)
                .admin_token("an-admin-token-of-sufficient-length")
        },
    )
    .await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    let client_id = register_public(&http, &doc).await;
    let page = http
        .get(authorize_url(&doc, &client_id))
        .send()
        .await
        .unwrap();
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<h1>ACME</h1>") && html.contains("Test RP"),
        "{html}"
    );
    let clients = server.url("/clients");
    let resp = http
        .get(&clients)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http
        .get(&clients)
        .bearer_auth("an-admin-token-of-sufficient-length")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .put(&clients)
        .bearer_auth("an-admin-token-of-sufficient-length")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");

    // An https issuer: `__Host-` cookies with Secure.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::new("https://id.example.com").unwrap();
    config.registration = RegistrationPolicy::Open;
    let app = OpenIdProvider::new(config, keys(), MemoryStore::new(), MemoryUsers::new())
        .build()
        .expect("the paths are valid");
    tokio::spawn(opkit_axum::serve(
        listener,
        app.router(),
        1,
        std::future::pending(),
    ));
    let registered: Value = http
        .post(format!("{base}/register"))
        .json(
            &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                      "id_token_signed_response_alg": "ES256"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut doc = doc;
    doc["authorization_endpoint"] = json!(format!("{base}/authorize"));
    let page = http
        .get(authorize_url(
            &doc,
            registered["client_id"].as_str().unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&page).join("\n");
    assert!(
        cookies.starts_with("__Host-opkit_browser=") && cookies.contains("; Secure"),
        "{cookies}"
    );
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A body over the limit gets the OAuth JSON error, not axum's plain text; JSON answers say
/// `nosniff`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_is_a_json_error_and_json_is_nosniff() {
    let server = start(|_| {}, |b| b).await;
    let http = browser();
    let big = "x".repeat(opkit_axum::DEFAULT_BODY_LIMIT + 1);
    let resp = http
        .post(format!("{}/token", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let resp = http
        .get(format!("{}/jwks", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}
