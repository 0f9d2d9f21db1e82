//! Races: many tasks on a two-worker runtime, lined up with a barrier, hitting the same code, the
//! same refresh token, the client registry and the authorization endpoint at once. The store's
//! atomic operations must make each race come out the same way every time, and nothing may
//! panic.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use opkit::claims::UserClaims;
use opkit::client::ClientWithSecrets;
use opkit::http::{HttpRequest, Method};
use opkit::{AuthorizeOutcome, ConsentDecision, Session};
use serde_json::{json, Value};
use time::Duration;
use tokio::sync::Barrier;

const TASKS: usize = 32;
const ROUNDS: usize = 8;

fn creds(c: &ClientWithSecrets) -> (String, String) {
    (
        c.client.client_id.clone(),
        c.client_secret.clone().expect("a confidential client"),
    )
}

/// Authorize with PKCE through login and consent and return the code.
async fn code_for(h: &Harness, client_id: &str, scope: &str, session: &Session) -> String {
    let q = format!(
        "response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256",
        enc(REDIRECT),
        enc(scope)
    );
    let params = h.authorize_through(&q, session).await;
    param(&params, "code").expect("a code")
}

async fn redeem(h: &Harness, (id, secret): &(String, String), code: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, json, _) = h.token(&form, Some((id, secret))).await;
    (status, json)
}

async fn refresh(h: &Harness, (id, secret): &(String, String), token: &str) -> (u16, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    let (status, json, _) = h.token(&form, Some((id, secret))).await;
    (status, json)
}

/// Run `TASKS` copies of `f` at once (released together by a barrier) and collect the results.
async fn race<F, Fut, T>(f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    race_n(TASKS, f).await
}

