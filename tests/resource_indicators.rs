//! RFC 8707 resource indicators: a client the administrator allowed some resources asks for a
//! token for one of them, at the authorization or the token endpoint; the access token's `aud`
//! is that resource, the refresh family keeps it, anything else is `invalid_target`.

mod common;

use common::*;
use opkit::client::{validate, MetadataSource};
use opkit::AuthorizeOutcome;
use serde_json::{json, Value};

const ORDERS: &str = "https://orders.example.com/";
const BILLING: &str = "https://billing.example.com/";

async fn client(h: &Harness, grants: Value) -> opkit::client::ClientWithSecrets {
    h.client(json!({
        "grant_types": grants,
        "allowed_resources": [ORDERS, BILLING],
    }))
    .await
}

fn aud(h: &Harness, token: &str, audience: &str) -> Value {
    verify_jwt(&h.provider, token, audience).1["aud"].clone()
}

async fn code_with_resource(
    h: &Harness,
    c: &opkit::client::ClientWithSecrets,
    resource: Option<&str>,
) -> String {
    let mut query = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
        c.client.client_id,
        enc(REDIRECT),
        enc("openid offline_access"),
    );
    if let Some(r) = resource {
        query.push_str(&format!("&resource={}", enc(r)));
    }
    let params = h.authorize_through(&query, &h.alice()).await;
    param(&params, "code").expect("a code")
}

async fn redeem(
    h: &Harness,
    c: &opkit::client::ClientWithSecrets,
    code: &str,
    resource: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    let secret = c.client_secret.as_deref().unwrap();
    let (status, json, _) = h.token(&form, Some((&c.client.client_id, secret))).await;
    (status, json)
}

#[tokio::test]
async fn a_code_for_a_resource_gives_tokens_for_it_and_refreshes_keep_it() {
    let h = Harness::new();
    let c = client(&h, json!(["authorization_code", "refresh_token"])).await;
    let code = code_with_resource(&h, &c, Some(ORDERS)).await;
    let (status, tokens) = redeem(&h, &c, &code, None).await;
    assert_eq!(status, 200, "{tokens}");
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(aud(&h, at, ORDERS), ORDERS);
    // Not for the provider's own UserInfo; the ID token is still for the client.
    assert_eq!(h.userinfo(at).await.0, 401);
    assert_eq!(
        aud(
            &h,
            tokens["id_token"].as_str().unwrap(),
            &c.client.client_id
        ),
        c.client.client_id.as_str()
    );

    let secret = c.client_secret.clone().unwrap();
    let creds = Some((c.client.client_id.as_str(), secret.as_str()));
    let rt = tokens["refresh_token"].as_str().unwrap();
    // Another resource than the grant's is refused, and does not spend the refresh token.
    let (status, err, _) = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("resource", BILLING),
            ],
            creds,
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let (status, next, _) = h
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            creds,
        )
        .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(
        aud(&h, next["access_token"].as_str().unwrap(), ORDERS),
        ORDERS
    );
}

#[tokio::test]
async fn the_token_endpoint_may_name_the_resource_and_a_wrong_one_is_invalid_target() {
    let h = Harness::new();
    let c = client(&h, json!(["authorization_code", "refresh_token"])).await;
    let code = code_with_resource(&h, &c, None).await;
    let (status, tokens) = redeem(&h, &c, &code, Some(BILLING)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        aud(&h, tokens["access_token"].as_str().unwrap(), BILLING),
        BILLING
    );

    let code = code_with_resource(&h, &c, Some(ORDERS)).await;
    let (status, err) = redeem(&h, &c, &code, Some(BILLING)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let code = code_with_resource(&h, &c, None).await;
    let (status, err) = redeem(&h, &c, &code, Some("https://elsewhere.example/")).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_target"))
    );
}

#[tokio::test]
async fn an_authorization_request_for_a_resource_not_allowed_is_redirected_as_invalid_target() {
    let h = Harness::new();
    let c = client(&h, json!(["authorization_code"])).await;
    let query = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}",
        c.client.client_id,
        enc(REDIRECT),
        enc("https://elsewhere.example/")
    );
    let AuthorizeOutcome::Respond(resp) = h.authorize(&query, Some(&h.alice())).await else {
        panic!("expected a redirect");
    };
    let params = response_params(&resp);
    assert_eq!(param(&params, "error").as_deref(), Some("invalid_target"));
    assert_eq!(param(&params, "state").as_deref(), Some("s"));
}

#[tokio::test]
async fn client_credentials_and_password_tokens_for_a_resource() {
    let h = Harness::with_config(|c| c.password_grant_enabled = true);
    let c = client(
        &h,
        json!(["client_credentials", "password", "refresh_token"]),
    )
    .await;
    let secret = c.client_secret.clone().unwrap();
    let creds = Some((c.client.client_id.as_str(), secret.as_str()));
    let (status, cc, _) = h
        .token(
            &[("grant_type", "client_credentials"), ("resource", BILLING)],
            creds,
        )
        .await;
    assert_eq!(status, 200, "{cc}");
    assert_eq!(
        aud(&h, cc["access_token"].as_str().unwrap(), BILLING),
        BILLING
    );
    let (status, err, _) = h
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", "urn:not-allowed"),
            ],
            creds,
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_target"))
    );

    let (status, pw, _) = h
        .token(
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wonderland"),
                ("scope", "openid offline_access"),
                ("resource", ORDERS),
            ],
            creds,
        )
        .await;
    assert_eq!(status, 200, "{pw}");
    assert_eq!(
        aud(&h, pw["access_token"].as_str().unwrap(), ORDERS),
        ORDERS
    );
    let rt = pw["refresh_token"].as_str().unwrap();
    let (_, next, _) = h
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            creds,
        )
        .await;
    assert_eq!(
        aud(&h, next["access_token"].as_str().unwrap(), ORDERS),
        ORDERS,
        "the family keeps it"
    );
}

#[test]
fn allowed_resources_are_absolute_uris_set_by_the_administrator_only() {
    let doc = |resources: Value| {
        json!({
            "id_token_signed_response_alg": "ES256",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_basic",
            "allowed_resources": resources,
        })
    };
    let settings = |resources: Value, source| {
        let mut doc = doc(resources);
        let name = match source {
            MetadataSource::Management => "name",
            _ => "client_name",
        };
        doc[name] = json!("x");
        validate(doc.as_object().unwrap(), source, false)
    };
    let ok = settings(json!([ORDERS, ORDERS]), MetadataSource::Management).unwrap();
    assert_eq!(ok.allowed_resources, [ORDERS], "duplicates dropped");
    for bad in [
        json!(["/relative"]),
        json!(["https://a.example/#frag"]),
        json!([7]),
    ] {
        assert!(
            settings(bad.clone(), MetadataSource::Management).is_err(),
            "{bad}"
        );
    }
    let registered = settings(json!([ORDERS]), MetadataSource::Registration).unwrap();
    assert!(
        registered.allowed_resources.is_empty(),
        "registration cannot grant resources"
    );
}
