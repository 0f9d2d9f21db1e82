//! The built-in demo relying party: a confidential client created at start, `GET /demo/start`
//! (PKCE S256, `state`, `nonce`) and `GET /demo/callback`, which redeems the code in-process
//! and shows the decoded ID token, access token and UserInfo response.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use base64::Engine as _;
use opkit::client::metadata::{validate, MetadataSource};
use opkit::flow::authorize::escape_html as esc;
use opkit::http::{parse_form, HttpRequest, HttpResponse, Method};
use opkit::jose::b64;
use opkit::pkce::s256_challenge;
use opkit::secret::random_token;
use time::{Duration, OffsetDateTime};

use super::expiring::ExpiringMap;
use super::pages;
use super::web::{into_axum, Incoming};
use super::{AppState, ExampleProvider};

/// How long a started demo login may take.
const DEMO_TTL: Duration = Duration::minutes(10);

/// The scopes the demo asks for.
const DEMO_SCOPE: &str = "openid profile email";

/// The demo client and its logins in progress.
pub(crate) struct Demo {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    redirect_uri: String,
    /// By `state`.
    pending: ExpiringMap<DemoLogin>,
}

/// What the callback needs to finish a demo login.
struct DemoLogin {
    verifier: String,
    nonce: String,
}

impl Demo {
    /// Register the demo client with the provider.
    pub(crate) async fn create(provider: &ExampleProvider) -> Result<Demo, String> {
        let redirect_uri = format!("{}/demo/callback", provider.config().issuer());
        let metadata = serde_json::json!({
            "name": "opkit demo client",
            "description": "The example provider's built-in relying party",
            "redirect_uris": [redirect_uri],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "require_pkce": true,
        });
        let doc = metadata
            .as_object()
            .ok_or("the demo client metadata is not an object")?;
        let settings = validate(doc, MetadataSource::Management, false)
            .map_err(|e| format!("demo client: {e}"))?;
        let created = provider
            .create_client(settings, false)
            .await
            .map_err(|e| format!("cannot create the demo client: {e}"))?;
        let client_secret = created
            .client_secret
            .ok_or("the demo client got no secret")?;
        Ok(Demo {
            client_id: created.client.client_id,
            client_secret,
            redirect_uri,
            pending: ExpiringMap::new(10_000),
        })
    }

    /// Drop logins that were never finished.
    pub(crate) fn purge(&self, now: OffsetDateTime) {
        self.pending.purge(now);
    }
}

/// `GET /demo/start`: remember a PKCE verifier and nonce under a new `state`, and send the
/// browser to the authorization endpoint.
pub(crate) async fn start(State(state): State<Arc<AppState>>) -> Response {
    into_axum(match start_inner(&state) {
        Ok(resp) | Err(resp) => resp,
    })
}

fn start_inner(state: &AppState) -> Result<HttpResponse, HttpResponse> {
    let rng = state.provider.rng();
    let secret = |bytes| random_token(rng, bytes).map_err(|_| failure("no randomness"));
    let verifier = secret(32)?;
    let demo_state = secret(16)?;
    let nonce = secret(16)?;
    let challenge = s256_challenge(&verifier);
    let demo = &state.demo;
    let location = {
        let config = state.provider.config();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &demo.client_id)
            .append_pair("redirect_uri", &demo.redirect_uri)
            .append_pair("scope", DEMO_SCOPE)
            .append_pair("state", &demo_state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        format!(
            "{}?{}",
            config.endpoint_url(&config.paths.authorization),
            query.finish()
        )
    };
    let now = state.provider.clock().now();
    demo.pending
        .insert(
            &demo_state,
            DemoLogin { verifier, nonce },
            now + DEMO_TTL,
            now,
        )
        .map_err(|_| failure("too many demo logins in progress; try again later"))?;
    Ok(HttpResponse::redirect(location))
}

/// `GET /demo/callback`: check `state` and `iss`, redeem the code, show what came back.
pub(crate) async fn callback(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    into_axum(match callback_inner(&state, &incoming).await {
        Ok(resp) | Err(resp) => resp,
    })
}

