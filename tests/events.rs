//! The events the provider reports: one per thing that happened, in order, with ids and never
//! a secret, code or token.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use opkit::host::{Attempt, Event, Events, Outcome, RateLimit, Throttled};
use opkit::jose::{Algorithm, SigningKey};
use serde_json::json;

/// Keeps `name debug` for every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn names(&self) -> Vec<String> {
        self.lines()
            .iter()
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect()
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Events for Recorder {
    fn emit(&self, event: &Event<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {event:?}", event.name()));
    }
}

fn harness(events: Arc<Recorder>) -> Harness {
    let Harness {
        provider,
        clock,
        store,
    } = Harness::new();
    Harness {
        provider: provider.with_events(events),
        clock,
        store,
    }
}

fn assert_secret_free(lines: &[String], secrets: &[&str]) {
    for line in lines {
        for secret in secrets {
            assert!(!line.contains(secret), "{line} carries a secret");
        }
    }
}

#[tokio::test]
async fn a_code_flow_its_refresh_and_a_reuse_are_reported_in_order() {
    let events = Arc::new(Recorder::default());
    let h = harness(events.clone());
    let c = h.client(json!({})).await;
    let secret = c.client_secret.clone().unwrap();
    assert_eq!(events.names(), ["client_created"]);
    assert!(events.take()[0].contains("registered: false"));

    let tokens = h.code_flow(&c, "openid offline_access").await;
    assert_eq!(
        events.names(),
        ["consent_given", "tokens_issued", "tokens_issued"]
    );
    let lines = events.take();
    assert!(lines[1].contains("AuthorizationCode") && lines[1].contains("code: true"));
    assert!(lines[2].contains("refresh_token: true") && lines[2].contains("user-alice"));

    let rt1 = tokens["refresh_token"].as_str().unwrap();
    let creds = Some((c.client.client_id.as_str(), secret.as_str()));
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt1)];
    let (status, next, _) = h.token(&refresh, creds).await;
    assert_eq!(status, 200, "{next}");
    let lines = events.take();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("tokens_issued") && lines[0].contains("RefreshToken"));
    assert!(lines[0].contains("refresh_token: true"), "{}", lines[0]);

    // The first refresh token again: the family is revoked and that is reported.
    assert_eq!(h.token(&refresh, creds).await.0, 400);
    let lines = events.take();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("refresh_token_reused"));
    assert!(lines[0].contains(&c.client.client_id));

    let mut secrets = vec![secret.as_str()];
    for doc in [&tokens, &next] {
        for field in ["access_token", "id_token", "refresh_token"] {
            secrets.extend(doc[field].as_str());
        }
    }
    assert_secret_free(&events.lines(), &secrets);
}

#[tokio::test]
async fn a_replayed_code_and_a_wrong_secret_are_reported() {
    let events = Arc::new(Recorder::default());
    let h = harness(events.clone());
    let c = h.client(json!({})).await;
    let secret = c.client_secret.clone().unwrap();
    let query = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256",
        c.client.client_id,
        enc(REDIRECT)
    );
    let params = h.authorize_through(&query, &h.alice()).await;
    let code = param(&params, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let creds = Some((c.client.client_id.as_str(), secret.as_str()));
    assert_eq!(h.token(&form, creds).await.0, 200);
    events.take();
    assert_eq!(h.token(&form, creds).await.0, 400);
    assert_eq!(events.names(), ["code_replayed"]);
    events.take();

    let wrong = "not-the-secret-but-long-enough-to-look-real";
    let (status, _, _) = h
        .token(&form, Some((c.client.client_id.as_str(), wrong)))
        .await;
    assert_eq!(status, 401);
    let lines = events.take();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("client_authentication_failed"));
    assert!(lines[0].contains("wrong or expired client secret"));
    assert_secret_free(&lines, &[wrong, &secret, &code]);
}

#[tokio::test]
async fn consent_revocation_and_client_deletion_are_reported() {
    let events = Arc::new(Recorder::default());
    let h = harness(events.clone());
    let c = h.client(json!({})).await;
    h.code_flow(&c, "openid").await;
    events.take();
    h.provider
        .revoke_consent("user-alice", &c.client.client_id)
        .await
        .unwrap();
    h.provider.delete_client(&c.client.id).await.unwrap();
    let lines = events.take();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("consent_revoked") && lines[0].contains("grants_revoked: 1"));
    assert!(lines[1].starts_with("client_deleted") && lines[1].contains(&c.client.id));
}

