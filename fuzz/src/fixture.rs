//! A provider over the in-memory store for the endpoint fuzz targets: fixed clock, keys and
//! ids derived from a counter (so runs are reproducible), three clients, one user, standing
//! consents, and the request runners whose outcomes `props` checks.
//!
//! The clients cover both sides of the PKCE policy: clients 1 and 2 keep the strict default
//! (S256 required), client 3 is exempted by its administrator (`require_pkce: false`) and
//! allowed `plain` (`allow_plain_pkce: true`).
//!
//! Inputs may name fixture values by placeholder, replaced before the request is built:
//! `@C1@` `@C2@` `@C3@` (client ids), `@S1@` `@S3@` (secrets), `@HINT@` (an ID token for
//! alice issued to client 1), and, minted fresh for the iteration that asks, `@CODE@` (a code
//! of client 1 for `https://rp.example/cb` with the PKCE verifier [`VERIFIER`]), `@CODE2@`
//! (the same for public client 2 and `com.example.app:/oauth2redirect`), `@RT@` (a refresh
//! token of client 1) and `@AT@` (an access token of client 1).

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use opkit::client::{validate, MetadataSource};
use opkit::client::{ClientWithSecrets, NewClient};
use opkit::fuzzing::parse_basic_authorization;
use opkit::host::{Clock, Rng, RngError};
use opkit::http::{parse_form, HttpRequest, Method};
use opkit::jose::{sign_compact, Algorithm, KeySet, SigningKey};
use opkit::scope::Scopes;
use opkit::store::{Consent, ConsentStore, MemoryStore, MemoryUsers};
use opkit::{AuthorizeOutcome, Config, ConsentDecision, Provider, Session};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::props::{self, KnownClient};

/// The provider's issuer.
pub const ISSUER: &str = "https://op.example";
/// The fixed time of the fixture's clock.
pub const NOW: i64 = 1_800_000_000;
/// The PKCE verifier of `@CODE@` / `@CODE2@` (RFC 7636 Appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// Its S256 challenge.
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Client 1 (confidential, `client_secret_basic`, every response type).
pub const C1_REDIRECTS: [&str; 3] = [
    "https://rp.example/cb",
    "https://rp.example/cb?x=1",
    "http://127.0.0.1:8080/cb",
];
/// Client 2 (public, PKCE).
pub const C2_REDIRECTS: [&str; 2] = [
    "com.example.app:/oauth2redirect",
    "http://localhost:3000/cb",
];
/// Client 3 (confidential, `client_secret_post`, one redirect URI, PKCE optional and `plain`
/// allowed).
pub const C3_REDIRECTS: [&str; 1] = ["https://other.example/callback"];
/// The user's subject.
pub const ALICE: &str = "user-alice";

/// Run a future that never pends (the in-memory store's futures complete at once).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    // A fresh waker per call: a static one would hold a pointer just past its (zero-sized)
    // allocation, which LeakSanitizer reports as a leak.
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for _ in 0..64 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("a provider future pended over the in-memory store");
}

/// Deterministic "randomness": SHA-256 of a label and a counter.
pub struct CounterRng {
    label: &'static str,
    counter: AtomicU64,
}

impl CounterRng {
    /// A stream named `label`.
    pub fn new(label: &'static str) -> Self {
        CounterRng {
            label,
            counter: AtomicU64::new(0),
        }
    }
}

impl Rng for CounterRng {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        for chunk in dest.chunks_mut(32) {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let mut h = Sha256::new();
            h.update(self.label.as_bytes());
            h.update(n.to_le_bytes());
            let d = h.finalize();
            chunk.copy_from_slice(&d[..chunk.len()]);
        }
        Ok(())
    }
}

/// A clock that never moves.
pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        now()
    }
}

/// The fixture's time.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).expect("valid timestamp")
}

/// PKCS#8 PEMs of the ES256 key `es-1` and the RS256 key `rs-1`, derived from fixed seeds.
fn key_pems() -> &'static (String, String) {
    static PEMS: OnceLock<(String, String)> = OnceLock::new();
    PEMS.get_or_init(|| {
        let es = SigningKey::generate(Algorithm::Es256, "es-1", &CounterRng::new("es-1"))
            .expect("ES256 key");
        let rs = SigningKey::generate(Algorithm::Rs256, "rs-1", &CounterRng::new("rs-1"))
            .expect("RS256 key");
        (es.to_pkcs8_pem(), rs.to_pkcs8_pem())
    })
}