async fn callback_inner(
    state: &AppState,
    incoming: &Incoming,
) -> Result<HttpResponse, HttpResponse> {
    let query = incoming.uri.query().unwrap_or("");
    let params = parse_form(query).map_err(|e| failure(&e.description()))?;
    let now = state.provider.clock().now();
    let login = params
        .get("state")
        .and_then(|s| state.demo.pending.take_if(s, now, |_| true));
    if let Some(error) = params.get("error") {
        let description = params.get("error_description").unwrap_or("");
        return Err(pages::message(
            200,
            "Sign-in did not complete",
            &format!("The provider answered {error}: {description}"),
        ));
    }
    let login = login.ok_or_else(|| failure("unknown or expired state; start again"))?;
    if params.get("iss") != Some(state.issuer()) {
        return Err(failure("the iss parameter is missing or wrong (RFC 9207)"));
    }
    let code = params.get("code").ok_or_else(|| failure("no code"))?;
    let tokens = redeem(state, code, &login.verifier).await?;
    let id_token = tokens
        .id_token
        .as_deref()
        .ok_or_else(|| failure("no ID token"))?;
    let id_claims = verified_claims(state, id_token)?;
    if id_claims.1.get("nonce").and_then(|n| n.as_str()) != Some(login.nonce.as_str()) {
        return Err(failure("the ID token's nonce does not match"));
    }
    let access_claims = verified_claims(state, &tokens.access_token)?;
    let userinfo = userinfo(state, &tokens.access_token).await;
    Ok(result_page(
        state.issuer(),
        &id_claims,
        &access_claims,
        &userinfo,
    ))
}

/// Redeem the code at the token endpoint, in-process, as the demo client (HTTP Basic).
async fn redeem(
    state: &AppState,
    code: &str,
    verifier: &str,
) -> Result<opkit::flow::token::TokenResponse, HttpResponse> {
    let demo = &state.demo;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &demo.redirect_uri)
        .append_pair("code_verifier", verifier)
        .finish();
    let credentials = format!(
        "{}:{}",
        form_encode(&demo.client_id),
        form_encode(&demo.client_secret)
    );
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .header("authorization", authorization.as_bytes())
        .body(form.as_bytes());
    state.provider.token_request(&req).await.map_err(|e| {
        failure(&format!(
            "token request failed: {}: {}",
            e.code(),
            e.description()
        ))
    })
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Verify a JWT with the provider's keys; its header and payload as JSON.
fn verified_claims(
    state: &AppState,
    token: &str,
) -> Result<(serde_json::Value, serde_json::Value), HttpResponse> {
    let jws = state
        .provider
        .keys()
        .verify(token)
        .map_err(|e| failure(&format!("a token did not verify: {e}")))?;
    let header_part = token.split('.').next().unwrap_or("");
    let header = b64::decode(header_part)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| failure("unreadable JWT header"))?;
    let payload =
        serde_json::from_slice(jws.payload()).map_err(|_| failure("unreadable JWT payload"))?;
    Ok((header, payload))
}

/// The UserInfo response for the access token, in-process.
async fn userinfo(state: &AppState, access_token: &str) -> serde_json::Value {
    let authorization = format!("Bearer {access_token}");
    let req = HttpRequest::new(Method::Get).header("authorization", authorization.as_bytes());
    let resp = state.provider.userinfo(&req).await;
    serde_json::from_slice(&resp.body)
        .unwrap_or_else(|_| serde_json::json!({ "status": resp.status }))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn result_page(
    issuer: &str,
    id_token: &(serde_json::Value, serde_json::Value),
    access_token: &(serde_json::Value, serde_json::Value),
    userinfo: &serde_json::Value,
) -> HttpResponse {
    let mut body = String::with_capacity(4096);
    let name = id_token
        .1
        .get("name")
        .or_else(|| id_token.1.get("sub"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let _ = write!(
        body,
        "<h1>Signed in as {}</h1><p class=\"muted\">The code was redeemed with PKCE; the ID \
         token's signature, <code>nonce</code> and the response's <code>iss</code> were \
         checked.</p>",
        esc(name)
    );
    for (title, value) in [
        ("ID token header", &id_token.0),
        ("ID token claims", &id_token.1),
        ("Access token header", &access_token.0),
        ("Access token claims", &access_token.1),
        ("UserInfo response", userinfo),
    ] {
        let _ = write!(
            body,
            "<h2>{}</h2><pre>{}</pre>",
            esc(title),
            esc(&pretty(value))
        );
    }
    let _ = write!(
        body,
        "<p><a href=\"{}\">Sign in again</a> · <a href=\"{}\">Home</a></p>",
        esc(&format!("{issuer}/demo/start")),
        esc(&format!("{issuer}/"))
    );
    pages::html(200, pages::layout("Signed in", &body, true), None)
}

fn failure(message: &str) -> HttpResponse {
    pages::message(400, "Demo sign-in failed", message)
}
