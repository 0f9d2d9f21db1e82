//! Client registration (RFC 7591 / 7592) and the management API, through the public API.

mod common;

use common::*;
use opkit::client::MetadataSource;
use opkit::config::RegistrationPolicy;
use opkit::http::{HttpRequest, HttpResponse, Method};
use opkit::secret::SecretHash;
use opkit::store::ClientStore;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

async fn register(h: &Harness, body: Value, token: Option<&str>) -> (u16, Value) {
    let body = body.to_string();
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/json")
        .body(body.as_bytes());
    if let Some(a) = &auth {
        req = req.header("authorization", a.as_bytes());
    }
    json_of(h.provider.register(&req).await)
}

fn json_of(resp: HttpResponse) -> (u16, Value) {
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

async fn manage(
    h: &Harness,
    method: Method,
    id: Option<&str>,
    query: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = HttpRequest::new(method)
        .query(query)
        .header("content-type", b"application/json")
        .body(body.as_bytes());
    json_of(h.provider.manage_clients(&req, id).await)
}

fn management_body() -> Value {
    json!({
        "name": "Shop",
        "redirect_uris": ["https://shop.example/cb"],
        "id_token_signed_response_alg": "RS256",
        "token_endpoint_auth_method": "client_secret_post"
    })
}

#[tokio::test]
async fn dynamic_registration_confidential_and_public() {
    let h = Harness::new();
    let (status, reg) = register(
        &h,
        json!({"redirect_uris": [REDIRECT], "client_name": "RP", "contacts": ["ops@rp.example"]}),
        None,
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert!(reg["client_id"].is_string());
    assert!(
        reg["client_secret"].as_str().unwrap().len() >= 43,
        "256-bit secret"
    );
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(reg["id_token_signed_response_alg"], "RS256");
    assert_eq!(reg["grant_types"], json!(["authorization_code"]));
    assert_eq!(
        reg["contacts"],
        json!(["ops@rp.example"]),
        "unknown metadata kept"
    );
    assert!(reg["registration_client_uri"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{ISSUER}/register/")));

    // The registered client completes the code flow.
    let client = h.store_client(reg["client_id"].as_str().unwrap()).await;
    let with = opkit::client::ClientWithSecrets {
        client,
        client_secret: reg["client_secret"].as_str().map(str::to_owned),
        registration_access_token: None,
    };
    let tokens = h.code_flow(&with, "openid").await;
    verify_jwt(
        &h.provider,
        tokens["id_token"].as_str().unwrap(),
        reg["client_id"].as_str().unwrap(),
    );

    let (status, public) = register(&h, json!({"redirect_uris": ["http://127.0.0.1:7000/cb"], "token_endpoint_auth_method": "none"}), None).await;
    assert_eq!(status, 201);
    assert!(public.get("client_secret").is_none());
}

#[tokio::test]
async fn registration_errors() {
    let h = Harness::new();
    let cases = [
        (
            json!({"redirect_uris": ["http://rp.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "subject_type": "pairwise"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "https://rp.example/cb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
    ];
    for (body, want) in cases {
        let (status, err) = register(&h, body.clone(), None).await;
        assert_eq!((status, err["error"].as_str()), (400, Some(want)), "{body}");
    }
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/json")
        .body(b"[1,2]");
    assert_eq!(json_of(h.provider.register(&req).await).0, 400);
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"text/plain")
        .body(b"{}");
    assert_eq!(json_of(h.provider.register(&req).await).0, 415);
}

#[tokio::test]
async fn registration_with_initial_access_token() {
    let h = Harness::with_config(|c| {
        c.registration = RegistrationPolicy::InitialAccessToken(SecretHash::of("let-me-in"))
    });
    let body = json!({"redirect_uris": [REDIRECT]});
    let (status, err) = register(&h, body.clone(), None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, None),
        "RFC 6750 §3.1: no error code without credentials"
    );
    let (status, err) = register(&h, body.clone(), Some("wrong")).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert_eq!(register(&h, body, Some("let-me-in")).await.0, 201);
}

#[tokio::test]
async fn rfc7592_configuration_endpoint() {
    let h = Harness::new();
    let (_, reg) = register(
        &h,
        json!({"redirect_uris": [REDIRECT], "client_name": "Before"}),
        None,
    )
    .await;
    let client_id = reg["client_id"].as_str().unwrap();
    let token = reg["registration_access_token"].as_str().unwrap();
    let call = |method: Method, token: &str, body: Option<Value>| {
        let auth = format!("Bearer {token}");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let h = &h;
        async move {
            let req = HttpRequest::new(method)
                .header("authorization", auth.as_bytes())
                .header("content-type", b"application/json")
                .body(body.as_bytes());
            json_of(h.provider.registration_client(&req, client_id).await)
        }
    };
    let (status, read) = call(Method::Get, token, None).await;
    assert_eq!(
        (status, read["client_name"].as_str()),
        (200, Some("Before"))
    );
    assert!(read.get("client_secret").is_none());
    assert_eq!(call(Method::Get, "wrong", None).await.0, 401);

    // The administrator allows an origin and introspection; the client's own replacement of
    // its registration keeps both (it cannot set them, nor drop them).
    let stored = h.provider.store().client(client_id).await.unwrap().unwrap();
    let admin = json!({
        "name": "Before", "redirect_uris": [REDIRECT], "id_token_signed_response_alg": "RS256",
        "token_endpoint_auth_method": "client_secret_basic",
        "allowed_origins": ["https://app.example"], "introspect_any_token": true,
    });
    let settings = opkit::client::validate(
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
    let (status, updated) = call(
        Method::Put,
        token,
        Some(
            json!({"client_id": client_id, "redirect_uris": [REDIRECT], "client_name": "After",
                    "allowed_origins": ["https://evil.example"], "introspect_any_token": false}),
        ),
    )
    .await;
    assert_eq!(
        (status, updated["client_name"].as_str()),
        (200, Some("After")),
        "{updated}"
    );
    assert_eq!(updated["allowed_origins"], json!(["https://app.example"]));
    let stored = h.provider.store().client(client_id).await.unwrap().unwrap();
    assert!(stored.settings.introspect_any_token);
    let (status, err) = call(
        Method::Put,
        token,
        Some(json!({"client_id": "other", "redirect_uris": [REDIRECT]})),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );

    assert_eq!(call(Method::Delete, token, None).await.0, 204);
    assert_eq!(call(Method::Get, token, None).await.0, 401);
}

#[tokio::test]
async fn management_crud() {
    let h = Harness::new();
    let (status, created) = manage(&h, Method::Post, None, "", Some(management_body())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_ne!(created["id"], created["client_id"]);
    assert!(created["client_secret"].is_string());
    for field in [
        "name",
        "redirect_uris",
        "id_token_signed_response_alg",
        "token_endpoint_auth_method",
    ] {
        assert_eq!(created[field], management_body()[field], "{field}");
    }
    let created_at =
        OffsetDateTime::parse(created["date_created"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_eq!(created["date_created"], created["date_modified"]);

    let (status, read) = manage(&h, Method::Get, Some(&id), "", None).await;
    assert_eq!(status, 200);
    assert!(
        read.get("client_secret").is_none(),
        "the secret is shown once"
    );

    h.clock.advance(Duration::seconds(90));
    let mut body = management_body();
    body["name"] = json!("Shop 2");
    body["redirect_uris"] = json!(["https://shop.example/cb2"]);
    let (status, updated) = manage(&h, Method::Put, Some(&id), "", Some(body)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Shop 2");
    assert!(
        updated.get("client_secret").is_none(),
        "still confidential: the secret is kept"
    );
    let modified =
        OffsetDateTime::parse(updated["date_modified"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_eq!(modified - created_at, Duration::seconds(90));
    assert_eq!(updated["date_created"], created["date_created"]);
    assert_eq!(updated["client_id"], created["client_id"]);

    // Becoming public drops the secret; becoming confidential again shows a new one.
    let mut body = management_body();
    body["token_endpoint_auth_method"] = json!("none");
    let (_, public) = manage(&h, Method::Put, Some(&id), "", Some(body)).await;
    assert_eq!(public["require_pkce"], true);
    let (_, confidential) = manage(&h, Method::Put, Some(&id), "", Some(management_body())).await;
    assert!(confidential["client_secret"].is_string());

    assert_eq!(manage(&h, Method::Delete, Some(&id), "", None).await.0, 204);
    let (status, err) = manage(&h, Method::Get, Some(&id), "", None).await;
    assert_eq!((status, err["error"].as_str()), (404, Some("not_found")));
    assert_eq!(manage(&h, Method::Delete, Some(&id), "", None).await.0, 404);
    assert_eq!(
        manage(&h, Method::Put, Some(&id), "", Some(management_body()))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn management_errors_name_the_field() {
    let h = Harness::new();
    let mut missing = management_body();
    missing.as_object_mut().unwrap().remove("redirect_uris");
    let cases = [
        (missing, "missing_field", "redirect_uris"),
        (
            json!({"name": 5, "redirect_uris": [], "id_token_signed_response_alg": "ES256", "token_endpoint_auth_method": "none"}),
            "invalid_type",
            "name",
        ),
        (
            {
                let mut b = management_body();
                b["id_token_signed_response_alg"] = json!("HS256");
                b
            },
            "invalid_value",
            "id_token_signed_response_alg",
        ),
        (
            {
                let mut b = management_body();
                b["redirect_uris"] = json!(["http://shop.example/cb"]);
                b
            },
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            {
                let mut b = management_body();
                b["colour"] = json!("red");
                b
            },
            "unknown_field",
            "colour",
        ),
    ];
    for (body, code, field) in cases {
        let (status, err) = manage(&h, Method::Post, None, "", Some(body)).await;
        assert_eq!(status, 400);
        assert_eq!(
            (err["error"].as_str(), err["field"].as_str()),
            (Some(code), Some(field)),
            "{err}"
        );
        assert!(err["message"].is_string());
    }
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/json")
        .body(b"{not json");
    assert_eq!(
        json_of(h.provider.manage_clients(&req, None).await).1["error"],
        "invalid_json"
    );
    assert_eq!(manage(&h, Method::Delete, None, "", None).await.0, 405);
}

#[tokio::test]
async fn management_listing_paginates() {
    let h = Harness::new();
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut body = management_body();
        body["name"] = json!(format!("client {i}"));
        ids.push(
            manage(&h, Method::Post, None, "", Some(body)).await.1["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        h.clock.advance(Duration::milliseconds(5));
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("page_size=3&after={a}"),
            None => "page_size=3".to_owned(),
        };
        let (status, page) = manage(&h, Method::Get, None, &q, None).await;
        assert_eq!(status, 200);
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("client_secret").is_none());
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "creation order, nothing repeated or skipped");
    let (_, desc) = manage(&h, Method::Get, None, "sort=desc&page_size=2", None).await;
    let first: Vec<&str> = desc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, vec![ids[6].as_str(), ids[5].as_str()]);
    for bad in [
        "page_size=0",
        "page_size=1001",
        "page_size=x",
        "sort=up",
        "colour=red",
    ] {
        let (status, err) = manage(&h, Method::Get, None, bad, None).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_parameter")),
            "{bad}"
        );
    }
}

async fn secrets_call(
    h: &Harness,
    method: Method,
    id: &str,
    secret_id: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = HttpRequest::new(method)
        .header("content-type", b"application/json")
        .body(body.as_bytes());
    json_of(h.provider.manage_client_secrets(&req, id, secret_id).await)
}

/// Whether client credentials authenticate at the token endpoint (a client_credentials call).
async fn authenticates(h: &Harness, client_id: &str, secret: &str) -> bool {
    let (status, _, _) = h
        .token(
            &[("grant_type", "client_credentials")],
            Some((client_id, secret)),
        )
        .await;
    status == 200
}

#[tokio::test]
async fn credentials_rotate_and_expire() {
    let h = Harness::new();
    let c = h
        .client(json!({"grant_types": ["client_credentials"], "redirect_uris": []}))
        .await;
    let (id, client_id) = (c.client.id.as_str(), c.client.client_id.as_str());
    let first = c.client_secret.clone().unwrap();
    assert!(authenticates(&h, client_id, &first).await);

    // Add a second secret that expires in an hour: both work.
    let expires = (h.now() + Duration::hours(1)).format(&Rfc3339).unwrap();
    let (status, added) = secrets_call(
        &h,
        Method::Post,
        id,
        None,
        Some(json!({"name": "rotation", "expires": expires})),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let second = added["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(added["name"], "rotation");
    assert!(
        authenticates(&h, client_id, &first).await && authenticates(&h, client_id, &second).await
    );

    // Listing shows both, never the plaintext.
    let (_, list) = secrets_call(&h, Method::Get, id, None, None).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|s| s.get("client_secret").is_none()));
    let first_id = items.iter().find(|s| s["name"] == "default").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Revoke the first: only the second works. Then it expires.
    assert_eq!(
        secrets_call(&h, Method::Delete, id, Some(&first_id), None)
            .await
            .0,
        204
    );
    assert!(!authenticates(&h, client_id, &first).await);
    assert!(authenticates(&h, client_id, &second).await);
    h.clock.advance(Duration::minutes(61));
    assert!(
        !authenticates(&h, client_id, &second).await,
        "an expired secret authenticates nothing"
    );

    // Errors.
    let past = (h.now() - Duration::minutes(1)).format(&Rfc3339).unwrap();
    let (status, err) =
        secrets_call(&h, Method::Post, id, None, Some(json!({"expires": past}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("expires")));
    let (status, _) = secrets_call(
        &h,
        Method::Post,
        id,
        None,
        Some(json!({"expires": "tomorrow"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        secrets_call(&h, Method::Delete, id, Some("nope"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        secrets_call(&h, Method::Get, "nope", None, None).await.0,
        404
    );
    let public = h
        .client(json!({"token_endpoint_auth_method": "none"}))
        .await;
    let (status, err) =
        secrets_call(&h, Method::Post, &public.client.id, None, Some(json!({}))).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (409, Some("public_client"))
    );
}

#[tokio::test]
async fn cors_only_for_listed_origins() {
    let h = Harness::new();
    let c = h
        .client(json!({"allowed_origins": ["https://spa.example"]}))
        .await;
    let preflight = |origin: &'static str| {
        let h = &h;
        async move {
            let req = HttpRequest::new(Method::Options).header("origin", origin.as_bytes());
            h.provider.cors_preflight(&req).await
        }
    };
    let ok = preflight("https://spa.example").await;
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://spa.example")
    );
    assert!(ok.header("access-control-allow-credentials").is_none());
    let refused = preflight("https://evil.example").await;
    assert_eq!(refused.status, 403);
    assert!(refused.header("access-control-allow-origin").is_none());

    let req = HttpRequest::new(Method::Get).header("origin", b"https://spa.example");
    let resp = h.provider.with_cors(&req, h.provider.jwks()).await;
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://spa.example")
    );
    let req = HttpRequest::new(Method::Get).header("origin", b"https://evil.example");
    let resp = h.provider.with_cors(&req, h.provider.discovery()).await;
    assert!(resp.header("access-control-allow-origin").is_none());

    // Removing the origin from the client withdraws it.
    let mut body = json!({
        "name": "Test RP", "redirect_uris": [REDIRECT], "id_token_signed_response_alg": "ES256",
        "token_endpoint_auth_method": "client_secret_basic", "allowed_origins": []
    });
    body["grant_types"] = json!(["authorization_code"]);
    assert_eq!(
        manage(&h, Method::Put, Some(&c.client.id), "", Some(body))
            .await
            .0,
        200
    );
    assert_eq!(preflight("https://spa.example").await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_secret_changes_are_never_lost() {
    let h = std::sync::Arc::new(Harness::new());
    let c = h
        .client(json!({"grant_types": ["client_credentials"], "redirect_uris": []}))
        .await;
    let id = c.client.id.clone();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (h, id, barrier) = (h.clone(), id.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                h.provider
                    .add_client_secret(&id, &format!("s{i}"), None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut added = Vec::new();
    for t in tasks {
        added.push(t.await.unwrap());
    }
    let stored = h.store_client(&c.client.client_id).await;
    assert_eq!(
        stored.secrets.len(),
        9,
        "the default secret and all eight added ones"
    );
    for (secret, plaintext) in &added {
        assert!(stored.secrets.iter().any(|s| s.id == secret.id));
        let (status, _, _) = h
            .token(
                &[("grant_type", "client_credentials")],
                Some((&c.client.client_id, plaintext)),
            )
            .await;
        assert_eq!(status, 200);
    }
}
