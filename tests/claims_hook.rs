//! The host's claims hook: called for every issuance (code, implicit, refresh, client
//! credentials, password), again at each refresh, its claims in the tokens as given, and a
//! reserved claim refused with a typed error.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use opkit::host::{ClaimsFuture, ClaimsHook, ExtraClaims, TokenContext};
use opkit::store::StoreError;
use serde_json::{json, Value};

/// Adds `tenant` to both tokens and `version` (one more at each call) to the access token, and
/// records what each call was for. `poison` puts that claim in the named token instead.
#[derive(Default)]
struct Hook {
    calls: AtomicU32,
    seen: Mutex<Vec<String>>,
    poison: Mutex<Option<(&'static str, &'static str)>>,
    unavailable: std::sync::atomic::AtomicBool,
}

impl ClaimsHook for Hook {
    fn claims<'a>(&'a self, token: &'a TokenContext<'a>) -> ClaimsFuture<'a> {
        Box::pin(async move {
            if self.unavailable.load(Ordering::SeqCst) {
                return Err(StoreError::unavailable("the roles database is away"));
            }
            let version = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            self.seen.lock().unwrap().push(format!(
                "{} {} {:?} id_token={}",
                token.grant_type.as_str(),
                token.client.client_id,
                token.subject,
                token.id_token
            ));
            let mut extra = ExtraClaims::default();
            extra.both("tenant", json!("acme"));
            extra.access_token.insert("version".into(), json!(version));
            if let Some((which, name)) = *self.poison.lock().unwrap() {
                let target = match which {
                    "id_token" => &mut extra.id_token,
                    _ => &mut extra.access_token,
                };
                target.insert(name.into(), json!("forged"));
            }
            Ok(extra)
        })
    }
}

fn harness(hook: Arc<Hook>, adjust: impl FnOnce(&mut opkit::Config)) -> Harness {
    let Harness {
        provider,
        clock,
        store,
    } = Harness::with_config(adjust);
    Harness {
        provider: provider.with_claims_hook(hook),
        clock,
        store,
    }
}

fn claims_of(h: &Harness, token: &str, audience: &str) -> Value {
    verify_jwt(&h.provider, token, audience).1
}

#[tokio::test]
async fn code_flow_and_refresh_carry_the_hooks_claims_asked_again_at_refresh() {
    let hook = Arc::new(Hook::default());
    let h = harness(hook.clone(), |_| {});
    let c = h.client(json!({})).await;
    let tokens = h.code_flow(&c, "openid email offline_access").await;
    let id = claims_of(
        &h,
        tokens["id_token"].as_str().unwrap(),
        &c.client.client_id,
    );
    assert_eq!(id["tenant"], "acme");
    assert_eq!(id["email"], "alice@example.com", "the user's claims stay");
    assert!(
        id.get("version").is_none(),
        "access-token claims stay there"
    );
    let at = claims_of(&h, tokens["access_token"].as_str().unwrap(), ISSUER);
    assert_eq!(
        (at["tenant"].as_str(), at["version"].as_u64()),
        (Some("acme"), Some(1))
    );

    let secret = c.client_secret.clone().unwrap();
    let creds = Some((c.client.client_id.as_str(), secret.as_str()));
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (status, next, _) = h
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            creds,
        )
        .await;
    assert_eq!(status, 200, "{next}");
    let at = claims_of(&h, next["access_token"].as_str().unwrap(), ISSUER);
    assert_eq!(at["version"], 2, "asked again, so the claims are current");
    // The token still works where the provider checks it.
    assert_eq!(
        h.userinfo(next["access_token"].as_str().unwrap()).await.0,
        200
    );

    let seen = hook.seen.lock().unwrap().clone();
    let id = &c.client.client_id;
    assert_eq!(
        seen,
        [
            format!("authorization_code {id} Some(\"user-alice\") id_token=true"),
            format!("refresh_token {id} Some(\"user-alice\") id_token=true"),
        ]
    );
}

