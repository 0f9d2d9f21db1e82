//! HTTP helpers shared by the end-to-end tests of the provider as the example serves it
//! (`tests/example_server.rs`, `tests/example_modes.rs`): build it through `opkit-axum`'s public
//! API with the example's settings, serve it on a loopback port with `opkit_axum::serve` (two
//! workers, responses written in bursts), and act as a browser (cookie store on, redirects off)
//! and as a relying party.

// Each test crate uses a different subset of the helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use opkit::claims::UserClaims;
use opkit::config::RegistrationPolicy;
use opkit::host::SystemRng;
use opkit::jose::{Algorithm, KeySet, SigningKey};
use opkit::secret::SecretHash;
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::Config;
use opkit_axum::{OpenIdApp, OpenIdProvider};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{redirect, Client, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const ADMIN: &str = "test-admin-token-0123456789";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";
pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const POST_LOGOUT: &str = "http://127.0.0.1:9/bye";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A running provider.
pub struct Server {
    pub base: String,
    pub app: OpenIdApp<MemoryStore, MemoryUsers>,
}

impl Server {
    /// An absolute URL on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// PKCS#8 PEMs of one ES256 and one RS256 key, generated once per test binary (RSA key
/// generation is what makes starting the provider slow).
fn key_pems() -> &'static (String, String) {
    static PEMS: OnceLock<(String, String)> = OnceLock::new();
    PEMS.get_or_init(|| {
        let rng = SystemRng::new();
        let es = SigningKey::generate(Algorithm::Es256, "es-1", &rng).unwrap();
        let rs = SigningKey::generate(Algorithm::Rs256, "rs-1", &rng).unwrap();
        (es.to_pkcs8_pem(), rs.to_pkcs8_pem())
    })
}

/// A key set with the keys of [`key_pems`].
pub fn keys() -> KeySet {
    let (es, rs) = key_pems();
    let mut keys = KeySet::new();
    keys.insert(SigningKey::from_pem("es-1", es).unwrap())
        .unwrap();
    keys.insert(SigningKey::from_pem("rs-1", rs).unwrap())
        .unwrap();
    keys
}

/// How to build the provider, as the example's flags would.
pub struct Options {
    pub config: Config,
    /// Usernames and passwords (claims as the example gives them).
    pub users: Vec<(String, String)>,
    pub admin_token: Option<String>,
}

/// The options every test starts from: the issuer, user alice, the fixed admin token, open
/// registration (`--open-registration`), no password grant.
pub fn options(issuer: &str) -> Options {
    let mut config = Config::new(issuer).unwrap();
    config.registration = RegistrationPolicy::Open;
    Options {
        config,
        users: vec![(USER.into(), PASSWORD.into())],
        admin_token: Some(ADMIN.into()),
    }
}

/// The example's subject for a username: 32 hex digits.
pub fn subject_for(username: &str) -> String {
    let mut hex = SecretHash::of(&format!("opkit-example-user:{username}")).to_hex();
    hex.truncate(32);
    hex
}

/// Build the application for `options` with the keys of this test binary.
pub fn build(options: Options) -> OpenIdApp<MemoryStore, MemoryUsers> {
    // Few PBKDF2 iterations: the tests check behaviour, not the hash's cost.
    let users = MemoryUsers::new().with_iterations(1000);
    for (name, password) in &options.users {
        let claims = UserClaims {
            name: Some(name.clone()),
            preferred_username: Some(name.clone()),
            email: Some(format!("{name}@example.com")),
            email_verified: Some(true),
            ..UserClaims::default()
        };
        users
            .add_user(name, password, &subject_for(name), claims)
            .unwrap();
    }
    let mut builder = OpenIdProvider::new(options.config, keys(), MemoryStore::new(), users);
    if let Some(token) = &options.admin_token {
        builder = builder.admin_token(token);
    }
    builder.build().expect("the paths are valid")
}

/// Serve `app` on `listener` the way the example does.
pub fn serve(listener: tokio::net::TcpListener, app: &OpenIdApp<MemoryStore, MemoryUsers>) {
    let router = app.router();
    tokio::spawn(opkit_axum::serve(
        listener,
        router,
        2,
        std::future::pending(),
    ));
}

/// Start the provider on `127.0.0.1:0` with [`options`], changed by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut Options)) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut options = options(&base);
    tweak(&mut options);
    let app = build(options);
    serve(listener, &app);
    Server { base, app }
}