/// [`race`] with `n` copies.
async fn race_n<F, Fut, T>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let barrier = barrier.clone();
        let fut = f(i);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.expect("a racing task panicked"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_redeemed_by_many_at_once() {
    let h = Arc::new(Harness::new());
    let c = h.client(json!({})).await;
    let creds = Arc::new(creds(&c));
    let (mut one_winner, mut no_winner) = (0, 0);
    for _ in 0..ROUNDS {
        let code =
            Arc::new(code_for(&h, &c.client.client_id, "openid offline_access", &h.alice()).await);
        let results = race(|_| {
            let (h, creds, code) = (h.clone(), creds.clone(), code.clone());
            async move { redeem(&h, &creds, &code).await }
        })
        .await;
        let winners: Vec<&Value> = results
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, j)| j)
            .collect();
        for (status, json) in results.iter().filter(|(s, _)| *s != 200) {
            assert_eq!(
                (*status, json["error"].as_str()),
                (400, Some("invalid_grant")),
                "{json}"
            );
        }
        assert!(
            winners.len() <= 1,
            "a code yielded tokens {} times",
            winners.len()
        );
        // Whatever was issued, the replays revoked it.
        if let Some(won) = winners.first() {
            one_winner += 1;
            let access = won["access_token"].as_str().unwrap();
            let (status, _, _) = h.userinfo(access).await;
            assert_eq!(status, 401, "a replay revokes what the code issued");
            let rt = won["refresh_token"].as_str().unwrap();
            let (status, json) = refresh(&h, &creds, rt).await;
            assert_eq!(
                (status, json["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        } else {
            no_winner += 1;
        }
        // The code stays dead.
        let (status, json) = redeem(&h, &creds, &code).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    eprintln!("code races: {one_winner} with one winner, {no_winner} where a replay revoked the grant first");
}

/// With the replays lined up behind the winner (it finishes before they start), the winner gets
/// its tokens and every replay gets `invalid_grant` and revokes them: exactly one 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_first_redeemed_then_replayed_by_many() {
    let h = Arc::new(Harness::new());
    let c = h.client(json!({})).await;
    let creds = Arc::new(creds(&c));
    let code = Arc::new(code_for(&h, &c.client.client_id, "openid", &h.alice()).await);
    let (status, won) = redeem(&h, &creds, &code).await;
    assert_eq!(status, 200, "{won}");
    let access = won["access_token"].as_str().unwrap().to_owned();
    assert_eq!(h.userinfo(&access).await.0, 200);
    let results = race(|_| {
        let (h, creds, code) = (h.clone(), creds.clone(), code.clone());
        async move { redeem(&h, &creds, &code).await }
    })
    .await;
    for (status, json) in &results {
        assert_eq!(
            (*status, json["error"].as_str()),
            (400, Some("invalid_grant")),
            "{json}"
        );
    }
    assert_eq!(h.userinfo(&access).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_token_used_by_many_at_once() {
    let h = Arc::new(Harness::new());
    let c = h.client(json!({})).await;
    let creds = Arc::new(creds(&c));
    for _ in 0..ROUNDS {
        let code = code_for(&h, &c.client.client_id, "openid offline_access", &h.alice()).await;
        let (status, tokens) = redeem(&h, &creds, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let first_access = tokens["access_token"].as_str().unwrap().to_owned();
        let rt = Arc::new(tokens["refresh_token"].as_str().unwrap().to_owned());
        let results = race(|_| {
            let (h, creds, rt) = (h.clone(), creds.clone(), rt.clone());
            async move { refresh(&h, &creds, &rt).await }
        })
        .await;
        let winners: Vec<&Value> = results
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, j)| j)
            .collect();
        assert_eq!(winners.len(), 1, "exactly one rotation wins: {results:?}");
        for (status, json) in results.iter().filter(|(s, _)| *s != 200) {
            assert_eq!(
                (*status, json["error"].as_str()),
                (400, Some("invalid_grant")),
                "{json}"
            );
        }
        // Reuse was detected: the whole family is revoked, the winner's new tokens included.
        let won = winners[0];
        let next = won["refresh_token"].as_str().unwrap();
        assert_ne!(next, rt.as_str());
        let (status, json) = refresh(&h, &creds, next).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (400, Some("invalid_grant")),
            "the family is revoked"
        );
        assert_eq!(
            h.userinfo(won["access_token"].as_str().unwrap()).await.0,
            401
        );
        assert_eq!(h.userinfo(&first_access).await.0, 401);
    }
}

// ---------------------------------------------------------------------------------------------
// The refresh rotation grace window

fn grace(seconds: u32, reuses: u32) -> opkit::config::RefreshGrace {
    opkit::config::RefreshGrace::new(seconds, reuses).unwrap()
}

async fn grant_of(h: &Harness, rt: &str) -> opkit::store::GrantId {
    use opkit::store::RefreshTokenStore;
    h.store
        .refresh_token(&opkit::secret::SecretHash::of(rt))
        .await
        .unwrap()
        .unwrap()
        .record
        .grant_id
}

/// `n` presentations of one fresh refresh token at once; returns the original token, its grant
/// and the results.
async fn present_at_once(
    h: &Arc<Harness>,
    c: &ClientWithSecrets,
    creds: &Arc<(String, String)>,
    n: usize,
) -> (String, opkit::store::GrantId, Vec<(u16, Value)>) {
    let code = code_for(h, &c.client.client_id, "openid offline_access", &h.alice()).await;
    let (status, tokens) = redeem(h, creds, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let rt = Arc::new(tokens["refresh_token"].as_str().unwrap().to_owned());
    let family = grant_of(h, &rt).await;
    let results = race_n(n, |_| {
        let (h, creds, rt) = (h.clone(), creds.clone(), rt.clone());
        async move { refresh(&h, &creds, &rt).await }
    })
    .await;
    (rt.to_string(), family, results)
}

#[track_caller]
fn assert_invalid_grant((status, json): &(u16, Value)) {
    assert_eq!(
        (*status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );
}

/// Without a grace window, of 100 presentations of one refresh token at once exactly one
/// rotates it; the other 99 are reuse and revoke the family, the winner's tokens included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_grace_100_rotations_at_once_give_one_success() {
    let h = Arc::new(Harness::new());
    let c = h.client(json!({})).await;
    let creds = Arc::new(creds(&c));
    let (_, _, results) = present_at_once(&h, &c, &creds, 100).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, j)| j)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    results
        .iter()
        .filter(|(s, _)| *s != 200)
        .for_each(assert_invalid_grant);
    let won = winners[0];
    assert_invalid_grant(&refresh(&h, &creds, won["refresh_token"].as_str().unwrap()).await);
    assert_eq!(
        h.userinfo(won["access_token"].as_str().unwrap()).await.0,
        401
    );
}

/// With a grace window of 10 reuses, 11 presentations of one token at once all succeed (one
/// rotation, ten reuses), each with its own refresh token, all in the token's family; once the
/// window is over, presenting the original again revokes every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_grace_presentations_at_once_within_the_window_all_succeed() {
    let h = Arc::new(Harness::with_config(|c| c.refresh_grace = grace(30, 10)));
    let c = h.client(json!({})).await;
    let creds = Arc::new(creds(&c));
    for _ in 0..ROUNDS {
        let (rt, family, results) = present_at_once(&h, &c, &creds, 11).await;
        let mut refresh_tokens = HashSet::new();
        for (status, json) in &results {
            assert_eq!(*status, 200, "every presentation succeeds: {json}");
            let next = json["refresh_token"].as_str().unwrap().to_owned();
            assert_eq!(grant_of(&h, &next).await, family, "one family");
            assert_eq!(
                h.userinfo(json["access_token"].as_str().unwrap()).await.0,
                200
            );
            refresh_tokens.insert(next);
        }
        assert_eq!(refresh_tokens.len(), 11, "each got its own refresh token");

        h.clock.advance(Duration::seconds(31));
        assert_invalid_grant(&refresh(&h, &creds, &rt).await);
        for next in &refresh_tokens {
            assert_invalid_grant(&refresh(&h, &creds, next).await);
        }
        for (_, json) in &results {
            assert_eq!(
                h.userinfo(json["access_token"].as_str().unwrap()).await.0,
                401
            );
        }
    }
}

