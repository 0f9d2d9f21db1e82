//! Signing keys kept in a shared store: two instances start on one store and publish the same
//! JWKS; a rotation made through one reaches the other by its periodic reload, published before
//! it signs; tokens signed before the rotation still verify at both.

mod support;

use std::sync::Arc;
use std::time::Duration;

use opkit::config::RegistrationPolicy;
use opkit::host::SystemRng;
use opkit::jose::Algorithm;
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::Config;
use opkit_axum::{KeyEncryptionKey, OpenIdApp, OpenIdProvider, StoredKeys};
use serde_json::Value;
use time::OffsetDateTime;

use support::*;

type App = OpenIdApp<MemoryStore, MemoryUsers>;

async fn instance(store: &MemoryStore, keys: &StoredKeys<MemoryStore>) -> (App, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::new(&issuer).unwrap();
    config.registration = RegistrationPolicy::Open;
    let keep_for = config.longest_token_lifetime();
    let set = keys
        .load_or_create(OffsetDateTime::now_utc(), keep_for)
        .await
        .unwrap();
    let app = OpenIdProvider::new(config, set, store.clone(), MemoryUsers::new())
        .build()
        .unwrap();
    tokio::spawn(opkit_axum::serve(
        listener,
        app.router(),
        1,
        std::future::pending(),
    ));
    (app, issuer)
}

async fn kids(issuer: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{issuer}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_through_one_instance_reaches_the_other() {
    let store = MemoryStore::new();
    let kek = || Some(KeyEncryptionKey::from_bytes([42; 32]));
    let rng = Arc::new(SystemRng::new());
    let keys_a = StoredKeys::new(store.clone(), kek(), rng.clone());
    let keys_b = StoredKeys::new(store.clone(), kek(), rng);
    let (a, issuer_a) = instance(&store, &keys_a).await;
    let (b, issuer_b) = instance(&store, &keys_b).await;
    let before = kids(&issuer_a).await;
    assert_eq!(before.len(), 2);
    assert_eq!(before, kids(&issuer_b).await, "one JWKS for both instances");

    let old_es = a
        .provider()
        .keys()
        .active(Algorithm::Es256)
        .unwrap()
        .kid()
        .to_owned();
    let http = browser();
    let doc = get_json(
        &http,
        &format!("{issuer_a}/.well-known/openid-configuration"),
    )
    .await;
    assert!(doc["jwks_uri"].as_str().unwrap().ends_with("/jwks"));

    let refresh = Duration::from_millis(50);
    a.spawn_key_refresh(keys_a.clone(), refresh);
    b.spawn_key_refresh(keys_b, refresh);
    let new_es = keys_a
        .rotate(
            Algorithm::Es256,
            OffsetDateTime::now_utc(),
            time::Duration::milliseconds(600),
        )
        .await
        .unwrap()
        .expect("no one else rotated");

    tokio::time::sleep(Duration::from_millis(300)).await;
    for (app, issuer) in [(&a, &issuer_a), (&b, &issuer_b)] {
        assert!(kids(issuer).await.contains(&new_es), "published ahead");
        assert_eq!(
            app.provider()
                .keys()
                .active(Algorithm::Es256)
                .unwrap()
                .kid(),
            old_es,
            "not yet signing"
        );
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    for (app, issuer) in [(&a, &issuer_a), (&b, &issuer_b)] {
        let published = kids(issuer).await;
        assert!(published.contains(&old_es), "the old key still verifies");
        assert_eq!(published.len(), 3);
        assert_eq!(
            app.provider()
                .keys()
                .active(Algorithm::Es256)
                .unwrap()
                .kid(),
            new_es,
            "signing with the new key"
        );
    }
}
