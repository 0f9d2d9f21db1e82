//! What each store costs a provider: the whole authorization-code flow (authorization request
//! with a signed-in user and standing consent → code → token request with PKCE and
//! `client_secret_basic`), a refresh grant (rotation: a write) and a client-credentials grant,
//! through the public `Provider` API, on the in-memory store, SQLite (a file in the temporary
//! folder, `synchronous = FULL`) and PostgreSQL (a throwaway cluster of the system's binaries,
//! or `DATABASE_URL`; skipped with a message when there is none). Wall-clock time on a tokio
//! runtime, as a host runs them.
//!
//! ```text
//! cargo bench --bench stores
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opkit::client::{validate, MetadataSource, NewClient};
use opkit::http::{HttpRequest, Method};
use opkit::jose::KeySet;
use opkit::store::{MemoryUsers, Store};
use opkit::{AuthorizeOutcome, Config, ConsentDecision, Provider, Session};
use opkit_postgres::testing::TestCluster;
use opkit_postgres::{PostgresOptions, PostgresStore};
use opkit_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

const ISSUER: &str = "https://id.example.com";
const REDIRECT: &str = "https://app.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A provider on one store, with a code-flow client (standing consent given) and a service.
struct Bench<S: Store> {
    op: Provider<S, MemoryUsers>,
    session: Session,
    web: (String, String),
    service: String,
    code_query: String,
    refresh: std::sync::Mutex<String>,
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let raw = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

impl<S: Store + 'static> Bench<S> {
    async fn new(store: S) -> Bench<S> {
        let keys = KeySet::generate(&opkit::host::SystemRng::new()).expect("keys");
        let users = MemoryUsers::new().with_iterations(1_000);
        let added = users.add_user("bench", "bench password", "bench-user", Default::default());
        added.expect("user");
        let op = Provider::new(Config::new(ISSUER).unwrap(), keys, store, users);
        let create = |doc: Value| {
            let settings = validate(doc.as_object().unwrap(), MetadataSource::Management, false);
            op.create_client(settings.expect("metadata"), NewClient::new())
        };
        let web = create(json!({
            "name": "web", "redirect_uris": [REDIRECT], "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await
        .expect("client");
        let service = create(json!({
            "name": "service", "redirect_uris": [], "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
        }))
        .await
        .expect("client");
        let web_id = web.client.client_id.clone();
        let code_query = |scope: &str| {
            format!(
                "response_type=code&client_id={web_id}&redirect_uri={}&scope={}&state=s&nonce=n\
                 &code_challenge={CHALLENGE}&code_challenge_method=S256",
                url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
                scope.replace(' ', "%20"),
            )
        };
        let bench = Bench {
            session: Session {
                subject: "bench-user".into(),
                auth_time: op.clock().now(),
            },
            web: (web_id.clone(), basic(&web_id, &web.client_secret.unwrap())),
            service: basic(&service.client.client_id, &service.client_secret.unwrap()),
            code_query: code_query("openid"),
            refresh: std::sync::Mutex::new(String::new()),
            op,
        };
        // Standing consent (offline access included), and the first refresh token.
        let code = bench.code(&code_query("openid offline_access")).await;
        let tokens = bench.token(&bench.web.1, &code_body(&code)).await;
        *bench.refresh.lock().unwrap() = tokens["refresh_token"].as_str().unwrap().to_owned();
        bench
    }

    /// An authorization request answered with a code (granting consent if asked).
    async fn code(&self, query: &str) -> String {
        let req = HttpRequest::new(Method::Get).query(query);
        let mut outcome = self.op.authorize(&req, Some(&self.session)).await;
        loop {
            outcome = match outcome {
                AuthorizeOutcome::Consent(step) => {
                    let decision = ConsentDecision::Granted(None);
                    step.decide(&self.op, Some(&self.session), decision).await
                }
                AuthorizeOutcome::Respond(resp) => return resp.param("code").expect("code").into(),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn token(&self, authorization: &str, body: &str) -> Value {
        let req = HttpRequest::new(Method::Post)
            .header("content-type", b"application/x-www-form-urlencoded")
            .header("authorization", authorization.as_bytes())
            .body(body.as_bytes());
        let resp = self.op.token(&req).await;
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        serde_json::from_slice(&resp.body).unwrap()
    }

    async fn code_flow(&self) -> Value {
        let code = self.code(&self.code_query).await;
        self.token(&self.web.1, &code_body(&code)).await
    }

    async fn refresh(&self) -> Value {
        let current = self.refresh.lock().unwrap().clone();
        let body = format!("grant_type=refresh_token&refresh_token={current}");
        let tokens = self.token(&self.web.1, &body).await;
        *self.refresh.lock().unwrap() = tokens["refresh_token"].as_str().unwrap().to_owned();
        tokens
    }

    async fn client_credentials(&self) -> Value {
        self.token(&self.service, "grant_type=client_credentials")
            .await
    }
}

fn code_body(code: &str) -> String {
    format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    )
}

fn run<S: Store + 'static>(c: &mut Criterion, rt: &Runtime, name: &str, bench: Bench<S>) {
    let bench = Arc::new(bench);
    c.bench_function(&format!("{name}/code_flow"), |b| {
        b.iter(|| black_box(rt.block_on(bench.code_flow())))
    });
    c.bench_function(&format!("{name}/refresh_grant"), |b| {
        b.iter(|| black_box(rt.block_on(bench.refresh())))
    });
    c.bench_function(&format!("{name}/client_credentials"), |b| {
        b.iter(|| black_box(rt.block_on(bench.client_credentials())))
    });
}

fn stores(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let memory = rt.block_on(Bench::new(opkit::store::MemoryStore::new()));
    run(c, &rt, "memory", memory);

    let path = std::env::temp_dir().join(format!("opkit-bench-{}.db", std::process::id()));
    let sqlite = rt.block_on(async {
        let store = SqliteStore::open(&path, SqliteOptions::default()).await;
        Bench::new(store.expect("SQLite")).await
    });
    run(c, &rt, "sqlite", sqlite);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }

    match TestCluster::start() {
        Some(cluster) => {
            let url = cluster.fresh_database();
            let postgres = rt.block_on(async {
                let store = PostgresStore::connect(&url, PostgresOptions::default()).await;
                Bench::new(store.expect("PostgreSQL")).await
            });
            run(c, &rt, "postgres", postgres);
        }
        None => eprintln!("SKIPPED: postgres/* (no PostgreSQL: set DATABASE_URL)"),
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = stores
}
criterion_main!(benches);