/// The ES256 signing key `es-1`.
pub fn es_key() -> SigningKey {
    SigningKey::from_pem("es-1", &key_pems().0).expect("ES256 PEM")
}

/// The RS256 signing key `rs-1`.
pub fn rs_key() -> SigningKey {
    SigningKey::from_pem("rs-1", &key_pems().1).expect("RS256 PEM")
}

/// A key set of `es-1` and `rs-1`.
pub fn keys() -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(es_key()).expect("insert es-1");
    keys.insert(rs_key()).expect("insert rs-1");
    keys
}

fn users() -> MemoryUsers {
    static USERS: OnceLock<MemoryUsers> = OnceLock::new();
    USERS
        .get_or_init(|| {
            let users =
                MemoryUsers::with_rng(Arc::new(CounterRng::new("users"))).with_iterations(1000);
            let claims = opkit::claims::UserClaims {
                name: Some("Alice Liddell".into()),
                email: Some("alice@example.com".into()),
                email_verified: Some(true),
                ..Default::default()
            };
            users
                .add_user("alice", "wonderland", ALICE, claims)
                .expect("add alice");
            users
        })
        .clone()
}

/// The provider type of the fixture.
pub type FuzzProvider = Provider<MemoryStore, MemoryUsers>;

/// A provider with three clients and alice's standing consents.
pub struct Fixture {
    /// The provider.
    pub provider: FuzzProvider,
    /// Its store.
    pub store: MemoryStore,
    /// Client 1: confidential (`client_secret_basic`), all response types, `C1_REDIRECTS`.
    pub c1: ClientWithSecrets,
    /// Client 2: public, code + refresh, `C2_REDIRECTS`.
    pub c2: ClientWithSecrets,
    /// Client 3: confidential (`client_secret_post`), code + client credentials, one URI; PKCE
    /// optional, `plain` allowed.
    pub c3: ClientWithSecrets,
    /// An ID token for alice issued to client 1 (an `id_token_hint`).
    pub hint: String,
}

