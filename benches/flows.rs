//! Criterion benchmarks of opkit: whole flows through the public API against the in-memory
//! stores, the pure pieces they are made of, and the floors they are compared with (ring
//! signing the same JWS signing inputs and nothing else).
//!
//! The flows run against a store at a steady state: the provider's clock is simulated and moves
//! on per sign-in, the store holds what a provider at the stated rate holds, and
//! `Store::purge_expired` runs when it is due (see `Steady`).
//!
//! Run: `cargo bench --bench flows` (see `benches/README.md`).
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, user + system), not
//! wall time: the 2-core machine this runs on is shared with other builds, and wall time there
//! mostly measures how often the scheduler lets the benchmark run. Set `OPKIT_BENCH_CLOCK=wall`
//! for criterion's usual wall clock. After criterion, a whole run (no filter) prints the
//! headline ratios twice: from this run's criterion estimates, and measured with the two
//! benchmarks interleaved in short alternating slices; `OPKIT_BENCH_RATIOS=0` skips them.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use base64::Engine as _;
use criterion::{criterion_group, Criterion};
use opkit::claims::UserClaims;
use opkit::client::{validate, ClientWithSecrets, MetadataSource, NewClient};
use opkit::fuzzing::parse_basic_authorization;
use opkit::host::SystemRng;
use opkit::http::{parse_form, HttpRequest, HttpResponse, Method};
use opkit::jose::KeySet;
use opkit::pkce::{ChallengeMethod, CodeChallenge};
use opkit::scope::Scopes;
use opkit::secret::{random_token, IssuedSecret};
use opkit::store::{
    CodeRecord, CodeStore, Grant, GrantId, GrantStore, MemoryStore, MemoryUsers, Store,
};
use opkit::{
    AuthorizationParams, AuthorizationResponse, AuthorizeOutcome, Config, ConsentDecision,
    Provider, Session, TokenResponse,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// A minimal executor: the in-memory stores' futures complete on their first poll.

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` to completion on this thread (spinning if it is ever pending, which the
/// in-memory stores never are).
fn block_on<F: Future>(fut: F) -> F::Output {
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(NoopWake));
    }
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        let mut fut = pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The clock: this thread's CPU time, so that other processes on the machine do not count.

mod clock {
    use std::time::{Duration, Instant};

    use criterion::measurement::{Measurement, ValueFormatter};
    use criterion::Throughput;

    /// This thread's CPU time (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)` through the
    /// `cpu-time` crate), or `None` where the platform has no such clock.
    fn thread_cpu_ns() -> Option<u64> {
        let t = cpu_time::ThreadTime::try_now().ok()?;
        u64::try_from(t.as_duration().as_nanos()).ok()
    }

    /// Thread CPU time, or wall time where that is not available or `OPKIT_BENCH_CLOCK=wall`.
    #[derive(Clone, Copy)]
    pub struct Clock {
        cpu: bool,
        epoch: Instant,
    }

    impl Clock {
        pub fn from_env() -> Clock {
            let wall = std::env::var("OPKIT_BENCH_CLOCK").as_deref() == Ok("wall");
            Clock {
                cpu: !wall && thread_cpu_ns().is_some(),
                epoch: Instant::now(),
            }
        }

        pub fn name(&self) -> &'static str {
            if self.cpu {
                "thread CPU time"
            } else {
                "wall time"
            }
        }

        /// Nanoseconds on this clock since some fixed point.
        pub fn now(&self) -> u64 {
            match self.cpu.then(thread_cpu_ns).flatten() {
                Some(ns) => ns,
                None => self.epoch.elapsed().as_nanos() as u64,
            }
        }

        /// How long `f` takes on this clock.
        pub fn time(&self, f: impl FnOnce()) -> Duration {
            let start = self.now();
            f();
            Duration::from_nanos(self.now().saturating_sub(start))
        }
    }

    impl Measurement for Clock {
        type Intermediate = u64;
        type Value = Duration;

        fn start(&self) -> u64 {
            self.now()
        }
        fn end(&self, start: u64) -> Duration {
            Duration::from_nanos(self.now().saturating_sub(start))
        }
        fn add(&self, a: &Duration, b: &Duration) -> Duration {
            *a + *b
        }
        fn zero(&self) -> Duration {
            Duration::ZERO
        }
        fn to_f64(&self, d: &Duration) -> f64 {
            d.as_nanos() as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            &Nanoseconds
        }
    }

    /// Formats nanoseconds as criterion's wall clock does.
    struct Nanoseconds;

    impl ValueFormatter for Nanoseconds {
        fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
            let (factor, unit) = if ns < 1.0 {
                (1e3, "ps")
            } else if ns < 1e3 {
                (1.0, "ns")
            } else if ns < 1e6 {
                (1e-3, "µs")
            } else if ns < 1e9 {
                (1e-6, "ms")
            } else {
                (1e-9, "s")
            };
            for v in values {
                *v *= factor;
            }
            unit
        }

        fn scale_throughputs(
            &self,
            typical: f64,
            t: &Throughput,
            values: &mut [f64],
        ) -> &'static str {
            let per = match *t {
                Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => {
                    n as f64
                }
            };
            let _ = typical;
            for v in values {
                *v = per * 1e9 / *v;
            }
            "/s"
        }

        fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
            "ns"
        }
    }
}