/// A browser: keeps cookies, never follows redirects.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(resp: &Response) -> String {
    resp.headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The query (or, without one, the fragment) parameters of a URL.
pub fn params_of(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).unwrap();
    let raw = parsed.query().or(parsed.fragment()).unwrap_or("");
    serde_urlencoded::from_str(raw).unwrap()
}

/// The fragment parameters of a URL that must have a fragment and no query.
pub fn fragment_of(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).unwrap();
    assert!(parsed.query().is_none(), "a query in {url}");
    let raw = parsed
        .fragment()
        .unwrap_or_else(|| panic!("no fragment in {url}"));
    serde_urlencoded::from_str(raw).unwrap()
}

/// The query parameters of a URL that must have a query and no fragment.
pub fn query_of(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).unwrap();
    assert!(parsed.fragment().is_none(), "a fragment in {url}");
    let raw = parsed
        .query()
        .unwrap_or_else(|| panic!("no query in {url}"));
    serde_urlencoded::from_str(raw).unwrap()
}

/// Undo the escaping of `opkit::http::escape_html`.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `attr="…"` in the first tag containing `marker`.
pub fn attr(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page: {html}"));
    let tag_start = html[..=at].rfind('<').unwrap();
    tag_attr(
        &html[tag_start..tag_start + html[tag_start..].find('>').unwrap()],
        attr,
    )
    .unwrap_or_else(|| panic!("no {attr} near {marker}"))
}

/// The value of `name="…"` in one tag.
fn tag_attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let from = tag.find(&needle)? + needle.len();
    let value = &tag[from..from + tag[from..].find('"')?];
    Some(unescape(value))
}

/// The hidden inputs of a page, by name.
pub fn hidden_inputs(html: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = html;
    while let Some(at) = rest.find("<input type=\"hidden\"") {
        let tag = &rest[at..at + rest[at..].find('>').unwrap()];
        let name = tag_attr(tag, "name").unwrap();
        let value = tag_attr(tag, "value").unwrap_or_default();
        assert!(out.insert(name, value).is_none(), "a repeated input");
        rest = &rest[at + tag.len()..];
    }
    out
}

/// A page's form: where it posts and its CSRF token.
pub struct Form {
    pub action: String,
    pub csrf: String,
}

pub fn form_of(html: &str) -> Form {
    Form {
        action: attr(html, "<form method=\"post\"", "action"),
        csrf: attr(html, "name=\"csrf\"", "value"),
    }
}

pub fn assert_page_headers(headers: &HeaderMap) {
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
}