fn settings(doc: Value) -> opkit::client::ClientSettings {
    validate(
        doc.as_object().expect("object"),
        MetadataSource::Management,
        false,
    )
    .expect("valid client")
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// Build the fixture.
    pub fn new() -> Self {
        let store = MemoryStore::new();
        let provider = Provider::new(
            Config::new(ISSUER).expect("issuer"),
            keys(),
            store.clone(),
            users(),
        )
        .with_clock(Arc::new(FixedClock))
        .with_rng(Arc::new(CounterRng::new("provider")));
        block_on(async {
            let c1 = provider
                .create_client(
                    settings(json!({
                        "name": "Confidential RP",
                        "redirect_uris": C1_REDIRECTS,
                        "id_token_signed_response_alg": "ES256",
                        "token_endpoint_auth_method": "client_secret_basic",
                        "grant_types": ["authorization_code", "refresh_token", "client_credentials", "implicit"],
                        "response_types": ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"],
                        "allowed_scopes": ["openid", "profile", "email", "offline_access", "api:read"],
                    })),
                    NewClient::new(),
                )
                .await
                .expect("client 1");
            let c2 = provider
                .create_client(
                    settings(json!({
                        "name": "Public app",
                        "redirect_uris": C2_REDIRECTS,
                        "id_token_signed_response_alg": "ES256",
                        "token_endpoint_auth_method": "none",
                        "grant_types": ["authorization_code", "refresh_token"],
                    })),
                    NewClient::new(),
                )
                .await
                .expect("client 2");
            let c3 = provider
                .create_client(
                    settings(json!({
                        "name": "Post RP",
                        "redirect_uris": C3_REDIRECTS,
                        "id_token_signed_response_alg": "ES256",
                        "token_endpoint_auth_method": "client_secret_post",
                        "grant_types": ["authorization_code", "client_credentials"],
                        "response_types": ["code"],
                        "require_pkce": false,
                        "allow_plain_pkce": true,
                    })),
                    NewClient::new(),
                )
                .await
                .expect("client 3");
            for (client, scopes) in [
                (&c1, "openid profile email api:read"),
                (&c3, "openid profile"),
            ] {
                store
                    .put_consent(Consent {
                        subject: ALICE.into(),
                        client_id: client.client.client_id.clone(),
                        scopes: Scopes::parse(scopes).expect("scopes"),
                        granted_at: now(),
                    })
                    .await
                    .expect("consent");
            }
            let hint_claims = json!({
                "iss": ISSUER, "sub": ALICE, "aud": c1.client.client_id,
                "iat": NOW - 60, "exp": NOW + 3600,
            });
            let hint = sign_compact(&es_key(), "JWT", hint_claims.to_string().as_bytes())
                .expect("sign hint");
            Fixture {
                provider,
                store,
                c1,
                c2,
                c3,
                hint,
            }
        })
    }

    /// The clients as the properties know them.
    pub fn known_clients(&self) -> Vec<KnownClient> {
        [&self.c1, &self.c2, &self.c3]
            .iter()
            .map(|c| KnownClient {
                client_id: c.client.client_id.clone(),
                redirect_uris: c.client.settings.redirect_uris.clone(),
                require_pkce: c.client.settings.require_pkce,
                allows_plain_pkce: c.client.allows_plain_pkce(),
            })
            .collect()
    }

    /// The client with this `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&ClientWithSecrets> {
        [&self.c1, &self.c2, &self.c3]
            .into_iter()
            .find(|c| c.client.client_id == client_id)
    }

    fn secret(c: &ClientWithSecrets) -> &str {
        c.client_secret.as_deref().expect("confidential client")
    }

    /// Alice, logged in `ago` before now.
    pub fn alice(ago: Duration) -> Session {
        Session {
            subject: ALICE.into(),
            auth_time: now() - ago,
        }
    }

    /// A fresh code of client 1 or 2 (after consent), for the first registered redirect URI.
    pub fn fresh_code(&self, public: bool) -> String {
        let (client, redirect) = if public {
            (&self.c2, C2_REDIRECTS[0])
        } else {
            (&self.c1, C1_REDIRECTS[0])
        };
        let query = format!(
            "response_type=code&client_id={}&redirect_uri={}&scope=openid+offline_access&state=st&nonce=n-1&code_challenge={CHALLENGE}&code_challenge_method=S256",
            client.client.client_id,
            props::form_encode(redirect),
        );
        let session = Self::alice(Duration::ZERO);
        block_on(async {
            let req = HttpRequest::new(Method::Get).query(&query);
            let mut outcome = self.provider.authorize(&req, Some(&session)).await;
            for _ in 0..3 {
                outcome = match outcome {
                    AuthorizeOutcome::Login(step) => step.complete(&self.provider, &session).await,
                    AuthorizeOutcome::Consent(step) => {
                        step.decide(
                            &self.provider,
                            Some(&session),
                            ConsentDecision::Granted(None),
                        )
                        .await
                    }
                    AuthorizeOutcome::Respond(r) => {
                        return r.param("code").expect("code issued").to_owned()
                    }
                    AuthorizeOutcome::ErrorPage(e) => panic!("fixture code flow: {e}"),
                };
            }
            panic!("fixture code flow did not finish")
        })
    }

    /// POST a form to the token endpoint with client 1's Basic credentials.
    fn c1_token(&self, form: &[(&str, &str)]) -> Value {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let auth = props::basic_header(&self.c1.client.client_id, Self::secret(&self.c1));
        let req = HttpRequest::new(Method::Post)
            .header("content-type", b"application/x-www-form-urlencoded")
            .header("authorization", auth.as_bytes())
            .body(body.as_bytes());
        let resp = block_on(self.provider.token(&req));
        assert_eq!(
            resp.status,
            200,
            "fixture token request: {}",
            String::from_utf8_lossy(&resp.body)
        );
        serde_json::from_slice(&resp.body).expect("token JSON")
    }

    /// A fresh refresh token of client 1.
    pub fn fresh_refresh_token(&self) -> String {
        let code = self.fresh_code(false);
        let json = self.c1_token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", C1_REDIRECTS[0]),
            ("code_verifier", VERIFIER),
        ]);
        json["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned()
    }

    /// A fresh access token of client 1 (client credentials).
    pub fn fresh_access_token(&self) -> String {
        let json = self.c1_token(&[("grant_type", "client_credentials"), ("scope", "api:read")]);
        json["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Replace the placeholders of `s` (see the module documentation).
    pub fn substitute<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if !s.contains('@') {
            return Cow::Borrowed(s);
        }
        let mut out = s.to_owned();
        let fixed: [(&str, &str); 6] = [
            ("@C1@", &self.c1.client.client_id),
            ("@C2@", &self.c2.client.client_id),
            ("@C3@", &self.c3.client.client_id),
            ("@S1@", Self::secret(&self.c1)),
            ("@S3@", Self::secret(&self.c3)),
            ("@HINT@", &self.hint),
        ];
        for (name, value) in fixed {
            if out.contains(name) {
                out = out.replace(name, value);
            }
        }
        if out.contains("@CODE2@") {
            out = out.replace("@CODE2@", &self.fresh_code(true));
        }
        if out.contains("@CODE@") {
            out = out.replace("@CODE@", &self.fresh_code(false));
        }
        if out.contains("@RT@") {
            out = out.replace("@RT@", &self.fresh_refresh_token());
        }
        if out.contains("@AT@") {
            out = out.replace("@AT@", &self.fresh_access_token());
        }
        Cow::Owned(out)
    }

    /// Everything the store holds (to know when to rebuild).
    pub fn store_size(&self) -> usize {
        let s = self.store.stats();
        s.grants + s.codes + s.refresh_tokens + s.consents + s.revoked_access_tokens
    }
}

