//! Signed UserInfo (OpenID Connect Core §5.3.2): a client that registered
//! `userinfo_signed_response_alg` gets a JWT with `iss` and `aud`; every other client JSON.

mod common;

use common::*;
use serde_json::{json, Value};

/// Verify with `jsonwebtoken` against the JWKS: a signed UserInfo response carries `iss` and
/// `aud` but no `exp` (OpenID Connect Core §5.3.2 asks for none).
fn verify_userinfo(h: &Harness, jwt: &str, audience: &str) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&h.provider.jwks_json()).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ISSUER]);
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation).unwrap();
    (data.header, data.claims)
}

#[tokio::test]
async fn a_client_that_asked_gets_a_signed_jwt_and_the_others_json() {
    let h = Harness::new();
    let doc: Value = serde_json::from_slice(&h.provider.discovery().body).unwrap();
    let algs = doc["userinfo_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("RS256")));

    for alg in ["ES256", "RS256"] {
        let c = h.client(json!({"userinfo_signed_response_alg": alg})).await;
        let tokens = h.code_flow(&c, "openid email").await;
        let (status, _, resp) = h.userinfo(tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(resp.header("content-type"), Some("application/jwt"));
        let jwt = std::str::from_utf8(&resp.body).unwrap();
        let (header, claims) = verify_userinfo(&h, jwt, &c.client.client_id);
        assert_eq!(format!("{:?}", header.alg), alg);
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], c.client.client_id.as_str());
        assert_eq!(claims["sub"], "user-alice");
        assert_eq!(claims["email"], "alice@example.com");
    }

    let plain = h.client(json!({})).await;
    let tokens = h.code_flow(&plain, "openid email").await;
    let (status, body, resp) = h.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(body.get("iss").is_none() && body.get("aud").is_none());
    assert_eq!(body["sub"], "user-alice");
}

#[tokio::test]
async fn registration_takes_and_shows_it_and_refuses_other_algorithms() {
    let h = Harness::new();
    let register = |doc: Value| {
        let h = &h;
        async move {
            let body = doc.to_string();
            let req = opkit::http::HttpRequest::new(opkit::http::Method::Post)
                .header("content-type", b"application/json")
                .body(body.as_bytes());
            let resp = h.provider.register(&req).await;
            let json: Value = serde_json::from_slice(&resp.body).unwrap();
            (resp.status, json)
        }
    };
    let (status, out) = register(json!({
        "redirect_uris": [REDIRECT],
        "userinfo_signed_response_alg": "ES256",
    }))
    .await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["userinfo_signed_response_alg"], "ES256");
    let (status, err) = register(json!({
        "redirect_uris": [REDIRECT],
        "userinfo_signed_response_alg": "HS256",
    }))
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let (status, out) = register(json!({
        "redirect_uris": [REDIRECT],
        "userinfo_signed_response_alg": "none",
    }))
    .await;
    assert_eq!(status, 201, "none is plain JSON: {out}");
    assert!(out.get("userinfo_signed_response_alg").is_none());
}
