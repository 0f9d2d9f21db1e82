//! The built-in demo relying party: a public client `opkit-demo` (created at the first start,
//! its redirect URI updated when the issuer changes), `GET /demo/start` (PKCE S256, `state`,
//! `nonce`) and `GET /demo/callback`, which redeems the code in-process, verifies the ID token
//! (signature and nonce) and shows its claims.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use opkit::client::NewClient;
use opkit::client::{validate, MetadataSource};
use opkit::http::{parse_form, HttpRequest, HttpResponse, Method};
use opkit::pkce::s256_challenge;
use opkit::secret::{random_token, SecretHash};
use opkit_axum::pages::{escape_html as esc, html, layout};
use opkit_axum::{into_axum, ExpiringMap, Incoming};
use serde_json::{json, Value};
use time::Duration;

use opkit::store::{Store, UserStore};
use opkit_axum::OpenIdApp;

/// The demo client's id.
pub const CLIENT_ID: &str = "opkit-demo";

/// The demo client and its logins in progress.
pub struct Demo<S, U> {
    app: OpenIdApp<S, U>,
    pub client_id: String,
    redirect_uri: String,
    /// PKCE verifier and nonce by `state`.
    pending: ExpiringMap<(String, String)>,
}

type Page = Result<HttpResponse, HttpResponse>;

impl<S: Store + 'static, U: UserStore + 'static> Demo<S, U> {
    /// Create the demo client, or update the one a store kept (validated as the management API
    /// validates a client).
    pub async fn create(app: OpenIdApp<S, U>) -> Result<Arc<Self>, String> {
        let redirect_uri = format!("{}/demo/callback", app.provider().config().issuer());
        let metadata = json!({
            "name": "opkit demo client",
            "redirect_uris": [redirect_uri],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "none",
        });
        let doc = metadata.as_object().ok_or("demo metadata")?;
        let settings = validate(doc, MetadataSource::Management, false);
        let settings = settings.map_err(|e| format!("demo client: {e}"))?;
        let provider = app.provider();
        let kept = provider.store().client(CLIENT_ID).await;
        let made = match kept.map_err(|e| e.to_string())? {
            Some(client) => provider
                .update_client(&client.id, settings)
                .await
                .map(|_| ()),
            None => {
                let new = NewClient::new().client_id(CLIENT_ID);
                provider.create_client(settings, new).await.map(|_| ())
            }
        };
        made.map_err(|e| format!("cannot create the demo client: {e}"))?;
        Ok(Arc::new(Demo {
            client_id: CLIENT_ID.to_owned(),
            redirect_uri,
            pending: ExpiringMap::new(10_000),
            app,
        }))
    }

    /// `/demo/start` and `/demo/callback`.
    pub fn routes(self: &Arc<Self>) -> Router {
        let start = |State(demo): State<Arc<Self>>| async move { page(demo.start()) };
        let callback = |State(demo): State<Arc<Self>>, incoming: Incoming| async move {
            page(demo.callback(&incoming).await)
        };
        let routes = Router::new().route("/demo/start", get(start));
        routes
            .route("/demo/callback", get(callback))
            .with_state(self.clone())
    }

    /// Remember a PKCE verifier and a nonce under a new `state`; to the authorization endpoint.
    fn start(&self) -> Page {
        let provider = self.app.provider();
        let secret = || random_token(provider.rng(), 32).map_err(|_| failure("no randomness"));
        let (verifier, state, nonce) = (secret()?, secret()?, secret()?);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", "openid profile email")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &s256_challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        let config = provider.config();
        let authorize = config.endpoint_url(&config.paths.authorization);
        let now = provider.clock().now();
        let expires = now + Duration::minutes(10);
        let remembered =
            self.pending
                .insert(SecretHash::of(&state), (verifier, nonce), expires, now);
        remembered.map_err(|_| failure("too many demo logins in progress"))?;
        Ok(HttpResponse::redirect(format!("{authorize}?{query}")))
    }

    /// Check `state` and `iss`, redeem the code with the verifier, verify the ID token.
    async fn callback(&self, incoming: &Incoming) -> Page {
        let provider = self.app.provider();
        let query = incoming.uri().query().unwrap_or("");
        let params = parse_form(query).map_err(|e| failure(&e.description()))?;
        let state = params.get("state").unwrap_or("");
        let login = self
            .pending
            .take(&SecretHash::of(state), provider.clock().now());
        if let Some(error) = params.get("error") {
            return Err(failure(&format!("the provider answered {error}")));
        }
        let ((verifier, nonce), _) = login.ok_or_else(|| failure("unknown or expired state"))?;
        if params.get("iss") != Some(provider.config().issuer()) {
            return Err(failure("the iss parameter is missing or wrong (RFC 9207)"));
        }
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", params.get("code").unwrap_or(""))
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("code_verifier", &verifier)
            .append_pair("client_id", &self.client_id)
            .finish();
        let req = HttpRequest::new(Method::Post)
            .header("content-type", b"application/x-www-form-urlencoded")
            .body(form.as_bytes());
        let tokens = provider.token_request(&req).await;
        let tokens = tokens.map_err(|e| failure(&format!("token request: {}", e.code())))?;
        let id_token = tokens.id_token.ok_or_else(|| failure("no ID token"))?;
        let keys = provider.keys();
        let jws = keys
            .verify(&id_token)
            .map_err(|e| failure(&e.to_string()))?;
        let claims: Value = serde_json::from_slice(jws.payload()).unwrap_or_default();
        if claims["nonce"].as_str() != Some(nonce.as_str()) {
            return Err(failure("the ID token's nonce does not match"));
        }
        let body = format!(
            "<h1>Signed in</h1><p>The code was redeemed with PKCE; the ID token's signature, \
             nonce and the response's iss were checked.</p><h2>ID token claims</h2><pre>{}</pre>\
             <p><a href=\"start\">Sign in again</a></p>",
            esc(&serde_json::to_string_pretty(&claims).unwrap_or_default()),
        );
        Ok(html(200, layout("Signed in", &body, true), None))
    }
}

fn page(result: Page) -> Response {
    into_axum(result.unwrap_or_else(|e| e))
}

fn failure(message: &str) -> HttpResponse {
    let body = format!("<h1>Demo sign-in failed</h1><p>{}</p>", esc(message));
    html(400, layout("Demo sign-in failed", &body, false), None)
}