use clock::Clock;

// ---------------------------------------------------------------------------------------------
// The provider's clock and the steady state of its store.
//
// A provider that serves for a while holds what it issued within the last lifetime of each
// record and purges what expired; its store neither starts empty nor grows for ever. The flows
// run at that steady state: the provider's clock is simulated and moves on by 1/rate per
// authorization request (the token request of a code flow happens at the same instant), the
// store is filled before timing with what that rate leaves live, and `Store::purge_expired`
// runs inside the measured loop whenever the clock passes the next purge time, so its cost is
// amortised over the requests as a host's periodic janitor would spend it.

/// The provider's clock: simulated time, moved on by the benchmark.
struct SimClock {
    unix_ns: AtomicI64,
}

impl SimClock {
    fn now_ns(&self) -> i64 {
        self.unix_ns.load(Ordering::Relaxed)
    }

    /// Move on by `ns`; returns the new time.
    fn advance(&self, ns: i64) -> i64 {
        self.unix_ns.fetch_add(ns, Ordering::Relaxed) + ns
    }
}

impl opkit::host::Clock for SimClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.now_ns()))
            .expect("simulated time in range")
    }
}

fn env_f64(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

/// The steady state the flows run at (environment: `OPKIT_BENCH_RATE`,
/// `OPKIT_BENCH_PURGE_EVERY`, `OPKIT_BENCH_PURGE_BATCH`; `OPKIT_BENCH_PURGE=0` for the old
/// behaviour: no prefill, no purge, a store that grows for the whole run).
struct Steady {
    clock: Arc<SimClock>,
    /// Authorization requests (sign-ins) per second of provider time.
    rate: f64,
    purge: bool,
    step_ns: i64,
    purge_every_ns: i64,
    batch: usize,
    next_purge_ns: AtomicI64,
    requests: AtomicU64,
    purges: AtomicU64,
    purged: AtomicU64,
    purge_cpu_ns: AtomicU64,
}

impl Steady {
    fn from_env() -> Steady {
        let rate = env_f64("OPKIT_BENCH_RATE", 100.0);
        assert!(rate > 0.0, "OPKIT_BENCH_RATE must be positive");
        let purge_every = env_f64("OPKIT_BENCH_PURGE_EVERY", 60.0);
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
        Steady {
            clock: Arc::new(SimClock {
                unix_ns: AtomicI64::new(now),
            }),
            rate,
            purge: std::env::var("OPKIT_BENCH_PURGE").as_deref() != Ok("0"),
            step_ns: (1e9 / rate).round() as i64,
            purge_every_ns: (purge_every * 1e9).round() as i64,
            batch: env_f64("OPKIT_BENCH_PURGE_BATCH", 10_000.0) as usize,
            next_purge_ns: AtomicI64::new(now),
            requests: AtomicU64::new(0),
            purges: AtomicU64::new(0),
            purged: AtomicU64::new(0),
            purge_cpu_ns: AtomicU64::new(0),
        }
    }

    fn describe(&self) -> String {
        if self.purge {
            format!(
                "{} sign-ins/s of provider time, purge every {} s in batches of {}",
                self.rate,
                self.purge_every_ns as f64 / 1e9,
                self.batch
            )
        } else {
            "no purge (OPKIT_BENCH_PURGE=0): the store grows for the whole run".into()
        }
    }

    /// One authorization request's worth of provider time; the purge when it is due (with
    /// `OPKIT_BENCH_PURGE=0`, only the clock moves).
    fn tick(&self, store: &MemoryStore) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.advance(self.step_ns);
        if !self.purge || now < self.next_purge_ns.load(Ordering::Relaxed) {
            return;
        }
        self.next_purge_ns
            .store(now + self.purge_every_ns, Ordering::Relaxed);
        let cpu = Clock::from_env();
        let start = cpu.now();
        let at = opkit::host::Clock::now(&*self.clock);
        let counts = block_on(store.purge_expired(at, self.batch)).expect("purge");
        // Kept apart: `timed` takes it out of the request's time, `report` adds it back per
        // request.
        self.purge_cpu_ns
            .fetch_add(cpu.now().saturating_sub(start), Ordering::Relaxed);
        self.purges.fetch_add(1, Ordering::Relaxed);
        self.purged.fetch_add(
            counts.codes + counts.grants + counts.refresh_tokens + counts.revoked_access_tokens,
            Ordering::Relaxed,
        );
    }

    /// The purges' CPU time so far, in nanoseconds on the benchmark clock.
    fn janitor_ns(&self) -> u64 {
        self.purge_cpu_ns.load(Ordering::Relaxed)
    }

    /// The purges' time per authorization request so far, in seconds.
    fn janitor_per_request(&self) -> f64 {
        self.janitor_ns() as f64 / 1e9 / self.requests.load(Ordering::Relaxed).max(1) as f64
    }

    /// What the purges cost so far, per authorization request.
    fn report(&self, store: &MemoryStore) -> String {
        let stats = store.stats();
        let (requests, purges) = (
            self.requests.load(Ordering::Relaxed),
            self.purges.load(Ordering::Relaxed),
        );
        let cpu = self.purge_cpu_ns.load(Ordering::Relaxed) as f64;
        format!(
            "store now: {} grants, {} codes, {} refresh tokens; {requests} authorization requests, \
             {purges} purges removed {} records, {:.0} µs per purge, {:.3} µs per request",
            stats.grants,
            stats.codes,
            stats.refresh_tokens,
            self.purged.load(Ordering::Relaxed),
            cpu / 1e3 / purges.max(1) as f64,
            cpu / 1e3 / requests.max(1) as f64,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture: one provider, its clients, a user with standing consent.

const ISSUER: &str = "https://id.example.com";
const REDIRECT: &str = "https://app.example.com/oidc/callback";
const REDIRECT_ENC: &str = "https%3A%2F%2Fapp.example.com%2Foidc%2Fcallback";
const SUBJECT: &str = "248289761001";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const STATE: &str = "af0ifjsldkj-Qx4sVb2yHnW8mZ1tK7pRcE";
const NONCE: &str = "n-0S6_WzA2Mj-8kLq3rT";
const FORM: &[u8] = b"application/x-www-form-urlencoded";

type Op = Provider<MemoryStore, MemoryUsers>;

struct Client {
    id: String,
    basic: String,
    /// The authorization request's query string the browser brings for this client: an input,
    /// built once, as a host receives it from its HTTP server.
    query: String,
}

impl Client {
    fn from(c: ClientWithSecrets) -> Client {
        let secret = c.client_secret.expect("confidential client");
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.client.client_id, secret))
        );
        Client {
            id: c.client.client_id,
            basic,
            query: String::new(),
        }
    }
}

