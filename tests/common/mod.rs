//! Shared test harness: a provider over the in-memory stores with a clock the test moves, keys
//! generated once per test binary, and helpers that speak HTTP-shaped data to the public API.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use opkit::claims::UserClaims;
use opkit::client::ClientWithSecrets;
use opkit::client::{validate, MetadataSource};
use opkit::host::{Clock, SystemRng};
use opkit::http::{HttpRequest, HttpResponse, Method};
use opkit::jose::{KeySet, SigningKey};
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::{AuthorizeOutcome, Config, ConsentDecision, Provider, Session};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

pub const ISSUER: &str = "https://op.example";
pub const REDIRECT: &str = "https://rp.example/cb";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    pub fn new() -> Self {
        TestClock(Arc::new(Mutex::new(
            OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        )))
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// PKCS#8 PEMs of one ES256 and one RS256 key, generated once per test binary.
fn key_pems() -> &'static (String, String) {
    static PEMS: OnceLock<(String, String)> = OnceLock::new();
    PEMS.get_or_init(|| {
        let rng = SystemRng::new();
        let es = SigningKey::generate(opkit::jose::Algorithm::Es256, "es-1", &rng).unwrap();
        let rs = SigningKey::generate(opkit::jose::Algorithm::Rs256, "rs-1", &rng).unwrap();
        (es.to_pkcs8_pem(), rs.to_pkcs8_pem())
    })
}

pub fn keys() -> KeySet {
    let (es, rs) = key_pems();
    let mut keys = KeySet::new();
    keys.insert(SigningKey::from_pem("es-1", es).unwrap())
        .unwrap();
    keys.insert(SigningKey::from_pem("rs-1", rs).unwrap())
        .unwrap();
    keys
}

pub type TestProvider = Provider<MemoryStore, MemoryUsers>;

pub struct Harness {
    pub provider: TestProvider,
    pub clock: TestClock,
    pub store: MemoryStore,
}

pub fn alice_claims() -> UserClaims {
    UserClaims {
        name: Some("Alice Liddell".into()),
        given_name: Some("Alice".into()),
        family_name: Some("Liddell".into()),
        preferred_username: Some("alice".into()),
        picture: Some("https://op.example/alice.png".into()),
        email: Some("alice@example.com".into()),
        email_verified: Some(true),
        ..Default::default()
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    pub fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::new(ISSUER).unwrap();
        // Most tests register clients dynamically; the default (closed) has tests of its own.
        config.registration = opkit::config::RegistrationPolicy::Open;
        adjust(&mut config);
        let clock = TestClock::new();
        let store = MemoryStore::new();
        let users = MemoryUsers::new().with_iterations(1000);
        users
            .add_user("alice", "wonderland", "user-alice", alice_claims())
            .unwrap();
        let provider =
            Provider::new(config, keys(), store.clone(), users).with_clock(Arc::new(clock.clone()));
        Harness {
            provider,
            clock,
            store,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// A session of alice that logged in just now.
    pub fn alice(&self) -> Session {
        Session {
            subject: "user-alice".into(),
            auth_time: self.now(),
        }
    }

    /// Create a client through the management path; `extra` overrides fields.
    pub async fn client(&self, extra: Value) -> ClientWithSecrets {
        let mut doc = serde_json::json!({
            "name": "Test RP",
            "redirect_uris": [REDIRECT],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"],
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let settings = validate(
            doc.as_object().unwrap(),
            MetadataSource::Management,
            self.provider.config().password_grant_enabled,
        )
        .unwrap();
        self.provider
            .create_client(settings, opkit::client::NewClient::new())
            .await
            .unwrap()
    }

    /// The stored client with this `client_id`.
    pub async fn store_client(&self, client_id: &str) -> opkit::client::Client {
        use opkit::store::ClientStore;
        opkit::client::Client::clone(&self.store.client(client_id).await.unwrap().unwrap())
    }

    pub async fn authorize(&self, query: &str, session: Option<&Session>) -> AuthorizeOutcome {
        let req = HttpRequest::new(Method::Get).query(query);
        self.provider.authorize(&req, session).await
    }

    /// Run an authorization request through login and consent (granting everything) and return
    /// the final response's parameters.
    pub async fn authorize_through(&self, query: &str, session: &Session) -> Vec<(String, String)> {
        let mut outcome = self.authorize(query, Some(session)).await;
        loop {
            outcome = match outcome {
                AuthorizeOutcome::Login(step) => step.complete(&self.provider, session).await,
                AuthorizeOutcome::Consent(step) => {
                    step.decide(
                        &self.provider,
                        Some(session),
                        ConsentDecision::Granted(None),
                    )
                    .await
                }
                AuthorizeOutcome::Respond(resp) => return response_params(&resp),
                AuthorizeOutcome::ErrorPage(e) => panic!("error page: {e}"),
            }
        }
    }

    /// POST a form to the token endpoint, with Basic credentials if given.
    pub async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (u16, Value, HttpResponse) {
        let body = serde_urlencoded::to_string(form).unwrap();
        let auth = basic.map(|(id, secret)| basic_header(id, secret));
        let mut req = HttpRequest::new(Method::Post)
            .header("content-type", b"application/x-www-form-urlencoded")
            .body(body.as_bytes());
        if let Some(auth) = &auth {
            req = req.header("authorization", auth.as_bytes());
        }
        let resp = self.provider.token(&req).await;
        let json = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        (resp.status, json, resp)
    }

    /// Authorization code + PKCE through to the token response, for a confidential client.
    pub async fn code_flow(&self, client: &ClientWithSecrets, scope: &str) -> Value {
        let query = format!(
            "response_type=code&client_id={}&redirect_uri={}&scope={}&state=st&nonce=n-1&code_challenge={CHALLENGE}&code_challenge_method=S256",
            client.client.client_id,
            enc(REDIRECT),
            enc(scope)
        );
        let params = self.authorize_through(&query, &self.alice()).await;
        let code = param(&params, "code").expect("code");
        let secret = client.client_secret.as_deref().unwrap();
        let (status, json, _) = self
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
                Some((&client.client.client_id, secret)),
            )
            .await;
        assert_eq!(status, 200, "{json}");
        json
    }

    pub async fn userinfo(&self, token: &str) -> (u16, Value, HttpResponse) {
        let auth = format!("Bearer {token}");
        let req = HttpRequest::new(Method::Get).header("authorization", auth.as_bytes());
        let resp = self.provider.userinfo(&req).await;
        let json = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        (resp.status, json, resp)
    }
}

pub fn basic_header(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The parameters of an authorization response (query, fragment or form post).
pub fn response_params(resp: &opkit::AuthorizationResponse) -> Vec<(String, String)> {
    match resp.location() {
        Some(location) => {
            let (_, params) = location
                .split_once('#')
                .or_else(|| location.split_once('?'))
                .unwrap_or((&location, ""));
            url::form_urlencoded::parse(params.as_bytes())
                .into_owned()
                .collect()
        }
        None => [
            "code",
            "state",
            "iss",
            "id_token",
            "access_token",
            "token_type",
            "expires_in",
            "error",
            "error_description",
            "scope",
        ]
        .iter()
        .filter_map(|n| resp.param(n).map(|v| (n.to_string(), v.to_owned())))
        .collect(),
    }
}

pub fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// Decode a JWT and verify it with the independent `jsonwebtoken` crate against our JWKS.
pub fn verify_jwt(
    provider: &TestProvider,
    token: &str,
    audience: &str,
) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&provider.jwks_json()).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ISSUER]);
    // The test clock runs in the future; check exp ourselves.
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
    (data.header, data.claims)
}
