//! End-to-end tests of the provider as the example serves it (`opkit-axum`), one per grant and response
//! mode, over real HTTP: clients registered through RFC 7591 `/register` (or the management API
//! where it is needed), users signed in through the real login and consent pages, tokens
//! verified with `jsonwebtoken` against `/jwks`. Also the refusals a relying party can meet,
//! CORS, logout, client secret rotation and paging the client list while it grows.
//!
//! Every test starts its own provider on a loopback port.

mod example_support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jsonwebtoken::{decode_header, Algorithm};
use reqwest::header::LOCATION;
use reqwest::{Client, Method};
use serde_json::{json, Value};

use example_support::*;

/// A provider, a browser, the discovery document and the JWKS.
struct Rp {
    server: Server,
    http: Client,
    doc: Value,
    jwks: jsonwebtoken::jwk::JwkSet,
}

impl Rp {
    async fn start(tweak: impl FnOnce(&mut Options)) -> Rp {
        let server = start(tweak).await;
        let http = browser();
        let doc = discovery(&http, &server.base).await;
        let jwks = jwks(&http, &doc).await;
        Rp {
            server,
            http,
            doc,
            jwks,
        }
    }

    fn issuer(&self) -> &str {
        &self.server.base
    }

    fn endpoint(&self, name: &str) -> &str {
        self.doc[name].as_str().unwrap()
    }

    async fn register(&self, metadata: Value) -> Value {
        register(&self.http, self.endpoint("registration_endpoint"), metadata).await
    }

    /// Verify a JWT against the JWKS for `audience`; its header `typ` and claims.
    fn verify(&self, token: &str, audience: &str) -> (Option<String>, Value) {
        let typ = decode_header(token).unwrap().typ;
        (typ, verify_jwt(&self.jwks, token, self.issuer(), audience))
    }

    /// RFC 7662 introspection of `token`, authenticated as `client`.
    async fn introspect(&self, client: &Value, token: &str) -> Value {
        let endpoint = self.endpoint("introspection_endpoint");
        json_with(
            post_as_client(&self.http, endpoint, client, &[("token", token)]).await,
            200,
        )
        .await
    }

    /// RFC 7009 revocation of `token`, authenticated as `client`; the status.
    async fn revoke(&self, client: &Value, token: &str, hint: &str) -> u16 {
        let endpoint = self.endpoint("revocation_endpoint");
        let params = [("token", token), ("token_type_hint", hint)];
        let resp = post_as_client(&self.http, endpoint, client, &params).await;
        resp.status().as_u16()
    }

    /// A refresh token request as `client`.
    async fn refresh(&self, client: &Value, token: &str, scope: Option<&str>) -> reqwest::Response {
        let mut params = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        if let Some(scope) = scope {
            params.push(("scope", scope));
        }
        token_form(&self.http, &self.doc, client, &params).await
    }

