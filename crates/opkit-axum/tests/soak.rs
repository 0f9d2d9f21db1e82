//! Soak: legitimate users keep being served while attackers on another address guess their
//! passwords and client secrets, flood the login page and registration, send oversized bodies
//! and hold connections open with unfinished requests.
//!
//! Everything runs on loopback: three users come from 127.0.0.2 to 127.0.0.4, the attackers
//! from 127.0.0.1 (Linux routes all of 127/8 to `lo`). Each user calls the token endpoint in a
//! loop and signs in through the pages every few seconds. It lasts `OPKIT_SOAK_SECS` seconds (20 by default) and
//! prints the legitimate requests' success rate and latency, and what each attack got.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opkit::client::{validate, MetadataSource, NewClient};
use opkit::config::RegistrationPolicy;
use opkit::host::SystemRng;
use opkit::jose::{Algorithm, KeySet, SigningKey};
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::Config;
use opkit_axum::{OpenIdProvider, ServeOptions};
use reqwest::{redirect, Client};
use serde_json::{json, Value};
use support::{form_of, CHALLENGE, REDIRECT, VERIFIER};
use tokio::io::AsyncWriteExt;

const USERS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
const ATTACKER: &str = "127.0.0.1";
/// How often a user signs in through the pages (a person does not sign in many times a second;
/// the kit's quota of login pages per source is 120, then one every 5 s).
const SIGN_IN_EVERY: Duration = Duration::from_secs(5);

/// Each legitimate request must answer within this (generous: two cores shared by the server,
/// the users and the attackers).
const LATENCY_BUDGET: Duration = Duration::from_secs(1);

struct Provider {
    base: String,
    service: (String, String),
    public_client: String,
}

fn settings(doc: Value) -> opkit::client::ClientSettings {
    validate(doc.as_object().unwrap(), MetadataSource::Management, true).unwrap()
}

async fn start() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let mut config = Config::new(&base).unwrap();
    config.registration = RegistrationPolicy::Open;
    config.password_grant_enabled = true;
    let users = MemoryUsers::new().with_iterations(10_000);
    users
        .add_user("alice", "wonderland", "alice-id", Default::default())
        .unwrap();
    let mut keys = KeySet::new();
    let key = SigningKey::generate(Algorithm::Es256, "es-1", &SystemRng::new()).unwrap();
    keys.insert(key).unwrap();
    let app = OpenIdProvider::new(config, keys, MemoryStore::new(), users)
        .build()
        .unwrap();
    let service = app
        .provider()
        .create_client(
            settings(json!({
                "name": "Service",
                "redirect_uris": [],
                "id_token_signed_response_alg": "ES256",
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["client_credentials", "password", "refresh_token"],
            })),
            NewClient::new(),
        )
        .await
        .unwrap();
    let public = app
        .provider()
        .create_client(
            settings(json!({
                "name": "Web app",
                "redirect_uris": [REDIRECT],
                "id_token_signed_response_alg": "ES256",
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code"],
            })),
            NewClient::new(),
        )
        .await
        .unwrap();
    let options = ServeOptions::new(2).header_read_timeout(Duration::from_secs(2));
    tokio::spawn(opkit_axum::serve_with(
        listener,
        app.router(),
        options,
        std::future::pending(),
    ));
    app.spawn_purge(Duration::from_secs(5));
    Provider {
        base,
        service: (
            service.client.client_id.clone(),
            service.client_secret.unwrap(),
        ),
        public_client: public.client.client_id.clone(),
    }
}

