//! Tests of what the example program adds to `opkit-axum`: the command line, the startup
//! banner, the home page and the demo client (`cargo test` runs them; the provider itself is
//! tested in `tests/example_server.rs` and `tests/example_modes.rs`).

use reqwest::redirect::Policy;

use super::*;

fn parse(args: &[&str]) -> Result<Option<Options>, String> {
    cli::parse(args.iter().map(|s| s.to_string()))
}

#[test]
fn command_line() {
    assert!(matches!(parse(&["--help"]), Ok(None)));
    assert!(cli::usage().contains("--registration-token"));
    assert!(cli::usage().contains("--open-registration"));
    let options = parse(&[
        "--addr",
        "127.0.0.1:4444",
        "--user",
        "bob:pa:ss",
        "--admin-token=abcdefghijklmnopq",
        "--password-grant",
        "--open-registration",
    ])
    .unwrap()
    .expect("valid arguments");
    assert_eq!(options.addr, Some("127.0.0.1:4444".parse().unwrap()));
    assert_eq!(options.issuer, None, "derived from the bound address");
    assert_eq!(options.users, [("bob".to_owned(), "pa:ss".to_owned())]);
    assert!(options.password_grant && options.open_registration);
    assert_eq!(options.admin_token.as_deref(), Some("abcdefghijklmnopq"));
    assert!(options.log_requests, "the access log is on by default");
    let options = parse(&["--metrics", "--token-exchange"]).unwrap().unwrap();
    assert!(options.metrics && options.token_exchange);
    assert!(!parse(&[]).unwrap().unwrap().metrics, "metrics are opt-in");
    let options = parse(&["--workers=4", "-q"]).unwrap().unwrap();
    assert_eq!(options.workers, Some(4));
    assert!(!options.log_requests && !options.open_registration);
    let options = parse(&["--issuer", "https://id.example.com/"])
        .unwrap()
        .unwrap();
    assert_eq!(options.issuer.as_deref(), Some("https://id.example.com"));
    for bad in [
        &["--addr"][..],
        &["--addr", "localhost"],
        &["--user", "nocolon"],
        &["--user", "bad name:pw"],
        &["--user", "a:1", "--user", "a:2"],
        &["--admin-token", "has space"],
        &["--issuer", "http://id.example.com"],
        &["--addr", "0.0.0.0:8080"],
        &["--frobnicate"],
        &["--workers", "0"],
        &["--workers", "many"],
        &["--workers"],
        &["--quiet=yes"],
        &["--open-registration=yes"],
        &["--addr", "127.0.0.1:1", "--addr", "127.0.0.1:2"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

/// Build the example as `main` does, serve it, and return its base URL and banner.
async fn start(issuer_path: &str, tweak: impl FnOnce(&mut Options)) -> (String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = format!("http://{}", listener.local_addr().unwrap());
    let mut options = Options {
        issuer: Some(format!("{root}{issuer_path}")),
        ..Options::default()
    };
    tweak(&mut options);
    let (router, banner) = build(options).await.unwrap();
    tokio::spawn(opkit_axum::serve(
        listener,
        router,
        2,
        std::future::pending(),
    ));
    (format!("{root}{issuer_path}"), banner)
}

fn banner_value<'a>(banner: &'a str, label: &str) -> &'a str {
    let line = banner
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap();
    line.split_once(':').unwrap().1.trim()
}

fn follow(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// The value of `name="…"` of the first tag with it in `html`.
fn attr(html: &str, name: &str) -> String {
    let from = html.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    html[from..from + html[from..].find('"').unwrap()].replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_demo_client_and_home_page() {
    let (base, banner) = start("", |o| {
        o.registration_token = Some("initial-access-token-123".into())
    })
    .await;
    assert!(
        banner.contains("needs the initial access token"),
        "{banner}"
    );
    let password = banner_value(&banner, "demo password").to_owned();
    assert!(!banner_value(&banner, "demo client_id").is_empty());
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap();

    // /demo/start sends the browser to the authorization endpoint with PKCE S256.
    let resp = http
        .get(banner_value(&banner, "log in at"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let authorize = follow(&resp);
    assert!(
        authorize.contains("code_challenge_method=S256") && authorize.contains("code_challenge=")
    );
    let html = http
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, csrf) = (attr(&html, "action"), attr(&html, "value"));
    let form = [
        ("csrf", csrf.as_str()),
        ("username", "demo"),
        ("password", &password),
        ("action", "login"),
    ];
    let html = http
        .post(&action)
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let consent = [
        ("csrf", attr(&html, "value")),
        ("decision", "allow".to_owned()),
    ];
    let resp = http
        .post(attr(&html, "action"))
        .form(&consent)
        .send()
        .await
        .unwrap();
    let callback = follow(&resp);
    assert!(callback.starts_with(&format!("{base}/demo/callback?")));
    let resp = http.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("ID token claims") && html.contains("&quot;nonce&quot;"),
        "{html}"
    );
    assert!(html.contains("demo@example.com"));
    // The same state cannot be replayed.
    assert_eq!(http.get(&callback).send().await.unwrap().status(), 400);
    // The home page sends the browser to the demo.
    let resp = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(follow(&resp), "demo/start");
    assert_eq!(
        http.get(format!("{base}/nothing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_modes_admin_token_and_an_issuer_path() {
    let (_, banner) = start("", |_| {}).await;
    assert!(banner.contains("registration:        closed"), "{banner}");
    let (base, banner) = start("/op", |o| o.open_registration = true).await;
    assert!(banner.contains("registration:        open"), "{banner}");
    // The admin token is generated and printed; the management API takes it.
    let admin = banner_value(&banner, "admin token");
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let resp = http
        .get(format!("{base}/clients"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The demo runs under the issuer's path.
    let resp = http.get(format!("{base}/demo/start")).send().await.unwrap();
    assert!(follow(&resp).starts_with(&format!("{base}/authorize?")));
}

mod instances;
mod process;