/// Run `f` on a process-wide fixture, rebuilt once its store has grown large (nothing a
/// request depends on survives from one iteration to the next except what it mints itself).
pub fn with_fixture<R>(f: impl FnOnce(&Fixture) -> R) -> R {
    static FIXTURE: Mutex<Option<Fixture>> = Mutex::new(None);
    let mut guard = FIXTURE.lock().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().is_none_or(|fx| fx.store_size() > 20_000) {
        *guard = Some(Fixture::new());
    }
    f(guard.as_ref().expect("fixture"))
}

// ---------------------------------------------------------------------------------------------
// authorization endpoint

/// `byte0` selects the request shape and session; the rest is the query (GET) or form body
/// (POST). Bits 0-1: 0/1 GET, 2 POST form, 3 POST `text/plain` (bit 7) or PUT. Bits 2-3: no
/// session, alice now, alice an hour ago, an unknown user. Bit 4: log alice in when asked
/// (complete the login step). Bits 5-6: consent granted, denied, or granted for `openid email`
/// only (decide the consent step). Bit 7 (GET and POST form): a step left unanswered by bits
/// 4-6 is cancelled instead of abandoned.
pub fn run_authorize(fx: &Fixture, data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = fx.substitute(&text);
    let mut session = match (flags >> 2) & 3 {
        0 => None,
        1 => Some(Fixture::alice(Duration::ZERO)),
        2 => Some(Fixture::alice(Duration::hours(1))),
        _ => Some(Session {
            subject: "user-nobody".into(),
            auth_time: now(),
        }),
    };
    let (req, params) = match flags & 3 {
        0 | 1 => (
            HttpRequest::new(Method::Get).query(&text),
            props::request_params(&text),
        ),
        2 => (
            HttpRequest::new(Method::Post)
                .header("content-type", b"application/x-www-form-urlencoded")
                .body(text.as_bytes()),
            props::request_params(&text),
        ),
        _ if flags & 0x80 != 0 => (
            HttpRequest::new(Method::Post)
                .header("content-type", b"text/plain")
                .body(text.as_bytes()),
            None,
        ),
        _ => (HttpRequest::new(Method::Put).query(&text), None),
    };
    let clients = fx.known_clients();
    let mut outcome = block_on(fx.provider.authorize(&req, session.as_ref()));
    for _ in 0..3 {
        props::check_authorize_outcome(
            params.as_deref(),
            &outcome,
            &clients,
            ISSUER,
            session.is_some(),
        );
        let cancel = flags & 0x80 != 0;
        outcome = match outcome {
            AuthorizeOutcome::Login(step) if flags & 0x10 != 0 => {
                let alice = Fixture::alice(Duration::ZERO);
                let next = block_on(step.complete(&fx.provider, &alice));
                session = Some(alice);
                next
            }
            AuthorizeOutcome::Consent(step) if flags & 0x60 != 0 => {
                let decision = match (flags >> 5) & 3 {
                    1 => ConsentDecision::Granted(None),
                    2 => ConsentDecision::Denied,
                    _ => ConsentDecision::Granted(Some(
                        Scopes::parse("openid email").expect("scopes"),
                    )),
                };
                block_on(step.decide(&fx.provider, session.as_ref(), decision))
            }
            AuthorizeOutcome::Login(step) if cancel => {
                let next = block_on(step.cancel(&fx.provider));
                props::check_cancelled(&next);
                next
            }
            AuthorizeOutcome::Consent(step) if cancel => {
                let next = block_on(step.cancel(&fx.provider));
                props::check_cancelled(&next);
                next
            }
            _ => return,
        };
    }
    props::check_authorize_outcome(
        params.as_deref(),
        &outcome,
        &clients,
        ISSUER,
        session.is_some(),
    );
}

