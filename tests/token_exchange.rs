//! RFC 8693 token exchange: off unless enabled, only for clients the administrator allowed,
//! scopes and audience bounded by the subject token unless the host's policy allows more,
//! delegation with `act`, and revoking the subject token's grant revokes the exchanged token.

mod common;

use std::sync::Arc;

use common::*;
use opkit::client::ClientWithSecrets;
use opkit::host::{ExchangeDecision, ExchangeRequest, TokenExchangePolicy};
use serde_json::{json, Value};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID: &str = "urn:ietf:params:oauth:token-type:id_token";

fn enabled() -> Harness {
    Harness::with_config(|c| c.token_exchange_enabled = true)
}

/// A service allowed to exchange tokens.
async fn service(h: &Harness) -> ClientWithSecrets {
    h.client(json!({
        "grant_types": [EXCHANGE, "client_credentials"],
        "redirect_uris": [],
        "allowed_scopes": ["openid", "email", "profile", "orders"],
    }))
    .await
}

async fn exchange(h: &Harness, c: &ClientWithSecrets, form: &[(&str, &str)]) -> (u16, Value) {
    let mut all = vec![("grant_type", EXCHANGE)];
    all.extend_from_slice(form);
    let secret = c.client_secret.as_deref().unwrap();
    let (status, json, _) = h.token(&all, Some((&c.client.client_id, secret))).await;
    (status, json)
}

fn claims(h: &Harness, token: &str, audience: &str) -> Value {
    verify_jwt(&h.provider, token, audience).1
}