pub async fn discovery(http: &Client, base: &str) -> Value {
    let resp = http
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

pub async fn jwks(http: &Client, doc: &Value) -> JwkSet {
    let resp = http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// RFC 7591 registration; expects `201`.
pub async fn register(http: &Client, endpoint: &str, metadata: Value) -> Value {
    let resp = http.post(endpoint).json(&metadata).send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

/// `POST /clients` with the admin token; expects `201`.
pub async fn create_client(http: &Client, base: &str, settings: Value) -> Value {
    let resp = http
        .post(format!("{base}/clients"))
        .bearer_auth(ADMIN)
        .json(&settings)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

pub fn authorize_url(doc: &Value, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        query.append_pair(k, v);
    }
    format!(
        "{}?{}",
        doc["authorization_endpoint"].as_str().unwrap(),
        query.finish()
    )
}

/// An authorization request built from exactly these parameters.
pub fn authorize_url_with(doc: &Value, params: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    format!(
        "{}?{}",
        doc["authorization_endpoint"].as_str().unwrap(),
        query.finish()
    )
}

/// Post the login form; returns the response.
pub async fn post_login(http: &Client, form: &Form, user: &str, password: &str) -> Response {
    http.post(&form.action)
        .form(&[
            ("csrf", form.csrf.as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Post the consent form with `decision`.
pub async fn post_consent(http: &Client, form: &Form, decision: &str) -> Response {
    http.post(&form.action)
        .form(&[("csrf", form.csrf.as_str()), ("decision", decision)])
        .send()
        .await
        .unwrap()
}

/// Where an authorization request ended, seen from the browser.
#[derive(Debug)]
pub enum Landing {
    /// A `303` to the client (query or fragment mode).
    Redirect(String),
    /// The auto-submitting `form_post` page: its action and hidden inputs.
    FormPost {
        action: String,
        params: HashMap<String, String>,
        csp: String,
    },
}

impl Landing {
    pub fn location(&self) -> &str {
        match self {
            Landing::Redirect(location) => location,
            Landing::FormPost { .. } => panic!("a form_post page, not a redirect: {self:?}"),
        }
    }
}

/// What a trip through the pages showed.
pub struct Trip {
    pub landing: Landing,
    /// The HTML of every login and consent page shown, in order.
    pub pages: Vec<String>,
}

/// Follow an authorization request through the login page (as alice) and the consent page
/// (Allow) to where it lands.
pub async fn sign_in_and_allow(http: &Client, url: &str) -> Trip {
    let mut pages = Vec::new();
    let mut resp = http.get(url).send().await.unwrap();
    for _ in 0..4 {
        let status = resp.status();
        if status == 303 {
            let landing = Landing::Redirect(location(&resp));
            return Trip { landing, pages };
        }
        assert_eq!(status, 200, "{url}: {}", resp.text().await.unwrap());
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let html = resp.text().await.unwrap();
        if html.contains("name=\"password\"") {
            resp = post_login(http, &form_of(&html), USER, PASSWORD).await;
        } else if html.contains("name=\"decision\"") {
            resp = post_consent(http, &form_of(&html), "allow").await;
        } else if html.contains("document.forms[0].submit()") {
            let landing = Landing::FormPost {
                action: attr(&html, "<form method=\"post\"", "action"),
                params: hidden_inputs(&html),
                csp,
            };
            return Trip { landing, pages };
        } else {
            panic!("an unexpected page: {html}");
        }
        pages.push(html);
    }
    panic!("too many pages for {url}");
}

/// Redeem `code` at the token endpoint (HTTP Basic for a confidential client, `client_id` in
/// the form for a public one), with [`VERIFIER`].
pub async fn token_request(http: &Client, doc: &Value, client: &Value, code: &str) -> Response {
    token_form(
        http,
        doc,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// A request to the token endpoint as `client` with these form parameters.
pub async fn token_form(
    http: &Client,
    doc: &Value,
    client: &Value,
    params: &[(&str, &str)],
) -> Response {
    post_as_client(
        http,
        doc["token_endpoint"].as_str().unwrap(),
        client,
        params,
    )
    .await
}

/// A form post to `endpoint` authenticated as `client`.
pub async fn post_as_client(
    http: &Client,
    endpoint: &str,
    client: &Value,
    params: &[(&str, &str)],
) -> Response {
    let mut req = http.post(endpoint);
    let mut form = params.to_vec();
    let client_id = client["client_id"].as_str().unwrap();
    match client["client_secret"].as_str() {
        Some(secret) => req = req.basic_auth(client_id, Some(secret)),
        None => form.push(("client_id", client_id)),
    }
    req.form(&form).send().await.unwrap()
}

/// The JSON body of a response that must have `status`.
pub async fn json_with(resp: Response, status: u16) -> Value {
    let got = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

/// Verify a JWT with `jsonwebtoken` against the provider's JWKS (key chosen by `kid`); its
/// claims.
pub fn verify_jwt(jwks: &JwkSet, token: &str, issuer: &str, audience: &str) -> Value {
    let header = decode_header(token).unwrap();
    let kid = header.kid.expect("a kid");
    let jwk = jwks.find(&kid).expect("the kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    decode::<Value>(token, &key, &validation).unwrap().claims
}

/// `at_hash` / `c_hash` (OpenID Connect Core §3.3.2.11, SHA-256 algorithms), computed here
/// rather than with opkit's helper.
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}
