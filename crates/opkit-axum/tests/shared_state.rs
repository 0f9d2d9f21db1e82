//! A login started on one instance completes on another: two applications share the provider's
//! store, the login sessions and the pending steps, and the pending store keeps records as JSON
//! bytes (as a database-backed store would), so every step crosses a serialization boundary.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opkit::config::RegistrationPolicy;
use opkit::host::SystemRng;
use opkit::jose::{Algorithm, KeySet, SigningKey};
use opkit::secret::SecretHash;
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::Config;
use opkit_axum::{
    BoxFuture, MemorySessions, OpenIdProvider, PendingRecord, PendingStore, StateError, StateResult,
};
use time::OffsetDateTime;

use support::*;

/// Pending steps as JSON, like a row in a shared database.
#[derive(Default)]
struct JsonPending(Mutex<HashMap<SecretHash, (Vec<u8>, OffsetDateTime)>>);

impl PendingStore for JsonPending {
    fn put(
        &self,
        id: SecretHash,
        record: PendingRecord,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<()>> {
        let result = serde_json::to_vec(&record)
            .map(|json| {
                self.0.lock().unwrap().insert(id, (json, expires_at));
            })
            .map_err(|e| StateError::Backend(e.to_string()));
        Box::pin(std::future::ready(result))
    }

    fn take(
        &self,
        id: SecretHash,
        now: OffsetDateTime,
    ) -> BoxFuture<'_, StateResult<Option<(PendingRecord, OffsetDateTime)>>> {
        let taken = self.0.lock().unwrap().remove(&id);
        let result = match taken {
            Some((json, expires_at)) if expires_at > now => serde_json::from_slice(&json)
                .map(|record| Some((record, expires_at)))
                .map_err(|e| StateError::Backend(e.to_string())),
            _ => Ok(None),
        };
        Box::pin(std::future::ready(result))
    }

    fn purge_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StateResult<u64>> {
        let mut map = self.0.lock().unwrap();
        let before = map.len();
        map.retain(|_, (_, expires_at)| *expires_at > now);
        Box::pin(std::future::ready(Ok((before - map.len()) as u64)))
    }
}

#[tokio::test]
async fn the_json_store_keeps_the_contract() {
    opkit_axum::contract::pending_store(&JsonPending::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_started_on_one_instance_completes_on_another() {
    let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", first.local_addr().unwrap());
    let other = format!("http://{}", second.local_addr().unwrap());
    let key = SigningKey::generate(Algorithm::Es256, "es-1", &SystemRng::new()).unwrap();
    let pem = key.to_pkcs8_pem();
    let store = MemoryStore::new();
    let sessions = Arc::new(MemorySessions::default());
    let pending = Arc::new(JsonPending::default());
    for listener in [first, second] {
        let mut config = Config::new(&issuer).unwrap();
        config.registration = RegistrationPolicy::Open;
        let mut keys = KeySet::new();
        keys.insert(SigningKey::from_pem("es-1", &pem).unwrap())
            .unwrap();
        let users = MemoryUsers::new().with_iterations(1000);
        users
            .add_user("alice", "wonderland", "alice-id", Default::default())
            .unwrap();
        let app = OpenIdProvider::new(config, keys, store.clone(), users)
            .session_store(sessions.clone())
            .pending_store(pending.clone())
            .build()
            .expect("the paths are valid");
        tokio::spawn(opkit_axum::serve(
            listener,
            app.router(),
            1,
            std::future::pending(),
        ));
    }
    // The browser talks to the first instance, then the second (as a load balancer might send
    // it), then the first again. (Cookies do not depend on the port, so one jar serves both.)
    let on_second = |url: &str| url.replace(&issuer, &other);
    let http = browser();
    let doc = get_json(&http, &format!("{issuer}/.well-known/openid-configuration")).await;
    let client_id = register_public(&http, &doc).await;
    let page = http
        .get(authorize_url(&doc, &client_id))
        .send()
        .await
        .unwrap();
    let mut login = form_of(&page.text().await.unwrap());
    login.action = on_second(&login.action);
    let resp = post_login(&http, &login, "alice", "wonderland").await;
    assert_eq!(resp.status(), 200);
    let consent = form_of(&resp.text().await.unwrap());
    let resp = post_consent(&http, &consent, "allow").await;
    assert_eq!(resp.status(), 303);
    let code = params_of(&location(&resp))["code"].clone();
    let mut doc_on_second = doc.clone();
    doc_on_second["token_endpoint"] = on_second(doc["token_endpoint"].as_str().unwrap()).into();
    let tokens = redeem(&http, &doc_on_second, &client_id, &code).await;
    assert!(tokens["id_token"].is_string());
}