struct Fixture {
    op: Op,
    steady: Steady,
    session: Session,
    es256: Client,
    rs256: Client,
    service: Client,
    implicit: Client,
    gateway: Client,
}

fn user_claims() -> UserClaims {
    UserClaims {
        name: Some("Jane Doe".into()),
        given_name: Some("Jane".into()),
        family_name: Some("Doe".into()),
        preferred_username: Some("j.doe".into()),
        picture: Some("https://id.example.com/avatars/248289761001.jpg".into()),
        locale: Some("en-GB".into()),
        updated_at: Some(1_700_000_000),
        email: Some("janedoe@example.com".into()),
        email_verified: Some(true),
        ..Default::default()
    }
}

impl Fixture {
    fn new() -> Fixture {
        let keys = KeySet::generate(&SystemRng::new()).expect("keys");
        let store = MemoryStore::new();
        let users = MemoryUsers::new().with_iterations(1000);
        users
            .add_user(
                "jane",
                "correct horse battery staple",
                SUBJECT,
                user_claims(),
            )
            .expect("user");
        let steady = Steady::from_env();
        let mut config = Config::new(ISSUER).expect("issuer");
        config.token_exchange_enabled = true;
        let op = Provider::new(config, keys, store, users).with_clock(steady.clock.clone());
        let client = |doc: Value| {
            let settings = validate(doc.as_object().unwrap(), MetadataSource::Management, false)
                .expect("client metadata");
            Client::from(
                block_on(op.create_client(settings, NewClient::new())).expect("create client"),
            )
        };
        let web = |alg: &str| {
            json!({
                "name": "Example web app",
                "redirect_uris": [REDIRECT],
                "id_token_signed_response_alg": alg,
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "refresh_token"],
            })
        };
        let mut es256 = client(web("ES256"));
        es256.query = code_query(&es256.id, "openid profile email");
        let mut rs256 = client(web("RS256"));
        rs256.query = code_query(&rs256.id, "openid profile email");
        let service = client(json!({
            "name": "Billing service",
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "allowed_scopes": ["invoices.read", "invoices.write"],
        }));
        let gateway = client(json!({
            "name": "API gateway",
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "allowed_scopes": ["openid", "profile", "email"],
        }));
        let mut implicit = client(json!({
            "name": "Legacy SPA",
            "redirect_uris": [REDIRECT],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["implicit"],
            "response_types": ["id_token token"],
        }));
        implicit.query = implicit_query(&implicit.id);
        assert_eq!(
            code_body("c"),
            format!("grant_type=authorization_code&code=c&redirect_uri={REDIRECT_ENC}&code_verifier={VERIFIER}")
        );
        let session = Session {
            subject: SUBJECT.into(),
            auth_time: opkit::host::Clock::now(&*steady.clock) - time::Duration::minutes(5),
        };
        let f = Fixture {
            op,
            steady,
            session,
            es256,
            rs256,
            service,
            implicit,
            gateway,
        };
        // Standing consent, so the measured requests never stop at a consent page.
        for c in [&f.es256, &f.rs256] {
            f.consent(&code_query(&c.id, "openid profile email"));
        }
        f.consent(&implicit_query(&f.implicit.id));
        if f.steady.purge {
            f.fill();
        }
        eprintln!("steady state: {}", f.steady.describe());
        eprintln!("  {}", f.steady.report(f.op.store()));
        f
    }

    /// Fill the store with what the stated rate leaves live, through the store's public API:
    /// one grant per sign-in of the last grant lifetime (a grant without `offline_access`
    /// lives `code_ttl` + the longest token lifetime: 3660 s by default), and one redeemed code
    /// per sign-in of the last `code_ttl` (60 s). Then the first purge is due one purge
    /// interval later.
    fn fill(&self) {
        let config = self.op.config();
        let grant_life = config.code_ttl + config.access_token_ttl.max(config.id_token_ttl);
        let code_ttl = config.code_ttl;
        let now = opkit::host::Clock::now(&*self.steady.clock);
        let per_window = |d: time::Duration| (d.as_seconds_f64() * self.steady.rate) as i64;
        let (grants, codes) = (per_window(grant_life), per_window(code_ttl));
        let rng = SystemRng::new();
        let scopes = Scopes::parse("openid profile email").unwrap();
        let challenge = CodeChallenge::new(CHALLENGE, ChallengeMethod::S256).unwrap();
        let store = self.op.store();
        for i in (1..=grants).rev() {
            let created_at = now - time::Duration::nanoseconds(self.steady.step_ns * i);
            let subject = format!("{:012}", i * 7_919 % 1_000_000);
            let grant = Grant {
                id: GrantId(random_token(&rng, 16).expect("rng")),
                client_id: self.es256.id.clone(),
                subject: Some(subject.clone()),
                scopes: scopes.clone(),
                auth_time: Some(created_at - time::Duration::minutes(5)),
                created_at,
                expires_at: created_at + grant_life,
                revoked: false,
                resource: None,
            };
            let grant_id = grant.id.clone();
            block_on(store.create_grant(grant)).expect("grant");
            if i <= codes {
                let code = IssuedSecret::generate(&rng).expect("rng");
                block_on(store.put_code(CodeRecord {
                    hash: code.hash,
                    grant_id,
                    client_id: self.es256.id.clone(),
                    subject,
                    redirect_uri: Some(REDIRECT.into()),
                    scopes: scopes.clone(),
                    nonce: Some(NONCE.into()),
                    challenge: Some(challenge.clone()),
                    auth_time: created_at - time::Duration::minutes(5),
                    expires_at: created_at + code_ttl,
                }))
                .expect("code");
                block_on(store.redeem_code(&code.hash)).expect("redeem");
            }
        }
        self.steady.next_purge_ns.store(
            self.steady.clock.now_ns() + self.steady.purge_every_ns,
            Ordering::Relaxed,
        );
    }

    /// Run an authorization request through the consent page (granting) once.
    fn consent(&self, query: &str) -> AuthorizationResponse {
        let req = HttpRequest::new(Method::Get).query(query);
        let mut outcome = block_on(self.op.authorize(&req, Some(&self.session)));
        loop {
            outcome = match outcome {
                AuthorizeOutcome::Consent(step) => block_on(step.decide(
                    &self.op,
                    Some(&self.session),
                    ConsentDecision::Granted(None),
                )),
                AuthorizeOutcome::Respond(resp) => return resp,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
    }

    /// `GET /authorize?…` with a logged-in session and standing consent: the response.
    fn authorize(&self, query: &str) -> AuthorizationResponse {
        // One sign-in's worth of provider time, and the purge when it is due.
        self.steady.tick(self.op.store());
        let req = HttpRequest::new(Method::Get).query(query);
        match block_on(self.op.authorize(&req, Some(&self.session))) {
            AuthorizeOutcome::Respond(resp) => resp,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// `POST /token` with Basic authentication; panics unless 200.
    fn token(&self, client: &Client, body: &str) -> HttpResponse {
        let req = HttpRequest::new(Method::Post)
            .header("content-type", FORM)
            .header("authorization", client.basic.as_bytes())
            .body(body.as_bytes());
        let resp = block_on(self.op.token(&req));
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        resp
    }

    /// One whole code flow: authorization request → code → token request with PKCE and
    /// `client_secret_basic` → the HTTP response holding the ID token and access token.
    #[inline(never)]
    fn code_flow(&self, client: &Client) -> HttpResponse {
        let resp = self.authorize(&client.query);
        let code = resp.param("code").expect("code").to_owned();
        // The host sends the redirect: build it as it would.
        black_box(resp.into_http());
        self.token(client, &code_body(&code))
    }

    #[inline(never)]
    fn client_credentials(&self) -> HttpResponse {
        self.token(
            &self.service,
            "grant_type=client_credentials&scope=invoices.read",
        )
    }

    /// A refresh token from a code flow with `offline_access` (consent given each time).
    fn refresh_token(&self) -> String {
        let resp = self.consent(&code_query(
            &self.es256.id,
            "openid profile email offline_access",
        ));
        let code = resp.param("code").expect("code").to_owned();
        let tokens = self.token(&self.es256, &code_body(&code));
        let v: Value = serde_json::from_slice(&tokens.body).unwrap();
        v["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned()
    }

    /// One refresh: present `token`, get a new access token, ID token and refresh token.
    /// Returns the HTTP response and the next refresh token.
    #[inline(never)]
    fn refresh(&self, token: &str) -> (HttpResponse, String) {
        let body = format!("grant_type=refresh_token&refresh_token={token}");
        let req = HttpRequest::new(Method::Post)
            .header("content-type", FORM)
            .header("authorization", self.es256.basic.as_bytes())
            .body(body.as_bytes());
        // `token_request` for the typed result (the next refresh token), then exactly what
        // `Provider::token` does with it.
        let typed = block_on(self.op.token_request(&req)).expect("refresh");
        let json = serde_json::to_vec(&typed).expect("json");
        let next = typed.refresh_token.expect("rotated refresh token");
        (HttpResponse::json_no_store(200, json), next)
    }

    /// A user's access token from a code flow, to exchange.
    fn user_access_token(&self) -> String {
        let v = token_json(&self.code_flow(&self.es256));
        v["access_token"].as_str().expect("access token").to_owned()
    }

    /// RFC 8693: the gateway exchanges the user's access token for one of its own.
    #[inline(never)]
    fn exchange(&self, subject: &str) -> HttpResponse {
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &subject_token={subject}\
             &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
        );
        self.token(&self.gateway, &body)
    }

    #[inline(never)]
    fn implicit(&self) -> HttpResponse {
        let resp = self.authorize(&self.implicit.query);
        assert!(resp.param("id_token").is_some() && resp.param("access_token").is_some());
        resp.into_http()
    }
}

fn code_query(client_id: &str, scope: &str) -> String {
    format!(
        "response_type=code&client_id={client_id}&redirect_uri={REDIRECT_ENC}&scope={}&state={STATE}&nonce={NONCE}&code_challenge={CHALLENGE}&code_challenge_method=S256",
        scope.replace(' ', "%20")
    )
}

fn implicit_query(client_id: &str) -> String {
    format!(
        "response_type=id_token%20token&client_id={client_id}&redirect_uri={REDIRECT_ENC}&scope=openid%20profile%20email&state={STATE}&nonce={NONCE}"
    )
}

/// The code-redemption form the client posts (the client's work, kept to a few copies).
fn code_body(code: &str) -> String {
    const BEFORE: &str = "grant_type=authorization_code&code=";
    const AFTER: &str = concat!(
        "&redirect_uri=https%3A%2F%2Fapp.example.com%2Foidc%2Fcallback",
        "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    let mut body = String::with_capacity(BEFORE.len() + code.len() + AFTER.len());
    body.push_str(BEFORE);
    body.push_str(code);
    body.push_str(AFTER);
    body
}

/// The signing input (`header.payload`) of a compact JWS.
fn signing_input(jwt: &str) -> Vec<u8> {
    jwt.as_bytes()[..jwt.rfind('.').expect("JWS")].to_vec()
}

/// The members of a token response.
fn token_json(resp: &HttpResponse) -> Value {
    serde_json::from_slice(&resp.body).expect("JSON")
}

// ---------------------------------------------------------------------------------------------
// Floors: ring alone signing the signing inputs of the tokens the flows produce.

struct Floor {
    rng: SystemRandom,
    key: EcdsaKeyPair,
    id_token: Vec<u8>,
    access_token: Vec<u8>,
    service_token: Vec<u8>,
    /// The floor key's signature over `access_token`, for the verification floor.
    access_token_sig: ring::signature::Signature,
}

impl Floor {
    fn new(f: &Fixture) -> Floor {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let code = token_json(&f.code_flow(&f.es256));
        let service = token_json(&f.client_credentials());
        let access_token = signing_input(code["access_token"].as_str().unwrap());
        let access_token_sig = key.sign(&rng, &access_token).unwrap();
        let floor = Floor {
            rng,
            key,
            id_token: signing_input(code["id_token"].as_str().unwrap()),
            access_token,
            service_token: signing_input(service["access_token"].as_str().unwrap()),
            access_token_sig,
        };
        eprintln!(
            "floor signing inputs: ID token {} bytes, access token {} bytes, client-credentials access token {} bytes",
            floor.id_token.len(),
            floor.access_token.len(),
            floor.service_token.len()
        );
        floor
    }

    fn sign(&self, msg: &[u8]) -> ring::signature::Signature {
        self.key.sign(&self.rng, msg).unwrap()
    }

    #[inline(never)]
    fn two(&self) {
        black_box(self.sign(black_box(&self.id_token)));
        black_box(self.sign(black_box(&self.access_token)));
    }

    #[inline(never)]
    fn one(&self) {
        black_box(self.sign(black_box(&self.service_token)));
    }

    /// What a token exchange cannot avoid: verify the subject token's signature, sign one.
    #[inline(never)]
    fn verify_and_sign(&self) {
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        );
        black_box(public.verify(
            black_box(&self.access_token),
            self.access_token_sig.as_ref(),
        ))
        .expect("the floor's own signature");
        black_box(self.sign(black_box(&self.service_token)));
    }
}

// ---------------------------------------------------------------------------------------------
// Benchmarks.

fn fixture() -> &'static (Fixture, Floor) {
    static F: std::sync::OnceLock<(Fixture, Floor)> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let f = Fixture::new();
        let floor = Floor::new(&f);
        (f, floor)
    })
}

