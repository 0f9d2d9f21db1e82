//! Every grant mode through the public API: implicit, hybrid, response modes, client
//! credentials, password, refresh with offline_access, UserInfo, revocation and introspection.

mod common;

use common::*;
use opkit::http::{HttpRequest, Method};
use opkit::{AuthorizeOutcome, ConsentDecision};
use serde_json::{json, Value};
use time::Duration;

/// An authorization request; with PKCE (required by default) when a code is asked for.
fn front_query(client_id: &str, response_type: &str, extra: &str) -> String {
    let pkce = if response_type.split(' ').any(|t| t == "code") {
        format!("&code_challenge={CHALLENGE}&code_challenge_method=S256")
    } else {
        String::new()
    };
    format!(
        "response_type={}&client_id={client_id}&redirect_uri={}&scope=openid%20profile&state=st&nonce=n-42{pkce}{extra}",
        enc(response_type),
        enc(REDIRECT)
    )
}

async fn implicit_client(h: &Harness) -> opkit::client::ClientWithSecrets {
    h.client(json!({
        "grant_types": ["authorization_code", "implicit", "refresh_token"],
        "response_types": ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"],
    }))
    .await
}

async fn post(
    h: &Harness,
    endpoint: &str,
    body: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let body = serde_urlencoded::to_string(body).unwrap();
    let auth = basic.map(|(i, s)| basic_header(i, s));
    let mut req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .body(body.as_bytes());
    if let Some(a) = &auth {
        req = req.header("authorization", a.as_bytes());
    }
    let resp = match endpoint {
        "revoke" => h.provider.revoke(&req).await,
        "introspect" => h.provider.introspect(&req).await,
        _ => h.provider.token(&req).await,
    };
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn implicit_id_token() {
    let h = Harness::new();
    let c = implicit_client(&h).await;
    let params = h
        .authorize_through(
            &front_query(&c.client.client_id, "id_token", ""),
            &h.alice(),
        )
        .await;
    assert!(param(&params, "access_token").is_none());
    assert!(param(&params, "code").is_none());
    assert_eq!(param(&params, "state").as_deref(), Some("st"));
    let (_, id) = verify_jwt(
        &h.provider,
        &param(&params, "id_token").unwrap(),
        &c.client.client_id,
    );
    assert_eq!(id["nonce"], "n-42");
    assert_eq!(
        id["name"], "Alice Liddell",
        "without an access token, claims go in the ID token"
    );
    assert!(id.get("at_hash").is_none());
}

#[tokio::test]
async fn implicit_id_token_token_in_fragment() {
    let h = Harness::new();
    let c = implicit_client(&h).await;
    let outcome = h
        .authorize(
            &front_query(&c.client.client_id, "id_token token", ""),
            Some(&h.alice()),
        )
        .await;
    let AuthorizeOutcome::Consent(p) = outcome else {
        panic!("{outcome:?}")
    };
    let AuthorizeOutcome::Respond(resp) = p
        .decide(
            &h.provider,
            Some(&h.alice()),
            ConsentDecision::Granted(None),
        )
        .await
    else {
        panic!()
    };
    let location = resp.location().unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT}#")),
        "fragment by default: {location}"
    );
    let params = response_params(&resp);
    let access = param(&params, "access_token").unwrap();
    assert_eq!(param(&params, "token_type").as_deref(), Some("Bearer"));
    assert!(param(&params, "refresh_token").is_none());
    let (_, id) = verify_jwt(
        &h.provider,
        &param(&params, "id_token").unwrap(),
        &c.client.client_id,
    );
    assert_eq!(id["at_hash"], opkit::jose::half_hash(&access));
    assert_eq!(h.userinfo(&access).await.0, 200);
}

#[tokio::test]
async fn implicit_refusals() {
    let h = Harness::new();
    let c = implicit_client(&h).await;
    let plain = h.client(json!({})).await;
    let id = &c.client.client_id;
    let cases = [
        (
            front_query(id, "id_token", "").replace("&nonce=n-42", ""),
            "invalid_request",
        ),
        (
            front_query(id, "id_token token", "&response_mode=query"),
            "invalid_request",
        ),
        (
            front_query(&plain.client.client_id, "id_token", ""),
            "unauthorized_client",
        ),
        (
            front_query(id, "id_token", "").replace("openid%20profile", "profile"),
            "invalid_request",
        ),
    ];
    for (q, want) in cases {
        let AuthorizeOutcome::Respond(resp) = h.authorize(&q, Some(&h.alice())).await else {
            panic!("{q}")
        };
        assert_eq!(resp.param("error"), Some(want), "{q}");
        assert_eq!(
            resp.mode(),
            opkit::ResponseMode::Fragment,
            "errors use the fragment too: {q}"
        );
    }
}