// ---------------------------------------------------------------------------------------------
// token, introspection and revocation endpoints

/// The parts of a token-endpoint-style request decoded from fuzz input.
pub struct EndpointInput {
    /// Authorization header values.
    pub auth: Vec<Vec<u8>>,
    /// Content-Type, if any.
    pub content_type: Option<&'static str>,
    /// The method.
    pub method: Method,
    /// The query string.
    pub query: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// The first part of the input (after substitution), for targets that want a token.
    pub first: String,
    /// Whether a placeholder was substituted in the first part.
    pub first_substituted: bool,
}

impl EndpointInput {
    /// `byte0` flags, then `A NUL body`. Bits 0-1: no Authorization, `A` verbatim, Basic built
    /// from `A` as `id:secret`, `A` verbatim twice. Bits 2-3: form, form with charset, JSON, no
    /// Content-Type. Bit 4: GET. Bit 5: `client_secret` in the query.
    pub fn decode(fx: &Fixture, data: &[u8]) -> Option<EndpointInput> {
        let (&flags, rest) = data.split_first()?;
        let (a, body) = props::split_nul(rest);
        let body = match std::str::from_utf8(body) {
            Ok(s) => fx.substitute(s).into_owned().into_bytes(),
            Err(_) => body.to_vec(),
        };
        let a_text = String::from_utf8_lossy(a);
        let first = fx.substitute(&a_text);
        let first_substituted = matches!(first, Cow::Owned(_)) && first != a_text;
        let first = first.into_owned();
        let auth = match flags & 3 {
            0 => Vec::new(),
            1 => vec![a.to_vec()],
            2 => {
                let (id, secret) = first.split_once(':').unwrap_or((&first, ""));
                vec![props::basic_header(id, secret).into_bytes()]
            }
            _ => vec![a.to_vec(), a.to_vec()],
        };
        let content_type = match (flags >> 2) & 3 {
            0 => Some("application/x-www-form-urlencoded"),
            1 => Some("Application/X-WWW-Form-Urlencoded ; charset=UTF-8"),
            2 => Some("application/json"),
            _ => None,
        };
        Some(EndpointInput {
            auth,
            content_type,
            method: if flags & 0x10 != 0 {
                Method::Get
            } else {
                Method::Post
            },
            query: if flags & 0x20 != 0 {
                "client_secret=x"
            } else {
                ""
            },
            body,
            first,
            first_substituted,
        })
    }

    /// The request.
    pub fn request(&self) -> HttpRequest<'_> {
        let mut req = HttpRequest::new(self.method)
            .query(self.query)
            .body(&self.body);
        if let Some(ct) = self.content_type {
            req = req.header("content-type", ct.as_bytes());
        }
        for a in &self.auth {
            req = req.header("authorization", a);
        }
        req
    }

    /// The client credentials presented: Basic if one Authorization header carries it, else
    /// the form's `client_id` / `client_secret`.
    pub fn presented(&self) -> (Option<String>, Option<String>) {
        if let [a] = self.auth.as_slice() {
            if a.len() >= 6 && a[..6].eq_ignore_ascii_case(b"basic ") {
                return match parse_basic_authorization(a) {
                    Some(c) => (Some(c.client_id.clone()), Some(c.client_secret.clone())),
                    None => (None, None),
                };
            }
        }
        let body = std::str::from_utf8(&self.body).unwrap_or("");
        match parse_form(body) {
            Ok(f) => (
                f.get("client_id").map(str::to_owned),
                f.get("client_secret").map(str::to_owned),
            ),
            Err(_) => (None, None),
        }
    }
}