#[tokio::test]
async fn consent_denial_is_reported() {
    let events = Arc::new(Recorder::default());
    let h = harness(events.clone());
    let c = h.client(json!({})).await;
    let query = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256",
        c.client.client_id,
        enc(REDIRECT)
    );
    let alice = h.alice();
    let opkit::AuthorizeOutcome::Consent(step) = h.authorize(&query, Some(&alice)).await else {
        panic!("expected the consent page");
    };
    events.take();
    step.decide(&h.provider, Some(&alice), opkit::ConsentDecision::Denied)
        .await;
    let lines = events.take();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("consent_denied") && lines[0].contains("user-alice"));
}

#[tokio::test]
async fn key_rotation_reports_publish_activate_and_drop() {
    let events = Arc::new(Recorder::default());
    let h = harness(events.clone());
    let rng = opkit::host::SystemRng::new();
    let next = SigningKey::generate(Algorithm::Es256, "es-next", &rng).unwrap();
    h.provider.rotate_keys(|keys| keys.insert(next)).unwrap();
    assert_eq!(
        events.take(),
        ["key_published KeyPublished { kid: \"es-next\", alg: Es256 }"]
    );
    let now = h.now();
    h.provider
        .rotate_keys(|keys| keys.activate("es-next", now, time::Duration::ZERO))
        .unwrap();
    assert_eq!(events.names(), ["key_activated"]);
    events.take();
    h.provider
        .rotate_keys(|keys| {
            keys.drop_retired(now + time::Duration::seconds(1));
            Ok::<_, opkit::jose::KeyError>(())
        })
        .unwrap();
    let lines = events.take();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("key_dropped") && lines[0].contains("Es256"));
}

/// Refuses every attempt.
struct Refuse;

impl RateLimit for Refuse {
    fn reserve(&self, _: &Attempt<'_>) -> Result<(), Throttled> {
        Err(Throttled {
            retry_after: std::time::Duration::from_secs(7),
        })
    }
    fn settle(&self, _: &Attempt<'_>, _: Outcome) {}
}

#[tokio::test]
async fn throttling_is_reported_with_what_was_attempted() {
    let events = Arc::new(Recorder::default());
    let Harness {
        provider,
        clock,
        store,
    } = Harness::new();
    let h = Harness {
        provider: provider
            .with_events(events.clone())
            .with_rate_limit(Arc::new(Refuse)),
        clock,
        store,
    };
    let c = h
        .client(json!({"grant_types": ["client_credentials"]}))
        .await;
    let secret = c.client_secret.clone().unwrap();
    events.take();
    let (status, _, resp) = h
        .token(
            &[("grant_type", "client_credentials")],
            Some((&c.client.client_id, &secret)),
        )
        .await;
    assert_eq!((status, resp.header("retry-after")), (429, Some("7")));
    let lines = events.take();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("throttled"), "{}", lines[0]);
    assert!(lines[0].contains("ClientSecret") && lines[0].contains(&c.client.client_id));
    assert_secret_free(&lines, &[&secret]);
}

#[tokio::test]
async fn a_grace_reuse_is_reported() {
    let events = Arc::new(Recorder::default());
    let Harness {
        provider,
        clock,
        store,
    } = Harness::with_config(|c| {
        c.refresh_grace = opkit::config::RefreshGrace::new(60, 1).unwrap();
    });
    let h = Harness {
        provider: provider.with_events(events.clone()),
        clock,
        store,
    };
    let c = h.client(json!({})).await;
    let secret = c.client_secret.clone().unwrap();
    let tokens = h.code_flow(&c, "openid offline_access").await;
    let creds = Some((c.client.client_id.as_str(), secret.as_str()));
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    assert_eq!(h.token(&refresh, creds).await.0, 200);
    events.take();
    assert_eq!(h.token(&refresh, creds).await.0, 200, "within the window");
    assert_eq!(
        events.names(),
        ["refresh_token_grace_reuse", "tokens_issued"]
    );
}