#[tokio::test]
async fn implicit_never_gets_refresh_tokens() {
    let h = Harness::new();
    let c = implicit_client(&h).await;
    let q = front_query(&c.client.client_id, "id_token token", "")
        .replace("openid%20profile", "openid%20offline_access");
    let params = h.authorize_through(&q, &h.alice()).await;
    assert!(param(&params, "refresh_token").is_none());
    assert_eq!(
        param(&params, "scope").as_deref(),
        Some("openid"),
        "offline_access dropped"
    );
}

#[tokio::test]
async fn hybrid_flows() {
    let h = Harness::new();
    let c = implicit_client(&h).await;
    for rt in ["code id_token", "code token", "code id_token token"] {
        let params = h
            .authorize_through(&front_query(&c.client.client_id, rt, ""), &h.alice())
            .await;
        let code = param(&params, "code").unwrap_or_else(|| panic!("{rt}: {params:?}"));
        assert_eq!(param(&params, "iss").as_deref(), Some(ISSUER));
        if rt.contains("id_token") {
            let (_, id) = verify_jwt(
                &h.provider,
                &param(&params, "id_token").unwrap(),
                &c.client.client_id,
            );
            assert_eq!(id["c_hash"], opkit::jose::half_hash(&code), "{rt}");
            assert_eq!(id["nonce"], "n-42");
            match param(&params, "access_token") {
                Some(at) => assert_eq!(id["at_hash"], opkit::jose::half_hash(&at)),
                None => assert!(id.get("at_hash").is_none()),
            }
        }
        assert_eq!(
            param(&params, "access_token").is_some(),
            rt.split(' ').any(|p| p == "token")
        );
        // The code redeems at the token endpoint.
        let (status, tokens) = post(
            &h,
            "token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            Some((&c.client.client_id, c.client_secret.as_deref().unwrap())),
        )
        .await;
        assert_eq!(status, 200, "{rt}: {tokens}");
        let (_, id) = verify_jwt(
            &h.provider,
            tokens["id_token"].as_str().unwrap(),
            &c.client.client_id,
        );
        assert_eq!(id["nonce"], "n-42");
    }
    // nonce is required.
    let q = front_query(&c.client.client_id, "code id_token", "").replace("&nonce=n-42", "");
    let AuthorizeOutcome::Respond(resp) = h.authorize(&q, Some(&h.alice())).await else {
        panic!()
    };
    assert_eq!(resp.param("error"), Some("invalid_request"));
}

#[tokio::test]
async fn form_post_mode() {
    let h = Harness::new();
    let c = implicit_client(&h).await;
    h.authorize_through(&front_query(&c.client.client_id, "code", ""), &h.alice())
        .await;
    let q = front_query(
        &c.client.client_id,
        "code id_token",
        "&response_mode=form_post",
    );
    let AuthorizeOutcome::Respond(resp) = h.authorize(&q, Some(&h.alice())).await else {
        panic!()
    };
    assert!(resp.location().is_none());
    let http = resp.into_http();
    assert_eq!(http.status, 200);
    assert_eq!(http.header("cache-control"), Some("no-store"));
    let csp = http.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    let html = String::from_utf8(http.body).unwrap();
    assert!(html.contains(&format!("action=\"{REDIRECT}\"")));
    assert!(
        html.contains("name=\"code\"")
            && html.contains("name=\"id_token\"")
            && html.contains("name=\"iss\"")
    );
}