/// With 3 reuses, of 20 presentations of one token at once exactly 4 succeed (one rotation,
/// three reuses, counted by the store); the other 16 fail, reuse past the count revokes the
/// family, and every token the 4 got stops working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_grace_presentations_at_once_past_the_count_revoke_the_family() {
    let h = Arc::new(Harness::with_config(|c| c.refresh_grace = grace(30, 3)));
    let c = h.client(json!({})).await;
    let creds = Arc::new(creds(&c));
    for _ in 0..ROUNDS {
        let (_, family, results) = present_at_once(&h, &c, &creds, 20).await;
        let winners: Vec<&Value> = results
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, j)| j)
            .collect();
        assert_eq!(
            winners.len(),
            4,
            "one rotation and three reuses: {results:?}"
        );
        results
            .iter()
            .filter(|(s, _)| *s != 200)
            .for_each(assert_invalid_grant);
        use opkit::store::GrantStore;
        assert!(h.store.grant(&family).await.unwrap().unwrap().revoked);
        for won in winners {
            let next = won["refresh_token"].as_str().unwrap();
            assert_eq!(grant_of(&h, next).await, family, "one family");
            assert_invalid_grant(&refresh(&h, &creds, next).await);
            assert_eq!(
                h.userinfo(won["access_token"].as_str().unwrap()).await.0,
                401
            );
        }
    }
}

