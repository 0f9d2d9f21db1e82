//! RP-initiated logout through the public API.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use common::*;
use opkit::http::{HttpRequest, Method};
use opkit::logout::EndSession;
use opkit::store::StoreError;
use serde_json::json;

#[derive(Default)]
struct Host {
    ended: AtomicUsize,
    subject: Mutex<Option<String>>,
}

impl EndSession for Host {
    async fn end_session(&self, subject: Option<&str>) -> Result<(), StoreError> {
        self.ended.fetch_add(1, Ordering::SeqCst);
        *self.subject.lock().unwrap() = subject.map(str::to_owned);
        Ok(())
    }
}

const AFTER: &str = "https://rp.example/bye";

#[tokio::test]
async fn logout_with_registered_redirect() {
    let h = Harness::new();
    let c = h
        .client(json!({"post_logout_redirect_uris": [AFTER]}))
        .await;
    let tokens = h.code_flow(&c, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let query = format!(
        "id_token_hint={hint}&post_logout_redirect_uri={}&state=s%201",
        enc(AFTER)
    );
    let req = HttpRequest::new(Method::Get).query(&query);
    let logout = h.provider.logout_request(&req).await.unwrap();
    assert!(logout.has_valid_hint());
    assert_eq!(logout.client_id(), Some(c.client.client_id.as_str()));
    assert_eq!(logout.subject(), Some("user-alice"));
    let host = Host::default();
    let resp = h
        .provider
        .finish_logout(&logout, &host)
        .await
        .unwrap()
        .into_http();
    assert_eq!(resp.status, 303);
    assert_eq!(
        resp.header("location"),
        Some("https://rp.example/bye?state=s+1")
    );
    assert_eq!(host.ended.load(Ordering::SeqCst), 1);
    assert_eq!(host.subject.lock().unwrap().as_deref(), Some("user-alice"));
}

#[tokio::test]
async fn logout_with_client_id_only_and_post() {
    let h = Harness::new();
    let c = h
        .client(json!({"post_logout_redirect_uris": [AFTER]}))
        .await;
    let body = format!(
        "client_id={}&post_logout_redirect_uri={}",
        c.client.client_id,
        enc(AFTER)
    );
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .body(body.as_bytes());
    let logout = h.provider.logout_request(&req).await.unwrap();
    assert!(
        !logout.has_valid_hint(),
        "no hint: the host should ask the user to confirm"
    );
    let resp = h
        .provider
        .finish_logout(&logout, &Host::default())
        .await
        .unwrap()
        .into_http();
    assert_eq!(resp.header("location"), Some(AFTER));
}

#[tokio::test]
async fn unregistered_redirect_is_an_error_page() {
    let h = Harness::new();
    let c = h
        .client(json!({"post_logout_redirect_uris": [AFTER]}))
        .await;
    let other = h.client(json!({})).await;
    let tokens = h.code_flow(&c, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let cases = [
        format!(
            "client_id={}&post_logout_redirect_uri={}",
            c.client.client_id,
            enc("https://evil.example/")
        ),
        format!("post_logout_redirect_uri={}", enc(AFTER)),
        format!(
            "client_id={}&post_logout_redirect_uri={}",
            other.client.client_id,
            enc(AFTER)
        ),
        format!("id_token_hint={hint}&client_id={}", other.client.client_id),
        "id_token_hint=not-a-token".to_owned(),
        "client_id=unknown".to_owned(),
    ];
    for q in cases {
        let req = HttpRequest::new(Method::Get).query(&q);
        let err = h.provider.logout_request(&req).await.expect_err(&q);
        assert_eq!(err.code(), opkit::ErrorCode::InvalidRequest, "{q}");
    }
}

#[tokio::test]
async fn logout_without_redirect_shows_a_page() {
    let h = Harness::new();
    let req = HttpRequest::new(Method::Get);
    let logout = h.provider.logout_request(&req).await.unwrap();
    let resp = h
        .provider
        .finish_logout(&logout, &Host::default())
        .await
        .unwrap()
        .into_http();
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let discovery: serde_json::Value =
        serde_json::from_slice(&h.provider.discovery_json()).unwrap();
    assert_eq!(
        discovery["end_session_endpoint"],
        format!("{ISSUER}/logout")
    );
}