fn floors(c: &mut Criterion<Clock>) {
    let (_, floor) = fixture();
    c.bench_function("floor/two_es256_jwts", |b| b.iter(|| floor.two()));
    c.bench_function("floor/one_es256_jwt", |b| b.iter(|| floor.one()));
    c.bench_function("floor/verify_and_sign_es256", |b| {
        b.iter(|| floor.verify_and_sign())
    });
}

/// How long `f` takes on `clock`, without the purges it ran (those are the janitor's time,
/// reported on their own per request: see `Steady`).
fn timed(clock: Clock, f: impl FnOnce()) -> Duration {
    let steady = &fixture().0.steady;
    let janitor = steady.janitor_ns();
    let t = clock.time(f);
    t.saturating_sub(Duration::from_nanos(steady.janitor_ns() - janitor))
}

fn flows(c: &mut Criterion<Clock>) {
    let (f, _) = fixture();
    let clock = Clock::from_env();
    let mut flow = |name: &str, mut run: Box<dyn FnMut() + '_>| {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(clock, || {
                    for _ in 0..iters {
                        run();
                    }
                })
            })
        });
    };
    flow(
        "flow/code_pkce_es256",
        Box::new(|| {
            black_box(f.code_flow(&f.es256));
        }),
    );
    flow(
        "flow/code_pkce_rs256",
        Box::new(|| {
            black_box(f.code_flow(&f.rs256));
        }),
    );
    flow(
        "flow/client_credentials_es256",
        Box::new(|| {
            black_box(f.client_credentials());
        }),
    );
    let mut token = f.refresh_token();
    flow(
        "flow/refresh_rotate_es256",
        Box::new(move || {
            let (resp, next) = f.refresh(&token);
            black_box(resp);
            token = next;
        }),
    );
    // A subject token lives an hour of the steady clock; take a fresh one now and then.
    let mut subject = f.user_access_token();
    let mut uses = 0u32;
    flow(
        "flow/token_exchange_es256",
        Box::new(move || {
            uses += 1;
            if uses % 10_000 == 0 {
                subject = f.user_access_token();
            }
            black_box(f.exchange(&subject));
        }),
    );
    flow(
        "flow/implicit_id_token_token_es256",
        Box::new(|| {
            black_box(f.implicit());
        }),
    );
}