fn client_from(addr: &str, cookies: bool) -> Client {
    Client::builder()
        .local_address(addr.parse::<IpAddr>().ok())
        .cookie_store(cookies)
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// What the legitimate users saw: each request's latency, and the failures by what failed.
#[derive(Default)]
struct Legit {
    latencies: Vec<Duration>,
    failures: BTreeMap<String, u32>,
}

impl Legit {
    fn record(&mut self, what: &str, took: Duration, ok: bool) {
        self.latencies.push(took);
        if !ok {
            *self.failures.entry(what.to_owned()).or_default() += 1;
        }
    }
}

/// Send a request, time it, and record whether its status is `expected`; the response if it
/// arrived.
async fn timed(
    legit: &Mutex<Legit>,
    what: &str,
    expected: u16,
    request: reqwest::RequestBuilder,
) -> Option<reqwest::Response> {
    let started = Instant::now();
    let result = request.send().await;
    let took = started.elapsed();
    let status = status_of(&result);
    let ok = status == expected && took <= LATENCY_BUDGET;
    let what = if ok {
        what.to_owned()
    } else {
        let retry = result.as_ref().ok().and_then(|r| {
            r.headers()
                .get("retry-after")?
                .to_str()
                .ok()
                .map(str::to_owned)
        });
        format!(
            "{what} ({status} in {} ms, retry-after {retry:?})",
            took.as_millis()
        )
    };
    legit.lock().unwrap().record(&what, took, ok);
    result.ok().filter(|r| r.status().as_u16() == expected)
}

/// One user's loop: client credentials, the password grant with a refresh, and a code flow
/// through the login and consent pages.
async fn user(p: Arc<Provider>, from: &'static str, legit: Arc<Mutex<Legit>>, until: Instant) {
    let api = client_from(from, false);
    let mut next_sign_in = Instant::now();
    let token = format!("{}/token", p.base);
    let (id, secret) = &p.service;
    while Instant::now() < until {
        let cc = api
            .post(&token)
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        timed(&legit, "client_credentials", 200, cc).await;

        let pw = api.post(&token).basic_auth(id, Some(secret)).form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "openid offline_access"),
        ]);
        if let Some(resp) = timed(&legit, "password grant", 200, pw).await {
            let body: Value = resp.json().await.unwrap_or_default();
            let rt = body["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let refresh = api
                .post(&token)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
            timed(&legit, "refresh", 200, refresh).await;
        }

        if Instant::now() >= next_sign_in {
            next_sign_in += SIGN_IN_EVERY;
            code_flow(&p, from, &legit).await;
        }
    }
}

async fn code_flow(p: &Provider, from: &str, legit: &Mutex<Legit>) {
    let browser = client_from(from, true);
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", p.public_client.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let authorize = browser.get(format!("{}/authorize?{query}", p.base));
    let Some(page) = timed(legit, "login page", 200, authorize).await else {
        return;
    };
    let form = form_of(&page.text().await.unwrap_or_default());
    let login = browser.post(&form.action).form(&[
        ("csrf", form.csrf.as_str()),
        ("username", "alice"),
        ("password", "wonderland"),
        ("action", "login"),
    ]);
    // The consent page the first time; straight back to the client once consent is on record.
    let started = Instant::now();
    let answer = login.send().await;
    let took = started.elapsed();
    let status = status_of(&answer);
    let ok = matches!(status, 200 | 303) && took <= LATENCY_BUDGET;
    let label = format!("login ({status} in {} ms)", took.as_millis());
    legit
        .lock()
        .unwrap()
        .record(if ok { "login" } else { &label }, took, ok);
    let Some(answer) = answer.ok().filter(|_| ok) else {
        return;
    };
    let back = if status == 303 {
        answer
    } else {
        let form = form_of(&answer.text().await.unwrap_or_default());
        let consent = browser
            .post(&form.action)
            .form(&[("csrf", form.csrf.as_str()), ("decision", "allow")]);
        let Some(back) = timed(legit, "consent", 303, consent).await else {
            return;
        };
        back
    };
    let location = back.headers()["location"].to_str().unwrap_or("").to_owned();
    let code = support::params_of(&location)
        .remove("code")
        .unwrap_or_default();
    let redeem = browser.post(format!("{}/token", p.base)).form(&[
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", p.public_client.as_str()),
    ]);
    timed(legit, "code redemption", 200, redeem).await;
}

/// What the attacks got: answers by attack and status.
type Tally = Arc<Mutex<BTreeMap<(&'static str, u16), u32>>>;

fn count(tally: &Tally, attack: &'static str, status: u16) {
    *tally.lock().unwrap().entry((attack, status)).or_default() += 1;
}

async fn attack_passwords(p: Arc<Provider>, tally: Tally, until: Instant) {
    let http = client_from(ATTACKER, false);
    let (id, secret) = &p.service;
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let guess = format!("guess-{n}");
        let resp = http
            .post(format!("{}/token", p.base))
            .basic_auth(id, Some(secret))
            .form(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", guess.as_str()),
            ])
            .send()
            .await;
        count(&tally, "password guess", status_of(&resp));
    }
}