/// Tokens issued at 200 go to the client that authenticated, with its right secret.
fn check_issued_to_presented(fx: &Fixture, input: &EndpointInput, json: &Value) {
    let at = json["access_token"].as_str().expect("access_token");
    assert!(
        fx.provider.keys().verify(at).is_ok(),
        "issued access token does not verify"
    );
    let claims = props::jwt_claims(at);
    let (id, secret) = input.presented();
    let id = id.unwrap_or_else(|| panic!("token issued without a client id presented: {claims}"));
    assert_eq!(
        claims["client_id"].as_str(),
        Some(id.as_str()),
        "token issued to another client"
    );
    let client = fx
        .client(&id)
        .unwrap_or_else(|| panic!("token issued to unknown client {id:?}"));
    match &client.client_secret {
        Some(right) => assert_eq!(
            secret.as_deref(),
            Some(right.as_str()),
            "confidential client without its secret"
        ),
        None => assert!(
            secret.is_none(),
            "public client authenticated with a secret"
        ),
    }
    if let Some(id_token) = json.get("id_token").and_then(Value::as_str) {
        assert!(
            fx.provider.keys().verify(id_token).is_ok(),
            "issued ID token does not verify"
        );
        assert_eq!(
            props::jwt_claims(id_token)["aud"].as_str(),
            Some(id.as_str()),
            "ID token for another audience"
        );
    }
}

/// The token endpoint on fuzz input (see [`EndpointInput::decode`]).
pub fn run_token(fx: &Fixture, data: &[u8]) {
    let Some(input) = EndpointInput::decode(fx, data) else {
        return;
    };
    let resp = block_on(fx.provider.token(&input.request()));
    props::check_endpoint_response(&resp, |body| {
        let json = props::check_token_ok_body(body);
        check_issued_to_presented(fx, &input, &json);
    });
}

fn introspect_active(fx: &Fixture, token: &str) -> Value {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    let auth = props::basic_header(&fx.c1.client.client_id, Fixture::secret(&fx.c1));
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .header("authorization", auth.as_bytes())
        .body(body.as_bytes());
    let resp = block_on(fx.provider.introspect(&req));
    props::check_endpoint_response(&resp, props::check_introspection_ok_body);
    assert_eq!(
        resp.status, 200,
        "introspection with good client authentication failed"
    );
    serde_json::from_slice(&resp.body).expect("JSON")
}

/// Introspection and revocation on fuzz input; then, with client 1's good credentials, the
/// first input part as a token: introspect, revoke (must be 200), introspect again (a token
/// of client 1 that was active is now inactive; a token no placeholder produced is inactive).
pub fn run_introspect_revoke(fx: &Fixture, data: &[u8]) {
    let Some(input) = EndpointInput::decode(fx, data) else {
        return;
    };
    let req = input.request();
    let resp = block_on(fx.provider.introspect(&req));
    props::check_endpoint_response(&resp, props::check_introspection_ok_body);
    let resp = block_on(fx.provider.revoke(&req));
    props::check_endpoint_response(&resp, |body| {
        assert!(body.is_empty(), "revocation 200 with a body")
    });

    let token = if input.first.is_empty() {
        "garbage"
    } else {
        input.first.as_str()
    };
    if token.len() > 4096 {
        return; // keep the form under the body limit once percent-encoded
    }
    let before = introspect_active(fx, token);
    if !input.first_substituted {
        assert_eq!(
            before["active"], false,
            "a token nobody issued is active: {token:?}"
        );
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    let auth = props::basic_header(&fx.c1.client.client_id, Fixture::secret(&fx.c1));
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .header("authorization", auth.as_bytes())
        .body(body.as_bytes());
    let resp = block_on(fx.provider.revoke(&req));
    props::check_endpoint_response(&resp, |_| {});
    assert_eq!(
        resp.status,
        200,
        "revocation with good client authentication: {}",
        String::from_utf8_lossy(&resp.body)
    );
    let after = introspect_active(fx, token);
    if before["active"] == true
        && before["client_id"].as_str() == Some(fx.c1.client.client_id.as_str())
    {
        assert_eq!(
            after["active"], false,
            "client 1's token still active after client 1 revoked it"
        );
    }
}
