//! Criterion benchmarks of opkit: whole flows through the public API against the in-memory
//! stores, the pure pieces they are made of, and the floors they are compared with (ring
//! signing the same JWS signing inputs and nothing else).
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
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use base64::Engine as _;
use criterion::{criterion_group, Criterion};
use opkit::claims::UserClaims;
use opkit::client::metadata::{validate, MetadataSource};
use opkit::client::ClientWithSecrets;
use opkit::flow::authorize::AuthorizationParams;
use opkit::flow::token::TokenResponse;
use opkit::host::SystemRng;
use opkit::http::{parse_basic_authorization, parse_form, HttpRequest, HttpResponse, Method};
use opkit::jose::KeySet;
use opkit::pkce::{ChallengeMethod, CodeChallenge};
use opkit::secret::IssuedSecret;
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::{AuthorizeOutcome, Config, ConsentDecision, Provider, Session};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
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

type Op = Provider<MemoryStore, MemoryStore, MemoryUsers>;

struct Client {
    id: String,
    basic: String,
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
        }
    }
}

struct Fixture {
    op: Op,
    session: Session,
    es256: Client,
    rs256: Client,
    service: Client,
    implicit: Client,
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
        let op = Provider::new(
            Config::new(ISSUER).expect("issuer"),
            keys,
            store.clone(),
            store,
            users,
        );
        let client = |doc: Value| {
            let settings = validate(doc.as_object().unwrap(), MetadataSource::Management, false)
                .expect("client metadata");
            Client::from(block_on(op.create_client(settings, false)).expect("create client"))
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
        let es256 = client(web("ES256"));
        let rs256 = client(web("RS256"));
        let service = client(json!({
            "name": "Billing service",
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "allowed_scopes": ["invoices.read", "invoices.write"],
        }));
        let implicit = client(json!({
            "name": "Legacy SPA",
            "redirect_uris": [REDIRECT],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["implicit"],
            "response_types": ["id_token token"],
        }));
        let session = Session {
            subject: SUBJECT.into(),
            auth_time: time::OffsetDateTime::now_utc() - time::Duration::minutes(5),
        };
        let f = Fixture {
            op,
            session,
            es256,
            rs256,
            service,
            implicit,
        };
        // Standing consent, so the measured requests never stop at a consent page.
        for c in [&f.es256, &f.rs256] {
            f.consent(&code_query(&c.id, "openid profile email"));
        }
        f.consent(&implicit_query(&f.implicit.id));
        f
    }

    /// Run an authorization request through the consent page (granting) once.
    fn consent(&self, query: &str) -> opkit::flow::authorize::AuthorizationResponse {
        let req = HttpRequest::new(Method::Get).query(query);
        let mut outcome = block_on(self.op.authorize(&req, Some(&self.session)));
        loop {
            outcome = match outcome {
                AuthorizeOutcome::Consent(p) => block_on(self.op.resume(
                    p,
                    Some(&self.session),
                    Some(ConsentDecision::Granted(None)),
                )),
                AuthorizeOutcome::Respond(resp) => return resp,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
    }

    /// `GET /authorize?…` with a logged-in session and standing consent: the response.
    fn authorize(&self, query: &str) -> opkit::flow::authorize::AuthorizationResponse {
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
        let resp = self.authorize(&code_query(&client.id, "openid profile email"));
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

    #[inline(never)]
    fn implicit(&self) -> HttpResponse {
        let resp = self.authorize(&implicit_query(&self.implicit.id));
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

fn code_body(code: &str) -> String {
    format!(
        "grant_type=authorization_code&code={code}&redirect_uri={REDIRECT_ENC}&code_verifier={VERIFIER}"
    )
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
}

impl Floor {
    fn new(f: &Fixture) -> Floor {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let code = token_json(&f.code_flow(&f.es256));
        let service = token_json(&f.client_credentials());
        let floor = Floor {
            rng,
            key,
            id_token: signing_input(code["id_token"].as_str().unwrap()),
            access_token: signing_input(code["access_token"].as_str().unwrap()),
            service_token: signing_input(service["access_token"].as_str().unwrap()),
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
}

fn flows(c: &mut Criterion<Clock>) {
    let (f, _) = fixture();
    c.bench_function("flow/code_pkce_es256", |b| b.iter(|| f.code_flow(&f.es256)));
    c.bench_function("flow/code_pkce_rs256", |b| b.iter(|| f.code_flow(&f.rs256)));
    c.bench_function("flow/client_credentials_es256", |b| {
        b.iter(|| f.client_credentials())
    });
    let mut token = f.refresh_token();
    c.bench_function("flow/refresh_rotate_es256", |b| {
        b.iter(|| {
            let (resp, next) = f.refresh(&token);
            token = next;
            resp
        })
    });
    c.bench_function("flow/implicit_id_token_token_es256", |b| {
        b.iter(|| f.implicit())
    });
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
        b.iter(|| opkit::token::half_hash(black_box(&access)))
    });
    let code = token_json(&f.code_flow(&f.es256));
    let response = TokenResponse {
        access_token: code["access_token"].as_str().unwrap().to_owned(),
        token_type: "Bearer",
        expires_in: 3600,
        scope: Some("openid profile email".into()),
        id_token: Some(code["id_token"].as_str().unwrap().to_owned()),
        refresh_token: None,
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
        clock
            .time(|| {
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

const RATIOS: [(&str, &str, &str); 4] = [
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
    report(
        "flow/code_pkce_es256 ÷ floor/two_es256_jwts",
        interleaved_ratio(
            clock,
            || {
                black_box(f.code_flow(&f.es256));
            },
            || floor.two(),
            total,
        ),
        "≤ 1.30, stretch 1.15",
    );
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
    config().configure_from_args().final_summary();
}