#[tokio::test]
async fn off_unless_enabled_and_only_the_administrator_grants_it() {
    let h = Harness::new();
    let doc: Value = serde_json::from_slice(&h.provider.discovery().body).unwrap();
    assert!(!doc["grant_types_supported"].to_string().contains(EXCHANGE));
    let c = service(&h).await;
    let (status, err) = exchange(
        &h,
        &c,
        &[("subject_token", "x"), ("subject_token_type", ACCESS)],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let h = enabled();
    let doc: Value = serde_json::from_slice(&h.provider.discovery().body).unwrap();
    assert!(doc["grant_types_supported"].to_string().contains(EXCHANGE));
    let registration = opkit::http::HttpRequest::new(opkit::http::Method::Post)
        .header("content-type", b"application/json");
    let body =
        json!({"redirect_uris": [REDIRECT], "grant_types": ["authorization_code", EXCHANGE]})
            .to_string();
    let resp = h
        .provider
        .register(&registration.body(body.as_bytes()))
        .await;
    let err: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(err["error"], "invalid_client_metadata", "{err}");
}

#[tokio::test]
async fn a_users_token_becomes_the_services_within_its_scopes_and_grant() {
    let h = enabled();
    let app = h.client(json!({})).await;
    let user = h.code_flow(&app, "openid email").await;
    let subject = user["access_token"].as_str().unwrap();
    let svc = service(&h).await;

    let (status, out) = exchange(
        &h,
        &svc,
        &[("subject_token", subject), ("subject_token_type", ACCESS)],
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["issued_token_type"], ACCESS);
    assert_eq!(out["token_type"], "Bearer");
    assert_eq!(out["scope"], "openid email");
    assert!(out.get("refresh_token").is_none());
    let token = out["access_token"].as_str().unwrap();
    let before = claims(&h, subject, ISSUER);
    let after = claims(&h, token, ISSUER);
    assert_eq!(after["sub"], "user-alice");
    assert_eq!(after["client_id"], svc.client.client_id.as_str());
    assert_eq!(after["grant"], before["grant"], "the subject token's grant");
    assert!(after.get("act").is_none());
    assert_eq!(h.userinfo(token).await.0, 200);

    // Narrower is fine; wider than the subject token is not.
    let narrow = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("scope", "email"),
    ];
    assert_eq!(exchange(&h, &svc, &narrow).await.0, 200);
    let wide = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("scope", "email orders"),
    ];
    let (status, err) = exchange(&h, &svc, &wide).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // Another audience needs the host's policy.
    let other = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("audience", "https://orders.example"),
    ];
    let (status, err) = exchange(&h, &svc, &other).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_target"))
    );

    // Withdrawing the user's consent to the app revokes the exchanged token with the rest.
    h.provider
        .revoke_consent("user-alice", &app.client.client_id)
        .await
        .unwrap();
    assert_eq!(h.userinfo(token).await.0, 401);
    let (status, err) = exchange(
        &h,
        &svc,
        &[("subject_token", subject), ("subject_token_type", ACCESS)],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn an_actor_token_makes_a_delegation_and_chains_nest() {
    let h = enabled();
    let app = h.client(json!({})).await;
    let user = h.code_flow(&app, "openid email").await;
    let subject = user["access_token"].as_str().unwrap();
    let svc = service(&h).await;
    let secret = svc.client_secret.clone().unwrap();
    let (_, own, _) = h
        .token(
            &[("grant_type", "client_credentials")],
            Some((&svc.client.client_id, &secret)),
        )
        .await;
    let actor = own["access_token"].as_str().unwrap();

    let form = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("actor_token", actor),
        ("actor_token_type", ACCESS),
    ];
    let (status, out) = exchange(&h, &svc, &form).await;
    assert_eq!(status, 200, "{out}");
    let first = out["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        claims(&h, &first, ISSUER)["act"],
        json!({"sub": svc.client.client_id})
    );
    // Introspection tells a resource server who acts (RFC 8693 §4.1).
    let form = serde_urlencoded::to_string([("token", first.as_str())]).unwrap();
    let auth = basic_header(&svc.client.client_id, &secret);
    let req = opkit::http::HttpRequest::new(opkit::http::Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .header("authorization", auth.as_bytes())
        .body(form.as_bytes());
    let answer: Value = serde_json::from_slice(&h.provider.introspect(&req).await.body).unwrap();
    assert_eq!(
        answer["act"],
        json!({"sub": svc.client.client_id}),
        "{answer}"
    );

    // The service passes the delegated token on to a second service, which acts too.
    let second = service(&h).await;
    let secret2 = second.client_secret.clone().unwrap();
    let (_, own2, _) = h
        .token(
            &[("grant_type", "client_credentials")],
            Some((&second.client.client_id, &secret2)),
        )
        .await;
    let form = [
        ("subject_token", first.as_str()),
        ("subject_token_type", ACCESS),
        ("actor_token", own2["access_token"].as_str().unwrap()),
        ("actor_token_type", ACCESS),
    ];
    let (status, out) = exchange(&h, &second, &form).await;
    assert_eq!(status, 200, "{out}");
    let chained = claims(&h, out["access_token"].as_str().unwrap(), ISSUER);
    assert_eq!(
        chained["act"],
        json!({"sub": second.client.client_id, "act": {"sub": svc.client.client_id}})
    );
    assert_eq!(chained["sub"], "user-alice");

    let half = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("actor_token", actor),
    ];
    let (status, err) = exchange(&h, &svc, &half).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// Lets a service get tokens for the orders API, refuses one client outright.
struct Orders;

impl TokenExchangePolicy for Orders {
    fn decide(&self, request: &ExchangeRequest<'_>) -> ExchangeDecision {
        match request.audience {
            _ if request.client.settings.name == "Banned" => ExchangeDecision::Deny,
            Some("https://orders.example") => ExchangeDecision::AllowBeyondSubject,
            _ => ExchangeDecision::Allow,
        }
    }
}

#[tokio::test]
async fn the_hosts_policy_may_allow_another_audience_and_wider_scope_or_refuse() {
    let Harness {
        provider,
        clock,
        store,
    } = enabled();
    let h = Harness {
        provider: provider.with_token_exchange_policy(Arc::new(Orders)),
        clock,
        store,
    };
    let app = h.client(json!({})).await;
    let user = h.code_flow(&app, "openid email").await;
    let subject = user["access_token"].as_str().unwrap();
    let svc = service(&h).await;
    let form = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("resource", "https://orders.example"),
        ("scope", "orders"),
    ];
    let (status, out) = exchange(&h, &svc, &form).await;
    assert_eq!(status, 200, "{out}");
    let token = out["access_token"].as_str().unwrap();
    let c = claims(&h, token, "https://orders.example");
    assert_eq!(
        (c["aud"].as_str(), c["scope"].as_str()),
        (Some("https://orders.example"), Some("orders"))
    );
    // Not for the provider's own endpoints, but still the provider's to introspect.
    assert_eq!(h.userinfo(token).await.0, 401);
    let secret = svc.client_secret.clone().unwrap();
    let introspect = serde_urlencoded::to_string([("token", token)]).unwrap();
    let auth = basic_header(&svc.client.client_id, &secret);
    let req = opkit::http::HttpRequest::new(opkit::http::Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .header("authorization", auth.as_bytes())
        .body(introspect.as_bytes());
    let answer: Value = serde_json::from_slice(&h.provider.introspect(&req).await.body).unwrap();
    assert_eq!(answer["active"], true, "{answer}");

    let banned = h
        .client(json!({"name": "Banned", "grant_types": [EXCHANGE], "redirect_uris": []}))
        .await;
    let (status, err) = exchange(
        &h,
        &banned,
        &[("subject_token", subject), ("subject_token_type", ACCESS)],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn an_id_token_is_exchanged_only_by_the_client_it_was_issued_to() {
    let h = enabled();
    let app = h
        .client(json!({"grant_types": ["authorization_code", EXCHANGE]}))
        .await;
    let user = h.code_flow(&app, "openid email").await;
    let id_token = user["id_token"].as_str().unwrap();
    let svc = service(&h).await;
    let (status, err) = exchange(
        &h,
        &svc,
        &[("subject_token", id_token), ("subject_token_type", ID)],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_request")),
        "{err}"
    );

    let (status, out) = exchange(
        &h,
        &app,
        &[("subject_token", id_token), ("subject_token_type", ID)],
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let c = claims(&h, out["access_token"].as_str().unwrap(), ISSUER);
    assert_eq!(
        (c["sub"].as_str(), c["scope"].as_str()),
        (Some("user-alice"), Some(""))
    );
    assert!(out.get("scope").is_none(), "an ID token grants no scope");

    for (kind, requested) in [
        ("urn:example:saml", None),
        (
            ACCESS,
            Some("urn:ietf:params:oauth:token-type:refresh_token"),
        ),
    ] {
        let mut form = vec![("subject_token", id_token), ("subject_token_type", kind)];
        if let Some(r) = requested {
            form[1].1 = ID;
            form.push(("requested_token_type", r));
        }
        let (status, err) = exchange(&h, &app, &form).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_request")),
            "{kind}"
        );
    }
}
