//! The example as the operator runs it: a separate process (this test binary re-run in child
//! mode, so it is the example's own `run`), on a durable store, stopped with SIGKILL and
//! started again. Checks that nothing a client was given is lost: clients, refresh tokens,
//! access tokens, keys (an old ID token still works as `id_token_hint`), users.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::attr;

const CHILD: &str = "OPKIT_EXAMPLE_CHILD";
pub(super) const ADMIN: &str = "process-test-admin-token-0123456789";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:9/cb";

/// Not a test of its own: the example program, when the parent tests below start this binary
/// with `OPKIT_EXAMPLE_CHILD` set to its arguments (separated by U+001F).
#[test]
fn child_server() {
    let Ok(args) = std::env::var(CHILD) else {
        return;
    };
    let args = args.split('\u{1f}').map(str::to_owned);
    let options = match crate::cli::parse(args) {
        Ok(Some(options)) => options,
        other => panic!("bad child arguments: {:?}", other.err()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Err(e) = runtime.block_on(crate::run(options)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

/// A running example provider process.
pub(super) struct Running {
    child: Child,
    pub base: String,
    pub banner: String,
}

impl Running {
    /// Start the example with `args` (plus `--addr`, `--quiet` and the admin token) on `port`
    /// and wait until it listens.
    pub fn start(port: u16, args: &[&str]) -> Running {
        let mut all = vec![
            format!("--addr=127.0.0.1:{port}"),
            "--quiet".to_owned(),
            format!("--admin-token={ADMIN}"),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::process::child_server", "--nocapture"])
            .env(CHILD, all.join("\u{1f}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                banner.push_str(&line);
                banner.push('\n');
                if line.contains("listening on:") {
                    let _ = tx.send(std::mem::take(&mut banner));
                }
            }
        });
        let banner = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(banner) => banner,
            Err(_) => {
                let _ = child.kill();
                panic!("the example did not start: {:?}", child.wait());
            }
        };
        Running {
            child,
            base: format!("http://127.0.0.1:{port}"),
            banner,
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh folder for one test's database.
pub(super) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("opkit-example-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A confidential client made through the management API.
pub(super) async fn create_client(base: &str, grant_types: &[&str]) -> (String, String) {
    let body: Value = http()
        .post(format!("{base}/clients"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "name": "process test client",
            "redirect_uris": [REDIRECT],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": grant_types,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = body["client_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    (
        id.to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

pub(super) async fn token(
    http: &reqwest::Client,
    base: &str,
    client: &(String, String),
    form: &[(&str, &str)],
) -> reqwest::Response {
    http.post(format!("{base}/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(form)
        .send()
        .await
        .unwrap()
}

pub(super) async fn json_of(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(got, status, "{body}");
    body
}

/// Sign in as alice through the login and consent pages; the code flow's tokens.
async fn sign_in(base: &str, client: &(String, String)) -> Value {
    let code = code_via(base, base, client).await;
    redeem(base, client, &code).await
}

/// An authorization code: the request starts at `start`, and the login and consent forms are
/// posted to `finish` (another instance behind the same issuer, as a load balancer might send
/// the browser).
pub(super) async fn code_via(start: &str, finish: &str, client: &(String, String)) -> String {
    let http = http();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.0)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid offline_access")
        .append_pair("prompt", "consent")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let page = |resp: reqwest::Response| async move { resp.text().await.unwrap() };
    let action = |html: &str| {
        let action = attr(html, "action");
        let path = &action[action.find("://").unwrap() + 3..];
        format!("{finish}{}", &path[path.find('/').unwrap()..])
    };
    let html = page(
        http.get(format!("{start}/authorize?{query}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let login = [
        ("csrf", attr(&html, "value")),
        ("username", "alice".to_owned()),
        ("password", "wonderland".to_owned()),
        ("action", "login".to_owned()),
    ];
    let html = page(http.post(action(&html)).form(&login).send().await.unwrap()).await;
    let consent = [
        ("csrf", attr(&html, "value")),
        ("decision", "allow".to_owned()),
    ];
    let resp = http
        .post(action(&html))
        .form(&consent)
        .send()
        .await
        .unwrap();
    let to = resp.headers()["location"].to_str().unwrap().to_owned();
    let to = url::Url::parse(&to).unwrap();
    let code = to.query_pairs().find(|(k, _)| k == "code");
    code.unwrap_or_else(|| panic!("no code in {to}"))
        .1
        .into_owned()
}

/// The tokens for `code`.
pub(super) async fn redeem(base: &str, client: &(String, String), code: &str) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    json_of(token(&http(), base, client, &form).await, 200).await
}

fn sqlite_args(db: &Path) -> String {
    format!("--store=sqlite:{}", db.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_sqlite_keeps_clients_tokens_keys_and_users() {
    let dir = temp_dir("restart");
    let store = sqlite_args(&dir.join("opkit.db"));
    let args = [store.as_str(), "--user=alice:wonderland"];
    let port = free_port();
    let first = Running::start(port, &args);
    let base = first.base.clone();
    let jwks = |base: String| async move {
        let keys: Value = http()
            .get(format!("{base}/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys
    };
    let keys_before = jwks(base.clone()).await;
    let client = create_client(&base, &["authorization_code", "refresh_token"]).await;
    let tokens = sign_in(&base, &client).await;
    first.kill();

    let second = Running::start(port, &args);
    assert!(second.banner.contains("SQLite"), "{}", second.banner);
    assert_eq!(
        jwks(base.clone()).await,
        keys_before,
        "the same signing keys"
    );
    let http = http();
    // The access token issued before the restart is still good.
    let userinfo = http
        .get(format!("{base}/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    // The client and its refresh token are still good.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let next = json_of(token(&http, &base, &client, &form).await, 200).await;
    assert!(next["refresh_token"].is_string());
    // The old ID token is accepted as id_token_hint: logout asks nothing of an unknown user
    // and goes back to the client (or asks to confirm), never an error page.
    let resp = http
        .get(format!("{base}/logout"))
        .query(&[("id_token_hint", tokens["id_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert!(
        resp.status() == 200 || resp.status() == 303,
        "{}",
        resp.status()
    );
    // The user too: a new sign-in works.
    sign_in(&base, &client).await;
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Refresh grants from several tasks while the provider is killed: afterwards, every family's
/// newest refresh token that the client received works, unless that family had a request in
/// flight at the kill whose answer the client never saw (then the token it holds was rotated
/// by that request, and presenting it is reuse). The store's own tests check that a family
/// never has two live tokens.
pub(super) async fn kill_under_load(store_args: &[&str]) {
    let port = free_port();
    let mut args = vec!["--user=alice:wonderland", "--password-grant"];
    args.extend_from_slice(store_args);
    let first = Running::start(port, &args);
    let base = first.base.clone();
    let client = create_client(&base, &["password", "refresh_token"]).await;
    const FAMILIES: usize = 8;
    let mut latest = Vec::new();
    for _ in 0..FAMILIES {
        let form = [
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "openid offline_access"),
        ];
        let tokens = json_of(token(&http(), &base, &client, &form).await, 200).await;
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        latest.push(Arc::new(Mutex::new((refresh, 0u32, false))));
    }
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for family in latest.clone() {
        let (base, client) = (base.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let http = http();
            while Instant::now() < stop_at + Duration::from_secs(5) {
                let mut state = family.lock().await;
                state.2 = true; // in flight
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", state.0.as_str()),
                ];
                let Ok(resp) = http
                    .post(format!("{base}/token"))
                    .basic_auth(&client.0, Some(&client.1))
                    .form(&form)
                    .send()
                    .await
                else {
                    return; // the provider is gone
                };
                let Ok(body) = resp.json::<Value>().await else {
                    return;
                };
                let next = body["refresh_token"]
                    .as_str()
                    .expect("a rotation")
                    .to_owned();
                *state = (next, state.1 + 1, false);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill();
    for task in tasks {
        task.await.unwrap();
    }
    let second = Running::start(port, &args);
    let (mut rotations, mut in_flight) = (0, 0);
    for family in latest {
        let (refresh, count, flying) = family.lock().await.clone();
        rotations += count;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        let resp = token(&http(), &second.base, &client, &form).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_default();
        if flying && status != 200 {
            // Rotated by the request whose answer was lost: reuse, and the family is revoked.
            assert_eq!(body["error"], "invalid_grant", "{status}: {body}");
            in_flight += 1;
            continue;
        }
        assert_eq!(status, 200, "a token the client received was lost: {body}");
    }
    assert!(rotations > 0, "the load ran");
    eprintln!("kill under load: {rotations} rotations before the kill, {in_flight} in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_on_sqlite_loses_nothing() {
    let dir = temp_dir("kill");
    let store = sqlite_args(&dir.join("opkit.db"));
    kill_under_load(&[&store]).await;
    let _ = std::fs::remove_dir_all(&dir);
}
