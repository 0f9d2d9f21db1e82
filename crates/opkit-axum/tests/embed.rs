//! The 30-line embedding of `examples/embed.rs`, driven over real HTTP: a code flow with PKCE
//! through the default login and consent pages, and the ID token verified independently with
//! `jsonwebtoken` against the JWKS. The glue below is the example's, verbatim (a test checks it).

mod support;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use opkit::claims::UserClaims;
use opkit::config::RegistrationPolicy;
use opkit::jose::KeySet;
use opkit::secret::SecretHash;
use opkit::store::{MemoryStore, StoreResult, UserStore};
use opkit::Config;
use opkit_axum::OpenIdProvider;

use support::*;

// ---- glue: begin ----
/// The application's user table. (For brevity its passwords are SHA-256 hashes; a real table
/// keeps a salted password hash such as PBKDF2 or Argon2, as `opkit::store::MemoryUsers` does.)
pub struct Users(pub Vec<(&'static str, SecretHash)>);

impl UserStore for Users {
    async fn claims(&self, subject: &str) -> StoreResult<Option<Arc<UserClaims>>> {
        let email = Some(format!("{subject}@example.com"));
        let claims = Arc::new(UserClaims {
            email,
            ..Default::default()
        });
        let known = self.0.iter().any(|(name, _)| *name == subject);
        Ok(known.then_some(claims))
    }

    async fn authenticate(&self, username: &str, password: &str) -> StoreResult<Option<String>> {
        let mut users = self.0.iter();
        let found = users.find(|(name, hash)| *name == username && hash.matches(password));
        Ok(found.map(|(name, _)| name.to_string()))
    }
}

/// The application's routes, plus an OpenID provider for `issuer` (registration open for the
/// demo: keep it closed, or behind an initial access token, anywhere else).
pub fn app(issuer: &str, users: Users, keys: KeySet) -> Result<Router, Box<dyn Error>> {
    let mut config = Config::new(issuer)?;
    config.registration = RegistrationPolicy::Open;
    let provider = OpenIdProvider::new(config, keys, MemoryStore::new(), users).build()?;
    provider.spawn_purge(Duration::from_secs(60));
    let own = Router::new().route("/hello", get(|| async { "the application's own page" }));
    Ok(own.merge(provider.router()))
}
// ---- glue: end ----

#[test]
fn the_glue_is_the_examples() {
    let example = include_str!("../../../examples/embed.rs");
    let this = include_str!("embed.rs");
    let glue = |s: &'static str| {
        let from = s.find("// ---- glue: begin").unwrap();
        let to = s.find("// ---- glue: end").unwrap();
        &s[from..to]
    };
    assert_eq!(
        glue(this),
        glue(example),
        "copy the glue of examples/embed.rs here"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_with_pkce_through_the_embedding() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let keys = KeySet::generate(&opkit::host::SystemRng::new()).unwrap();
    let users = Users(vec![("alice", SecretHash::of("wonderland"))]);
    let router = app(&issuer, users, keys).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let http = browser();
    let hello = http.get(format!("{issuer}/hello")).send().await.unwrap();
    assert_eq!(hello.text().await.unwrap(), "the application's own page");
    let doc = get_json(&http, &format!("{issuer}/.well-known/openid-configuration")).await;
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(get_json(&http, doc["jwks_uri"].as_str().unwrap()).await).unwrap();
    let client_id = register_public(&http, &doc).await;

    let page = http
        .get(authorize_url(&doc, &client_id))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let login = form_of(&page.text().await.unwrap());
    let wrong = post_login(&http, &login, "alice", "nope")
        .await
        .text()
        .await
        .unwrap();
    assert!(wrong.contains("The username or password is incorrect."));
    let consent = post_login(&http, &login, "alice", "wonderland").await;
    assert_eq!(consent.status(), 200);
    let consent = form_of(&consent.text().await.unwrap());
    let resp = post_consent(&http, &consent, "allow").await;
    assert_eq!(resp.status(), 303);
    let params = params_of(&location(&resp));
    assert_eq!(
        (params["state"].as_str(), params["iss"].as_str()),
        ("st-1", issuer.as_str())
    );

    let tokens = redeem(&http, &doc, &client_id, &params["code"]).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = verify_jwt(&jwks, id_token, &issuer, &client_id);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["email"], "alice@example.com");
}