#[tokio::test]
async fn client_credentials_password_and_implicit_call_the_hook_too() {
    let hook = Arc::new(Hook::default());
    let h = harness(hook.clone(), |c| c.password_grant_enabled = true);
    let c = h
        .client(
            json!({"grant_types": ["client_credentials", "password", "implicit"],
                       "response_types": ["id_token token"]}),
        )
        .await;
    let secret = c.client_secret.clone().unwrap();
    let creds = Some((c.client.client_id.as_str(), secret.as_str()));

    let (status, cc, _) = h
        .token(&[("grant_type", "client_credentials")], creds)
        .await;
    assert_eq!(status, 200, "{cc}");
    let at = claims_of(&h, cc["access_token"].as_str().unwrap(), ISSUER);
    assert_eq!(at["tenant"], "acme");

    let (status, pw, _) = h
        .token(
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wonderland"),
                ("scope", "openid"),
            ],
            creds,
        )
        .await;
    assert_eq!(status, 200, "{pw}");
    let id = claims_of(&h, pw["id_token"].as_str().unwrap(), &c.client.client_id);
    assert_eq!(id["tenant"], "acme");

    let query = format!(
        "response_type={}&client_id={}&redirect_uri={}&scope=openid&nonce=n-1&state=s",
        enc("id_token token"),
        c.client.client_id,
        enc(REDIRECT)
    );
    let params = h.authorize_through(&query, &h.alice()).await;
    let id = claims_of(
        &h,
        &param(&params, "id_token").unwrap(),
        &c.client.client_id,
    );
    let at = claims_of(&h, &param(&params, "access_token").unwrap(), ISSUER);
    assert_eq!(
        (id["tenant"].as_str(), at["tenant"].as_str()),
        (Some("acme"), Some("acme"))
    );

    let seen = hook.seen.lock().unwrap().clone();
    let kinds: Vec<&str> = seen.iter().map(|s| s.split(' ').next().unwrap()).collect();
    assert_eq!(kinds, ["client_credentials", "password", "implicit"]);
    assert!(seen[0].contains("None id_token=false"), "{}", seen[0]);
}

#[tokio::test]
async fn a_reserved_or_present_claim_fails_the_issuance_with_a_typed_error() {
    for (which, name) in [
        ("id_token", "sub"),
        ("id_token", "nonce"),
        ("id_token", "email"),
        ("access_token", "scope"),
        ("access_token", "client_id"),
        ("access_token", "grant"),
    ] {
        let hook = Arc::new(Hook::default());
        *hook.poison.lock().unwrap() = Some((which, name));
        let h = harness(hook, |c| c.password_grant_enabled = true);
        let c = h.client(json!({"grant_types": ["password"]})).await;
        let secret = c.client_secret.clone().unwrap();
        let form = [
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "openid email"),
        ];
        let req_body = serde_urlencoded::to_string(form).unwrap();
        let auth = basic_header(&c.client.client_id, &secret);
        let req = opkit::http::HttpRequest::new(opkit::http::Method::Post)
            .header("content-type", b"application/x-www-form-urlencoded")
            .header("authorization", auth.as_bytes())
            .body(req_body.as_bytes());
        let err = h.provider.token_request(&req).await.unwrap_err();
        assert_eq!(
            err.kind(),
            &opkit::ErrorKind::ReservedClaim {
                token: which,
                claim: name.into()
            },
            "{which} {name}"
        );
        let resp = h.provider.token(&req).await;
        let body: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(
            (resp.status, body["error"].as_str()),
            (500, Some("server_error"))
        );
        assert_eq!(
            body["error_description"], "internal server error",
            "nothing leaks"
        );
    }
}

#[tokio::test]
async fn a_hook_that_is_unavailable_is_a_503() {
    let hook = Arc::new(Hook::default());
    hook.unavailable.store(true, Ordering::SeqCst);
    let h = harness(hook, |_| {});
    let c = h
        .client(json!({"grant_types": ["client_credentials"]}))
        .await;
    let secret = c.client_secret.clone().unwrap();
    let (status, body, _) = h
        .token(
            &[("grant_type", "client_credentials")],
            Some((&c.client.client_id, &secret)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
}

#[tokio::test]
async fn a_hook_failing_at_refresh_does_not_spend_the_refresh_token() {
    let hook = Arc::new(Hook::default());
    let h = harness(hook.clone(), |_| {});
    let c = h.client(json!({})).await;
    let tokens = h.code_flow(&c, "openid offline_access").await;
    let secret = c.client_secret.clone().unwrap();
    let creds = Some((c.client.client_id.as_str(), secret.as_str()));
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    hook.unavailable.store(true, Ordering::SeqCst);
    assert_eq!(h.token(&refresh, creds).await.0, 503);
    hook.unavailable.store(false, Ordering::SeqCst);
    let (status, next, _) = h.token(&refresh, creds).await;
    assert_eq!(status, 200, "the retry works: {next}");
}
