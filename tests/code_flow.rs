//! The authorization code flow with PKCE, through the public API: the authorization endpoint's
//! state machine, the token endpoint, client authentication and the tokens.

mod common;

use common::*;
use opkit::http::{HttpRequest, Method};
use opkit::{AuthorizeOutcome, ConsentDecision, ErrorCode, Session};
use serde_json::json;
use time::Duration;

fn code_query(client_id: &str, extra: &str) -> String {
    format!(
        "response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20profile%20email&state=xyz&nonce=n-0S6&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        enc(REDIRECT)
    )
}

/// Authorize and return the code.
async fn code_for(h: &Harness, client_id: &str, extra: &str) -> String {
    let params = h
        .authorize_through(&code_query(client_id, extra), &h.alice())
        .await;
    param(&params, "code").unwrap_or_else(|| panic!("no code in {params:?}"))
}

async fn redeem(
    h: &Harness,
    c: &opkit::client::ClientWithSecrets,
    code: &str,
    verifier: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let (status, json, _) = h
        .token(
            &form,
            Some((&c.client.client_id, c.client_secret.as_deref().unwrap())),
        )
        .await;
    (status, json)
}

#[tokio::test]
async fn happy_path_es256() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let params = h
        .authorize_through(&code_query(&c.client.client_id, ""), &h.alice())
        .await;
    assert_eq!(param(&params, "state").as_deref(), Some("xyz"));
    assert_eq!(
        param(&params, "iss").as_deref(),
        Some(ISSUER),
        "RFC 9207 iss"
    );
    let code = param(&params, "code").unwrap();
    let (status, tokens) = redeem(&h, &c, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );

    let (header, id) = verify_jwt(
        &h.provider,
        tokens["id_token"].as_str().unwrap(),
        &c.client.client_id,
    );
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["sub"], "user-alice");
    assert_eq!(id["aud"], c.client.client_id.as_str());
    assert_eq!(id["nonce"], "n-0S6");
    assert_eq!(id["name"], "Alice Liddell");
    assert_eq!(id["preferred_username"], "alice");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["email_verified"], true);
    assert!(id["auth_time"].is_i64());
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        3600
    );
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(id["at_hash"], opkit::jose::half_hash(access));

    let (header, at) = verify_jwt(&h.provider, access, ISSUER);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 typ");
    for claim in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        assert!(at.get(claim).is_some(), "RFC 9068 requires {claim}");
    }
    assert_eq!(at["scope"], "openid profile email");

    let (status, info, _) = h.userinfo(access).await;
    assert_eq!(status, 200);
    assert_eq!(info["sub"], "user-alice");
    assert_eq!(info["email"], "alice@example.com");
}

#[tokio::test]
async fn rs256_client_gets_rs256_id_token() {
    let h = Harness::new();
    let c = h
        .client(json!({"id_token_signed_response_alg": "RS256"}))
        .await;
    let tokens = h.code_flow(&c, "openid").await;
    let (header, id) = verify_jwt(
        &h.provider,
        tokens["id_token"].as_str().unwrap(),
        &c.client.client_id,
    );
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert!(id.get("email").is_none(), "no email scope, no email claim");
    assert!(id.get("name").is_none());
}

