//! End-to-end test of the provider as the example provider serves it: `opkit-axum`'s router
//! (built through its public API with the example's settings) on a loopback port, served by
//! `opkit_axum::serve`, driven over HTTP by reqwest (cookie store on, redirects off) the way a
//! relying party and a browser would: discovery, dynamic registration, the code flow with PKCE
//! through the login and consent pages, token redemption, ID token verification with
//! `jsonwebtoken` against the JWKS, UserInfo, `prompt=none`, logout and the management API.
//!
//! What belongs to the example program itself (its command line, startup banner, landing page
//! and demo client) is tested beside it, in `examples/server/tests.rs` (`cargo test` runs it).

mod example_support;

use jsonwebtoken::decode_header;
use opkit::config::RegistrationPolicy;
use opkit::secret::SecretHash;
use reqwest::header::LOCATION;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use example_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_through_the_pages() {
    let server = start(|_| {}).await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    assert_eq!(doc["issuer"], server.base.as_str());
    let jwks = jwks(&http, &doc).await;

    // RFC 7591 registration: a confidential client (ES256) and a public one (default RS256).
    let registration = doc["registration_endpoint"].as_str().unwrap();
    let confidential = register(
        &http,
        registration,
        json!({
            "client_name": "Test <RP>",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [POST_LOGOUT],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "ES256",
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await;
    let public = register(
        &http,
        registration,
        json!({
            "client_name": "Public RP",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    assert!(public.get("client_secret").is_none());
    let client_id = confidential["client_id"].as_str().unwrap();

    // The authorization request shows the login page, escaped and locked down.
    let url = authorize_url(&doc, client_id, &[]);
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_page_headers(page.headers());
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Test &lt;RP&gt;"));
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    let login = form_of(&html);
    assert!(login
        .action
        .starts_with(&format!("{}/interaction/", server.base)));

    // A wrong CSRF token is refused and leaves the interaction usable.
    let forged = Form {
        action: login.action.clone(),
        csrf: "forged".into(),
    };
    let resp = post_login(&http, &forged, USER, PASSWORD).await;
    assert_eq!(resp.status(), 403);
    // So is the right token from a browser without the binding cookie.
    let resp = post_login(&browser(), &login, USER, PASSWORD).await;
    assert_eq!(resp.status(), 403);

    // A wrong password and an unknown user get the same message.
    let wrong = post_login(&http, &login, USER, "nope")
        .await
        .text()
        .await
        .unwrap();
    let unknown = post_login(&http, &login, "mallory", "nope")
        .await
        .text()
        .await
        .unwrap();
    assert!(wrong.contains("The username or password is incorrect."));
    assert!(unknown.contains("The username or password is incorrect."));

    // The right password leads to the consent page.
    let resp = post_login(&http, &login, USER, PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert_page_headers(resp.headers());
    let html = resp.text().await.unwrap();
    assert!(html.contains("Your e-mail address"), "{html}");
    assert!(!html.contains("offline access"));
    let consent = form_of(&html);

    // The login page cannot be posted twice.
    let resp = post_login(&http, &login, USER, PASSWORD).await;
    assert_eq!(resp.status(), 400);

    // Allow: 303 to the redirect URI with code, state and iss (RFC 9207).
    let resp = post_consent(&http, &consent, "allow").await;
    assert_eq!(resp.status(), 303);
    let redirect_to = location(&resp);
    assert!(redirect_to.starts_with(&format!("{REDIRECT}?")));
    let params = params_of(&redirect_to);
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], server.base.as_str());
    let code = params["code"].clone();

    // Token request with HTTP Basic.
    let resp = token_request(&http, &doc, &confidential, &code).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(
        decode_header(id_token).unwrap().alg,
        jsonwebtoken::Algorithm::ES256
    );
    let claims = verify_jwt(&jwks, id_token, &server.base, client_id);
    assert_eq!(claims["nonce"], "n-456");
    assert!(claims["at_hash"].is_string());
    assert_eq!(claims["email"], "alice@example.com");
    let sub = claims["sub"].as_str().unwrap().to_owned();

    // UserInfo with the access token: the same subject and e-mail.
    let access_token = tokens["access_token"].as_str().unwrap();
    let resp = http
        .get(doc["userinfo_endpoint"].as_str().unwrap())
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let userinfo: Value = resp.json().await.unwrap();
    assert_eq!(userinfo["sub"], sub.as_str());
    assert_eq!(userinfo["email"], "alice@example.com");
    assert_eq!(userinfo["preferred_username"], USER);

    // The code works once.
    let resp = token_request(&http, &doc, &confidential, &code).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "invalid_grant");

    // prompt=none with the session cookie: a code at once (consent is remembered).
    let url = authorize_url(&doc, client_id, &[("prompt", "none")]);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let params = params_of(&location(&resp));
    assert!(params.contains_key("code"), "{params:?}");
    let resp = token_request(&http, &doc, &confidential, &params["code"]).await;
    assert_eq!(resp.status(), 200);

    // Without a session cookie: login_required, back to the client.
    let url = authorize_url(&doc, client_id, &[("prompt", "none")]);
    let resp = browser().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let params = params_of(&location(&resp));
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st-123");

    // prompt=login shows the login page even with a session.
    let url = authorize_url(&doc, client_id, &[("prompt", "login")]);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("name=\"password\""));

    // The public client: logged in already, so straight to its consent page; then a code
    // redeemed with the verifier alone. Its ID token is RS256 and verifies too.
    let public_id = public["client_id"].as_str().unwrap();
    let url = authorize_url(&doc, public_id, &[]);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Public RP") && html.contains("Allow"));
    let resp = post_consent(&http, &form_of(&html), "allow").await;
    assert_eq!(resp.status(), 303);
    let params = params_of(&location(&resp));
    let resp = token_request(&http, &doc, &public, &params["code"]).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(
        decode_header(id_token).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    let claims = verify_jwt(&jwks, id_token, &server.base, public_id);
    assert_eq!(claims["sub"], sub.as_str());

    // RP-initiated logout with a valid id_token_hint: signed out and sent back with state.
    let resp = http
        .get(doc["end_session_endpoint"].as_str().unwrap())
        .query(&[
            ("id_token_hint", id_token),
            ("client_id", public_id),
            ("state", "bye-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "no post_logout_redirect_uri: a page");
    let url = authorize_url(&doc, client_id, &[("prompt", "none")]);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(params_of(&location(&resp))["error"], "login_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_deny_offline_access_and_logout_confirmation() {
    let server = start(|_| {}).await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    let client = register(
        &http,
        doc["registration_endpoint"].as_str().unwrap(),
        json!({
            "client_name": "Offline RP",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [POST_LOGOUT],
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();

    // Cancel on the login page: access_denied to the client.
    let url = authorize_url(&doc, client_id, &[]);
    let login = form_of(&http.get(&url).send().await.unwrap().text().await.unwrap());
    let resp = http
        .post(&login.action)
        .form(&[("csrf", login.csrf.as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let params = params_of(&location(&resp));
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st-123");

    // offline_access: the consent page says so; Deny gives access_denied.
    let scope = [("scope", "openid offline_access")];
    let url = authorize_url(&doc, client_id, &scope).replace("scope=openid+profile+email&", "");
    let login = form_of(&http.get(&url).send().await.unwrap().text().await.unwrap());
    let html = post_login(&http, &login, USER, PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("keep access when you are not using the app (offline access)"));
    let resp = post_consent(&http, &form_of(&html), "deny").await;
    assert_eq!(params_of(&location(&resp))["error"], "access_denied");

    // Allowing it yields a refresh token.
    let html = http.get(&url).send().await.unwrap().text().await.unwrap();
    let resp = post_consent(&http, &form_of(&html), "allow").await;
    let params = params_of(&location(&resp));
    let tokens: Value = token_request(&http, &doc, &client, &params["code"])
        .await
        .json()
        .await
        .unwrap();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");

    // Logout without id_token_hint asks first; confirming signs out and returns to the client.
    let resp = http
        .get(doc["end_session_endpoint"].as_str().unwrap())
        .query(&[
            ("client_id", client_id),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "bye-2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_page_headers(resp.headers());
    let html = resp.text().await.unwrap();
    assert!(html.contains("Offline RP"));
    let confirm = form_of(&html);
    let resp = http
        .post(&confirm.action)
        .form(&[("csrf", confirm.csrf.as_str()), ("decision", "logout")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{POST_LOGOUT}?state=bye-2"));
    let url = authorize_url(&doc, client_id, &[("prompt", "none")]);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(params_of(&location(&resp))["error"], "login_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_requests_get_an_error_page_not_a_redirect() {
    let server = start(|_| {}).await;
    let http = browser();
    let url = format!(
        "{}/authorize?response_type=code&client_id=%3Cscript%3E&redirect_uri={}",
        server.base, "https%3A%2F%2Fevil.example%2F"
    );
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get(LOCATION).is_none());
    assert_page_headers(resp.headers());
    let html = resp.text().await.unwrap();
    assert!(html.contains("invalid_request"));
    assert!(!html.contains("<script>"));

    // Unknown interaction: an "expired" page.
    let resp = http
        .post(format!("{}/interaction/nope/login", server.base))
        .form(&[("csrf", "x"), ("username", USER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Oversized bodies are refused before reaching the core.
    let resp = http
        .post(format!("{}/token", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_not_allowed_name_the_allowed_ones() {
    let server = start(|_| {}).await;
    let http = browser();
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/authorize", "GET, POST"),
        (reqwest::Method::DELETE, "/logout", "GET, POST"),
        (reqwest::Method::GET, "/token", "POST"),
        (reqwest::Method::PUT, "/userinfo", "GET, POST"),
        (reqwest::Method::GET, "/revoke", "POST"),
        (reqwest::Method::GET, "/introspect", "POST"),
        (reqwest::Method::GET, "/register", "POST"),
        (reqwest::Method::POST, "/jwks", "GET,HEAD,OPTIONS"),
        (reqwest::Method::GET, "/interaction/x/login", "POST"),
    ] {
        let resp = http
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(resp.headers()["allow"], allow, "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_with_a_path_and_cors() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{root}/op");
    let app = build(options(&issuer));
    serve(listener, &app);
    let http = browser();

    // Discovery under the issuer's path, RFC 8414 metadata at the root with the path appended.
    let doc = discovery(&http, &issuer).await;
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    let metadata = format!("{root}/.well-known/oauth-authorization-server/op");
    let resp = http.get(&metadata).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let rfc8414: Value = resp.json().await.unwrap();
    assert_eq!(rfc8414, doc);

    // The pages run under the path too.
    let registration = doc["registration_endpoint"].as_str().unwrap();
    let rp = register(&http, registration, json!({"redirect_uris": [REDIRECT]})).await;
    let url = authorize_url(&doc, rp["client_id"].as_str().unwrap(), &[]);
    assert!(url.starts_with(&format!("{issuer}/authorize?")));
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let login = form_of(&resp.text().await.unwrap());
    assert!(login.action.starts_with(&format!("{issuer}/interaction/")));
    assert_eq!(
        http.get(format!("{root}/authorize"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // CORS under the path: an origin some client lists in allowed_origins gets the preflight and
    // the header on the token endpoint and the metadata; the redirect URI's origin alone does
    // not make an origin allowed.
    let spa =
        json!({"redirect_uris": ["https://spa.example/cb"], "token_endpoint_auth_method": "none"});
    let client = register(&http, registration, spa.clone()).await;
    let client_id = client["client_id"].as_str().unwrap();
    let token_endpoint = doc["token_endpoint"].as_str().unwrap();
    let bogus_code = |origin: &'static str| {
        http.post(token_endpoint)
            .header("origin", origin)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "bogus"),
                ("client_id", client_id),
                ("code_verifier", VERIFIER),
            ])
            .send()
    };
    let resp = bogus_code("https://spa.example").await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    // Registration cannot allow an origin (it is ignored); the administrator can.
    let mut listed = spa;
    listed["allowed_origins"] = json!(["https://spa.example"]);
    let ignored = register(&http, registration, listed.clone()).await;
    assert!(ignored.get("allowed_origins").is_none(), "{ignored}");
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, token_endpoint)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    assert_eq!(
        preflight("https://spa.example").await.unwrap().status(),
        403
    );
    listed["name"] = json!("SPA");
    listed["id_token_signed_response_alg"] = json!("ES256");
    create_client(&http, &issuer, listed).await;
    for (origin, allowed) in [
        ("https://spa.example", true),
        ("https://evil.example", false),
    ] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, token_endpoint)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), if allowed { 204 } else { 403 });
        let resp = bogus_code(origin).await.unwrap();
        assert_eq!(resp.status(), 400);
        let resp_metadata = http
            .get(&metadata)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        for headers in [preflight.headers(), resp.headers(), resp_metadata.headers()] {
            let header = headers.get("access-control-allow-origin");
            assert_eq!(
                header.map(|h| h.to_str().unwrap()),
                allowed.then_some(origin)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_needs_the_admin_token() {
    let server = start(|o| o.config.password_grant_enabled = true).await;
    let http = browser();
    let clients = format!("{}/clients", server.base);
    let settings = json!({
        "name": "Managed app",
        "redirect_uris": ["https://app.example.com/cb"],
        "id_token_signed_response_alg": "ES256",
        "token_endpoint_auth_method": "client_secret_basic",
    });

    for token in [None, Some("wrong-token")] {
        let mut req = http.post(&clients).json(&settings);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert!(body["message"].is_string());
    }

    let resp = http
        .post(&clients)
        .bearer_auth(ADMIN)
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_ne!(created["id"], created["client_id"]);
    assert!(created["client_secret"].is_string());
    let date_created = created["date_created"].as_str().unwrap();
    time::OffsetDateTime::parse(date_created, &time::format_description::well_known::Rfc3339)
        .unwrap();

    let one = format!("{clients}/{id}");
    let resp = http.get(&one).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let read: Value = resp.json().await.unwrap();
    assert!(read.get("client_secret").is_none());
    assert_eq!(read["client_id"], created["client_id"]);

    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let mut changed = settings.clone();
    changed["name"] = json!("Renamed app");
    let resp = http
        .put(&one)
        .bearer_auth(ADMIN)
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["name"], "Renamed app");
    assert_ne!(updated["date_modified"], created["date_modified"]);

    let resp = http.delete(&one).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let resp = http.get(&one).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // --password-grant: a client given the password grant gets tokens for alice's password.
    let mut legacy = settings.clone();
    legacy["grant_types"] = json!(["password"]);
    let created: Value = http
        .post(&clients)
        .bearer_auth(ADMIN)
        .json(&legacy)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    for (password, status) in [("wrong", 400), (PASSWORD, 200)] {
        let resp = http
            .post(format!("{}/token", server.base))
            .basic_auth(id, Some(secret))
            .form(&[
                ("grant_type", "password"),
                ("username", USER),
                ("password", password),
                ("scope", "openid email"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
        let body: Value = resp.json().await.unwrap();
        if status == 200 {
            assert!(body["id_token"].is_string());
        } else {
            assert_eq!(body["error"], "invalid_grant");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_limited() {
    let server = start(|_| {}).await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    let client = register(
        &http,
        doc["registration_endpoint"].as_str().unwrap(),
        json!({"redirect_uris": [REDIRECT]}),
    )
    .await;
    let url = authorize_url(&doc, client["client_id"].as_str().unwrap(), &[]);
    let page = |http: Client| {
        let url = url.clone();
        async move { form_of(&http.get(&url).send().await.unwrap().text().await.unwrap()) }
    };

    // Five wrong passwords per page, then the page is spent (no Retry-After: waiting does not
    // revive it).
    let login = page(http.clone()).await;
    for _ in 0..5 {
        let resp = post_login(&http, &login, USER, "wrong").await;
        assert_eq!(resp.status(), 200);
    }
    let resp = post_login(&http, &login, USER, PASSWORD).await;
    assert_eq!(resp.status(), 429);
    assert!(!resp.headers().contains_key("retry-after"));

    // The account's five free checks (from this source) are used up: the next check must wait
    // the announced delay, on any page, and then the right password works.
    let login = page(http.clone()).await;
    let resp = post_login(&http, &login, USER, PASSWORD).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let resp = post_login(&http, &login, USER, PASSWORD).await;
    assert!(
        resp.status().is_redirection() || resp.status() == 200,
        "{}",
        resp.status()
    );
    assert!(!resp.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_token() {
    let server = start(|o| {
        o.config.registration =
            RegistrationPolicy::InitialAccessToken(SecretHash::of("initial-access-token-123"));
    })
    .await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    let registration = doc["registration_endpoint"].as_str().unwrap();
    let metadata = json!({"redirect_uris": [REDIRECT]});

    let resp = http
        .post(registration)
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "RFC 6750 §3.1: no error code without credentials: {challenge}"
    );
    let resp = http
        .post(registration)
        .bearer_auth("wrong")
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "invalid_token");
    let resp = http
        .post(registration)
        .bearer_auth("initial-access-token-123")
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_closed_by_default_and_no_admin_token_no_management_api() {
    let server = start(|o| {
        o.config.registration = RegistrationPolicy::Closed;
        o.admin_token = None;
    })
    .await;
    let http = browser();
    let doc = discovery(&http, &server.base).await;
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");
    let resp = http
        .post(server.url("/register"))
        .json(&json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http
        .get(server.url("/clients"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
