//! An axum application with its own user table becomes an OpenID Connect provider: the glue
//! between the markers below is all it takes (a `UserStore` for the table, a configuration,
//! one call to `opkit-axum`). `crates/opkit-axum/tests/embed.rs` runs this very glue and drives
//! a code flow with PKCE through it.
//!
//! ```text
//! cargo run --example embed        # then open http://127.0.0.1:8080/.well-known/openid-configuration
//! ```

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = KeySet::generate(&opkit::host::SystemRng::new())?;
    let users = Users(vec![("alice", SecretHash::of("wonderland"))]);
    let router = app("http://127.0.0.1:8080", users, keys)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    println!("http://127.0.0.1:8080/.well-known/openid-configuration (alice / wonderland)");
    // The kit's serving loop: header-read timeout, graceful shutdown on Ctrl-C or SIGTERM.
    opkit_axum::serve(listener, router, 2, opkit_axum::shutdown_signal()).await?;
    Ok(())
}