#[tokio::test]
async fn client_credentials() {
    let h = Harness::new();
    let svc = h
        .client(json!({"grant_types": ["client_credentials"], "redirect_uris": [], "allowed_scopes": ["api:read", "api:write"]}))
        .await;
    let creds = (
        svc.client.client_id.as_str(),
        svc.client_secret.as_deref().unwrap(),
    );
    let (status, tokens) = post(
        &h,
        "token",
        &[("grant_type", "client_credentials"), ("scope", "api:read")],
        Some(creds),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "api:read");
    assert!(tokens.get("id_token").is_none() && tokens.get("refresh_token").is_none());
    let (_, at) = verify_jwt(
        &h.provider,
        tokens["access_token"].as_str().unwrap(),
        ISSUER,
    );
    assert_eq!(at["sub"], svc.client.client_id.as_str());
    assert_eq!(at["client_id"], svc.client.client_id.as_str());

    let (status, err) = post(
        &h,
        "token",
        &[("grant_type", "client_credentials"), ("scope", "api:admin")],
        Some(creds),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (_, err) = post(
        &h,
        "token",
        &[("grant_type", "client_credentials"), ("scope", "openid")],
        Some(creds),
    )
    .await;
    assert_eq!(err["error"], "invalid_scope");

    // Not registered for it: unauthorized_client. Public clients cannot even register it.
    let web = h.client(json!({})).await;
    let (_, err) = post(
        &h,
        "token",
        &[("grant_type", "client_credentials")],
        Some((&web.client.client_id, web.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(err["error"], "unauthorized_client");
    let settings = opkit::client::validate(
        json!({"name": "p", "redirect_uris": [], "id_token_signed_response_alg": "ES256", "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]})
            .as_object()
            .unwrap(),
        opkit::client::MetadataSource::Management,
        false,
    );
    assert_eq!(settings.unwrap_err().field, "grant_types");
}

#[tokio::test]
async fn password_grant_off_by_default() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let (status, err) = post(
        &h,
        "token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
        ],
        Some((&c.client.client_id, c.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let discovery: Value = serde_json::from_slice(&h.provider.discovery_json()).unwrap();
    assert!(!discovery["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("password")));
}

#[tokio::test]
async fn password_grant_when_enabled() {
    let h = Harness::with_config(|c| c.password_grant_enabled = true);
    let c = h
        .client(json!({"grant_types": ["password", "refresh_token"], "redirect_uris": []}))
        .await;
    let creds = (
        c.client.client_id.as_str(),
        c.client_secret.as_deref().unwrap(),
    );
    let (status, tokens) = post(
        &h,
        "token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "openid email offline_access"),
        ],
        Some(creds),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access yields a refresh token"
    );
    let (_, id) = verify_jwt(
        &h.provider,
        tokens["id_token"].as_str().unwrap(),
        &c.client.client_id,
    );
    assert_eq!(id["email"], "alice@example.com");

    for (user, pass) in [("alice", "wrong"), ("nobody", "wonderland")] {
        let (status, err) = post(
            &h,
            "token",
            &[
                ("grant_type", "password"),
                ("username", user),
                ("password", pass),
            ],
            Some(creds),
        )
        .await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(
            err["error_description"], "invalid resource owner credentials",
            "no hint whether the user exists"
        );
    }
    let discovery: Value = serde_json::from_slice(&h.provider.discovery_json()).unwrap();
    assert!(discovery["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("password")));
}

async fn offline_tokens(h: &Harness, c: &opkit::client::ClientWithSecrets) -> Value {
    h.code_flow(c, "openid email offline_access").await
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let tokens = offline_tokens(&h, &c).await;
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let creds = (
        c.client.client_id.as_str(),
        c.client_secret.as_deref().unwrap(),
    );

    let (status, next) = post(
        &h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        Some(creds),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    let rt2 = next["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    let (_, id) = verify_jwt(
        &h.provider,
        next["id_token"].as_str().unwrap(),
        &c.client.client_id,
    );
    assert_eq!(id["sub"], "user-alice");
    let at2 = next["access_token"].as_str().unwrap().to_owned();
    assert_eq!(h.userinfo(&at2).await.0, 200);

    // Reusing the first token revokes everything of the family.
    let (status, err) = post(
        &h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        Some(creds),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (_, err) = post(
        &h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        Some(creds),
    )
    .await;
    assert_eq!(
        err["error"], "invalid_grant",
        "the newest token of the family is revoked too"
    );
    assert_eq!(h.userinfo(&at2).await.0, 401);
}

#[tokio::test]
async fn refresh_scope_narrows_never_widens() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let tokens = offline_tokens(&h, &c).await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let creds = (
        c.client.client_id.as_str(),
        c.client_secret.as_deref().unwrap(),
    );
    let (_, err) = post(
        &h,
        "token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid email profile"),
        ],
        Some(creds),
    )
    .await;
    assert_eq!(err["error"], "invalid_scope");
    let (status, narrow) = post(
        &h,
        "token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid"),
        ],
        Some(creds),
    )
    .await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid");
    // The new refresh token keeps the original scope.
    let rt2 = narrow["refresh_token"].as_str().unwrap();
    let (status, full) = post(
        &h,
        "token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2),
            ("scope", "openid email"),
        ],
        Some(creds),
    )
    .await;
    assert_eq!(status, 200, "{full}");
}

#[tokio::test]
async fn refresh_token_only_with_offline_access_and_consent() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    // Consent once for openid email; offline_access still asks again.
    h.code_flow(&c, "openid email").await;
    let q = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope=openid%20email%20offline_access&code_challenge={CHALLENGE}&code_challenge_method=S256",
        c.client.client_id,
        enc(REDIRECT)
    );
    let outcome = h.authorize(&q, Some(&h.alice())).await;
    let AuthorizeOutcome::Consent(pending) = outcome else {
        panic!("offline_access is never granted silently: {outcome:?}")
    };
    assert!(pending.request().wants_offline_access());
    // prompt=none cannot show a consent page.
    let AuthorizeOutcome::Respond(resp) = h
        .authorize(&format!("{q}&prompt=none"), Some(&h.alice()))
        .await
    else {
        panic!()
    };
    assert_eq!(resp.param("error"), Some("consent_required"));
    // A client without the refresh_token grant never gets one.
    let no_refresh = h
        .client(json!({"grant_types": ["authorization_code"]}))
        .await;
    let tokens = h.code_flow(&no_refresh, "openid offline_access").await;
    assert!(tokens.get("refresh_token").is_none());
    assert_eq!(tokens["scope"], "openid");
}

#[tokio::test]
async fn refresh_lifetimes() {
    let h = Harness::with_config(|c| {
        c.refresh_token_idle_ttl = Duration::hours(1);
        c.refresh_token_absolute_ttl = Duration::hours(3);
    });
    let c = h.client(json!({})).await;
    let creds = (
        c.client.client_id.as_str(),
        c.client_secret.as_deref().unwrap(),
    );
    let mut rt = offline_tokens(&h, &c).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Used every 50 minutes it lives until the absolute limit.
    for _ in 0..3 {
        h.clock.advance(Duration::minutes(50));
        let (status, next) = post(
            &h,
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            Some(creds),
        )
        .await;
        assert_eq!(status, 200, "{next}");
        rt = next["refresh_token"].as_str().unwrap().to_owned();
    }
    h.clock.advance(Duration::minutes(40));
    let (_, err) = post(
        &h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some(creds),
    )
    .await;
    assert_eq!(err["error"], "invalid_grant", "absolute lifetime");

    // Idle for longer than the idle lifetime.
    let rt = offline_tokens(&h, &c).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.clock.advance(Duration::minutes(61));
    let (_, err) = post(
        &h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some(creds),
    )
    .await;
    assert_eq!(err["error"], "invalid_grant", "idle lifetime");
}

#[tokio::test]
async fn refresh_token_bound_to_client_and_revoked_with_consent() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let other = h.client(json!({})).await;
    let rt = offline_tokens(&h, &c).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, err) = post(
        &h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some((
            &other.client.client_id,
            other.client_secret.as_deref().unwrap(),
        )),
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");
    // Withdrawing consent revokes the family.
    h.provider
        .revoke_consent("user-alice", &c.client.client_id)
        .await
        .unwrap();
    let (_, err) = post(
        &h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some((&c.client.client_id, c.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn userinfo_rules() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let tokens = h.code_flow(&c, "openid email").await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, info, _) = h.userinfo(access).await;
    assert_eq!(status, 200);
    assert_eq!(
        info,
        json!({"sub": "user-alice", "email": "alice@example.com", "email_verified": true})
    );

    // POST with the token in the form body.
    let body = format!("access_token={access}");
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .body(body.as_bytes());
    assert_eq!(h.provider.userinfo(&req).await.status, 200);

    for bad in ["", "garbage", &access[..access.len() - 2]] {
        let (status, _, resp) = h.userinfo(bad).await;
        assert_eq!(status, 401, "{bad}");
        assert!(resp
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\""));
    }
    // Expired.
    h.clock.advance(Duration::seconds(3601));
    assert_eq!(h.userinfo(access).await.0, 401);
}

#[tokio::test]
async fn revocation() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let creds = (
        c.client.client_id.as_str(),
        c.client_secret.as_deref().unwrap(),
    );
    let tokens = offline_tokens(&h, &c).await;
    let access = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();

    // Revoking an access token.
    let (status, _) = post(
        &h,
        "revoke",
        &[("token", access), ("token_type_hint", "access_token")],
        Some(creds),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(h.userinfo(access).await.0, 401);
    // Revoking a refresh token revokes its family.
    let (status, _) = post(&h, "revoke", &[("token", rt)], Some(creds)).await;
    assert_eq!(status, 200);
    let (_, err) = post(
        &h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(creds),
    )
    .await;
    assert_eq!(err["error"], "invalid_grant");
    // Unknown tokens: still 200. Bad client: 401.
    assert_eq!(
        post(&h, "revoke", &[("token", "nope")], Some(creds))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&h, "revoke", &[("token", "nope")], Some((creds.0, "wrong")))
            .await
            .0,
        401
    );
    // Another client's token is not revoked.
    let other = h.client(json!({})).await;
    let tokens = h.code_flow(&c, "openid").await;
    let access = tokens["access_token"].as_str().unwrap();
    post(
        &h,
        "revoke",
        &[("token", access)],
        Some((
            &other.client.client_id,
            other.client_secret.as_deref().unwrap(),
        )),
    )
    .await;
    assert_eq!(h.userinfo(access).await.0, 200);
}

#[tokio::test]
async fn introspection() {
    let h = Harness::new();
    let c = h.client(json!({})).await;
    let creds = (
        c.client.client_id.as_str(),
        c.client_secret.as_deref().unwrap(),
    );
    let tokens = offline_tokens(&h, &c).await;
    let access = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (status, info) = post(&h, "introspect", &[("token", access)], Some(creds)).await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "user-alice");
    assert_eq!(info["client_id"], c.client.client_id.as_str());
    assert_eq!(info["scope"], "openid email offline_access");
    let (_, info) = post(&h, "introspect", &[("token", rt)], Some(creds)).await;
    assert_eq!(
        (info["active"].as_bool(), info["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    let (_, info) = post(&h, "introspect", &[("token", "garbage")], Some(creds)).await;
    assert_eq!(info, json!({"active": false}));
    // Public clients may not introspect.
    let public = h
        .client(json!({"token_endpoint_auth_method": "none"}))
        .await;
    let (status, _) = post(
        &h,
        "introspect",
        &[("token", access), ("client_id", &public.client.client_id)],
        None,
    )
    .await;
    assert_eq!(status, 401);
    // After revocation: inactive.
    post(&h, "revoke", &[("token", rt)], Some(creds)).await;
    let (_, info) = post(&h, "introspect", &[("token", access)], Some(creds)).await;
    assert_eq!(
        info["active"], false,
        "revoking the family revokes its access tokens"
    );
}

/// Counts reservations per key (a success gives its own back); refuses a key after three.
#[derive(Default)]
struct ThreeStrikes(std::sync::Mutex<std::collections::HashMap<String, u32>>);

impl opkit::host::RateLimit for ThreeStrikes {
    fn reserve(&self, attempt: &opkit::host::Attempt<'_>) -> Result<(), opkit::host::Throttled> {
        let mut counts = self.0.lock().unwrap();
        let used = counts.entry(format!("{attempt:?}")).or_default();
        if *used >= 3 {
            return Err(opkit::host::Throttled {
                retry_after: std::time::Duration::from_millis(7_500),
            });
        }
        *used += 1;
        Ok(())
    }
    fn settle(&self, attempt: &opkit::host::Attempt<'_>, outcome: opkit::host::Outcome) {
        if outcome != opkit::host::Outcome::Failed {
            *self
                .0
                .lock()
                .unwrap()
                .entry(format!("{attempt:?}"))
                .or_default() -= 1;
        }
    }
}

#[tokio::test]
async fn rate_limit_hook_throttles_password_and_secret_guessing() {
    let mut h = Harness::with_config(|c| c.password_grant_enabled = true);
    h.provider = h
        .provider
        .with_rate_limit(std::sync::Arc::new(ThreeStrikes::default()));
    let c = h
        .client(json!({"grant_types": ["password", "client_credentials"], "redirect_uris": []}))
        .await;
    let creds = (
        c.client.client_id.as_str(),
        c.client_secret.as_deref().unwrap(),
    );
    let guess = |password: &'static str| {
        let h = &h;
        async move {
            post(
                h,
                "token",
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", password),
                ],
                Some(creds),
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(guess("wrong").await.1["error"], "invalid_grant");
    }
    let (status, err) = guess("wonderland").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (429, Some("temporarily_unavailable")),
        "even the right password waits"
    );
    // Retry-After is the limiter's own delay, rounded up to a second.
    let auth = basic_header(creds.0, creds.1);
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .header("authorization", auth.as_bytes())
        .body(b"grant_type=password&username=alice&password=wonderland");
    assert_eq!(
        h.provider.token(&req).await.header("retry-after"),
        Some("8")
    );

    for _ in 0..3 {
        assert_eq!(
            post(
                &h,
                "token",
                &[("grant_type", "client_credentials")],
                Some((creds.0, "guess"))
            )
            .await
            .0,
            401
        );
    }
    assert_eq!(
        post(
            &h,
            "token",
            &[("grant_type", "client_credentials")],
            Some(creds)
        )
        .await
        .0,
        429
    );
}

// ---------------------------------------------------------------------------------------------
// The refresh rotation grace window

async fn refresh_with(h: &Harness, c: &opkit::client::ClientWithSecrets, rt: &str) -> (u16, Value) {
    let creds = (
        c.client.client_id.as_str(),
        c.client_secret.as_deref().unwrap(),
    );
    post(
        h,
        "token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(creds),
    )
    .await
}

/// A success: the new refresh token and access token.
#[track_caller]
fn pair((status, json): (u16, Value)) -> (String, String) {
    assert_eq!(status, 200, "{json}");
    (
        json["refresh_token"].as_str().unwrap().to_owned(),
        json["access_token"].as_str().unwrap().to_owned(),
    )
}

#[track_caller]
fn refused((status, json): (u16, Value)) {
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );
}

fn grace(seconds: u32, reuses: u32) -> opkit::config::RefreshGrace {
    opkit::config::RefreshGrace::new(seconds, reuses).unwrap()
}

async fn grant_of(h: &Harness, rt: &str) -> opkit::store::GrantId {
    use opkit::store::RefreshTokenStore;
    h.store
        .refresh_token(&opkit::secret::SecretHash::of(rt))
        .await
        .unwrap()
        .unwrap()
        .record
        .grant_id
}

/// Within the window (its end included) a rotated token is honoured up to the count, each time
/// with a fresh pair in the same family, and every token handed out keeps working; one more
/// presentation revokes the family with everything it handed out.
#[tokio::test]
async fn refresh_grace_honours_a_rotated_token_within_the_window_up_to_the_count() {
    let h = Harness::with_config(|c| c.refresh_grace = grace(60, 2));
    let c = h.client(json!({})).await;
    let rt1 = offline_tokens(&h, &c).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let family = grant_of(&h, &rt1).await;

    let (rt2, at2) = pair(refresh_with(&h, &c, &rt1).await);
    h.clock.advance(Duration::seconds(10));
    let (rt3, at3) = pair(refresh_with(&h, &c, &rt1).await);
    assert_ne!(rt2, rt3, "a reuse hands out a new refresh token");
    // A token a reuse handed out rotates like any other.
    let (rt5, at5) = pair(refresh_with(&h, &c, &rt3).await);
    // The window is measured from the rotation and includes its end.
    h.clock.advance(Duration::seconds(50));
    let (rt4, at4) = pair(refresh_with(&h, &c, &rt1).await);
    for rt in [&rt2, &rt3, &rt4, &rt5] {
        assert_eq!(grant_of(&h, rt).await, family, "one family");
    }
    for at in [&at2, &at3, &at4, &at5] {
        assert_eq!(h.userinfo(at).await.0, 200);
    }

    // Past the count: reuse revokes the family, and everything the reuses handed out with it.
    refused(refresh_with(&h, &c, &rt1).await);
    for rt in [&rt2, &rt4, &rt5] {
        refused(refresh_with(&h, &c, rt).await);
    }
    for at in [&at2, &at3, &at4, &at5] {
        assert_eq!(h.userinfo(at).await.0, 401);
    }
}

#[tokio::test]
async fn refresh_grace_ends_with_its_window() {
    let h = Harness::with_config(|c| c.refresh_grace = grace(30, 3));
    let c = h.client(json!({})).await;
    let rt1 = offline_tokens(&h, &c).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (rt2, at2) = pair(refresh_with(&h, &c, &rt1).await);
    let (rt3, _) = pair(refresh_with(&h, &c, &rt1).await);
    h.clock.advance(Duration::seconds(31));
    refused(refresh_with(&h, &c, &rt1).await);
    refused(refresh_with(&h, &c, &rt2).await);
    refused(refresh_with(&h, &c, &rt3).await);
    assert_eq!(h.userinfo(&at2).await.0, 401);
}

/// Reuses do not extend the window: it runs from the rotation, however often the token came
/// back since.
#[tokio::test]
async fn refresh_grace_reuses_do_not_extend_the_window() {
    let h = Harness::with_config(|c| c.refresh_grace = grace(30, 10));
    let c = h.client(json!({})).await;
    let rt1 = offline_tokens(&h, &c).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (rt2, _) = pair(refresh_with(&h, &c, &rt1).await);
    for _ in 0..3 {
        h.clock.advance(Duration::seconds(10));
        pair(refresh_with(&h, &c, &rt1).await);
    }
    h.clock.advance(Duration::seconds(1));
    refused(refresh_with(&h, &c, &rt1).await);
    refused(refresh_with(&h, &c, &rt2).await);
}

/// A client's own grace beats the provider's, both ways; without one the provider's applies.
#[tokio::test]
async fn refresh_grace_per_client_overrides_the_provider() {
    // The provider has none; one client has its own.
    let h = Harness::new();
    let plain = h.client(json!({})).await;
    let forgiving = h
        .client(json!({"refresh_grace_seconds": 30, "refresh_grace_reuses": 1}))
        .await;
    assert_eq!(forgiving.client.settings.refresh_grace, Some(grace(30, 1)));
    let rt = offline_tokens(&h, &forgiving).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (next, _) = pair(refresh_with(&h, &forgiving, &rt).await);
    pair(refresh_with(&h, &forgiving, &rt).await);
    refused(refresh_with(&h, &forgiving, &rt).await);
    refused(refresh_with(&h, &forgiving, &next).await);
    let rt = offline_tokens(&h, &plain).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (next, _) = pair(refresh_with(&h, &plain, &rt).await);
    refused(refresh_with(&h, &plain, &rt).await);
    refused(refresh_with(&h, &plain, &next).await);

    // The provider has one; a client switches it off with 0 seconds.
    let h = Harness::with_config(|c| c.refresh_grace = grace(30, 3));
    let strict = h.client(json!({"refresh_grace_seconds": 0})).await;
    let plain = h.client(json!({})).await;
    let rt = offline_tokens(&h, &strict).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (next, _) = pair(refresh_with(&h, &strict, &rt).await);
    refused(refresh_with(&h, &strict, &rt).await);
    refused(refresh_with(&h, &strict, &next).await);
    let rt = offline_tokens(&h, &plain).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    pair(refresh_with(&h, &plain, &rt).await);
    pair(refresh_with(&h, &plain, &rt).await);
}

/// An expired rotated token is a reuse even within the window: it revokes the family.
#[tokio::test]
async fn refresh_grace_never_revives_an_expired_token() {
    let h = Harness::with_config(|c| {
        c.refresh_grace = grace(300, 3);
        c.refresh_token_idle_ttl = Duration::minutes(2);
    });
    let c = h.client(json!({})).await;
    let rt1 = offline_tokens(&h, &c).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.clock.advance(Duration::seconds(110));
    let (rt2, _) = pair(refresh_with(&h, &c, &rt1).await);
    h.clock.advance(Duration::seconds(20));
    refused(refresh_with(&h, &c, &rt1).await);
    refused(refresh_with(&h, &c, &rt2).await);
}

/// Dynamic registration can neither set a grace window nor see one: it is the administrator's
/// (management API) only, and an RFC 7592 update keeps what the administrator set.
#[tokio::test]
async fn refresh_grace_is_management_only() {
    use opkit::client::{validate, MetadataSource};
    let doc = json!({
        "client_name": "Sneaky", "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "refresh_grace_seconds": 300, "refresh_grace_reuses": 10,
    });
    let settings = validate(
        doc.as_object().unwrap(),
        MetadataSource::Registration,
        false,
    )
    .unwrap();
    assert_eq!(settings.refresh_grace, None);
    assert!(!settings.metadata.contains_key("refresh_grace_seconds"));
    assert!(!settings.metadata.contains_key("refresh_grace_reuses"));

    let h = Harness::new();
    let body = doc.to_string();
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/json")
        .body(body.as_bytes());
    let resp = h.provider.register(&req).await;
    assert_eq!(resp.status, 201);
    let created: Value = serde_json::from_slice(&resp.body).unwrap();
    assert!(created.get("refresh_grace_seconds").is_none(), "{created}");
    let stored = h.store_client(created["client_id"].as_str().unwrap()).await;
    assert_eq!(stored.settings.refresh_grace, None);

    // The administrator sets one; the client's own replacement of its registration (RFC 7592)
    // neither changes nor drops it, nor shows it.
    let client_id = created["client_id"].as_str().unwrap();
    let admin = json!({
        "name": "Sneaky", "redirect_uris": [REDIRECT], "id_token_signed_response_alg": "RS256",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "refresh_grace_seconds": 15, "refresh_grace_reuses": 1,
    });
    let settings = validate(
        admin.as_object().unwrap(),
        MetadataSource::Management,
        false,
    )
    .unwrap();
    h.provider
        .update_client(&stored.id, settings)
        .await
        .unwrap()
        .unwrap();
    let update = json!({
        "client_id": client_id, "redirect_uris": [REDIRECT], "client_name": "Sneakier",
        "grant_types": ["authorization_code", "refresh_token"],
        "refresh_grace_seconds": 300, "refresh_grace_reuses": 10,
    })
    .to_string();
    let auth = format!(
        "Bearer {}",
        created["registration_access_token"].as_str().unwrap()
    );
    let req = HttpRequest::new(Method::Put)
        .header("authorization", auth.as_bytes())
        .header("content-type", b"application/json")
        .body(update.as_bytes());
    let resp = h.provider.registration_client(&req, client_id).await;
    let updated: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(resp.status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Sneakier");
    assert!(updated.get("refresh_grace_seconds").is_none(), "{updated}");
    let stored = h.store_client(client_id).await;
    assert_eq!(stored.settings.refresh_grace, Some(grace(15, 1)));

    // The management API sets, bounds and shows it (and a client without one shows none).
    let c = h.client(json!({"refresh_grace_seconds": 20})).await;
    assert_eq!(c.client.settings.refresh_grace, Some(grace(20, 3)));
    let view = |id: String| {
        let h = &h;
        async move {
            let resp = h
                .provider
                .manage_clients(&HttpRequest::new(Method::Get), Some(&id))
                .await;
            assert_eq!(resp.status, 200);
            serde_json::from_slice::<Value>(&resp.body).unwrap()
        }
    };
    let shown = view(c.client.id.clone()).await;
    assert_eq!(
        (
            &shown["refresh_grace_seconds"],
            &shown["refresh_grace_reuses"]
        ),
        (&json!(20), &json!(3)),
        "{shown}"
    );
    let off = h.client(json!({"refresh_grace_seconds": 0})).await;
    let shown = view(off.client.id.clone()).await;
    assert_eq!(shown["refresh_grace_seconds"], 0, "{shown}");
    let plain = h.client(json!({})).await;
    let shown = view(plain.client.id.clone()).await;
    assert!(shown.get("refresh_grace_seconds").is_none(), "{shown}");
    for bad in [
        json!({"refresh_grace_seconds": 301}),
        json!({"refresh_grace_seconds": 30, "refresh_grace_reuses": 11}),
        json!({"refresh_grace_reuses": 2}),
        json!({"refresh_grace_seconds": "30"}),
        json!({"refresh_grace_seconds": -1}),
    ] {
        let mut doc = json!({
            "name": "RP", "redirect_uris": [REDIRECT], "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
        });
        for (k, v) in bad.as_object().unwrap() {
            doc[k] = v.clone();
        }
        assert!(
            validate(doc.as_object().unwrap(), MetadataSource::Management, false).is_err(),
            "{bad}"
        );
    }
}