fn pieces(c: &mut Criterion<Clock>) {
    let (f, _) = fixture();
    let config = f.op.config();

    let query = code_query(&f.es256.id, "openid profile email");
    c.bench_function("parse/authorize_request", |b| {
        b.iter(|| {
            let req = HttpRequest::new(Method::Get).query(black_box(&query));
            AuthorizationParams::from_http(&req, config).unwrap()
        })
    });

    // A realistic code-redemption request: the form body and the Basic header, as the token
    // endpoint reads them before touching a store.
    let body = code_body("SplxlOBeZQQYbYS6WxSbIA-3sBqE4u7Xh1yNmPvZq0k");
    let basic = f.es256.basic.clone();
    c.bench_function("parse/token_request", |b| {
        b.iter(|| {
            let form = parse_form(black_box(&body)).unwrap();
            let creds = parse_basic_authorization(black_box(basic.as_bytes())).unwrap();
            black_box(&creds);
            form.get("code").map(str::len)
        })
    });

    let challenge = CodeChallenge::new(CHALLENGE, ChallengeMethod::S256).unwrap();
    c.bench_function("verify/pkce_s256", |b| {
        b.iter(|| assert!(challenge.verify(black_box(VERIFIER))))
    });

    let access = token_json(&f.client_credentials())["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys = f.op.keys();
    c.bench_function("jose/verify_es256", |b| {
        b.iter(|| keys.verify(black_box(&access)).unwrap())
    });

    // Pieces the flows spend time in besides signing (for the profile in benches/README.md).
    let rng = SystemRng::new();
    c.bench_function("secret/generate", |b| {
        b.iter(|| IssuedSecret::generate(&rng).unwrap())
    });
    c.bench_function("token/at_hash", |b| {
        b.iter(|| opkit::jose::half_hash(black_box(&access)))
    });
    let code = token_json(&f.code_flow(&f.es256));
    let response = TokenResponse {
        access_token: code["access_token"].as_str().unwrap().to_owned(),
        token_type: "Bearer",
        expires_in: 3600,
        scope: Some("openid profile email".into()),
        id_token: Some(code["id_token"].as_str().unwrap().to_owned()),
        refresh_token: None,
        issued_token_type: None,
    };
    c.bench_function("json/token_response", |b| {
        b.iter(|| serde_json::to_vec(black_box(&response)).unwrap())
    });

    c.bench_function("discovery/document", |b| b.iter(|| f.op.discovery()));
    c.bench_function("jwks/document", |b| b.iter(|| f.op.jwks()));
}

fn config() -> Criterion<Clock> {
    Criterion::default()
        .with_measurement(Clock::from_env())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = floors, flows, pieces
}

// ---------------------------------------------------------------------------------------------
// Interleaved ratios.

/// Median time per call of `a` divided by that of `b`, measured on `clock` in alternating slices
/// of about 20 ms each for `total` (on that clock), so both see the same conditions.
fn interleaved_ratio(
    clock: Clock,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
    total: Duration,
) -> (f64, f64, f64) {
    let per_call = |f: &mut dyn FnMut(), n: u32| {
        timed(clock, || {
            for _ in 0..n {
                f();
            }
        })
        .as_secs_f64()
            / f64::from(n)
    };
    let slice = Duration::from_millis(20).as_secs_f64();
    let na = ((slice / per_call(&mut a, 20).max(1e-9)) as u32).max(1);
    let nb = ((slice / per_call(&mut b, 20).max(1e-9)) as u32).max(1);
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut spent, start) = (0.0, Instant::now());
    // Bounded in wall time too, should the machine be very busy.
    while spent < total.as_secs_f64() && start.elapsed() < 4 * total {
        let x = per_call(&mut a, na);
        let y = per_call(&mut b, nb);
        spent += x * f64::from(na) + y * f64::from(nb);
        ta.push(x);
        tb.push(y);
        ratios.push(x / y);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut ta), median(&mut tb), median(&mut ratios))
}