/// Refreshing and revoking the same family at once: whatever the order, afterwards nothing of
/// the family works, and at most one refresh succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_races_revocation() {
    let h = Arc::new(Harness::new());
    let c = h.client(json!({})).await;
    let creds = Arc::new(creds(&c));
    for _ in 0..ROUNDS {
        let code = code_for(&h, &c.client.client_id, "openid offline_access", &h.alice()).await;
        let (_, tokens) = redeem(&h, &creds, &code).await;
        let rt = Arc::new(tokens["refresh_token"].as_str().unwrap().to_owned());
        let results = race(|i| {
            let (h, creds, rt) = (h.clone(), creds.clone(), rt.clone());
            async move {
                if i % 4 == 0 {
                    let body = serde_urlencoded::to_string([("token", rt.as_str())]).unwrap();
                    let auth = basic_header(&creds.0, &creds.1);
                    let req = HttpRequest::new(Method::Post)
                        .header("content-type", b"application/x-www-form-urlencoded")
                        .header("authorization", auth.as_bytes())
                        .body(body.as_bytes());
                    let resp = h.provider.revoke(&req).await;
                    assert_eq!(resp.status, 200);
                    (0, Value::Null)
                } else {
                    refresh(&h, &creds, &rt).await
                }
            }
        })
        .await;
        let winners: Vec<&Value> = results
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, j)| j)
            .collect();
        assert!(winners.len() <= 1, "{results:?}");
        for (status, json) in results.iter().filter(|(s, _)| *s != 200 && *s != 0) {
            assert_eq!(
                (*status, json["error"].as_str()),
                (400, Some("invalid_grant")),
                "{json}"
            );
        }
        for won in winners {
            let (status, _) = refresh(&h, &creds, won["refresh_token"].as_str().unwrap()).await;
            assert_eq!(status, 400);
            assert_eq!(
                h.userinfo(won["access_token"].as_str().unwrap()).await.0,
                401
            );
        }
        assert_eq!(refresh(&h, &creds, &rt).await.0, 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_created_at_once_get_distinct_identifiers() {
    let h = Arc::new(Harness::new());
    // A third each through RFC 7591 registration, the management API and the typed API.
    let results = race(|i| {
        let h = h.clone();
        async move {
            match i % 3 {
                0 => {
                    let body =
                        json!({"client_name": format!("dyn {i}"), "redirect_uris": [REDIRECT]})
                            .to_string();
                    let req = HttpRequest::new(Method::Post)
                        .header("content-type", b"application/json")
                        .body(body.as_bytes());
                    let resp = h.provider.register(&req).await;
                    let json: Value = serde_json::from_slice(&resp.body).unwrap();
                    assert_eq!(resp.status, 201, "{json}");
                    let reg = opkit::store::ClientStore::client(
                        &h.store,
                        json["client_id"].as_str().unwrap(),
                    )
                    .await
                    .expect("the client store answers")
                    .expect("registered client is stored");
                    (
                        reg.id.clone(),
                        reg.client_id.clone(),
                        json["client_secret"].as_str().map(str::to_owned),
                    )
                }
                1 => {
                    let body = json!({
                        "name": format!("managed {i}"),
                        "redirect_uris": [REDIRECT],
                        "id_token_signed_response_alg": "ES256",
                        "token_endpoint_auth_method": "client_secret_basic",
                    })
                    .to_string();
                    let req = HttpRequest::new(Method::Post)
                        .header("content-type", b"application/json")
                        .body(body.as_bytes());
                    let resp = h.provider.manage_clients(&req, None).await;
                    let json: Value = serde_json::from_slice(&resp.body).unwrap();
                    assert_eq!(resp.status, 201, "{json}");
                    (
                        json["id"].as_str().unwrap().to_owned(),
                        json["client_id"].as_str().unwrap().to_owned(),
                        json["client_secret"].as_str().map(str::to_owned),
                    )
                }
                _ => {
                    let c = h.client(json!({"name": format!("typed {i}")})).await;
                    (c.client.id, c.client.client_id, c.client_secret)
                }
            }
        }
    })
    .await;
    let ids: HashSet<&str> = results.iter().map(|(id, _, _)| id.as_str()).collect();
    let client_ids: HashSet<&str> = results.iter().map(|(_, cid, _)| cid.as_str()).collect();
    let secrets: HashSet<&str> = results
        .iter()
        .filter_map(|(_, _, s)| s.as_deref())
        .collect();
    assert_eq!(ids.len(), TASKS, "distinct management ids");
    assert_eq!(client_ids.len(), TASKS, "distinct client_ids");
    assert_eq!(secrets.len(), TASKS, "distinct secrets");
    assert!(
        ids.is_disjoint(&client_ids),
        "the management id is not the client_id"
    );
    // Every one is listed exactly once, in id order.
    let listed = h
        .provider
        .list_clients(None, 1000, opkit::store::SortOrder::Ascending)
        .await
        .unwrap();
    let listed_ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(listed_ids.len(), TASKS);
    assert!(
        listed_ids.windows(2).all(|w| w[0] < w[1]),
        "listed in id order without repeats"
    );
    // And every secret authenticates its own client only.
    for (_, client_id, secret) in &results {
        let Some(secret) = secret else { continue };
        let (status, json, _) = h
            .token(
                &[("grant_type", "authorization_code"), ("code", "nope")],
                Some((client_id, secret)),
            )
            .await;
        assert_eq!(
            (status, json["error"].as_str()),
            (400, Some("invalid_grant")),
            "{json}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_users_authorize_at_once() {
    let h = Arc::new(Harness::new());
    for i in 0..TASKS {
        h.provider
            .users()
            .add_user(
                &format!("user{i}"),
                "pw",
                &format!("sub-{i}"),
                UserClaims {
                    name: Some(format!("User {i}")),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let c = h.client(json!({})).await;
    let client_id = Arc::new(c.client.client_id.clone());
    let creds = Arc::new(creds(&c));
    let codes = race(|i| {
        let (h, client_id) = (h.clone(), client_id.clone());
        async move {
            let session = Session {
                subject: format!("sub-{i}"),
                auth_time: h.now(),
            };
            let q = format!(
                "response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20profile&state=s{i}&nonce=n{i}&code_challenge={CHALLENGE}&code_challenge_method=S256",
                enc(REDIRECT)
            );
            // Not logged in yet: the login page, then consent, then the code.
            let AuthorizeOutcome::Login(login) = h.authorize(&q, None).await else {
                panic!("expected the login page")
            };
            let AuthorizeOutcome::Consent(consent) = login.complete(&h.provider, &session).await
            else {
                panic!("expected the consent page")
            };
            assert_eq!(
                consent.subject(),
                session.subject,
                "consent asked of the user who logged in"
            );
            let AuthorizeOutcome::Respond(resp) = consent
                .decide(&h.provider, Some(&session), ConsentDecision::Granted(None))
                .await
            else {
                panic!("expected a code")
            };
            assert_eq!(resp.param("state"), Some(format!("s{i}").as_str()));
            (i, resp.param("code").expect("a code").to_owned())
        }
    })
    .await;
    let distinct: HashSet<&str> = codes.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(distinct.len(), TASKS, "distinct codes");

    // Redeemed at once, each gives its own user's tokens with its own nonce.
    let codes = Arc::new(codes);
    let tokens = race(|k| {
        let (h, creds, codes) = (h.clone(), creds.clone(), codes.clone());
        async move {
            let (i, code) = &codes[k];
            let (status, json) = redeem(&h, &creds, code).await;
            assert_eq!(status, 200, "{json}");
            (*i, json)
        }
    })
    .await;
    let mut access = HashSet::new();
    for (i, json) in &tokens {
        let (_, id) = verify_jwt(
            &h.provider,
            json["id_token"].as_str().unwrap(),
            &c.client.client_id,
        );
        assert_eq!(id["sub"], format!("sub-{i}"));
        assert_eq!(id["nonce"], format!("n{i}"));
        assert_eq!(id["name"], format!("User {i}"));
        assert!(access.insert(json["access_token"].as_str().unwrap().to_owned()));
    }
    // Consent was recorded for each user: a second request goes straight through.
    let session = Session {
        subject: "sub-7".into(),
        auth_time: h.now(),
    };
    let q = format!(
        "response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile&code_challenge={CHALLENGE}&code_challenge_method=S256",
        c.client.client_id,
        enc(REDIRECT)
    );
    assert!(matches!(
        h.authorize(&q, Some(&session)).await,
        AuthorizeOutcome::Respond(_)
    ));
}

/// Everything at once on one provider: codes, refreshes, revocations, UserInfo, introspection,
/// consent withdrawal and client deletion. Nothing panics and every answer is well-formed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_never_panics() {
    let h = Arc::new(Harness::new());
    let clients: Vec<ClientWithSecrets> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(h.client(json!({})).await);
        }
        v
    };
    let clients = Arc::new(clients);
    let results = race(|i| {
        let (h, clients) = (h.clone(), clients.clone());
        async move {
            let c = &clients[i % clients.len()];
            let creds = creds(c);
            let mut statuses = Vec::new();
            for round in 0..4 {
                let code = code_for(
                    &h,
                    &c.client.client_id,
                    "openid email offline_access",
                    &h.alice(),
                )
                .await;
                let (status, tokens) = redeem(&h, &creds, &code).await;
                statuses.push(status);
                if status != 200 {
                    continue;
                }
                let access = tokens["access_token"].as_str().unwrap().to_owned();
                let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
                statuses.push(h.userinfo(&access).await.0);
                statuses.push(refresh(&h, &creds, &rt).await.0);
                statuses.push(refresh(&h, &creds, &rt).await.0);
                statuses.push(redeem(&h, &creds, &code).await.0);
                let body = serde_urlencoded::to_string([("token", access.as_str())]).unwrap();
                let auth = basic_header(&creds.0, &creds.1);
                let req = HttpRequest::new(Method::Post)
                    .header("content-type", b"application/x-www-form-urlencoded")
                    .header("authorization", auth.as_bytes())
                    .body(body.as_bytes());
                statuses.push(h.provider.introspect(&req).await.status);
                statuses.push(h.provider.revoke(&req).await.status);
                if (i + round) % 7 == 0 {
                    h.provider
                        .revoke_consent("user-alice", &c.client.client_id)
                        .await
                        .expect("withdrawing consent under load does not fail");
                }
            }
            statuses
        }
    })
    .await;
    for statuses in results {
        for s in statuses {
            assert!(matches!(s, 200 | 400 | 401), "unexpected status {s}");
        }
    }
    // Deleting the clients at once revokes everything they had.
    let deleted = race(|i| {
        let (h, clients) = (h.clone(), clients.clone());
        async move {
            h.provider
                .delete_client(&clients[i % clients.len()].client.id)
                .await
                .expect("a concurrent delete does not fail")
                .is_some()
        }
    })
    .await;
    assert_eq!(
        deleted.iter().filter(|d| **d).count(),
        clients.len(),
        "each client deleted exactly once"
    );
}

// ---------------------------------------------------------------------------------------------
// Forced interleavings: a store that parks the first call of a chosen method until the test
// releases it, so a replay can be slotted in exactly between a winner's steps.

mod gated {
    use std::sync::{Arc, Mutex};

    use opkit::client::Client;
    use opkit::secret::SecretHash;
    use opkit::store::{
        ClientStore, CodeRecord, CodeRedemption, CodeStore, Consent, ConsentStore, Grant, GrantId,
        GrantStore, MemoryStore, RefreshLookup, RefreshRecord, RefreshReuse, RefreshRotation,
        RefreshTokenStore, RevokedTokenStore, SortOrder, StoreResult,
    };
    use time::OffsetDateTime;
    use tokio::sync::Notify;

    #[derive(Default)]
    pub struct Gate {
        armed: Mutex<Option<&'static str>>,
        pub reached: Notify,
        pub release: Notify,
    }

    impl Gate {
        /// Park the next call of `method`.
        pub fn arm(&self, method: &'static str) {
            *self.armed.lock().unwrap() = Some(method);
        }

        async fn pass(&self, method: &'static str) {
            let stop = {
                let mut armed = self.armed.lock().unwrap();
                let stop = *armed == Some(method);
                if stop {
                    *armed = None;
                }
                stop
            };
            if stop {
                self.reached.notify_one();
                self.release.notified().await;
            }
        }
    }

    /// The memory store, with the next call of the armed method (`update_client`,
    /// `create_grant`, `grant`, `revoke_grant`, `redeem_code`, `put_refresh_token` or
    /// `rotate_refresh_token`) parked until released. Every concern in one type, as
    /// `opkit::store::Store` asks.
    #[derive(Clone)]
    pub struct Gated {
        pub inner: MemoryStore,
        pub gate: Arc<Gate>,
    }

    impl ClientStore for Gated {
        async fn client(&self, client_id: &str) -> StoreResult<Option<Arc<Client>>> {
            self.inner.client(client_id).await
        }
        async fn client_by_id(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
            self.inner.client_by_id(id).await
        }
        async fn insert_client(&self, client: Client) -> StoreResult<()> {
            self.inner.insert_client(client).await
        }
        async fn update_client(&self, client: Client) -> StoreResult<bool> {
            self.gate.pass("update_client").await;
            self.inner.update_client(client).await
        }
        async fn delete_client(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
            self.inner.delete_client(id).await
        }
        async fn list_clients(
            &self,
            after: Option<&str>,
            limit: usize,
            order: SortOrder,
        ) -> StoreResult<Vec<Arc<Client>>> {
            self.inner.list_clients(after, limit, order).await
        }
        async fn origin_allowed(&self, origin: &str) -> StoreResult<bool> {
            self.inner.origin_allowed(origin).await
        }
    }

    impl GrantStore for Gated {
        async fn create_grant(&self, grant: Grant) -> StoreResult<()> {
            self.gate.pass("create_grant").await;
            self.inner.create_grant(grant).await
        }
        async fn grant(&self, id: &GrantId) -> StoreResult<Option<Grant>> {
            self.gate.pass("grant").await;
            self.inner.grant(id).await
        }
        async fn revoke_grant(&self, id: &GrantId) -> StoreResult<()> {
            self.gate.pass("revoke_grant").await;
            self.inner.revoke_grant(id).await
        }
        async fn revoke_grants(&self, client_id: &str, subject: Option<&str>) -> StoreResult<u64> {
            self.inner.revoke_grants(client_id, subject).await
        }
        async fn purge_expired_grants(
            &self,
            now: OffsetDateTime,
            limit: usize,
        ) -> StoreResult<u64> {
            self.inner.purge_expired_grants(now, limit).await
        }
    }

    impl CodeStore for Gated {
        async fn put_code(&self, code: CodeRecord) -> StoreResult<()> {
            self.inner.put_code(code).await
        }
        async fn redeem_code(&self, hash: &SecretHash) -> StoreResult<CodeRedemption> {
            self.gate.pass("redeem_code").await;
            self.inner.redeem_code(hash).await
        }
        async fn purge_expired_codes(&self, now: OffsetDateTime, limit: usize) -> StoreResult<u64> {
            self.inner.purge_expired_codes(now, limit).await
        }
    }

    impl RefreshTokenStore for Gated {
        async fn put_refresh_token(&self, token: RefreshRecord) -> StoreResult<()> {
            self.gate.pass("put_refresh_token").await;
            self.inner.put_refresh_token(token).await
        }
        async fn refresh_token(&self, hash: &SecretHash) -> StoreResult<Option<RefreshLookup>> {
            self.inner.refresh_token(hash).await
        }
        async fn rotate_refresh_token(
            &self,
            presented: &SecretHash,
            next: RefreshRecord,
        ) -> StoreResult<RefreshRotation> {
            self.gate.pass("rotate_refresh_token").await;
            self.inner.rotate_refresh_token(presented, next).await
        }
        async fn reuse_rotated_refresh_token(
            &self,
            presented: &SecretHash,
            window_start: OffsetDateTime,
            max_reuses: u32,
            next: RefreshRecord,
        ) -> StoreResult<RefreshReuse> {
            self.gate.pass("reuse_rotated_refresh_token").await;
            self.inner
                .reuse_rotated_refresh_token(presented, window_start, max_reuses, next)
                .await
        }
        async fn purge_expired_refresh_tokens(
            &self,
            now: OffsetDateTime,
            limit: usize,
        ) -> StoreResult<u64> {
            self.inner.purge_expired_refresh_tokens(now, limit).await
        }
    }

    impl ConsentStore for Gated {
        async fn consent(&self, subject: &str, client_id: &str) -> StoreResult<Option<Consent>> {
            self.inner.consent(subject, client_id).await
        }
        async fn put_consent(&self, consent: Consent) -> StoreResult<()> {
            self.inner.put_consent(consent).await
        }
        async fn delete_consent(&self, subject: &str, client_id: &str) -> StoreResult<bool> {
            self.inner.delete_consent(subject, client_id).await
        }
    }

    impl RevokedTokenStore for Gated {
        async fn revoke_access_token(
            &self,
            jti: &str,
            expires_at: OffsetDateTime,
        ) -> StoreResult<()> {
            self.inner.revoke_access_token(jti, expires_at).await
        }
        async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
            self.inner.is_access_token_revoked(jti).await
        }
        async fn purge_revoked_access_tokens(
            &self,
            now: OffsetDateTime,
            limit: usize,
        ) -> StoreResult<u64> {
            self.inner.purge_revoked_access_tokens(now, limit).await
        }
    }
}

type GatedProvider = opkit::Provider<gated::Gated, opkit::store::MemoryUsers>;

struct GatedHarness {
    provider: GatedProvider,
    gate: Arc<gated::Gate>,
    client: ClientWithSecrets,
}

async fn gated_harness() -> Arc<GatedHarness> {
    let store = opkit::store::MemoryStore::new();
    let gate = Arc::new(gated::Gate::default());
    let users = opkit::store::MemoryUsers::new().with_iterations(1000);
    users
        .add_user("alice", "wonderland", "user-alice", alice_claims())
        .unwrap();
    let gated = gated::Gated {
        inner: store,
        gate: gate.clone(),
    };
    let provider = opkit::Provider::new(opkit::Config::new(ISSUER).unwrap(), keys(), gated, users)
        .with_clock(Arc::new(TestClock::new()));
    let settings = opkit::client::validate(
        json!({
            "name": "Gated RP",
            "redirect_uris": [REDIRECT],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
        })
        .as_object()
        .unwrap(),
        opkit::client::MetadataSource::Management,
        false,
    )
    .unwrap();
    let client = provider
        .create_client(settings, opkit::client::NewClient::new())
        .await
        .unwrap();
    Arc::new(GatedHarness {
        provider,
        gate,
        client,
    })
}

impl GatedHarness {
    fn alice(&self) -> Session {
        Session {
            subject: "user-alice".into(),
            auth_time: self.provider.clock().now(),
        }
    }

    async fn code(&self, scope: &str) -> String {
        let q = format!(
            "response_type=code&client_id={}&redirect_uri={}&scope={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
            self.client.client.client_id,
            enc(REDIRECT),
            enc(scope)
        );
        let req = HttpRequest::new(Method::Get).query(&q);
        let alice = self.alice();
        let AuthorizeOutcome::Consent(step) = self.provider.authorize(&req, Some(&alice)).await
        else {
            panic!("expected the consent page")
        };
        let AuthorizeOutcome::Respond(resp) = step
            .decide(&self.provider, Some(&alice), ConsentDecision::Granted(None))
            .await
        else {
            panic!("expected a code")
        };
        resp.param("code").unwrap().to_owned()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let body = serde_urlencoded::to_string(form).unwrap();
        let auth = basic_header(
            &self.client.client.client_id,
            self.client.client_secret.as_deref().unwrap(),
        );
        let req = HttpRequest::new(Method::Post)
            .header("content-type", b"application/x-www-form-urlencoded")
            .header("authorization", auth.as_bytes())
            .body(body.as_bytes());
        let resp = self.provider.token(&req).await;
        (
            resp.status,
            serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
        )
    }

    async fn redeem(&self, code: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
    }

    async fn userinfo(&self, token: &str) -> u16 {
        let auth = format!("Bearer {token}");
        let req = HttpRequest::new(Method::Get).header("authorization", auth.as_bytes());
        self.provider.userinfo(&req).await.status
    }
}

/// The replay lands after the winner took the code but before it checked its grant: the winner
/// is refused too. Zero 200s is the safe outcome of this interleaving (the code was used twice;
/// nothing it could issue would survive), so "exactly one 200" holds only when the winner gets
/// past its grant check first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_between_redemption_and_grant_check() {
    let h = gated_harness().await;
    let code = h.code("openid offline_access").await;
    h.gate.arm("grant");
    let winner = {
        let (h, code) = (h.clone(), code.clone());
        tokio::spawn(async move { h.redeem(&code).await })
    };
    h.gate.reached.notified().await;
    let (status, json) = h.redeem(&code).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );
    h.gate.release.notify_one();
    let (status, json) = winner.await.unwrap();
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );
}

