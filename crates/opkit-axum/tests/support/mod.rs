//! Helpers of the integration tests: a browser (cookies on, redirects off), page parsing, PKCE
//! constants and JWT verification with `jsonwebtoken` against the provider's JWKS.

#![allow(dead_code)]

use std::collections::HashMap;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use reqwest::{redirect, Client, Response};
use serde_json::Value;

pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A browser: keeps cookies, never follows redirects.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(resp: &Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// The query parameters of a URL.
pub fn params_of(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).unwrap();
    serde_urlencoded::from_str(parsed.query().unwrap_or("")).unwrap()
}

/// A page's form: where it posts and its CSRF token.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub csrf: String,
}

fn attr_after(html: &str, marker: &str, name: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {html}"));
    let rest = &html[at..];
    let needle = format!("{name}=\"");
    let from = rest.find(&needle).unwrap() + needle.len();
    rest[from..from + rest[from..].find('"').unwrap()].replace("&amp;", "&")
}

pub fn form_of(html: &str) -> Form {
    Form {
        action: attr_after(html, "<form method=\"post\"", "action"),
        csrf: attr_after(html, "name=\"csrf\"", "value"),
    }
}

pub async fn post_login(http: &Client, form: &Form, user: &str, password: &str) -> Response {
    let fields = [
        ("csrf", form.csrf.as_str()),
        ("username", user),
        ("password", password),
        ("action", "login"),
    ];
    http.post(&form.action).form(&fields).send().await.unwrap()
}

pub async fn post_consent(http: &Client, form: &Form, decision: &str) -> Response {
    let fields = [("csrf", form.csrf.as_str()), ("decision", decision)];
    http.post(&form.action).form(&fields).send().await.unwrap()
}

pub async fn get_json(http: &Client, url: &str) -> Value {
    let resp = http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

/// RFC 7591 registration of a public client with PKCE; its `client_id`.
pub async fn register_public(http: &Client, doc: &Value) -> String {
    let endpoint = doc["registration_endpoint"].as_str().unwrap();
    let metadata = serde_json::json!({
        "client_name": "Test RP",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "id_token_signed_response_alg": "ES256",
    });
    let resp = http.post(endpoint).json(&metadata).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

pub fn authorize_url(doc: &Value, client_id: &str) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    format!(
        "{}?{query}",
        doc["authorization_endpoint"].as_str().unwrap()
    )
}

/// Redeem `code` as the public client `client_id` with [`VERIFIER`]; the token response.
pub async fn redeem(http: &Client, doc: &Value, client_id: &str, code: &str) -> Value {
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
    ];
    let endpoint = doc["token_endpoint"].as_str().unwrap();
    let resp = http.post(endpoint).form(&fields).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Verify a JWT with `jsonwebtoken` against the JWKS (key chosen by `kid`); its claims.
pub fn verify_jwt(jwks: &JwkSet, token: &str, issuer: &str, audience: &str) -> Value {
    let header = decode_header(token).unwrap();
    let jwk = jwks
        .find(&header.kid.expect("a kid"))
        .expect("the kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    decode::<Value>(token, &key, &validation).unwrap().claims
}