/// Criterion's estimate (the middle figure it prints: the slope, else the mean) of one
/// benchmark of this run, in nanoseconds.
fn criterion_estimate(id: &str) -> Option<f64> {
    let dir = std::env::var_os("CRITERION_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(|t| std::path::PathBuf::from(t).join("criterion"))
        })
        .unwrap_or_else(|| "target/criterion".into());
    let path = dir.join(id.replace('/', "_")).join("new/estimates.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    ["slope", "mean"]
        .iter()
        .find_map(|k| v[k]["point_estimate"].as_f64())
}

const RATIOS: [(&str, &str, &str); 5] = [
    (
        "flow/code_pkce_es256",
        "floor/two_es256_jwts",
        "≤ 1.30, stretch 1.15",
    ),
    (
        "flow/client_credentials_es256",
        "floor/one_es256_jwt",
        "≤ 1.30",
    ),
    ("flow/refresh_rotate_es256", "floor/two_es256_jwts", "—"),
    (
        "flow/token_exchange_es256",
        "floor/verify_and_sign_es256",
        "—",
    ),
    (
        "flow/implicit_id_token_token_es256",
        "floor/two_es256_jwts",
        "—",
    ),
];

fn ratios() {
    println!("\nRatios of this run's criterion estimates:");
    for (a, b, target) in RATIOS {
        if let (Some(x), Some(y)) = (criterion_estimate(a), criterion_estimate(b)) {
            println!(
                "  {:<58} {:>8.2} µs / {:>7.2} µs = {:.3}  (target {target})",
                format!("{a} ÷ {b}"),
                x / 1e3,
                y / 1e3,
                x / y
            );
        }
    }
    let (f, floor) = fixture();
    let with_janitor = |flow: f64, floor: f64| {
        let j = f.steady.janitor_per_request();
        println!(
            "  {:<58} {:>8.2} µs / {:>7.2} µs = {:.3}  (the purge's {:.2} µs per sign-in added)",
            "flow/code_pkce_es256 + purge ÷ floor/two_es256_jwts",
            (flow + j) * 1e6,
            floor * 1e6,
            (flow + j) / floor,
            j * 1e6
        );
    };
    if let (Some(x), Some(y)) = (
        criterion_estimate("flow/code_pkce_es256"),
        criterion_estimate("floor/two_es256_jwts"),
    ) {
        with_janitor(x / 1e9, y / 1e9);
    }
    let clock = Clock::from_env();
    let total = Duration::from_secs(6);
    println!(
        "\nInterleaved ratios ({}, median of per-slice ratios, {total:?} each):",
        clock.name()
    );
    let report = |name: &str, (a, b, r): (f64, f64, f64), target: &str| {
        println!(
            "  {name:<58} {:>8.2} µs / {:>7.2} µs = {r:.3}  (target {target})",
            a * 1e6,
            b * 1e6
        );
    };
    let code = interleaved_ratio(
        clock,
        || {
            black_box(f.code_flow(&f.es256));
        },
        || floor.two(),
        total,
    );
    report(
        "flow/code_pkce_es256 ÷ floor/two_es256_jwts",
        code,
        "≤ 1.30, stretch 1.15",
    );
    with_janitor(code.0, code.1);
    report(
        "flow/client_credentials_es256 ÷ floor/one_es256_jwt",
        interleaved_ratio(
            clock,
            || {
                black_box(f.client_credentials());
            },
            || floor.one(),
            total,
        ),
        "≤ 1.30",
    );
    let mut token = f.refresh_token();
    report(
        "flow/refresh_rotate_es256 ÷ floor/two_es256_jwts",
        interleaved_ratio(
            clock,
            || {
                let (resp, next) = f.refresh(&token);
                black_box(resp);
                token = next;
            },
            || floor.two(),
            total,
        ),
        "—",
    );
    report(
        "flow/implicit_id_token_token_es256 ÷ floor/two_es256_jwts",
        interleaved_ratio(
            clock,
            || {
                black_box(f.implicit());
            },
            || floor.two(),
            total,
        ),
        "—",
    );
}

/// Whether this is a whole `cargo bench` run: `--bench` given (not `cargo test --benches`), no
/// filter picking some benchmarks, not `--profile-time` or `--list`.
fn full_bench_run() -> bool {
    const WITH_VALUE: [&str; 19] = [
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "-c",
        "--color",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--format",
        "--output-format",
        "--plotting-backend",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut bench = false;
    let mut prev_takes_value = false;
    for a in &args {
        if prev_takes_value {
            prev_takes_value = false;
            continue;
        }
        match a.as_str() {
            "--bench" => bench = true,
            "--profile-time" | "--list" | "--test" => return false,
            _ if WITH_VALUE.contains(&a.as_str()) => prev_takes_value = true,
            _ if a.starts_with('-') => {}
            _ => return false, // a filter
        }
    }
    bench
}

fn main() {
    benches();
    if full_bench_run() && std::env::var("OPKIT_BENCH_RATIOS").as_deref() != Ok("0") {
        ratios();
    }
    let (f, _) = fixture();
    eprintln!("\nsteady state: {}", f.steady.describe());
    eprintln!("  {}", f.steady.report(f.op.store()));
    config().configure_from_args().final_summary();
}