/// The replay lands while the winner is issuing (its grant check passed, its refresh token is not
/// stored yet): the winner gets 200, but what it got is already revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_while_the_winner_issues() {
    let h = gated_harness().await;
    let code = h.code("openid offline_access").await;
    h.gate.arm("put_refresh_token");
    let winner = {
        let (h, code) = (h.clone(), code.clone());
        tokio::spawn(async move { h.redeem(&code).await })
    };
    h.gate.reached.notified().await;
    let (status, json) = h.redeem(&code).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );
    h.gate.release.notify_one();
    let (status, tokens) = winner.await.unwrap();
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        h.userinfo(tokens["access_token"].as_str().unwrap()).await,
        401
    );
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (status, json) = h
        .token(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );
}

/// Two uses of one refresh token, the first parked just before it rotates: the second rotates
/// and gets 200, the first then finds the token rotated and revokes the family, so the second's
/// new tokens die too. Exactly one 200 either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_reuse_between_lookup_and_rotation() {
    let h = gated_harness().await;
    let code = h.code("openid offline_access").await;
    let (status, tokens) = h.redeem(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    h.gate.arm("rotate_refresh_token");
    let first = {
        let (h, rt) = (h.clone(), rt.clone());
        tokio::spawn(async move {
            h.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
                .await
        })
    };
    h.gate.reached.notified().await;
    let (status, second) = h
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await;
    assert_eq!(status, 200, "{second}");
    h.gate.release.notify_one();
    let (status, json) = first.await.unwrap();
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );
    let next = second["refresh_token"].as_str().unwrap();
    let (status, json) = h
        .token(&[("grant_type", "refresh_token"), ("refresh_token", next)])
        .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );
    assert_eq!(
        h.userinfo(second["access_token"].as_str().unwrap()).await,
        401
    );
}

