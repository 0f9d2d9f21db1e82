//! Key rotation while the provider serves: publish a key before it signs, switch signing to it,
//! keep the old key for verification until its tokens have expired, then drop it.

mod common;

use std::sync::Arc;

use common::*;
use opkit::jose::{Algorithm, KeyError, SigningKey};
use serde_json::{json, Value};

fn kids(provider: &TestProvider) -> Vec<String> {
    let jwks: Value = serde_json::from_slice(&provider.jwks_json()).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn header_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn rotation_end_to_end() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let before = h.code_flow(&c, "openid email").await;
    let old_id_token = before["id_token"].as_str().unwrap().to_owned();
    let old_access_token = before["access_token"].as_str().unwrap().to_owned();
    assert_eq!(header_kid(&old_id_token), "es-1");

    // 1. Publish: in the JWKS at once, not signing yet.
    let next =
        SigningKey::generate(Algorithm::Es256, "es-2", &opkit::host::SystemRng::new()).unwrap();
    h.provider.rotate_keys(|keys| keys.insert(next)).unwrap();
    assert!(kids(&h.provider).contains(&"es-2".to_owned()));
    let still_old = h.code_flow(&c, "openid").await;
    assert_eq!(header_kid(still_old["id_token"].as_str().unwrap()), "es-1");

    // 2. Activate: new tokens are signed with the new key; the old one stays published.
    let keep_for = h.provider.config().longest_token_lifetime();
    let now = h.now();
    h.provider
        .rotate_keys(|keys| keys.activate("es-2", now, keep_for))
        .unwrap();
    let after = h.code_flow(&c, "openid email").await;
    let new_id_token = after["id_token"].as_str().unwrap();
    assert_eq!(header_kid(new_id_token), "es-2");
    assert_eq!(header_kid(after["access_token"].as_str().unwrap()), "es-2");
    // Both ID tokens verify against the JWKS served now (independently, with jsonwebtoken).
    verify_jwt(&h.provider, &old_id_token, &c.client.client_id);
    verify_jwt(&h.provider, new_id_token, &c.client.client_id);
    // The access token signed before the rotation still works.
    let (status, _, _) = h.userinfo(&old_access_token).await;
    assert_eq!(status, 200);
    // Discovery still lists both algorithms.
    let discovery: Value = serde_json::from_slice(&h.provider.discovery_json()).unwrap();
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );

    // 3. Drop: not before every token of the old key has expired.
    let dropped = h
        .provider
        .rotate_keys(|keys| {
            Ok::<_, KeyError>(keys.drop_retired(now + keep_for - time::Duration::seconds(1)))
        })
        .unwrap();
    assert!(dropped.is_empty());
    assert!(kids(&h.provider).contains(&"es-1".to_owned()));
    let dropped = h
        .provider
        .rotate_keys(|keys| Ok::<_, KeyError>(keys.drop_retired(now + keep_for)))
        .unwrap();
    assert_eq!(dropped, ["es-1"]);
    assert!(!kids(&h.provider).contains(&"es-1".to_owned()));
    h.clock.advance(keep_for);
    let (status, _, _) = h.userinfo(&old_access_token).await;
    assert_eq!(status, 401, "the old key is gone, and so are its tokens");
}

#[tokio::test]
async fn a_failed_change_leaves_the_keys_as_they_were() {
    let h = Harness::new();
    let before = kids(&h.provider);
    let err = h
        .provider
        .rotate_keys(|keys| keys.activate("no-such-kid", h.now(), time::Duration::hours(1)))
        .unwrap_err();
    assert_eq!(err, KeyError::UnknownKid("no-such-kid".into()));
    assert_eq!(kids(&h.provider), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_keep_verifying_while_keys_rotate() {
    let h = Arc::new(Harness::new());
    let c = Arc::new(
        h.client(json!({"grant_types": ["client_credentials"], "redirect_uris": []}))
            .await,
    );
    let secret = c.client_secret.clone().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (h, c, secret) = (h.clone(), c.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let mut tokens = Vec::new();
            for _ in 0..50 {
                let (status, json, _) = h
                    .token(
                        &[("grant_type", "client_credentials")],
                        Some((&c.client.client_id, &secret)),
                    )
                    .await;
                assert_eq!(status, 200, "{json}");
                tokens.push(json["access_token"].as_str().unwrap().to_owned());
                tokio::task::yield_now().await;
            }
            tokens
        }));
    }
    let rng = opkit::host::SystemRng::new();
    for i in 0..10 {
        let kid = format!("es-rotated-{i}");
        let key = SigningKey::generate(Algorithm::Es256, kid.clone(), &rng).unwrap();
        let now = h.now();
        h.provider
            .rotate_keys(|keys| {
                keys.insert(key)?;
                keys.activate(&kid, now, time::Duration::hours(1))
            })
            .unwrap();
        tokio::task::yield_now().await;
    }
    for task in tasks {
        for token in task.await.unwrap() {
            // Every token verifies with the keys published now (retired keys are kept).
            h.provider.verify_access_token(&token).await.unwrap();
        }
    }
}