async fn attack_client_secret(p: Arc<Provider>, tally: Tally, until: Instant) {
    let http = client_from(ATTACKER, false);
    while Instant::now() < until {
        let resp = http
            .post(format!("{}/token", p.base))
            .basic_auth(&p.service.0, Some("not-the-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        count(&tally, "client secret guess", status_of(&resp));
    }
}

async fn attack_login_page(p: Arc<Provider>, tally: Tally, until: Instant) {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", p.public_client.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let url = format!("{}/authorize?{query}", p.base);
    // No cookies: a new browser each time, as a flooder would be.
    let http = client_from(ATTACKER, false);
    while Instant::now() < until {
        let resp = http.get(&url).send().await;
        count(&tally, "login page flood", status_of(&resp));
    }
}

async fn attack_registration(p: Arc<Provider>, tally: Tally, until: Instant) {
    let http = client_from(ATTACKER, false);
    let contacts: Vec<String> = (0..50).map(|i| format!("c{i}@example.com")).collect();
    while Instant::now() < until {
        let doc = json!({
            "client_name": "flood",
            "redirect_uris": ["https://flood.example/cb"],
            "token_endpoint_auth_method": "none",
            "contacts": contacts,
        });
        let resp = http
            .post(format!("{}/register", p.base))
            .json(&doc)
            .send()
            .await;
        count(&tally, "registration flood", status_of(&resp));
    }
}

async fn attack_big_bodies(p: Arc<Provider>, tally: Tally, until: Instant) {
    let http = client_from(ATTACKER, false);
    let body = vec![b'a'; 1 << 20];
    while Instant::now() < until {
        let resp = http
            .post(format!("{}/token", p.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await;
        count(&tally, "1 MiB body", status_of(&resp));
    }
}

/// Keeps up to 200 connections open, each with a request head that never ends (one byte a
/// second, slower than the header timeout allows).
async fn attack_slow_heads(p: Arc<Provider>, tally: Tally, until: Instant) {
    let addr: SocketAddr = p.base.trim_start_matches("http://").parse().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < until {
        while tasks.len() < 200 {
            let tally = tally.clone();
            tasks.spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                let _ = socket.bind(SocketAddr::new(ATTACKER.parse().unwrap(), 0));
                let Ok(mut tcp) = socket.connect(addr).await else {
                    count(&tally, "slow request head", 0);
                    return;
                };
                let _ = tcp.write_all(b"GET /jwks HTTP/1.1\r\nHost: x\r\n").await;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if tcp.write_all(b"X").await.is_err() {
                        break;
                    }
                    if Instant::now() >= until {
                        return;
                    }
                }
                count(&tally, "slow request head", 408);
            });
        }
        tokio::select! {
            _ = tasks.join_next() => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    tasks.abort_all();
}

fn status_of(resp: &reqwest::Result<reqwest::Response>) -> u16 {
    resp.as_ref().map_or(0, |r| r.status().as_u16())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[at - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_users_keep_being_served_under_abuse() {
    let secs = std::env::var("OPKIT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let p = Arc::new(start().await);
    let until = Instant::now() + Duration::from_secs(secs);
    let legit = Arc::new(Mutex::new(Legit::default()));
    let tally: Tally = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(attack_passwords(p.clone(), tally.clone(), until));
    tasks.spawn(attack_client_secret(p.clone(), tally.clone(), until));
    tasks.spawn(attack_login_page(p.clone(), tally.clone(), until));
    tasks.spawn(attack_registration(p.clone(), tally.clone(), until));
    tasks.spawn(attack_big_bodies(p.clone(), tally.clone(), until));
    tasks.spawn(attack_slow_heads(p.clone(), tally.clone(), until));
    for from in USERS {
        tasks.spawn(user(p.clone(), from, legit.clone(), until));
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let legit = legit.lock().unwrap();
    let mut sorted = legit.latencies.clone();
    sorted.sort();
    let total = sorted.len();
    let failed: u32 = legit.failures.values().sum();
    let success = 100.0 * (total as f64 - f64::from(failed)) / total as f64;
    println!(
        "SOAK {secs} s: legitimate requests {total}, {success:.3}% within {LATENCY_BUDGET:?} \
         and answered as expected; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; failures {:?}",
        percentile(&sorted, 0.50).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3,
        percentile(&sorted, 1.0).as_secs_f64() * 1e3,
        legit.failures,
    );
    for ((attack, status), n) in tally.lock().unwrap().iter() {
        println!("SOAK attack {attack}: {n} × {status}");
    }
    assert!(total > 100, "the users made {total} requests in {secs} s");
    assert!(
        legit.failures.is_empty(),
        "legitimate requests failed: {:?}",
        legit.failures
    );
    let tally = tally.lock().unwrap();
    let got = |attack: &str, status: u16| tally.get(&(attack, status)).copied().unwrap_or(0);
    // The attacks were refused as designed, not merely slow.
    assert!(
        got("password guess", 429) > 0,
        "password guesses were throttled"
    );
    // One source gets at most its budgets of real checks (5 for the account, then delays).
    assert!(
        got("password guess", 400) <= 60,
        "real checks for the attacker"
    );
    assert!(
        got("login page flood", 429) > 0,
        "the login page quota held"
    );
    assert!(
        got("registration flood", 429) > 0,
        "the registration quota held"
    );
    assert!(got("1 MiB body", 413) > 0, "big bodies refused");
    assert_eq!(
        got("client secret guess", 429),
        0,
        "client secrets are never locked"
    );
}