/// Secrets added through the management API while the client's settings are replaced, all at
/// once: every change reported as done is kept (optimistic concurrency on the client's
/// revision), nothing else fails, and every added secret authenticates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_client_changes_are_never_lost() {
    let h = Arc::new(Harness::new());
    let c = h.client(json!({})).await;
    let id = Arc::new(c.client.id.clone());
    let base = Arc::new(c.client.settings.clone());
    // A client holds at most 10 secrets; it has one, so 9 additions, the rest settings updates.
    let adds = opkit::client::MAX_SECRETS - 1;
    let results = race(|i| {
        let (h, id, base) = (h.clone(), id.clone(), base.clone());
        async move {
            if i < adds {
                let body = json!({"name": format!("secret {i}")}).to_string();
                let req = HttpRequest::new(Method::Post)
                    .header("content-type", b"application/json")
                    .body(body.as_bytes());
                let resp = h.provider.manage_client_secrets(&req, &id, None).await;
                let json: Value = serde_json::from_slice(&resp.body).unwrap();
                (resp.status, json)
            } else {
                let mut settings = opkit::client::ClientSettings::clone(&base);
                settings.name = format!("renamed {i}");
                match h.provider.update_client(&id, settings).await {
                    Ok(Some(updated)) => (200, json!({"name": updated.client.settings.name})),
                    Ok(None) => (404, Value::Null),
                    Err(e) => (500, json!({"error": e.to_string()})),
                }
            }
        }
    })
    .await;
    for (status, json) in &results {
        assert!(matches!(status, 200 | 201), "{status} {json}");
    }
    let stored = h.store_client(&c.client.client_id).await;
    assert_eq!(
        stored.secrets.len(),
        1 + adds,
        "a concurrent change lost a secret"
    );
    let names: Vec<&str> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, j)| j["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&stored.settings.name.as_str()),
        "the last update won: {}",
        stored.settings.name
    );
    for (status, json) in results.iter().filter(|(s, _)| *s == 201) {
        let secret = json["client_secret"]
            .as_str()
            .unwrap_or_else(|| panic!("{status} {json}"));
        let (status, json, _) = h
            .token(
                &[("grant_type", "authorization_code"), ("code", "nope")],
                Some((&c.client.client_id, secret)),
            )
            .await;
        assert_eq!(
            (status, json["error"].as_str()),
            (400, Some("invalid_grant")),
            "the new secret authenticates"
        );
    }
    // The original secret survived too.
    let (status, _, _) = h
        .token(
            &[("grant_type", "authorization_code"), ("code", "nope")],
            Some((&c.client.client_id, c.client_secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(status, 400);
}

/// One secret added while another change of the same client is parked between reading the
/// client and writing it back: the parked write must not overwrite the addition (it is retried
/// on the newer revision), so both changes are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_client_write_is_retried_not_lost() {
    let store = opkit::store::MemoryStore::new();
    let gate = Arc::new(gated::Gate::default());
    let gated = gated::Gated {
        inner: store,
        gate: gate.clone(),
    };
    let provider = Arc::new(
        opkit::Provider::new(
            opkit::Config::new(ISSUER).unwrap(),
            keys(),
            gated,
            opkit::store::MemoryUsers::new(),
        )
        .with_clock(Arc::new(TestClock::new())),
    );
    let settings = opkit::client::validate(
        json!({
            "name": "Before",
            "redirect_uris": [REDIRECT],
            "id_token_signed_response_alg": "ES256",
            "token_endpoint_auth_method": "client_secret_basic",
        })
        .as_object()
        .unwrap(),
        opkit::client::MetadataSource::Management,
        false,
    )
    .unwrap();
    let created = provider
        .create_client(settings.clone(), opkit::client::NewClient::new())
        .await
        .unwrap();
    let id = created.client.id.clone();
    // The rename reads the client, then parks before writing.
    gate.arm("update_client");
    let rename = {
        let (provider, id) = (provider.clone(), id.clone());
        let mut settings = settings.clone();
        settings.name = "After".into();
        tokio::spawn(async move { provider.update_client(&id, settings).await })
    };
    gate.reached.notified().await;
    // Meanwhile a secret is added (its write goes through: the gate is disarmed).
    let (secret, plaintext) = provider
        .add_client_secret(&id, "added", None)
        .await
        .unwrap();
    gate.release.notify_one();
    let renamed = rename
        .await
        .expect("the rename task finished")
        .expect("the parked rename is retried, not failed")
        .expect("the client exists");
    assert_eq!(renamed.client.settings.name, "After");
    let stored = opkit::store::ClientStore::client_by_id(provider.store(), &id)
        .await
        .expect("the client store answers")
        .expect("the client is stored");
    assert_eq!(stored.settings.name, "After", "the rename was applied");
    assert!(
        stored.secrets.iter().any(|s| s.id == secret.id),
        "the concurrent secret addition was lost"
    );
    assert_eq!(stored.secrets.len(), 2);
    let auth = basic_header(&created.client.client_id, &plaintext);
    let req = HttpRequest::new(Method::Post)
        .header("content-type", b"application/x-www-form-urlencoded")
        .header("authorization", auth.as_bytes())
        .body(b"grant_type=authorization_code&code=nope");
    let json: Value = serde_json::from_slice(&provider.token(&req).await.body).unwrap();
    assert_eq!(
        json["error"], "invalid_grant",
        "the added secret authenticates"
    );
}
