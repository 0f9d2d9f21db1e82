//! Two example providers on one PostgreSQL database, behind one issuer (as behind a load
//! balancer), behave as one provider; PostgreSQL going away gives fast 503s and the provider
//! recovers by itself; a kill under load loses nothing. The database is a throwaway cluster
//! of the system's PostgreSQL (or `DATABASE_URL`); without one the tests say SKIPPED, and
//! fail under `CI=true`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use opkit_postgres::testing::TestCluster;
use serde_json::Value;

use super::process::{code_via, create_client, free_port, http, json_of, redeem, token, Running};

/// The shared cluster, and a guard: the tests take turns, since one of them stops the server.
async fn cluster() -> Option<(&'static TestCluster, tokio::sync::MutexGuard<'static, ()>)> {
    static CLUSTER: OnceLock<Option<TestCluster>> = OnceLock::new();
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    let cluster = tokio::task::spawn_blocking(|| CLUSTER.get_or_init(TestCluster::start).as_ref());
    Some((cluster.await.unwrap()?, turn))
}

/// Two instances started at the same moment on a new database, both serving `issuer`.
fn two_instances(url: &str) -> (Running, Running) {
    let (a, b) = (free_port(), free_port());
    let issuer = format!("--issuer=http://127.0.0.1:{a}");
    let store = format!("--store={url}");
    let args = [
        issuer.as_str(),
        store.as_str(),
        "--user=alice:wonderland",
        "--password-grant",
        "--open-registration",
    ];
    std::thread::scope(|s| {
        let first = s.spawn(|| Running::start(a, &args));
        let second = s.spawn(|| Running::start(b, &args));
        (first.join().unwrap(), second.join().unwrap())
    })
}

async fn password_tokens(base: &str, client: &(String, String)) -> Value {
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wonderland"),
        ("scope", "openid offline_access"),
    ];
    json_of(token(&http(), base, client, &form).await, 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database_are_one_provider() {
    let Some((cluster, _turn)) = cluster().await else {
        return;
    };
    let (a, b) = two_instances(&cluster.fresh_database());
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
    assert_eq!(
        jwks(a.base.clone()).await,
        jwks(b.base.clone()).await,
        "one set of keys"
    );

    // A client made at one instance works at the other at once.
    let client = create_client(
        &a.base,
        &["authorization_code", "password", "refresh_token"],
    )
    .await;
    let tokens = password_tokens(&b.base, &client).await;

    // A login started at one completes at the other, and its code redeems at either.
    let code = code_via(&a.base, &b.base, &client).await;
    redeem(&a.base, &client, &code).await;
    let code = code_via(&b.base, &a.base, &client).await;
    redeem(&b.base, &client, &code).await;

    // A revocation at one is effective at the other at once.
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = |base: String| {
        let access = access.to_owned();
        async move {
            http()
                .get(format!("{base}/userinfo"))
                .bearer_auth(access)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(userinfo(b.base.clone()).await, 200);
    let resp = http()
        .post(format!("{}/revoke", a.base))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(userinfo(b.base.clone()).await, 401);

    // One refresh token presented 100 times at once, split over both: one rotation; the
    // reuse revokes the family, so the winner's new token is refused too.
    let refresh = password_tokens(&a.base, &client).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let attempts = (0..100).map(|i| {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let (client, refresh) = (client.clone(), refresh.clone());
        tokio::spawn(async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ];
            let resp = token(&http(), &base, &client, &form).await;
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or_default())
        })
    });
    let mut winners = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        let (status, body) = attempt.await.unwrap();
        match status {
            200 => winners.push(body["refresh_token"].as_str().unwrap().to_owned()),
            400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", winners[0].as_str()),
    ];
    let resp = token(&http(), &b.base, &client, &form).await;
    assert_eq!(resp.status(), 400, "reuse revoked the family");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_ten_seconds_gives_fast_503s_then_recovers() {
    let Some((cluster, _turn)) = cluster().await else {
        return;
    };
    if !cluster.is_managed() {
        eprintln!("SKIPPED: the outage test stops the server, so it needs its own cluster (unset DATABASE_URL)");
        return;
    }
    let url = cluster.fresh_database();
    let store = format!("--store={url}");
    let running = Running::start(
        free_port(),
        &[
            &store,
            "--user=alice:wonderland",
            "--password-grant",
            "--metrics",
        ],
    );
    let client = create_client(&running.base, &["client_credentials"]).await;
    let ready = || async {
        let started = Instant::now();
        let resp = http()
            .get(format!("{}/readyz", running.base))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), started.elapsed())
    };
    let grant = || async {
        let started = Instant::now();
        let resp = token(
            &http(),
            &running.base,
            &client,
            &[("grant_type", "client_credentials")],
        )
        .await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or_default();
        (status, body, started.elapsed())
    };
    assert_eq!(grant().await.0, 200);
    assert_eq!(ready().await.0, 200);

    cluster.stop();
    let down = Instant::now();
    let mut refused = 0;
    while down.elapsed() < Duration::from_secs(10) {
        let (status, body, took) = grant().await;
        assert!(took < Duration::from_secs(6), "a request hung for {took:?}");
        if status != 200 {
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["error"], "temporarily_unavailable", "{body}");
            refused += 1;
        }
    }
    assert!(refused > 0, "PostgreSQL was down");
    let (status, took) = ready().await;
    assert_eq!(status, 503, "not ready while the store is down");
    assert!(
        took < Duration::from_secs(3),
        "the readiness probe took {took:?}"
    );
    let metrics = http()
        .get(format!("{}/metrics", running.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("opkit_store_errors_total{kind=\"unavailable\"}"),
        "{metrics}"
    );
    cluster.start_again();
    let back = Instant::now();
    loop {
        let (status, body, _) = grant().await;
        if status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "not recovered: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ready().await.0, 200, "ready again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_on_postgres_loses_nothing() {
    let Some((cluster, _turn)) = cluster().await else {
        return;
    };
    let store = format!("--store={}", cluster.fresh_database());
    super::process::kill_under_load(&[&store]).await;
}