    async fn userinfo_get(&self, access_token: &str) -> reqwest::Response {
        self.http
            .get(self.endpoint("userinfo_endpoint"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }
}

fn client_id(client: &Value) -> &str {
    client["client_id"].as_str().unwrap()
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {params:?}"))
}

/// Check an ID token from the front channel or the token endpoint: signature, issuer,
/// audience, expiry (by `jsonwebtoken`), `typ`, nonce and subject; its claims.
fn check_id_token(rp: &Rp, token: &str, client_id: &str, alg: Algorithm) -> Value {
    assert_eq!(decode_header(token).unwrap().alg, alg);
    let (typ, claims) = rp.verify(token, client_id);
    assert_eq!(typ.as_deref(), Some("JWT"));
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["sub"].as_str().unwrap().len(), 32);
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_id_token_and_id_token_token() {
    let rp = Rp::start(|_| {}).await;
    let client = rp
        .register(json!({
            "client_name": "Implicit RP",
            "redirect_uris": [REDIRECT],
            "response_types": ["id_token", "id_token token"],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    assert_eq!(client["grant_types"], json!(["implicit"]));
    let id = client_id(&client);
    let request = |response_type: &'static str| {
        authorize_url_with(
            &rp.doc,
            &[
                ("response_type", response_type),
                ("client_id", id),
                ("redirect_uri", REDIRECT),
                ("scope", "openid email"),
                ("state", "st-1"),
                ("nonce", "n-456"),
            ],
        )
    };

    // id_token: signed in through both pages; the ID token alone, in the fragment.
    let trip = sign_in_and_allow(&rp.http, &request("id_token")).await;
    assert_eq!(trip.pages.len(), 2, "login and consent");
    let params = fragment_of(trip.landing.location());
    assert_eq!(param(&params, "state"), "st-1");
    assert_eq!(param(&params, "iss"), rp.issuer());
    assert!(!params.contains_key("access_token") && !params.contains_key("code"));
    let claims = check_id_token(&rp, param(&params, "id_token"), id, Algorithm::RS256);
    assert!(claims.get("at_hash").is_none() && claims.get("c_hash").is_none());
    // No access token: the claims travel in the ID token.
    assert_eq!(claims["email"], "alice@example.com");

    // id_token token: the access token too, bound by at_hash; it works at UserInfo.
    let trip = sign_in_and_allow(&rp.http, &request("id_token token")).await;
    let params = fragment_of(trip.landing.location());
    let access_token = param(&params, "access_token");
    assert_eq!(param(&params, "token_type"), "Bearer");
    assert!(param(&params, "expires_in").parse::<u64>().unwrap() > 0);
    let claims = check_id_token(&rp, param(&params, "id_token"), id, Algorithm::RS256);
    assert_eq!(claims["at_hash"], half_hash(access_token).as_str());
    let userinfo = json_with(rp.userinfo_get(access_token).await, 200).await;
    assert_eq!(userinfo["sub"], claims["sub"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_flows() {
    let rp = Rp::start(|_| {}).await;
    let client = rp
        .register(json!({
            "client_name": "Hybrid RP",
            "redirect_uris": [REDIRECT],
            "response_types": ["code id_token", "code token", "code id_token token"],
            "id_token_signed_response_alg": "ES256",
        }))
        .await;
    let id = client_id(&client);
    assert!(client["client_secret"].is_string());

    for (round, response_type) in ["code id_token", "code token", "code id_token token"]
        .into_iter()
        .enumerate()
    {
        let url = authorize_url(&rp.doc, id, &[]).replace(
            "response_type=code&",
            &format!("response_type={}&", response_type.replace(' ', "+")),
        );
        let trip = sign_in_and_allow(&rp.http, &url).await;
        // Login and consent the first time; the consent is remembered after that.
        assert_eq!(trip.pages.len(), if round == 0 { 2 } else { 0 });
        let params = fragment_of(trip.landing.location());
        assert_eq!(param(&params, "state"), "st-123");
        assert_eq!(param(&params, "iss"), rp.issuer());
        let code = param(&params, "code");
        let front_access = params.get("access_token");
        let asks = |what: &str| response_type.split(' ').any(|t| t == what);
        assert_eq!(front_access.is_some(), asks("token"));
        assert_eq!(params.contains_key("id_token"), asks("id_token"));
        if let Some(id_token) = params.get("id_token") {
            let claims = check_id_token(&rp, id_token, id, Algorithm::ES256);
            assert_eq!(
                claims["c_hash"],
                half_hash(code).as_str(),
                "{response_type}"
            );
            match front_access {
                Some(at) => assert_eq!(claims["at_hash"], half_hash(at).as_str()),
                None => assert!(claims.get("at_hash").is_none()),
            }
        }
        if let Some(access_token) = front_access {
            let (typ, claims) = rp.verify(access_token, rp.issuer());
            assert_eq!(typ.as_deref(), Some("at+jwt"));
            assert_eq!(claims["client_id"], id);
        }

        // The code redeems at /token (with the PKCE verifier) for an ID token of the same user.
        let tokens = json_with(token_request(&rp.http, &rp.doc, &client, code).await, 200).await;
        let claims = check_id_token(
            &rp,
            tokens["id_token"].as_str().unwrap(),
            id,
            Algorithm::ES256,
        );
        let access_token = tokens["access_token"].as_str().unwrap();
        assert_eq!(claims["at_hash"], half_hash(access_token).as_str());
        assert!(tokens.get("refresh_token").is_none(), "no offline_access");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_post_response_mode() {
    let rp = Rp::start(|_| {}).await;
    let client = rp
        .register(json!({
            "redirect_uris": [REDIRECT],
            "response_types": ["code", "code id_token"],
        }))
        .await;
    let id = client_id(&client);

    // The code flow answered by form post: an auto-submitting form to the redirect URI whose
    // CSP lets exactly its own script run.
    let url = authorize_url(&rp.doc, id, &[("response_mode", "form_post")]);
    let trip = sign_in_and_allow(&rp.http, &url).await;
    let Landing::FormPost {
        action,
        params,
        csp,
    } = trip.landing
    else {
        panic!("not a form post: {:?}", trip.landing);
    };
    assert_eq!(action, REDIRECT);
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("form-action"),
        "the form must reach the client: {csp}"
    );
    assert_eq!(param(&params, "state"), "st-123");
    assert_eq!(param(&params, "iss"), rp.issuer());
    let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["code", "iss", "state"]);
    let tokens = json_with(
        token_request(&rp.http, &rp.doc, &client, param(&params, "code")).await,
        200,
    )
    .await;
    check_id_token(
        &rp,
        tokens["id_token"].as_str().unwrap(),
        id,
        Algorithm::RS256,
    );

    // Tokens in a form post: code id_token.
    let url = authorize_url(&rp.doc, id, &[("response_mode", "form_post")])
        .replace("response_type=code&", "response_type=code+id_token&");
    let trip = sign_in_and_allow(&rp.http, &url).await;
    let Landing::FormPost { params, .. } = trip.landing else {
        panic!("not a form post");
    };
    let claims = check_id_token(&rp, param(&params, "id_token"), id, Algorithm::RS256);
    assert_eq!(claims["c_hash"], half_hash(param(&params, "code")).as_str());
}

/// Wrong secrets sent with a client's public `client_id` never lock the client out: the
/// kit's limiter does not throttle client secrets (256-bit, not guessable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_client_secrets_do_not_lock_the_client_out() {
    let rp = Rp::start(|_| {}).await;
    let client = rp
        .register(json!({"client_name": "Service", "grant_types": ["client_credentials"]}))
        .await;
    let mut impostor = client.clone();
    impostor["client_secret"] = json!("a-wrong-secret-of-plausible-length-000000000");
    let form = [("grant_type", "client_credentials")];
    for _ in 0..25 {
        let resp = token_form(&rp.http, &rp.doc, &impostor, &form).await;
        assert_eq!(json_with(resp, 401).await["error"], "invalid_client");
    }
    let resp = token_form(&rp.http, &rp.doc, &client, &form).await;
    assert_eq!(json_with(resp, 200).await["token_type"], "Bearer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_and_introspection() {
    let rp = Rp::start(|_| {}).await;
    let client = rp
        .register(json!({
            "client_name": "Service",
            "grant_types": ["client_credentials"],
            "scope": "profile email",
        }))
        .await;
    let id = client_id(&client);

    let tokens = json_with(
        token_form(
            &rp.http,
            &rp.doc,
            &client,
            &[("grant_type", "client_credentials"), ("scope", "email")],
        )
        .await,
        200,
    )
    .await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "email");
    assert!(tokens.get("id_token").is_none() && tokens.get("refresh_token").is_none());
    let access_token = tokens["access_token"].as_str().unwrap();
    let header = decode_header(access_token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let (typ, claims) = rp.verify(access_token, rp.issuer());
    assert_eq!(typ.as_deref(), Some("at+jwt"));
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], "email");
    assert!(claims["jti"].is_string());

    // A user-less token may not ask for openid, nor for a scope the client lacks.
    for scope in ["openid", "address"] {
        let resp = token_form(
            &rp.http,
            &rp.doc,
            &client,
            &[("grant_type", "client_credentials"), ("scope", scope)],
        )
        .await;
        assert_eq!(json_with(resp, 400).await["error"], "invalid_scope");
    }

    // Another client, registered by anyone, learns nothing about this client's token (RFC
    // 7662 section 4); a resource server the administrator allows learns everything.
    let stranger = rp
        .register(json!({"client_name": "Stranger", "grant_types": ["client_credentials"]}))
        .await;
    assert_eq!(
        rp.introspect(&stranger, access_token).await,
        json!({"active": false})
    );
    let resource_server = create_client(
        &rp.http,
        rp.issuer(),
        json!({
            "name": "API", "redirect_uris": [], "grant_types": ["client_credentials"],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "introspect_any_token": true,
        }),
    )
    .await;
    assert_eq!(resource_server["introspect_any_token"], true);
    let about = rp.introspect(&resource_server, access_token).await;
    assert_eq!(about["active"], true);
    assert_eq!(about["client_id"], id);
    // Registration cannot make a client a resource server.
    let resp = rp
        .http
        .post(rp.endpoint("registration_endpoint"))
        .json(
            &json!({"client_name": "Sneaky", "grant_types": ["client_credentials"],
                      "introspect_any_token": true}),
        )
        .send()
        .await
        .unwrap();
    let sneaky: Value = resp.json().await.unwrap();
    assert_ne!(sneaky["introspect_any_token"], true, "{sneaky}");
    let sneaky_sees = rp.introspect(&sneaky, access_token).await;
    assert_eq!(sneaky_sees, json!({"active": false}));

    // Introspection by the (confidential) client, then revocation.
    let active = rp.introspect(&client, access_token).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id);
    assert_eq!(active["sub"], id);
    assert_eq!(active["scope"], "email");
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(rp.revoke(&client, access_token, "access_token").await, 200);
    let inactive = rp.introspect(&client, access_token).await;
    assert_eq!(inactive, json!({"active": false}));
    let unknown = rp.introspect(&client, "not-a-token").await;
    assert_eq!(unknown, json!({"active": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_grant_when_enabled() {
    let rp = Rp::start(|o| o.config.password_grant_enabled = true).await;
    assert!(rp.doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("password")));
    let client = create_client(
        &rp.http,
        rp.issuer(),
        json!({
            "name": "Legacy app",
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["password", "refresh_token"],
        }),
    )
    .await;
    let id = client_id(&client);
    let (rp, client) = (&rp, &client);
    let password = |password: &'static str| async move {
        let params = [
            ("grant_type", "password"),
            ("username", USER),
            ("password", password),
            ("scope", "openid email offline_access"),
        ];
        token_form(&rp.http, &rp.doc, client, &params).await
    };
    let err = json_with(password("wrong").await, 400).await;
    assert_eq!(err["error"], "invalid_grant");

    let tokens = json_with(password(PASSWORD).await, 200).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(decode_header(id_token).unwrap().alg, Algorithm::ES256);
    let (_, claims) = rp.verify(id_token, id);
    assert_eq!(claims["email"], "alice@example.com");
    assert!(claims.get("nonce").is_none());
    let access_token = tokens["access_token"].as_str().unwrap();
    let userinfo = json_with(rp.userinfo_get(access_token).await, 200).await;
    assert_eq!(userinfo["sub"], claims["sub"]);

    // offline_access gave a refresh token, which rotates.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let next = json_with(rp.refresh(client, refresh, None).await, 200).await;
    assert_ne!(next["refresh_token"].as_str().unwrap(), refresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_and_reuse() {
    let rp = Rp::start(|_| {}).await;
    let client = rp
        .register(json!({
            "client_name": "Offline RP",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await;
    let id = client_id(&client);

    // offline_access: the consent page says so; the code brings a refresh token.
    let url = authorize_url(&rp.doc, id, &[]).replace(
        "scope=openid+profile+email&",
        "scope=openid+email+offline_access&",
    );
    let trip = sign_in_and_allow(&rp.http, &url).await;
    let consent = trip.pages.last().unwrap();
    assert!(consent.contains("class=\"notice\""), "{consent}");
    assert_eq!(consent.matches("(offline access)").count(), 1, "{consent}");
    let code = query_of(trip.landing.location())["code"].clone();
    let tokens = json_with(token_request(&rp.http, &rp.doc, &client, &code).await, 200).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    // Wider than granted: invalid_scope, and the token stays usable.
    let err = json_with(
        rp.refresh(&client, &first, Some("openid email profile"))
            .await,
        400,
    )
    .await;
    assert_eq!(err["error"], "invalid_scope");

    // Narrower is fine; every use rotates.
    let second = json_with(rp.refresh(&client, &first, Some("openid")).await, 200).await;
    assert_eq!(second["scope"], "openid");
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first);
    let third = json_with(rp.refresh(&client, &second_refresh, None).await, 200).await;
    let third_refresh = third["refresh_token"].as_str().unwrap().to_owned();
    let third_access = third["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        json_with(rp.userinfo_get(&third_access).await, 200).await["email"],
        "alice@example.com"
    );

    // Presenting a rotated token: invalid_grant, and the whole family is revoked, the newest
    // refresh token and the access tokens with it.
    let err = json_with(rp.refresh(&client, &second_refresh, None).await, 400).await;
    assert_eq!(err["error"], "invalid_grant");
    let err = json_with(rp.refresh(&client, &third_refresh, None).await, 400).await;
    assert_eq!(err["error"], "invalid_grant");
    let resp = rp.userinfo_get(&third_access).await;
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_revocation_and_introspection() {
    let rp = Rp::start(|_| {}).await;
    let client = rp
        .register(json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await;
    let url = authorize_url(&rp.doc, client_id(&client), &[]).replace(
        "scope=openid+profile+email&",
        "scope=openid+profile+offline_access&",
    );
    let trip = sign_in_and_allow(&rp.http, &url).await;
    let code = query_of(trip.landing.location())["code"].clone();
    let tokens = json_with(token_request(&rp.http, &rp.doc, &client, &code).await, 200).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let userinfo_endpoint = rp.endpoint("userinfo_endpoint");

    // UserInfo: GET with the bearer header, POST with it or in the form body. The scopes
    // decide the claims: profile yes, email no.
    let get = json_with(rp.userinfo_get(access_token).await, 200).await;
    assert_eq!(get["preferred_username"], USER);
    assert!(get.get("email").is_none());
    let post_header = rp
        .http
        .post(userinfo_endpoint)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let post_form = rp
        .http
        .post(userinfo_endpoint)
        .form(&[("access_token", access_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(json_with(post_header, 200).await, get);
    assert_eq!(json_with(post_form, 200).await, get);
    let both = rp
        .http
        .post(userinfo_endpoint)
        .bearer_auth(access_token)
        .form(&[("access_token", access_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);

    let about = rp.introspect(&client, access_token).await;
    assert_eq!(about["active"], true);
    assert_eq!(about["sub"], get["sub"]);
    let mut scopes: Vec<&str> = about["scope"].as_str().unwrap().split(' ').collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["offline_access", "openid", "profile"]);
    let about = rp.introspect(&client, refresh_token).await;
    assert_eq!(about["active"], true);
    assert_eq!(about["token_type"], "refresh_token");

    // Revoke the access token: UserInfo answers 401 with a Bearer challenge.
    assert_eq!(rp.revoke(&client, access_token, "access_token").await, 200);
    let resp = rp.userinfo_get(access_token).await;
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    assert_eq!(json_with(resp, 401).await["error"], "invalid_token");
    let about = rp.introspect(&client, access_token).await;
    assert_eq!(about, json!({"active": false}));

    // Revoke the refresh token: it no longer refreshes.
    assert_eq!(
        rp.revoke(&client, refresh_token, "refresh_token").await,
        200
    );
    let about = rp.introspect(&client, refresh_token).await;
    assert_eq!(about, json!({"active": false}));
    let resp = rp.refresh(&client, refresh_token, None).await;
    assert_eq!(json_with(resp, 400).await["error"], "invalid_grant");
    // Revoking again, or something unknown, still answers 200 (RFC 7009 §2.2).
    assert_eq!(
        rp.revoke(&client, refresh_token, "refresh_token").await,
        200
    );
    assert_eq!(rp.revoke(&client, "unknown", "access_token").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_over_http() {
    let rp = Rp::start(|_| {}).await;
    let code_only = rp.register(json!({"redirect_uris": [REDIRECT]})).await;
    let implicit = rp
        .register(json!({
            "redirect_uris": [REDIRECT],
            "response_types": ["id_token token"],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    // All of these are refused before any page: straight back to the client.
    let refused = |client: &Value, params: &[(&'static str, &'static str)]| {
        let mut all = vec![
            ("client_id", client_id(client).to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("scope", "openid".to_owned()),
            ("state", "st-9".to_owned()),
        ];
        all.extend(params.iter().map(|(k, v)| (*k, v.to_string())));
        let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let url = authorize_url_with(&rp.doc, &pairs);
        let http = rp.http.clone();
        async move {
            let resp = http.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 303, "{url}");
            location(&resp)
        }
    };

    // A response type the client did not register: unauthorized_client, in the fragment the
    // requested response type implies.
    let to = refused(&code_only, &[("response_type", "id_token"), ("nonce", "n")]).await;
    let params = fragment_of(&to);
    assert_eq!(params["error"], "unauthorized_client");
    assert_eq!(params["state"], "st-9");
    assert_eq!(params["iss"], rp.issuer());

    // Implicit without a nonce.
    let to = refused(&implicit, &[("response_type", "id_token token")]).await;
    let params = fragment_of(&to);
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("nonce"), "{params:?}");

    // Tokens in the query: refused, and the error itself goes in the fragment.
    let to = refused(
        &implicit,
        &[
            ("response_type", "id_token token"),
            ("nonce", "n"),
            ("response_mode", "query"),
        ],
    )
    .await;
    let params = fragment_of(&to);
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("query"), "{params:?}");

    // A public client may not register for client_credentials (nor, when the password grant
    // is off, may anyone register for it).
    let registration = rp.endpoint("registration_endpoint");
    for metadata in [
        json!({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
        json!({"grant_types": ["password"]}),
    ] {
        let resp = rp
            .http
            .post(registration)
            .json(&metadata)
            .send()
            .await
            .unwrap();
        let err = json_with(resp, 400).await;
        assert_eq!(err["error"], "invalid_client_metadata", "{metadata}");
    }

    // The password grant is off by default: not advertised, not creatable, not accepted.
    assert!(!rp.doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("password")));
    let resp = rp
        .http
        .post(rp.server.url("/clients"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "name": "Legacy app",
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["password"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_with(resp, 400).await["field"], "grant_types");
    let service = rp
        .register(json!({"grant_types": ["client_credentials"]}))
        .await;
    let resp = token_form(
        &rp.http,
        &rp.doc,
        &service,
        &[
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        json_with(resp, 400).await["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_follows_the_clients_allowed_origins() {
    const SPA: &str = "https://spa.example";
    const EVIL: &str = "https://evil.example";
    let rp = Rp::start(|_| {}).await;
    // Dynamic registration cannot allow an origin: it is ignored, and not echoed.
    let anonymous = rp
        .register(json!({
            "redirect_uris": ["https://spa.example/cb"],
            "token_endpoint_auth_method": "none",
            "allowed_origins": [EVIL],
        }))
        .await;
    assert!(anonymous.get("allowed_origins").is_none(), "{anonymous}");
    // The administrator can.
    let client = create_client(
        &rp.http,
        rp.issuer(),
        json!({
            "name": "SPA",
            "redirect_uris": ["https://spa.example/cb"],
            "token_endpoint_auth_method": "none",
            "id_token_signed_response_alg": "ES256",
            "allowed_origins": [SPA],
        }),
    )
    .await;
    assert_eq!(client["allowed_origins"], json!([SPA]));

    let acao = |resp: &reqwest::Response| {
        let headers = resp.headers();
        assert!(headers.get("access-control-allow-credentials").is_none());
        headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let vary_origin = |resp: &reqwest::Response| {
        resp.headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("Origin"))
    };
    let cors_endpoints = [
        (Method::POST, rp.endpoint("token_endpoint").to_owned()),
        (Method::GET, rp.endpoint("userinfo_endpoint").to_owned()),
        (Method::GET, rp.endpoint("jwks_uri").to_owned()),
        (
            Method::GET,
            rp.server.url("/.well-known/openid-configuration"),
        ),
        (
            Method::GET,
            rp.server.url("/.well-known/oauth-authorization-server"),
        ),
    ];
    for (method, url) in &cors_endpoints {
        for origin in [SPA, EVIL] {
            let allowed = origin == SPA;
            // The preflight: 204 with the allow headers, or 403 without them.
            let resp = rp
                .http
                .request(Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", method.as_str())
                .header("access-control-request-headers", "authorization")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), if allowed { 204 } else { 403 }, "{url}");
            assert_eq!(acao(&resp).as_deref(), allowed.then_some(origin), "{url}");
            assert!(vary_origin(&resp), "{url}");
            if allowed {
                let methods = resp.headers()["access-control-allow-methods"]
                    .to_str()
                    .unwrap();
                assert!(methods.contains(method.as_str()), "{url}: {methods}");
                let headers = resp.headers()["access-control-allow-headers"]
                    .to_str()
                    .unwrap()
                    .to_ascii_lowercase();
                assert!(headers.contains("authorization"), "{url}");
            }

            // The request itself (answered or refused, the header follows the origin).
            let mut req = rp
                .http
                .request(method.clone(), url)
                .header("origin", origin);
            if *method == Method::POST {
                req = req.form(&[("grant_type", "client_credentials")]);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(acao(&resp).as_deref(), allowed.then_some(origin), "{url}");
            assert!(vary_origin(&resp), "{url}");
            if allowed && url.ends_with("/userinfo") {
                // A 401 the application can read, challenge included.
                assert_eq!(resp.status(), 401);
                let exposed = resp.headers()["access-control-expose-headers"]
                    .to_str()
                    .unwrap();
                assert!(exposed.contains("WWW-Authenticate"));
            }
        }
        // No Origin, no CORS.
        let resp = rp.http.request(method.clone(), url).send().await.unwrap();
        assert_eq!(acao(&resp), None, "{url}");
    }

    // Nothing else answers cross-origin, even for a listed origin.
    let login_page = authorize_url(&rp.doc, client_id(&client), &[]).replace(
        "http%3A%2F%2F127.0.0.1%3A9%2Fcb",
        "https%3A%2F%2Fspa.example%2Fcb",
    );
    let not_cors = [
        (Method::GET, login_page.clone()),
        (Method::OPTIONS, login_page),
        (Method::GET, rp.server.url("/clients")),
        (Method::OPTIONS, rp.server.url("/clients")),
        (
            Method::POST,
            rp.endpoint("registration_endpoint").to_owned(),
        ),
        (
            Method::OPTIONS,
            rp.endpoint("registration_endpoint").to_owned(),
        ),
        (Method::POST, rp.endpoint("revocation_endpoint").to_owned()),
        (
            Method::OPTIONS,
            rp.endpoint("revocation_endpoint").to_owned(),
        ),
        (
            Method::POST,
            rp.endpoint("introspection_endpoint").to_owned(),
        ),
        (Method::GET, rp.endpoint("end_session_endpoint").to_owned()),
        (Method::GET, rp.server.url("/")),
    ];
    for (method, url) in not_cors {
        let resp = rp
            .http
            .request(method.clone(), &url)
            .bearer_auth(ADMIN)
            .header("origin", SPA)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_ne!(resp.status(), 204, "{method} {url}");
        assert_eq!(acao(&resp), None, "{method} {url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_redirects_only_to_registered_uris() {
    let rp = Rp::start(|_| {}).await;
    let client = rp
        .register(json!({
            "client_name": "Logout RP",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [POST_LOGOUT],
        }))
        .await;
    let id = client_id(&client);
    let (rp, client) = (&rp, &client);
    let sign_in = || async move {
        let trip = sign_in_and_allow(&rp.http, &authorize_url(&rp.doc, id, &[])).await;
        let code = query_of(trip.landing.location())["code"].clone();
        let tokens = json_with(token_request(&rp.http, &rp.doc, client, &code).await, 200).await;
        tokens["id_token"].as_str().unwrap().to_owned()
    };
    let signed_in = || async move {
        let url = authorize_url(&rp.doc, id, &[("prompt", "none")]);
        let resp = rp.http.get(&url).send().await.unwrap();
        !query_of(&location(&resp)).contains_key("error")
    };
    let logout = |params: Vec<(&'static str, String)>| {
        let http = rp.http.clone();
        let endpoint = rp.endpoint("end_session_endpoint").to_owned();
        async move { http.get(endpoint).query(&params).send().await.unwrap() }
    };
    let id_token = sign_in().await;
    assert!(signed_in().await);

    // An unregistered post_logout_redirect_uri: an error page, no redirect, still signed in.
    let resp = logout(vec![
        ("id_token_hint", id_token.clone()),
        ("post_logout_redirect_uri", "https://evil.example/".into()),
        ("state", "s1".into()),
    ])
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get(LOCATION).is_none());
    assert_page_headers(resp.headers());
    let html = resp.text().await.unwrap();
    assert!(html.contains("post_logout_redirect_uri"), "{html}");
    assert!(signed_in().await);

    // A registered one with a valid hint: signed out at once and sent back with state.
    let resp = logout(vec![
        ("id_token_hint", id_token.clone()),
        ("post_logout_redirect_uri", POST_LOGOUT.into()),
        ("state", "s2".into()),
    ])
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{POST_LOGOUT}?state=s2"));
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert!(!signed_in().await);

    // Without a redirect URI: this provider's own "signed out" page.
    let id_token = sign_in().await;
    let resp = logout(vec![("id_token_hint", id_token)]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    let html = resp.text().await.unwrap();
    assert!(html.contains("<h1>Signed out</h1>"), "{html}");
    assert!(html.contains("<main>"), "the example's layout: {html}");
    assert!(!signed_in().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_rotation() {
    let rp = Rp::start(|_| {}).await;
    let created = create_client(
        &rp.http,
        rp.issuer(),
        json!({
            "name": "Rotating service",
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let first_id = created["client_secrets"][0]["id"].as_str().unwrap();
    let secrets = rp.server.url(&format!("/clients/{id}/secrets"));
    let with_secret =
        |secret: &str| json!({"client_id": created["client_id"], "client_secret": secret});
    let first = with_secret(created["client_secret"].as_str().unwrap());
    let rp = &rp;
    let cc = |client: Value| async move {
        token_form(
            &rp.http,
            &rp.doc,
            &client,
            &[("grant_type", "client_credentials")],
        )
        .await
        .status()
    };

    // The secrets API is behind the admin token too.
    let resp = rp.http.get(&secrets).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = rp
        .http
        .post(&secrets)
        .bearer_auth("wrong")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Add a second secret: shown once; both authenticate.
    let resp = rp
        .http
        .post(&secrets)
        .bearer_auth(ADMIN)
        .json(&json!({"name": "rotated"}))
        .send()
        .await
        .unwrap();
    let added = json_with(resp, 201).await;
    assert_eq!(added["name"], "rotated");
    let second = with_secret(added["client_secret"].as_str().unwrap());
    assert_eq!(cc(first.clone()).await, 200);
    assert_eq!(cc(second.clone()).await, 200);
    let resp = rp
        .http
        .get(&secrets)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let listed = json_with(resp, 200).await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|s| s.get("client_secret").is_none()));

    // Revoke the first: it no longer authenticates; the second still does.
    let resp = rp
        .http
        .delete(format!("{secrets}/{first_id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(cc(first).await, 401);
    assert_eq!(cc(second).await, 200);
    let resp = rp
        .http
        .delete(format!("{secrets}/{first_id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Methods a path does not take: 405 naming the ones it does.
    for (method, url, allow) in [
        (Method::PUT, secrets.clone(), "GET, POST"),
        (Method::GET, format!("{secrets}/{first_id}"), "DELETE"),
        (
            Method::PATCH,
            rp.server.url(&format!("/clients/{id}")),
            "GET, PUT, DELETE",
        ),
        (Method::DELETE, rp.server.url("/clients"), "GET, POST"),
    ] {
        let resp = rp
            .http
            .request(method.clone(), &url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {url}");
        assert_eq!(resp.headers()["allow"], allow, "{method} {url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_while_clients_are_created() {
    let rp = Rp::start(|_| {}).await;
    let settings = |n: usize| {
        json!({
            "name": format!("client {n}"),
            "redirect_uris": [format!("https://app{n}.example/cb")],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
        })
    };
    for n in 0..40 {
        create_client(&rp.http, rp.issuer(), settings(n)).await;
    }
    let list = |query: String| {
        let http = rp.http.clone();
        let url = rp.server.url(&format!("/clients?{query}"));
        async move {
            let resp = http.get(&url).bearer_auth(ADMIN).send().await.unwrap();
            json_with(resp, 200).await
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let before: HashSet<String> = ids(&list("page_size=1000".into()).await)
        .into_iter()
        .collect();
    assert_eq!(before.len(), 40);

    // Four tasks create ten clients each while this one pages through, seven at a time,
    // starting once every writer is under way.
    let created = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let http = rp.http.clone();
            let base = rp.server.base.clone();
            let created = created.clone();
            let settings: Vec<Value> = (0..10).map(|i| settings(100 + w * 10 + i)).collect();
            tokio::spawn(async move {
                for s in settings {
                    create_client(&http, &base, s).await;
                    created.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    while created.load(Ordering::SeqCst) < 4 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = match &after {
            Some(a) => format!("page_size=7&after={a}"),
            None => "page_size=7".to_owned(),
        };
        let page = list(query).await;
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }

    // Ascending, so nothing repeats; everything that existed before is there exactly once.
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let seen_set: HashSet<&String> = seen.iter().collect();
    let missing: Vec<&String> = before.iter().filter(|id| !seen_set.contains(id)).collect();
    assert!(missing.is_empty(), "missing {missing:?}");
    let all = list("page_size=1000".into()).await;
    assert_eq!(ids(&all).len(), 80);
    assert!(all["next"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_exchange_over_http() {
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
    let rp = Rp::start(|o| {
        o.config.password_grant_enabled = true;
        o.config.token_exchange_enabled = true;
    })
    .await;
    assert!(rp.doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(EXCHANGE)));
    let client = |name: &str, grants: Value| {
        json!({
            "name": name,
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": grants,
        })
    };
    let app = create_client(
        &rp.http,
        rp.issuer(),
        client("App", json!(["password", "refresh_token"])),
    )
    .await;
    let gateway = create_client(&rp.http, rp.issuer(), client("Gateway", json!([EXCHANGE]))).await;
    let params = [
        ("grant_type", "password"),
        ("username", USER),
        ("password", PASSWORD),
        ("scope", "openid email offline_access"),
    ];
    let user = json_with(token_form(&rp.http, &rp.doc, &app, &params).await, 200).await;
    let subject = user["access_token"].as_str().unwrap();

    let params = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("scope", "email"),
    ];
    let out = json_with(token_form(&rp.http, &rp.doc, &gateway, &params).await, 200).await;
    assert_eq!(
        (out["issued_token_type"].as_str(), out["scope"].as_str()),
        (Some(ACCESS), Some("email"))
    );
    let token = out["access_token"].as_str().unwrap();
    let (typ, claims) = rp.verify(token, rp.issuer());
    assert_eq!(typ.as_deref(), Some("at+jwt"));
    assert_eq!(claims["client_id"], client_id(&gateway));
    let (_, subject_claims) = rp.verify(subject, rp.issuer());
    assert_eq!(claims["sub"], subject_claims["sub"]);
    // Revoking one access token (RFC 7009) leaves its grant; revoking the refresh token ends
    // the grant, and the exchanged token with it.
    assert_eq!(rp.revoke(&app, subject, "access_token").await, 200);
    assert_eq!(rp.introspect(&gateway, token).await["active"], true);
    let refresh = user["refresh_token"].as_str().unwrap();
    assert_eq!(rp.revoke(&app, refresh, "refresh_token").await, 200);
    assert_eq!(rp.introspect(&gateway, token).await["active"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_indicators_over_http() {
    const ORDERS: &str = "https://orders.example.com/";
    let rp = Rp::start(|o| o.config.password_grant_enabled = true).await;
    let client = create_client(
        &rp.http,
        rp.issuer(),
        json!({
            "name": "Shop",
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["password", "refresh_token"],
            "allowed_resources": [ORDERS],
        }),
    )
    .await;
    assert_eq!(
        client["allowed_resources"],
        json!([ORDERS]),
        "shown by the management API"
    );
    let params = [
        ("grant_type", "password"),
        ("username", USER),
        ("password", PASSWORD),
        ("scope", "openid offline_access"),
        ("resource", ORDERS),
    ];
    let tokens = json_with(token_form(&rp.http, &rp.doc, &client, &params).await, 200).await;
    let (_, claims) = rp.verify(tokens["access_token"].as_str().unwrap(), ORDERS);
    assert_eq!(claims["aud"], ORDERS);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let next = json_with(rp.refresh(&client, refresh, None).await, 200).await;
    let (_, claims) = rp.verify(next["access_token"].as_str().unwrap(), ORDERS);
    assert_eq!(
        claims["aud"], ORDERS,
        "the refresh family keeps its resource"
    );
    let params = [
        ("grant_type", "password"),
        ("username", USER),
        ("password", PASSWORD),
        ("resource", "https://elsewhere.example/"),
    ];
    let err = json_with(token_form(&rp.http, &rp.doc, &client, &params).await, 400).await;
    assert_eq!(err["error"], "invalid_target");
}