#[tokio::test]
async fn code_is_single_use_and_replay_revokes_tokens() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let code = code_for(&h, &c.client.client_id, "").await;
    let (status, tokens) = redeem(&h, &c, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(h.userinfo(access).await.0, 200);

    let (status, err) = redeem(&h, &c, &code, Some(VERIFIER)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _, resp) = h.userinfo(access).await;
    assert_eq!(status, 401, "tokens of a replayed code are revoked");
    assert!(resp
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
}

#[tokio::test]
async fn code_expires_after_60_seconds() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let code = code_for(&h, &c.client.client_id, "").await;
    h.clock.advance(Duration::seconds(61));
    let (status, err) = redeem(&h, &c, &code, Some(VERIFIER)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn code_is_bound_to_client_and_redirect_uri() {
    let h = Harness::new();
    let c = h
        .client(json!({"redirect_uris": [REDIRECT, "https://rp.example/other"]}))
        .await;
    let other = h.client(json!({})).await;
    let code = code_for(&h, &c.client.client_id, "").await;
    let (status, err) = redeem(&h, &other, &code, Some(VERIFIER)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let code = code_for(&h, &c.client.client_id, "").await;
    let (status, err, _) = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://rp.example/other"),
                ("code_verifier", VERIFIER),
            ],
            Some((&c.client.client_id, c.client_secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn pkce_verifier_checked_and_no_downgrade() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    // Wrong verifier.
    let code = code_for(&h, &c.client.client_id, "").await;
    let wrong = "a".repeat(43);
    assert_eq!(
        redeem(&h, &c, &code, Some(&wrong)).await.1["error"],
        "invalid_grant"
    );
    // Missing verifier for a code issued with a challenge.
    let code = code_for(&h, &c.client.client_id, "").await;
    assert_eq!(
        redeem(&h, &c, &code, None).await.1["error"],
        "invalid_grant"
    );
    // Without a challenge the request is refused: PKCE is required by default.
    let query = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope=openid&nonce=n",
        c.client.client_id,
        enc(REDIRECT)
    );
    let params = h.authorize_through(&query, &h.alice()).await;
    assert_eq!(param(&params, "error").as_deref(), Some("invalid_request"));
    // A client the administrator exempted may omit it; then a verifier for a code issued
    // without a challenge is refused (no downgrade).
    let exempt = h.client(json!({"require_pkce": false})).await;
    let query = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope=openid&nonce=n",
        exempt.client.client_id,
        enc(REDIRECT)
    );
    let params = h.authorize_through(&query, &h.alice()).await;
    let code = param(&params, "code").unwrap();
    assert_eq!(
        redeem(&h, &exempt, &code, Some(VERIFIER)).await.1["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn steps_expire_and_are_enforced_by_the_core() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let q = code_query(&c.client.client_id, "");
    let login = match h.authorize(&q, None).await {
        AuthorizeOutcome::Login(step) => step,
        other => panic!("expected login, got {other:?}"),
    };
    assert_eq!(
        login.expires_at(h.provider.config()),
        h.now() + h.provider.config().interaction_ttl
    );
    h.clock.advance(h.provider.config().interaction_ttl);
    match login.complete(&h.provider, &h.alice()).await {
        AuthorizeOutcome::Respond(resp) => {
            assert_eq!(resp.param("error"), Some("access_denied"));
            assert!(resp.param("error_description").unwrap().contains("expired"));
            assert_eq!(resp.param("state"), Some("xyz"));
            assert!(resp.param("code").is_none());
        }
        other => panic!("expected access_denied, got {other:?}"),
    }

    // A consent step one second short of its expiry still works; at expiry it does not.
    let consent = match h.authorize(&q, Some(&h.alice())).await {
        AuthorizeOutcome::Consent(step) => step,
        other => panic!("expected consent, got {other:?}"),
    };
    h.clock
        .advance(h.provider.config().interaction_ttl - Duration::seconds(1));
    match consent
        .decide(
            &h.provider,
            Some(&h.alice()),
            ConsentDecision::Granted(None),
        )
        .await
    {
        AuthorizeOutcome::Respond(resp) => assert!(resp.param("code").is_some()),
        other => panic!("expected a code, got {other:?}"),
    }
    let consent = match h
        .authorize(
            &code_query(&c.client.client_id, "&prompt=consent"),
            Some(&h.alice()),
        )
        .await
    {
        AuthorizeOutcome::Consent(step) => step,
        other => panic!("expected consent, got {other:?}"),
    };
    h.clock.advance(h.provider.config().interaction_ttl);
    match consent.cancel(&h.provider).await {
        AuthorizeOutcome::Respond(resp) => {
            assert_eq!(resp.param("error"), Some("access_denied"));
            assert!(resp.param("error_description").unwrap().contains("expired"));
        }
        other => panic!("expected access_denied, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stored_step_serializes_and_still_works() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let login = match h
        .authorize(&code_query(&c.client.client_id, ""), None)
        .await
    {
        AuthorizeOutcome::Login(step) => step,
        other => panic!("expected login, got {other:?}"),
    };
    let stored = serde_json::to_string(&login).unwrap();
    let restored: opkit::LoginStep = serde_json::from_str(&stored).unwrap();
    assert_eq!(restored, login);
    match restored.complete(&h.provider, &h.alice()).await {
        AuthorizeOutcome::Consent(step) => assert_eq!(step.subject(), "user-alice"),
        other => panic!("expected consent, got {other:?}"),
    }
}

#[tokio::test]
async fn plain_pkce_only_for_clients_configured_for_it() {
    let plain_query = |client_id: &str| {
        format!(
            "response_type=code&client_id={client_id}&redirect_uri={}&scope=openid&code_challenge={VERIFIER}&code_challenge_method=plain",
            enc(REDIRECT)
        )
    };
    // By default S256 only.
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let params = h
        .authorize_through(&plain_query(&c.client.client_id), &h.alice())
        .await;
    assert_eq!(param(&params, "error").as_deref(), Some("invalid_request"));
    assert!(param(&params, "error_description")
        .unwrap()
        .contains("S256"));

    // A confidential client configured for plain may use it.
    let legacy = h.client(json!({"allow_plain_pkce": true})).await;
    let params = h
        .authorize_through(&plain_query(&legacy.client.client_id), &h.alice())
        .await;
    let code = param(&params, "code").unwrap();
    assert_eq!(redeem(&h, &legacy, &code, Some(VERIFIER)).await.0, 200);

    let discovery: serde_json::Value =
        serde_json::from_slice(&h.provider.discovery_json()).unwrap();
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
}

#[tokio::test]
async fn public_client_must_use_s256() {
    let h = Harness::new();
    let c = h
        .client(json!({"token_endpoint_auth_method": "none"}))
        .await;
    assert!(c.client_secret.is_none());
    let id = &c.client.client_id;
    for extra in ["", "&code_challenge_method=plain"] {
        let q = format!(
            "response_type=code&client_id={id}&redirect_uri={}&scope=openid{extra}",
            enc(REDIRECT)
        );
        let q = if extra.is_empty() {
            q
        } else {
            format!("{q}&code_challenge={VERIFIER}")
        };
        let params = h.authorize_through(&q, &h.alice()).await;
        assert_eq!(
            param(&params, "error").as_deref(),
            Some("invalid_request"),
            "{q}"
        );
    }
    // With S256 and no secret it works.
    let code = code_for(&h, id, "").await;
    let (status, tokens, _) = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", id),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
}

#[tokio::test]
async fn client_authentication_only_by_registered_method() {
    let h = Harness::new();
    let basic = h.client(json!({})).await;
    let post = h
        .client(json!({"token_endpoint_auth_method": "client_secret_post"}))
        .await;

    // Wrong secret by Basic: 401 with WWW-Authenticate.
    let code = code_for(&h, &basic.client.client_id, "").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, err, resp) = h
        .token(&form, Some((&basic.client.client_id, "wrong")))
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(resp
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(resp.header("cache-control"), Some("no-store"));

    // A basic client may not use client_secret_post.
    let secret = basic.client_secret.clone().unwrap();
    let mut form_post = form.to_vec();
    form_post.extend([
        ("client_id", basic.client.client_id.as_str()),
        ("client_secret", secret.as_str()),
    ]);
    let (status, _, _) = h.token(&form_post, None).await;
    assert_eq!(status, 401);

    // The post client works with client_secret_post, not with Basic.
    let code = code_for(&h, &post.client.client_id, "").await;
    let secret = post.client_secret.clone().unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", post.client.client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, tokens, _) = h.token(&form, None).await;
    assert_eq!(status, 200, "{tokens}");
    let code = code_for(&h, &post.client.client_id, "").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(
        h.token(&form, Some((&post.client.client_id, &secret)))
            .await
            .0,
        401
    );

    // Both Basic and a body secret: invalid_request.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("client_secret", "y"),
    ];
    let (status, err, _) = h
        .token(
            &form,
            Some((
                &basic.client.client_id,
                basic.client_secret.as_deref().unwrap(),
            )),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // Unknown client.
    let (status, err, _) = h
        .token(
            &[("grant_type", "authorization_code"), ("code", "x")],
            Some(("nobody", "x")),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn errors_before_trust_are_never_redirected() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let id = &c.client.client_id;
    let cases = [
        "response_type=code&redirect_uri=https%3A%2F%2Frp.example%2Fcb".to_string(),
        format!("response_type=code&client_id=unknown&redirect_uri={}", enc(REDIRECT)),
        format!("response_type=code&client_id={id}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid"),
        format!("response_type=code&client_id={id}&redirect_uri=https%3A%2F%2Frp.example%2Fcb%2F&scope=openid"),
        format!("response_type=code&client_id={id}&redirect_uri=https%3A%2F%2FRP.example%2Fcb&scope=openid"),
        format!("response_type=code&client_id={id}&scope=openid"),
        format!("response_type=code&client_id={id}&client_id={id}&redirect_uri={}", enc(REDIRECT)),
    ];
    for q in cases {
        match h.authorize(&q, Some(&h.alice())).await {
            AuthorizeOutcome::ErrorPage(e) => {
                assert_eq!(e.code(), ErrorCode::InvalidRequest, "{q}")
            }
            other => panic!("{q}: expected an error page, got {other:?}"),
        }
    }
}

/// `state` is visible ASCII and spaces (RFC 6749 appendix A.5): another is refused, and not
/// echoed back.
#[tokio::test]
async fn a_state_outside_rfc_6749_characters_is_refused_and_not_echoed() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let id = &c.client.client_id;
    for bad in ["a%0Ab", "caf%C3%A9", "%7F"] {
        let q = code_query(id, "").replace("state=xyz", &format!("state={bad}"));
        match h.authorize(&q, Some(&h.alice())).await {
            AuthorizeOutcome::Respond(resp) => {
                assert_eq!(resp.param("error"), Some("invalid_request"), "{bad}");
                assert_eq!(resp.param("state"), None, "{bad}");
            }
            other => panic!("{bad}: expected a redirect, got {other:?}"),
        }
    }
    let q = code_query(id, "").replace("state=xyz", "state=a%20b~%21");
    let params = h.authorize_through(&q, &h.alice()).await;
    assert_eq!(param(&params, "state").as_deref(), Some("a b~!"));
}

/// A native app's loopback redirect URI matches on any port (RFC 8252 §7.3), and only that.
#[tokio::test]
async fn loopback_redirect_uris_match_any_port() {
    let h = Harness::new();
    let c = h
        .client(json!({"redirect_uris": ["http://127.0.0.1/callback"]}))
        .await;
    let id = &c.client.client_id;
    let query = |redirect: &str| {
        code_query(id, "").replace(
            &format!("redirect_uri={}", enc(REDIRECT)),
            &format!("redirect_uri={}", enc(redirect)),
        )
    };
    let params = h
        .authorize_through(&query("http://127.0.0.1:49152/callback"), &h.alice())
        .await;
    assert!(param(&params, "code").is_some(), "{params:?}");
    for other in [
        "http://127.0.0.1:49152/other",
        "http://localhost:49152/callback",
    ] {
        match h.authorize(&query(other), Some(&h.alice())).await {
            AuthorizeOutcome::ErrorPage(_) => {}
            outcome => panic!("{other}: expected an error page, got {outcome:?}"),
        }
    }
}

#[tokio::test]
async fn errors_after_trust_are_redirected_with_state_and_iss() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let id = &c.client.client_id;
    let base = format!("client_id={id}&redirect_uri={}&state=s1", enc(REDIRECT));
    let cases = [
        (format!("{base}&scope=openid"), "invalid_request"),
        (format!("{base}&response_type=token&scope=openid"), "unsupported_response_type"),
        (format!("{base}&response_type=id_token&scope=openid&nonce=n"), "unauthorized_client"),
        (format!("{base}&response_type=code&scope=openid%20admin&code_challenge={CHALLENGE}&code_challenge_method=S256"), "invalid_scope"),
        (format!("{base}&response_type=code&scope=openid&prompt=none%20login"), "invalid_request"),
        (format!("{base}&response_type=code&scope=openid&max_age=-1"), "invalid_request"),
        (format!("{base}&response_type=code&scope=openid&request=eyJ"), "request_not_supported"),
        (format!("{base}&response_type=code&scope=openid&request_uri=https%3A%2F%2Fx"), "request_uri_not_supported"),
        (format!("{base}&response_type=code&scope=openid&code_challenge=short&code_challenge_method=S256"), "invalid_request"),
        (format!("{base}&response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S512"), "invalid_request"),
        (format!("{base}&response_type=code&scope=openid&response_mode=bogus"), "invalid_request"),
    ];
    for (q, want) in cases {
        match h.authorize(&q, Some(&h.alice())).await {
            AuthorizeOutcome::Respond(resp) => {
                assert_eq!(resp.param("error"), Some(want), "{q}");
                assert_eq!(resp.param("state"), Some("s1"));
                assert_eq!(resp.param("iss"), Some(ISSUER));
                assert!(resp.location().unwrap().starts_with(REDIRECT));
            }
            other => panic!("{q}: expected a redirect, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn login_then_consent_then_code() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let q = code_query(&c.client.client_id, "");
    let login = match h.authorize(&q, None).await {
        AuthorizeOutcome::Login(step) => step,
        other => panic!("expected login, got {other:?}"),
    };
    assert_eq!(login.request().client_name(), "Test RP");
    let alice = h.alice();
    let consent = match login.complete(&h.provider, &alice).await {
        AuthorizeOutcome::Consent(step) => step,
        other => panic!("expected consent, got {other:?}"),
    };
    assert!(consent.request().scopes().contains("email"));
    assert_eq!(consent.subject(), alice.subject);
    match consent
        .decide(&h.provider, Some(&alice), ConsentDecision::Granted(None))
        .await
    {
        AuthorizeOutcome::Respond(resp) => assert!(resp.param("code").is_some()),
        other => panic!("expected a code, got {other:?}"),
    }
    // Consent is remembered: the next request goes straight through.
    match h.authorize(&q, Some(&alice)).await {
        AuthorizeOutcome::Respond(resp) => assert!(resp.param("code").is_some()),
        other => panic!("expected a code, got {other:?}"),
    }
}

#[tokio::test]
async fn consent_denied_is_access_denied() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let alice = h.alice();
    let pending = match h
        .authorize(&code_query(&c.client.client_id, ""), Some(&alice))
        .await
    {
        AuthorizeOutcome::Consent(p) => p,
        other => panic!("{other:?}"),
    };
    match pending
        .decide(&h.provider, Some(&alice), ConsentDecision::Denied)
        .await
    {
        AuthorizeOutcome::Respond(resp) => {
            assert_eq!(resp.param("error"), Some("access_denied"));
            assert_eq!(resp.param("state"), Some("xyz"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn consent_decision_of_another_user_is_ignored() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let alice = h.alice();
    let pending = match h
        .authorize(&code_query(&c.client.client_id, ""), Some(&alice))
        .await
    {
        AuthorizeOutcome::Consent(p) => p,
        other => panic!("{other:?}"),
    };
    let mallory = Session {
        subject: "mallory".into(),
        auth_time: h.now(),
    };
    match pending
        .decide(&h.provider, Some(&mallory), ConsentDecision::Granted(None))
        .await
    {
        AuthorizeOutcome::Consent(p) => {
            assert_eq!(p.request().client_id(), c.client.client_id);
            assert_eq!(p.subject(), "mallory");
        }
        other => panic!("expected a fresh consent page, got {other:?}"),
    }
}

#[tokio::test]
async fn prompt_none() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let q = code_query(&c.client.client_id, "&prompt=none");
    let expect_error = |outcome: AuthorizeOutcome, want: &str| match outcome {
        AuthorizeOutcome::Respond(resp) => assert_eq!(resp.param("error"), Some(want)),
        other => panic!("{other:?}"),
    };
    expect_error(h.authorize(&q, None).await, "login_required");
    expect_error(h.authorize(&q, Some(&h.alice())).await, "consent_required");
    // After consent, prompt=none succeeds silently.
    h.authorize_through(&code_query(&c.client.client_id, ""), &h.alice())
        .await;
    match h.authorize(&q, Some(&h.alice())).await {
        AuthorizeOutcome::Respond(resp) => assert!(resp.param("code").is_some()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn prompt_login_and_max_age_force_a_new_login() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let alice = h.alice();
    h.authorize_through(&code_query(&c.client.client_id, ""), &alice)
        .await;
    h.clock.advance(Duration::seconds(600));

    // prompt=login: the existing session does not satisfy it, a new login does.
    let pending = match h
        .authorize(
            &code_query(&c.client.client_id, "&prompt=login"),
            Some(&alice),
        )
        .await
    {
        AuthorizeOutcome::Login(p) => p,
        other => panic!("{other:?}"),
    };
    let pending = match pending.complete(&h.provider, &alice).await {
        AuthorizeOutcome::Login(again) => again,
        other => panic!("the old session must not satisfy prompt=login: {other:?}"),
    };
    h.clock.advance(Duration::seconds(5));
    let fresh = h.alice();
    match pending.complete(&h.provider, &fresh).await {
        AuthorizeOutcome::Respond(resp) => assert!(resp.param("code").is_some()),
        other => panic!("{other:?}"),
    }

    // max_age=300 with a 600-second-old login: log in again; auth_time is the new login.
    let q = code_query(&c.client.client_id, "&max_age=300");
    assert!(matches!(
        h.authorize(&q, Some(&alice)).await,
        AuthorizeOutcome::Login(_)
    ));
    let params = h.authorize_through(&q, &fresh).await;
    let code = param(&params, "code").unwrap();
    let (_, tokens) = redeem(&h, &c, &code, Some(VERIFIER)).await;
    let (_, id) = verify_jwt(
        &h.provider,
        tokens["id_token"].as_str().unwrap(),
        &c.client.client_id,
    );
    assert_eq!(
        id["auth_time"].as_i64(),
        Some(fresh.auth_time.unix_timestamp())
    );
    // max_age with prompt=none and an old session: login_required.
    h.clock.advance(Duration::seconds(400));
    match h.authorize(&format!("{q}&prompt=none"), Some(&fresh)).await {
        AuthorizeOutcome::Respond(resp) => assert_eq!(resp.param("error"), Some("login_required")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn id_token_hint_for_another_user_requires_login() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let tokens = h.code_flow(&c, "openid profile email").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let bob = Session {
        subject: "user-bob".into(),
        auth_time: h.now(),
    };
    let q = code_query(
        &c.client.client_id,
        &format!("&prompt=none&id_token_hint={hint}"),
    );
    match h.authorize(&q, Some(&bob)).await {
        AuthorizeOutcome::Respond(resp) => assert_eq!(resp.param("error"), Some("login_required")),
        other => panic!("{other:?}"),
    }
    match h.authorize(&q, Some(&h.alice())).await {
        AuthorizeOutcome::Respond(resp) => assert!(resp.param("code").is_some(), "{resp:?}"),
        other => panic!("{other:?}"),
    }
    let bad = code_query(&c.client.client_id, "&id_token_hint=not.a.jwt");
    match h.authorize(&bad, Some(&h.alice())).await {
        AuthorizeOutcome::Respond(resp) => assert_eq!(resp.param("error"), Some("invalid_request")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn token_endpoint_request_shape() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let auth = basic_header(&c.client.client_id, c.client_secret.as_deref().unwrap());
    let send = |method, ct: &'static [u8], body: &'static [u8]| {
        let auth = auth.clone();
        let p = &h.provider;
        async move {
            let req = HttpRequest::new(method)
                .header("content-type", ct)
                .header("authorization", auth.as_bytes())
                .body(body);
            let resp = p.token(&req).await;
            let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            (resp.status, json["error"].as_str().unwrap_or("").to_owned())
        }
    };
    assert_eq!(
        send(Method::Get, b"application/x-www-form-urlencoded", b"").await,
        (405, "invalid_request".into())
    );
    assert_eq!(
        send(Method::Post, b"application/json", b"{}").await,
        (415, "invalid_request".into())
    );
    assert_eq!(
        send(
            Method::Post,
            b"application/x-www-form-urlencoded",
            b"code=x"
        )
        .await,
        (400, "invalid_request".into())
    );
    assert_eq!(
        send(
            Method::Post,
            b"application/x-www-form-urlencoded",
            b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
        )
        .await,
        (400, "unsupported_grant_type".into())
    );
    assert_eq!(
        send(
            Method::Post,
            b"application/x-www-form-urlencoded",
            b"grant_type=authorization_code&grant_type=authorization_code"
        )
        .await,
        (400, "invalid_request".into())
    );
    assert_eq!(
        send(
            Method::Post,
            b"application/x-www-form-urlencoded",
            b"grant_type=authorization_code"
        )
        .await,
        (400, "invalid_request".into())
    );
    assert_eq!(
        send(
            Method::Post,
            b"application/x-www-form-urlencoded",
            b"grant_type=authorization_code&code=nope"
        )
        .await,
        (400, "invalid_grant".into())
    );
    assert_eq!(
        send(
            Method::Post,
            b"application/x-www-form-urlencoded",
            b"grant_type=client_credentials"
        )
        .await,
        (400, "unauthorized_client".into())
    );
}

#[tokio::test]
async fn deleted_client_revokes_its_tokens() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let tokens = h.code_flow(&c, "openid").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(h.userinfo(access).await.0, 200);
    h.provider
        .delete_client(&c.client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.userinfo(access).await.0, 401);
}

#[tokio::test]
async fn a_step_answered_twice_revokes_what_the_first_answer_issued() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let AuthorizeOutcome::Consent(step) = h
        .authorize(&code_query(&c.client.client_id, ""), Some(&h.alice()))
        .await
    else {
        panic!("expected the consent page")
    };
    // A host that keeps steps as JSON and fails to take them out once.
    let saved = serde_json::to_string(&step).unwrap();
    let decide = |json: &str| {
        let step: opkit::ConsentStep = serde_json::from_str(json).unwrap();
        let h = &h;
        async move {
            step.decide(
                &h.provider,
                Some(&h.alice()),
                ConsentDecision::Granted(None),
            )
            .await
        }
    };
    let AuthorizeOutcome::Respond(first) = decide(&saved).await else {
        panic!("the first answer issues")
    };
    let code = first.param("code").unwrap().to_owned();
    let (status, tokens) = redeem(&h, &c, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200);
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(h.userinfo(&access_token).await.0, 200);

    match decide(&saved).await {
        AuthorizeOutcome::Respond(second) => {
            assert_eq!(second.param("error"), Some("access_denied"));
            assert!(second.param("code").is_none());
        }
        other => panic!("the second answer must fail: {other:?}"),
    }
    assert_eq!(
        h.userinfo(&access_token).await.0,
        401,
        "the first answer's tokens are revoked"
    );
}

#[tokio::test]
async fn deny_never_issues_whoever_is_logged_in_now() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let q = code_query(&c.client.client_id, "");
    // Bob has a standing consent for this client.
    let bob = Session {
        subject: "bob".into(),
        auth_time: h.now(),
    };
    h.authorize_through(&q, &bob).await;
    for now_logged_in in [Some(&bob), None] {
        let AuthorizeOutcome::Consent(step) = h.authorize(&q, Some(&h.alice())).await else {
            panic!("alice is asked for consent")
        };
        // Bob logs in in another tab; alice clicks Deny (or the session is gone).
        match step
            .decide(&h.provider, now_logged_in, ConsentDecision::Denied)
            .await
        {
            AuthorizeOutcome::Respond(resp) => {
                assert_eq!(resp.param("error"), Some("access_denied"));
                assert!(resp.param("code").is_none());
            }
            other => panic!("a denial is access_denied: {other:?}"),
        }
    }
    // A grant by alice while bob is logged in issues nothing: bob is asked himself.
    let AuthorizeOutcome::Consent(step) = h.authorize(&q, Some(&h.alice())).await else {
        panic!("alice is asked for consent")
    };
    match step
        .decide(&h.provider, Some(&bob), ConsentDecision::Granted(None))
        .await
    {
        AuthorizeOutcome::Consent(again) => assert_eq!(again.subject(), "bob"),
        other => panic!("bob must consent himself: {other:?}"),
    }
}
