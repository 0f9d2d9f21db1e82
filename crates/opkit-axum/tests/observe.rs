//! What operators watch, over real HTTP: Prometheus metrics counting requests and events,
//! liveness and readiness, and the host's own event sink next to the kit's.

use std::sync::{Arc, Mutex};

use opkit::client::{validate, MetadataSource, NewClient};
use opkit::host::{Event, Events, SystemRng};
use opkit::jose::{Algorithm, KeySet, SigningKey};
use opkit::store::{MemoryStore, MemoryUsers};
use opkit::Config;
use opkit_axum::{BuildError, OpenIdProvider};
use serde_json::json;

#[derive(Default)]
struct Names(Mutex<Vec<&'static str>>);

impl Events for Names {
    fn emit(&self, event: &Event<'_>) {
        self.0.lock().unwrap().push(event.name());
    }
}

fn keys() -> KeySet {
    let mut keys = KeySet::new();
    let key = SigningKey::generate(Algorithm::Es256, "es-1", &SystemRng::new()).unwrap();
    keys.insert(key).unwrap();
    keys
}

fn kit(base: &str) -> OpenIdProvider<MemoryStore, MemoryUsers> {
    OpenIdProvider::new(
        Config::new(base).unwrap(),
        keys(),
        MemoryStore::new(),
        MemoryUsers::new(),
    )
}

#[tokio::test]
async fn metrics_count_requests_and_events_and_the_host_sees_every_event() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let names = Arc::new(Names::default());
    let app = kit(&base)
        .events(names.clone())
        .metrics(true)
        .health_checks(true)
        .build()
        .unwrap();
    let doc = json!({
        "name": "Service",
        "redirect_uris": [],
        "id_token_signed_response_alg": "ES256",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"],
    });
    let settings = validate(doc.as_object().unwrap(), MetadataSource::Management, false).unwrap();
    let created = app
        .provider()
        .create_client(settings, NewClient::new())
        .await
        .unwrap();
    let (client_id, secret) = (
        created.client.client_id.clone(),
        created.client_secret.unwrap(),
    );
    tokio::spawn(opkit_axum::serve(
        listener,
        app.router(),
        1,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    for password in [secret.as_str(), secret.as_str(), "wrong-secret"] {
        http.post(format!("{base}/token"))
            .basic_auth(&client_id, Some(password))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
    }
    let get = |path: &str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let resp = http.get(url).send().await.unwrap();
            let status = resp.status().as_u16();
            let kind = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, kind, resp.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    assert_eq!(get("/readyz").await.0, 200);
    assert_eq!(get("/no-such-page").await.0, 404);

    let (status, kind, text) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(kind.unwrap().starts_with("application/openmetrics-text"));
    for line in [
        "opkit_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 2",
        "opkit_http_requests_total{route=\"/token\",method=\"POST\",status=\"401\"} 1",
        "opkit_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} 1",
        "opkit_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "opkit_http_request_duration_seconds_count{route=\"/token\"} 3",
        "opkit_tokens_issued_total{grant_type=\"client_credentials\"} 2",
        "opkit_events_total{event=\"client_authentication_failed\"} 1",
        "opkit_events_total{event=\"client_created\"} 1",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    assert!(!text.contains(&secret) && !text.contains(&client_id));
    assert!(text.ends_with("# EOF\n"));

    assert_eq!(
        *names.0.lock().unwrap(),
        [
            "client_created",
            "tokens_issued",
            "tokens_issued",
            "client_authentication_failed"
        ]
    );
}

#[tokio::test]
async fn metrics_and_health_are_not_served_unless_asked_for() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = kit(&base).build().unwrap();
    tokio::spawn(opkit_axum::serve(
        listener,
        app.router(),
        1,
        std::future::pending(),
    ));
    for path in ["/metrics", "/healthz", "/readyz"] {
        let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
}

#[test]
fn an_endpoint_at_the_metrics_path_is_a_build_error() {
    let mut config = Config::new("https://op.example").unwrap();
    config.paths.userinfo = "/metrics".into();
    let built = OpenIdProvider::new(config, keys(), MemoryStore::new(), MemoryUsers::new())
        .metrics(true)
        .build();
    assert!(matches!(built, Err(BuildError::PathCollision { .. })));
}
