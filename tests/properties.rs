//! Property tests: random sequences of requests driven through the authorization endpoint's
//! state machine, the code, refresh, revocation, UserInfo and introspection flows, against the
//! in-memory store and the test clock. A model of what the provider should do runs alongside;
//! after every step the security invariants are checked:
//!
//! * a code yields tokens at most once (and a replay revokes what it issued);
//! * a refresh family has at most one active token;
//! * no token outlives its lifetime (UserInfo / introspection / refresh never accept a token past
//!   its `exp`, idle or absolute lifetime);
//! * no redirect to an unregistered URI (untrusted client or redirect URI → error page);
//! * no refresh token without an explicit `offline_access` consent;
//! * ID tokens carry the nonce of their request;
//! * no code without the PKCE its client's policy asks for (S256 unless exempted);
//! * a login or consent step older than `Config::interaction_ttl` only yields `access_denied`.
//!
//! The model drives the authorization endpoint through its step values: a pending request is
//! a `LoginStep` (completed with a session, or cancelled) or a `ConsentStep` (decided, or
//! cancelled), each consumed by its transition.

mod common;

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use common::*;
use opkit::client::ClientWithSecrets;
use opkit::http::{HttpRequest, Method};
use opkit::scope::Scopes;
use opkit::secret::SecretHash;
use opkit::store::{GrantId, GrantStore, RefreshTokenStore};
use opkit::{AuthorizationResponse, ConsentStep, LoginStep, ResponseMode};
use opkit::{AuthorizeOutcome, ConsentDecision, ErrorCode, Session};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

// ---------------------------------------------------------------------------------------------
// The provider's configuration under test (short refresh lifetimes so sequences reach them).

const CODE_TTL: i64 = 60;
const ACCESS_TTL: i64 = 3600;
const REFRESH_IDLE: i64 = 2 * 3600;
const REFRESH_ABSOLUTE: i64 = 5 * 3600;
/// How long a login or consent step stays usable (not the 10-minute default, so the test shows
/// the setting is honoured).
const INTERACTION_TTL: i64 = 900;

const R_WEB_1: &str = "https://rp.example/cb";
const R_WEB_2: &str = "https://rp.example/cb2?x=1";
const R_SPA: &str = "http://127.0.0.1:8080/cb";
const R_POST: &str = "https://app.example/cb";

const ALT_VERIFIER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const PLAIN_VERIFIER: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const WRONG_VERIFIER: &str = "ccccccccccccccccccccccccccccccccccccccccccc";

const RESPONSE_TYPES: [&str; 12] = [
    "code",
    "code",
    "id_token",
    "id_token token",
    "token id_token",
    "code id_token",
    "code token",
    "code id_token token",
    "token",
    "",
    "code code",
    "CODE",
];

const SCOPES: [&str; 10] = [
    "openid",
    "openid profile",
    "openid email offline_access",
    "openid offline_access",
    "profile",
    "",
    "openid admin",
    "openid \"x\"",
    "openid profile email",
    "offline_access",
];

const PROMPTS: [Option<&str>; 8] = [
    None,
    Some("none"),
    Some("login"),
    Some("consent"),
    Some("select_account"),
    Some("login consent"),
    Some("none login"),
    Some("bogus"),
];

const MAX_AGES: [Option<&str>; 6] = [
    None,
    Some("0"),
    Some("60"),
    Some("3600"),
    Some("-5"),
    Some("x"),
];

const MODES: [Option<&str>; 5] = [
    None,
    Some("query"),
    Some("fragment"),
    Some("form_post"),
    Some("bogus"),
];

// ---------------------------------------------------------------------------------------------
// Actions.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionPick {
    None,
    AliceNow,
    /// Alice's session from the start of the case (it ages as the clock moves).
    AliceOld,
    BobNow,
}

#[derive(Debug, Clone, Copy)]
enum DecisionPick {
    None,
    GrantAll,
    /// Grant only `openid` and `profile` (so never `offline_access`).
    GrantSome,
    Deny,
}

#[derive(Debug, Clone)]
struct AuthReq {
    client: usize,
    redirect: usize,
    rt: usize,
    scope: usize,
    prompt: usize,
    max_age: usize,
    pkce: usize,
    nonce: bool,
    state: bool,
    mode: usize,
    session: SessionPick,
    post: bool,
}

#[derive(Debug, Clone, Copy)]
enum VerifierPick {
    Right,
    Wrong,
    Missing,
    Rfc,
}

#[derive(Debug, Clone, Copy)]
enum RedirectPick {
    AsSent,
    Missing,
    Evil,
    OtherRegistered,
}

#[derive(Debug, Clone, Copy)]
enum TokenPick {
    Access(usize),
    Refresh(usize, usize),
}

#[derive(Debug, Clone)]
enum Action {
    Authorize(AuthReq),
    /// Answer a pending step: a login step is completed with `session` (cancelled without
    /// one); a consent step is decided with `session` and `decision` (cancelled for
    /// `DecisionPick::None`).
    Resume {
        pending: usize,
        session: SessionPick,
        decision: DecisionPick,
    },
    Redeem {
        code: usize,
        other_client: Option<usize>,
        verifier: VerifierPick,
        redirect: RedirectPick,
    },
    Refresh {
        family: usize,
        older: Option<usize>,
        other_client: Option<usize>,
        narrow: bool,
        /// Present the same token again right after (reuse).
        replay: bool,
    },
    Advance(i64),
    Revoke {
        token: TokenPick,
        other_client: Option<usize>,
        hint: usize,
    },
    RevokeConsent {
        client: usize,
        bob: bool,
    },
    /// Only with `mutate_clients`: remove (or restore) the web client's first redirect URI.
    ToggleRedirect,
    /// A well-formed code request, the login and consent pages answered, and the code redeemed,
    /// each through the same modelled steps as above.
    Flow {
        client: usize,
        scope: usize,
        bob: bool,
        pkce: usize,
        verifier: VerifierPick,
        /// Seconds between the code and its redemption.
        delay: i64,
        /// Then: 0 nothing, 1 refresh, 2 refresh and present the used token again, 3/4 refresh
        /// one second before / exactly at the idle limit, 5 keep refreshing up to exactly the
        /// family's absolute limit, 6 refresh as the other client, 7 step to one second before
        /// and then exactly to the access token's expiry, 8 another client tries to revoke the
        /// refresh token and the newest access token.
        then: usize,
    },
}

fn session_pick() -> impl Strategy<Value = SessionPick> {
    prop_oneof![
        1 => Just(SessionPick::None),
        4 => Just(SessionPick::AliceNow),
        2 => Just(SessionPick::AliceOld),
        1 => Just(SessionPick::BobNow),
    ]
}

fn auth_req() -> impl Strategy<Value = AuthReq> {
    (
        (
            prop_oneof![5 => Just(0usize), 3 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)],
            prop_oneof![1 => Just(0usize), 12 => Just(1usize), 3 => Just(2usize), 2 => 3..10usize],
            prop_oneof![10 => Just(0usize), 4 => 2..8usize, 1 => 8..12usize],
            prop_oneof![
                2 => Just(0usize),
                2 => Just(1usize),
                3 => Just(2usize),
                3 => Just(3usize),
                1 => Just(8usize),
                1 => 4..10usize,
            ],
        ),
        (
            prop_oneof![10 => Just(0usize), 4 => 1..6usize, 1 => 6..8usize],
            prop_oneof![10 => Just(0usize), 3 => 1..4usize, 1 => 4..6usize],
            prop_oneof![6 => Just(1usize), 1 => Just(0usize), 2 => 2..5usize, 1 => 5..7usize],
            prop_oneof![9 => Just(true), 1 => Just(false)],
        ),
        (
            any::<bool>(),
            prop_oneof![10 => Just(0usize), 2 => 1..4usize, 1 => Just(4usize)],
            session_pick(),
            prop_oneof![4 => Just(false), 1 => Just(true)],
        ),
    )
        .prop_map(
            |(
                (client, redirect, rt, scope),
                (prompt, max_age, pkce, nonce),
                (state, mode, session, post),
            )| AuthReq {
                client,
                redirect,
                rt,
                scope,
                prompt,
                max_age,
                pkce,
                nonce,
                state,
                mode,
                session,
                post,
            },
        )
}

/// How far back from the newest pending request, code, family or token to pick.
fn age() -> impl Strategy<Value = usize> {
    prop_oneof![6 => Just(0usize), 2 => 1..4usize, 1 => 0..64usize]
}

/// The `age`-th newest index of a list of `len` (> 0) items.
fn newest(len: usize, age: usize) -> usize {
    len - 1 - age % len
}

fn other_client() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![5 => Just(None), 1 => (0..3usize).prop_map(Some)]
}

fn action(mutate_clients: bool) -> impl Strategy<Value = Action> {
    let decision = prop_oneof![
        1 => Just(DecisionPick::None),
        5 => Just(DecisionPick::GrantAll),
        2 => Just(DecisionPick::GrantSome),
        2 => Just(DecisionPick::Deny),
    ];
    let verifier = prop_oneof![
        6 => Just(VerifierPick::Right),
        1 => Just(VerifierPick::Wrong),
        1 => Just(VerifierPick::Missing),
        1 => Just(VerifierPick::Rfc),
    ];
    let redirect = prop_oneof![
        6 => Just(RedirectPick::AsSent),
        1 => Just(RedirectPick::Missing),
        1 => Just(RedirectPick::Evil),
        1 => Just(RedirectPick::OtherRegistered),
    ];
    let token = prop_oneof![
        age().prop_map(TokenPick::Access),
        (age(), age()).prop_map(|(f, t)| TokenPick::Refresh(f, t)),
    ];
    let advance = prop_oneof![
        Just(1i64),
        Just(30),
        Just(CODE_TTL - 1),
        Just(CODE_TTL),
        Just(CODE_TTL + 1),
        Just(600),
        Just(INTERACTION_TTL - 1),
        Just(INTERACTION_TTL),
        Just(ACCESS_TTL - 1),
        Just(ACCESS_TTL),
        Just(ACCESS_TTL + 1),
        Just(REFRESH_IDLE - 1),
        Just(REFRESH_IDLE),
        Just(REFRESH_IDLE + 1),
    ];
    let toggle_weight = if mutate_clients { 4 } else { 0 };
    prop_oneof![
        10 => auth_req().prop_map(Action::Authorize),
        8 => (age(), session_pick(), decision).prop_map(|(pending, session, decision)| Action::Resume {
            pending,
            session,
            decision,
        }),
        8 => (age(), other_client(), verifier, redirect).prop_map(|(code, other_client, verifier, redirect)| {
            Action::Redeem { code, other_client, verifier, redirect }
        }),
        8 => (
            age(),
            prop_oneof![4 => Just(None), 1 => (0..64usize).prop_map(Some)],
            other_client(),
            any::<bool>(),
            prop_oneof![2 => Just(false), 1 => Just(true)],
        )
            .prop_map(|(family, older, other_client, narrow, replay)| Action::Refresh {
                family,
                older,
                other_client,
                narrow,
                replay,
            }),
        4 => advance.prop_map(Action::Advance),
        2 => (token, other_client(), 0..3usize).prop_map(|(token, other_client, hint)| Action::Revoke {
            token,
            other_client,
            hint,
        }),
        1 => (0..3usize, any::<bool>()).prop_map(|(client, bob)| Action::RevokeConsent { client, bob }),
        toggle_weight => Just(Action::ToggleRedirect),
        6 => (
            (0..3usize, prop_oneof![Just(2usize), Just(3usize), Just(1usize)], prop_oneof![4 => Just(false), 1 => Just(true)]),
            prop_oneof![4 => Just(1usize), 1 => Just(0usize), 1 => Just(3usize)],
            prop_oneof![
                6 => Just(VerifierPick::Right),
                1 => Just(VerifierPick::Rfc),
                1 => Just(VerifierPick::Wrong),
                1 => Just(VerifierPick::Missing),
            ],
            prop_oneof![6 => Just(0i64), 1 => Just(CODE_TTL - 1), 1 => Just(CODE_TTL), 1 => Just(CODE_TTL + 1)],
            prop_oneof![2 => Just(0usize), 2 => Just(1usize), 2 => Just(2usize), 6 => 3..9usize],
        )
            .prop_map(|((client, scope, bob), pkce, verifier, delay, then)| Action::Flow { client, scope, bob, pkce, verifier, delay, then }),
    ]
}

// ---------------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Basic,
    Post,
    None,
}

struct ClientM {
    c: ClientWithSecrets,
    initial_redirects: Vec<String>,
    redirects: Vec<String>,
    auth: Auth,
    refresh: bool,
    implicit: bool,
    /// Code requests must carry a PKCE challenge (the default; the administrator may exempt a
    /// confidential client).
    require_pkce: bool,
    /// `code_challenge_method=plain` is accepted (never by default).
    allow_plain: bool,
}

impl ClientM {
    fn client_id(&self) -> &str {
        &self.c.client.client_id
    }
    fn allows(&self, rt: Rt) -> bool {
        if rt.code && !rt.id_token && !rt.token {
            return true;
        }
        self.implicit
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rt {
    code: bool,
    id_token: bool,
    token: bool,
}

impl Rt {
    fn front(self) -> bool {
        self.id_token || self.token
    }
}

fn parse_rt(s: &str) -> Option<Rt> {
    let mut rt = Rt {
        code: false,
        id_token: false,
        token: false,
    };
    for part in s.split(' ') {
        let slot = match part {
            "code" => &mut rt.code,
            "id_token" => &mut rt.id_token,
            "token" => &mut rt.token,
            _ => return None,
        };
        if *slot {
            return None;
        }
        *slot = true;
    }
    (rt.code || rt.id_token).then_some(rt)
}

fn parse_mode(s: &str) -> Option<ResponseMode> {
    match s {
        "query" => Some(ResponseMode::Query),
        "fragment" => Some(ResponseMode::Fragment),
        "form_post" => Some(ResponseMode::FormPost),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct PromptM {
    none: bool,
    login: bool,
    consent: bool,
    select: bool,
}

/// The provider's step for a pending request.
enum StepM {
    Login(LoginStep),
    Consent(ConsentStep),
}

/// A validated request waiting at the login or consent page.
struct PendingM {
    /// The provider's step, once it returned one.
    p: Option<StepM>,
    client: usize,
    redirect: String,
    redirect_sent: bool,
    rt: Rt,
    scopes: Vec<String>,
    nonce: Option<String>,
    state: Option<String>,
    prompt: PromptM,
    max_age: Option<i64>,
    /// The verifier that answers the challenge (`None`: no challenge).
    verifier: Option<String>,
    mode: ResponseMode,
    login_after: Option<OffsetDateTime>,
    /// The user shown the consent page, while the step is a consent step.
    consent_subject: Option<String>,
    /// When the request arrived (its steps expire `INTERACTION_TTL` later).
    created: OffsetDateTime,
}

struct GrantM {
    client: usize,
    subject: String,
    revoked: bool,
    created: i64,
    expires: i64,
}

impl GrantM {
    fn active(&self, now: i64) -> bool {
        !self.revoked && now < self.expires
    }
}

struct CodeM {
    code: String,
    grant: usize,
    client: usize,
    nonce: Option<String>,
    verifier: Option<String>,
    redirect_sent: Option<String>,
    expires: i64,
    presented: bool,
    successes: u32,
    scopes: Vec<String>,
    offline_consented: bool,
    /// Access tokens the successful redemption issued.
    issued: Vec<usize>,
}

struct RtM {
    token: String,
    issued: i64,
    expires: i64,
    rotated: bool,
}

struct FamilyM {
    grant: usize,
    client: usize,
    scopes: Vec<String>,
    tokens: Vec<RtM>,
}

struct AtM {
    token: String,
    exp: i64,
    grant: usize,
    client: usize,
    openid: bool,
    jti_revoked: bool,
}

/// What the provider should do next with a pending request.
#[derive(Debug)]
enum Predicted {
    Login,
    Consent,
    Error(&'static str),
    Success {
        granted: Vec<String>,
        subject: String,
        offline_consented: bool,
    },
    Page,
}

/// The outcome of validating an authorization request.
enum Validation {
    Page,
    Errors(HashSet<&'static str>, String, ResponseMode, Option<String>),
    Valid(Box<PendingM>),
}

/// What the sequences reached, summed over all cases (so the properties cannot pass vacuously).
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    error_pages: usize,
    error_redirects: usize,
    logins: usize,
    consents: usize,
    issued: usize,
    redeemed: usize,
    redeem_refused: usize,
    replays: usize,
    refreshed: usize,
    refresh_refused: usize,
    reuse_detected: usize,
    userinfo_ok: usize,
    userinfo_refused: usize,
    active_refresh_seen: usize,
    dropped_after_removal: usize,
    cancelled: usize,
    expired_steps: usize,
}

struct Model<'h> {
    h: &'h Harness,
    stats: Stats,
    mutate_clients: bool,
    clients: Vec<ClientM>,
    alice_old: Session,
    pendings: Vec<PendingM>,
    grants: Vec<GrantM>,
    codes: Vec<CodeM>,
    families: Vec<FamilyM>,
    access: Vec<AtM>,
    consents: HashMap<(String, usize), HashSet<String>>,
    log: Vec<String>,
}

fn now_s(h: &Harness) -> i64 {
    h.now().unix_timestamp()
}

fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn sep_ok(location: &str, redirect: &str, mode: ResponseMode) -> bool {
    let Some(rest) = location.strip_prefix(redirect) else {
        return false;
    };
    match mode {
        ResponseMode::Fragment => rest.starts_with('#'),
        ResponseMode::Query if redirect.contains('?') => rest.starts_with('&'),
        ResponseMode::Query => rest.starts_with('?'),
        ResponseMode::FormPost => false,
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl<'h> Model<'h> {
    async fn new(h: &'h Harness, mutate_clients: bool) -> Model<'h> {
        h.provider
            .users()
            .add_user(
                "bob",
                "builder",
                "user-bob",
                opkit::claims::UserClaims {
                    name: Some("Bob".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        // The web client is also a resource server: it introspects every client's tokens.
        let web = h
            .client(json!({
                "introspect_any_token": true,
                "redirect_uris": [R_WEB_1, R_WEB_2],
                "grant_types": ["authorization_code", "implicit", "refresh_token"],
                "response_types": ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"],
            }))
            .await;
        let spa = h
            .client(json!({"redirect_uris": [R_SPA], "token_endpoint_auth_method": "none"}))
            .await;
        // The web and SPA clients keep the strict PKCE default (S256 required); the
        // administrator exempted the post client and allowed it `plain`, so both sides of the
        // policy are reached.
        let post = h
            .client(json!({
                "redirect_uris": [R_POST],
                "token_endpoint_auth_method": "client_secret_post",
                "grant_types": ["authorization_code"],
                "id_token_signed_response_alg": "RS256",
                "require_pkce": false,
                "allow_plain_pkce": true,
            }))
            .await;
        let clients = vec![
            ClientM {
                c: web,
                initial_redirects: vec![R_WEB_1.into(), R_WEB_2.into()],
                redirects: vec![R_WEB_1.into(), R_WEB_2.into()],
                auth: Auth::Basic,
                refresh: true,
                implicit: true,
                require_pkce: true,
                allow_plain: false,
            },
            ClientM {
                c: spa,
                initial_redirects: vec![R_SPA.into()],
                redirects: vec![R_SPA.into()],
                auth: Auth::None,
                refresh: true,
                implicit: false,
                require_pkce: true,
                allow_plain: false,
            },
            ClientM {
                c: post,
                initial_redirects: vec![R_POST.into()],
                redirects: vec![R_POST.into()],
                auth: Auth::Post,
                refresh: false,
                implicit: false,
                require_pkce: false,
                allow_plain: true,
            },
        ];
        for c in &clients {
            let s = &c.c.client.settings;
            assert_eq!(
                (s.require_pkce, c.c.client.allows_plain_pkce()),
                (c.require_pkce, c.allow_plain),
                "the model's PKCE policy of {}",
                s.name
            );
        }
        Model {
            h,
            mutate_clients,
            clients,
            alice_old: h.alice(),
            pendings: Vec::new(),
            grants: Vec::new(),
            codes: Vec::new(),
            families: Vec::new(),
            access: Vec::new(),
            consents: HashMap::new(),
            log: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn session(&self, pick: SessionPick) -> Option<Session> {
        let now = self.h.now();
        match pick {
            SessionPick::None => None,
            SessionPick::AliceNow => Some(Session {
                subject: "user-alice".into(),
                auth_time: now,
            }),
            SessionPick::AliceOld => Some(self.alice_old.clone()),
            SessionPick::BobNow => Some(Session {
                subject: "user-bob".into(),
                auth_time: now,
            }),
        }
    }

    /// The redirect URI a request sends for variant `v`.
    fn redirect_for(&self, v: usize, client: usize) -> Option<String> {
        let c = &self.clients[client];
        let first = c.initial_redirects[0].clone();
        let other = self.clients[(client + 1) % 3].initial_redirects[0].clone();
        match v {
            0 => None,
            1 => Some(first),
            2 => c.initial_redirects.last().cloned(),
            3 => Some(format!("{first}/")),
            4 => Some("https://evil.example/cb".into()),
            5 => Some(other),
            6 => Some(
                first
                    .replace("rp.example", "RP.example")
                    .replace("127.0.0.1", "localhost")
                    .replace("app.example", "APP.example"),
            ),
            7 => Some(format!("{first}#f")),
            8 => Some(if first.contains('?') {
                format!("{first}&extra=1")
            } else {
                format!("{first}?extra=1")
            }),
            _ => Some(first.replace("/cb", "/%63b")),
        }
    }

    // ----- the authorization endpoint -----

    fn build_params(&self, r: &AuthReq, client_id: &str) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = Vec::new();
        let mut push = |n: &str, v: &str| params.push((n.to_owned(), v.to_owned()));
        let rt = RESPONSE_TYPES[r.rt];
        if !rt.is_empty() {
            push("response_type", rt);
        }
        push("client_id", client_id);
        if let Some(uri) = self.redirect_for(r.redirect, r.client.min(2)) {
            push("redirect_uri", &uri);
        }
        if !SCOPES[r.scope].is_empty() {
            push("scope", SCOPES[r.scope]);
        }
        if r.state {
            push("state", &format!("st-{}", self.log.len()));
        }
        if r.nonce {
            push("nonce", &format!("n-{}", self.log.len()));
        }
        if let Some(p) = PROMPTS[r.prompt] {
            push("prompt", p);
        }
        if let Some(m) = MAX_AGES[r.max_age] {
            push("max_age", m);
        }
        if let Some(m) = MODES[r.mode] {
            push("response_mode", m);
        }
        let alt = opkit::pkce::s256_challenge(ALT_VERIFIER);
        match r.pkce {
            0 => {}
            1 => {
                push("code_challenge", CHALLENGE);
                push("code_challenge_method", "S256");
            }
            2 => {
                push("code_challenge", &alt);
                push("code_challenge_method", "S256");
            }
            3 => {
                push("code_challenge", PLAIN_VERIFIER);
                push("code_challenge_method", "plain");
            }
            4 => push("code_challenge", PLAIN_VERIFIER),
            5 => {
                push("code_challenge", "short");
                push("code_challenge_method", "S256");
            }
            _ => push("code_challenge_method", "S256"),
        }
        params
    }

    fn predict_validation(&self, r: &AuthReq, params: &[(String, String)]) -> Validation {
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        if r.client > 2 {
            return Validation::Page;
        }
        let c = &self.clients[r.client];
        let scope_raw = SCOPES[r.scope];
        let wants_openid = scope_raw.split(' ').any(|t| t == "openid");
        let sent = get("redirect_uri");
        let redirect = match &sent {
            Some(uri) if c.redirects.contains(uri) => uri.clone(),
            Some(_) => return Validation::Page,
            None => match c.redirects.as_slice() {
                [only] if !wants_openid => only.clone(),
                _ => return Validation::Page,
            },
        };
        let mut errors = HashSet::new();
        let rt_raw = RESPONSE_TYPES[r.rt];
        let rt = parse_rt(rt_raw);
        if rt_raw.is_empty() {
            errors.insert("invalid_request");
        } else if rt.is_none() {
            errors.insert("unsupported_response_type");
        }
        let mode = MODES[r.mode].map(parse_mode);
        let error_mode = match (mode, rt) {
            (Some(Some(ResponseMode::Query)), Some(rt)) if rt.front() => ResponseMode::Fragment,
            (Some(Some(m)), _) => m,
            (_, Some(rt)) if rt.front() => ResponseMode::Fragment,
            _ => ResponseMode::Query,
        };
        let state = get("state");
        let Some(rt) = rt else {
            return Validation::Errors(errors, redirect, error_mode, state);
        };
        if !c.allows(rt) {
            errors.insert("unauthorized_client");
        }
        let response_mode = match mode {
            None if rt.front() => ResponseMode::Fragment,
            None => ResponseMode::Query,
            Some(None) => {
                errors.insert("invalid_request");
                ResponseMode::Query
            }
            Some(Some(ResponseMode::Query)) if rt.front() => {
                errors.insert("invalid_request");
                ResponseMode::Query
            }
            Some(Some(m)) => m,
        };
        let mut scopes: Vec<String> = Vec::new();
        match Scopes::parse(scope_raw) {
            Err(_) => {
                errors.insert("invalid_scope");
            }
            Ok(parsed) => {
                let allowed = [
                    "openid",
                    "profile",
                    "email",
                    "address",
                    "phone",
                    "offline_access",
                ];
                if parsed.iter().any(|s| !allowed.contains(&s)) {
                    errors.insert("invalid_scope");
                }
                scopes = parsed.iter().map(str::to_owned).collect();
            }
        }
        if !rt.code || !c.refresh {
            scopes.retain(|s| s != "offline_access");
        }
        let openid = scopes.iter().any(|s| s == "openid");
        if rt.id_token && !openid {
            errors.insert("invalid_request");
        }
        let nonce = get("nonce");
        if openid && rt.front() && nonce.is_none() {
            errors.insert("invalid_request");
        }
        let mut prompt = PromptM::default();
        match PROMPTS[r.prompt] {
            None => {}
            Some("none") => prompt.none = true,
            Some("login") => prompt.login = true,
            Some("consent") => prompt.consent = true,
            Some("select_account") => prompt.select = true,
            Some("login consent") => {
                prompt.login = true;
                prompt.consent = true;
            }
            Some(_) => {
                errors.insert("invalid_request");
            }
        }
        let max_age = match MAX_AGES[r.max_age] {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) => Some(i64::from(n)),
                Err(_) => {
                    errors.insert("invalid_request");
                    None
                }
            },
        };
        let mut verifier = None;
        if rt.code {
            // Strict by default: a challenge unless the client is exempted, S256 unless it is
            // allowed plain (a challenge without a method is plain).
            match r.pkce {
                0 if c.require_pkce => {
                    errors.insert("invalid_request");
                }
                0 => {}
                1 => verifier = Some(VERIFIER.to_owned()),
                2 => verifier = Some(ALT_VERIFIER.to_owned()),
                3 | 4 if !c.allow_plain => {
                    errors.insert("invalid_request");
                }
                3 | 4 => verifier = Some(PLAIN_VERIFIER.to_owned()),
                _ => {
                    errors.insert("invalid_request");
                }
            }
        }
        if !errors.is_empty() {
            return Validation::Errors(errors, redirect, error_mode, state);
        }
        let now = self.h.now();
        Validation::Valid(Box::new(PendingM {
            p: None,
            client: r.client,
            redirect,
            redirect_sent: sent.is_some(),
            rt,
            scopes,
            nonce,
            state,
            prompt,
            max_age,
            verifier,
            mode: response_mode,
            login_after: (prompt.login || prompt.select).then_some(now),
            consent_subject: None,
            created: now,
        }))
    }

    fn satisfies(&self, pm: &PendingM, s: &Session, now: OffsetDateTime) -> bool {
        match (pm.login_after, pm.max_age) {
            (Some(after), _) => s.auth_time >= after,
            (None, Some(max_age)) => (now - s.auth_time).whole_seconds() <= max_age,
            (None, None) => true,
        }
    }

    /// Predict (and apply to the model) what the provider does with a request and a session:
    /// a new request, a completed login step (`decision` is `None`), or a decided consent step
    /// (`decision` is the user's answer, which counts only if `session` is the user shown the
    /// page and still satisfies the request).
    fn predict_advance(
        &mut self,
        pm: &mut PendingM,
        session: Option<&Session>,
        decision: Option<DecisionPick>,
    ) -> Predicted {
        let now = self.h.now();
        let shown = pm.consent_subject.take();
        // A denial is access_denied whoever is logged in now.
        if let Some(DecisionPick::Deny) = decision {
            return self.error_or_page(pm, "access_denied");
        }
        let Some(s) = session.filter(|s| self.satisfies(pm, s, now)) else {
            if pm.prompt.none {
                return self.error_or_page(pm, "login_required");
            }
            pm.login_after.get_or_insert(now);
            return Predicted::Login;
        };
        let accepted = decision.is_some() && shown.as_deref() == Some(s.subject.as_str());
        if decision.is_some() && !accepted {
            // A grant by the user shown the page, while another user is logged in: that user
            // is asked for consent of their own, standing consent or not.
            pm.consent_subject = Some(s.subject.clone());
            return Predicted::Consent;
        }
        let key = (s.subject.clone(), pm.client);
        match decision {
            Some(decision @ (DecisionPick::GrantAll | DecisionPick::GrantSome)) if accepted => {
                let mut granted = pm.scopes.clone();
                if matches!(decision, DecisionPick::GrantSome) {
                    granted.retain(|s| s == "openid" || s == "profile");
                }
                let entry = self.consents.entry(key).or_default();
                entry.extend(granted.iter().filter(|s| *s != "offline_access").cloned());
                let offline_consented = granted.iter().any(|s| s == "offline_access");
                self.finish(pm, s, granted, offline_consented)
            }
            _ => {
                let standing = self.consents.get(&key);
                let covered = standing.is_some_and(|c| pm.scopes.iter().all(|s| c.contains(s)));
                let offline = pm.scopes.iter().any(|s| s == "offline_access");
                let needs = pm.prompt.consent || offline || !covered;
                if !needs {
                    self.finish(pm, s, pm.scopes.clone(), false)
                } else if pm.prompt.none {
                    self.error_or_page(pm, "consent_required")
                } else {
                    pm.consent_subject = Some(s.subject.clone());
                    Predicted::Consent
                }
            }
        }
    }

    /// An error for the client, if its redirect URI is still registered; otherwise an error
    /// page (the request can no longer be trusted).
    fn error_or_page(&self, pm: &PendingM, code: &'static str) -> Predicted {
        if self.clients[pm.client].redirects.contains(&pm.redirect) {
            Predicted::Error(code)
        } else {
            Predicted::Page
        }
    }

    fn finish(
        &self,
        pm: &PendingM,
        s: &Session,
        granted: Vec<String>,
        offline_consented: bool,
    ) -> Predicted {
        if !self.clients[pm.client].redirects.contains(&pm.redirect) {
            return Predicted::Page;
        }
        Predicted::Success {
            granted,
            subject: s.subject.clone(),
            offline_consented,
        }
    }

    /// Check an authorization outcome against the prediction and record what it issued.
    fn observe(
        &mut self,
        mut pm: PendingM,
        outcome: AuthorizeOutcome,
        predicted: Predicted,
    ) -> Result<(), String> {
        // The invariant first: every redirect goes to a URI registered for the client now.
        if let AuthorizeOutcome::Respond(resp) = &outcome {
            let c = &self.clients[pm.client];
            ensure!(
                c.redirects.iter().any(|r| r == resp.redirect_uri()),
                "redirect to an unregistered URI {} (registered: {:?})",
                resp.redirect_uri(),
                c.redirects
            );
            ensure!(
                resp.redirect_uri() == pm.redirect,
                "redirected to {} not {}",
                resp.redirect_uri(),
                pm.redirect
            );
            if let Some(location) = resp.location() {
                ensure!(
                    sep_ok(&location, &pm.redirect, resp.mode()),
                    "location {location} does not extend {}",
                    pm.redirect
                );
            }
            ensure!(resp.param("iss") == Some(ISSUER), "no iss");
            ensure!(
                resp.param("state") == pm.state.as_deref(),
                "state not echoed"
            );
        }
        match (outcome, predicted) {
            (AuthorizeOutcome::Login(step), Predicted::Login) => {
                ensure!(!pm.prompt.none, "login page with prompt=none");
                self.check_step_request(&pm, step.request())?;
                ensure!(
                    step.expires_at(self.h.provider.config())
                        == pm.created + Duration::seconds(INTERACTION_TTL),
                    "login step expires at {}, the request arrived at {}",
                    step.expires_at(self.h.provider.config()),
                    pm.created
                );
                self.stats.logins += 1;
                pm.p = Some(StepM::Login(step));
                self.pendings.push(pm);
            }
            (AuthorizeOutcome::Consent(step), Predicted::Consent) => {
                ensure!(!pm.prompt.none, "consent page with prompt=none");
                self.check_step_request(&pm, step.request())?;
                ensure!(
                    Some(step.subject()) == pm.consent_subject.as_deref(),
                    "consent step for {}, expected {:?}",
                    step.subject(),
                    pm.consent_subject
                );
                ensure!(
                    step.expires_at(self.h.provider.config())
                        == pm.created + Duration::seconds(INTERACTION_TTL),
                    "consent step expires at {}, the request arrived at {}",
                    step.expires_at(self.h.provider.config()),
                    pm.created
                );
                self.stats.consents += 1;
                pm.p = Some(StepM::Consent(step));
                self.pendings.push(pm);
            }
            (AuthorizeOutcome::ErrorPage(_), Predicted::Page) => self.stats.error_pages += 1,
            (AuthorizeOutcome::Respond(resp), Predicted::Error(code)) => {
                self.stats.error_redirects += 1;
                ensure!(
                    resp.param("error") == Some(code),
                    "expected error {code}, got {:?}",
                    resp.param("error")
                );
                ensure!(
                    resp.mode() == pm.mode,
                    "error in mode {:?}, expected {:?}",
                    resp.mode(),
                    pm.mode
                );
                for p in ["code", "access_token", "id_token"] {
                    ensure!(resp.param(p).is_none(), "{p} in an error response");
                }
            }
            (
                AuthorizeOutcome::Respond(resp),
                Predicted::Success {
                    granted,
                    subject,
                    offline_consented,
                },
            ) => self.record_success(&pm, &resp, &granted, &subject, offline_consented)?,
            (outcome, predicted) => {
                return Err(format!("outcome {outcome:?}, predicted {predicted:?}"))
            }
        }
        Ok(())
    }

    /// What a login or consent page would show agrees with the request.
    fn check_step_request(
        &self,
        pm: &PendingM,
        p: &opkit::PendingAuthorization,
    ) -> Result<(), String> {
        let c = &self.clients[pm.client];
        ensure!(
            p.client_id() == c.client_id(),
            "step for client {}",
            p.client_id()
        );
        ensure!(
            p.redirect_uri() == pm.redirect,
            "step for redirect URI {}, expected {}",
            p.redirect_uri(),
            pm.redirect
        );
        let scopes: Vec<&str> = p.scopes().iter().collect();
        ensure!(
            scopes == pm.scopes.iter().map(String::as_str).collect::<Vec<_>>(),
            "step scopes {scopes:?}, expected {:?}",
            pm.scopes
        );
        ensure!(
            p.wants_offline_access() == pm.scopes.iter().any(|s| s == "offline_access"),
            "wants_offline_access {}",
            p.wants_offline_access()
        );
        ensure!(
            p.created_at() == pm.created,
            "step created at {}, the request arrived at {}",
            p.created_at(),
            pm.created
        );
        Ok(())
    }

    fn record_success(
        &mut self,
        pm: &PendingM,
        resp: &AuthorizationResponse,
        granted: &[String],
        subject: &str,
        offline_consented: bool,
    ) -> Result<(), String> {
        ensure!(
            resp.param("error").is_none(),
            "unexpected error {:?}",
            resp.param("error")
        );
        ensure!(
            resp.mode() == pm.mode,
            "mode {:?}, expected {:?}",
            resp.mode(),
            pm.mode
        );
        let code = resp.param("code");
        let access = resp.param("access_token");
        let id_token = resp.param("id_token");
        ensure!(
            code.is_some() == pm.rt.code,
            "code present: {}",
            code.is_some()
        );
        ensure!(
            access.is_some() == pm.rt.token,
            "access token present: {}",
            access.is_some()
        );
        ensure!(
            id_token.is_some() == pm.rt.id_token,
            "id_token present: {}",
            id_token.is_some()
        );
        ensure!(
            resp.param("refresh_token").is_none(),
            "refresh token in the front channel"
        );
        self.stats.issued += 1;
        let now = now_s(self.h);
        let offline = granted.iter().any(|s| s == "offline_access");
        let client_id = self.clients[pm.client].client_id().to_owned();
        let grant = self.grants.len();
        self.grants.push(GrantM {
            client: pm.client,
            subject: subject.to_owned(),
            revoked: false,
            created: now,
            expires: now
                + if offline {
                    REFRESH_ABSOLUTE
                } else {
                    CODE_TTL + ACCESS_TTL
                },
        });
        if let Some(id_token) = id_token {
            let (_, claims) = verify_jwt(&self.h.provider, id_token, &client_id);
            ensure!(
                claims.get("nonce").and_then(Value::as_str) == pm.nonce.as_deref(),
                "ID token nonce {:?}, request nonce {:?}",
                claims.get("nonce"),
                pm.nonce
            );
            ensure!(claims["sub"] == subject, "ID token sub {}", claims["sub"]);
            if let Some(code) = code {
                ensure!(claims["c_hash"] == opkit::jose::half_hash(code), "c_hash");
            }
            if let Some(access) = access {
                ensure!(
                    claims["at_hash"] == opkit::jose::half_hash(access),
                    "at_hash"
                );
            }
        }
        if let Some(access) = access {
            let scope = resp.param("scope").unwrap_or("");
            ensure!(
                scope == granted.join(" "),
                "front-channel scope {scope}, granted {granted:?}"
            );
            self.access.push(AtM {
                token: access.to_owned(),
                exp: now + ACCESS_TTL,
                grant,
                client: pm.client,
                openid: granted.iter().any(|s| s == "openid"),
                jti_revoked: false,
            });
        }
        if let Some(code) = code {
            self.codes.push(CodeM {
                code: code.to_owned(),
                grant,
                client: pm.client,
                nonce: pm.nonce.clone(),
                verifier: pm.verifier.clone(),
                redirect_sent: pm.redirect_sent.then(|| pm.redirect.clone()),
                expires: now + CODE_TTL,
                presented: false,
                successes: 0,
                scopes: granted.to_vec(),
                offline_consented,
                issued: Vec::new(),
            });
        }
        Ok(())
    }

    async fn authorize(&mut self, r: &AuthReq) -> Result<(), String> {
        let client_id = if r.client > 2 {
            "no-such-client".to_owned()
        } else {
            self.clients[r.client].client_id().to_owned()
        };
        let params = self.build_params(r, &client_id);
        let encoded = serde_urlencoded::to_string(&params).unwrap();
        let session = self.session(r.session);
        let req = if r.post {
            HttpRequest::new(Method::Post)
                .header("content-type", b"application/x-www-form-urlencoded")
                .body(encoded.as_bytes())
        } else {
            HttpRequest::new(Method::Get).query(&encoded)
        };
        let outcome = self.h.provider.authorize(&req, session.as_ref()).await;
        match self.predict_validation(r, &params) {
            Validation::Page => match outcome {
                AuthorizeOutcome::ErrorPage(e) => {
                    self.stats.error_pages += 1;
                    ensure!(
                        e.code() == ErrorCode::InvalidRequest,
                        "error page with {}",
                        e.code()
                    );
                    Ok(())
                }
                other => Err(format!("untrusted client or redirect URI, but {other:?}")),
            },
            Validation::Errors(codes, redirect, mode, state) => match outcome {
                AuthorizeOutcome::Respond(resp) => {
                    self.stats.error_redirects += 1;
                    let c = &self.clients[r.client];
                    ensure!(
                        c.redirects.iter().any(|u| u == resp.redirect_uri()),
                        "redirect to unregistered {}",
                        resp.redirect_uri()
                    );
                    ensure!(
                        resp.redirect_uri() == redirect,
                        "redirected to {} not {redirect}",
                        resp.redirect_uri()
                    );
                    let error = resp.param("error").unwrap_or("<none>");
                    ensure!(
                        codes.contains(error),
                        "error {error}, expected one of {codes:?}"
                    );
                    ensure!(
                        resp.mode() == mode,
                        "error mode {:?}, expected {mode:?}",
                        resp.mode()
                    );
                    ensure!(resp.param("state") == state.as_deref(), "state not echoed");
                    ensure!(resp.param("iss") == Some(ISSUER), "no iss");
                    if let Some(location) = resp.location() {
                        ensure!(sep_ok(&location, &redirect, mode), "location {location}");
                    }
                    Ok(())
                }
                other => Err(format!(
                    "expected an error redirect ({codes:?}), got {other:?}"
                )),
            },
            Validation::Valid(pm) => {
                let mut pm = *pm;
                let predicted = self.predict_advance(&mut pm, session.as_ref(), None);
                self.observe(pm, outcome, predicted)
            }
        }
    }

    async fn resume(
        &mut self,
        idx: usize,
        session: SessionPick,
        decision: DecisionPick,
    ) -> Result<(), String> {
        if self.pendings.is_empty() {
            return Ok(());
        }
        let mut pm = self.pendings.remove(newest(self.pendings.len(), idx));
        let session = self.session(session);
        let step =
            pm.p.take()
                .ok_or("a pending request without the provider's step")?;
        let provider = &self.h.provider;
        // What the user does on the page the step shows. `None`: the step was cancelled.
        let (outcome, answer) = match step {
            StepM::Login(step) => match &session {
                Some(s) => (step.complete(provider, s).await, Some(None)),
                None => (step.cancel(provider).await, None),
            },
            StepM::Consent(step) => {
                let d = match decision {
                    DecisionPick::None => None,
                    DecisionPick::GrantAll => Some(ConsentDecision::Granted(None)),
                    DecisionPick::GrantSome => Some(ConsentDecision::Granted(Some(
                        Scopes::parse("openid profile").map_err(|e| e.to_string())?,
                    ))),
                    DecisionPick::Deny => Some(ConsentDecision::Denied),
                };
                match d {
                    Some(d) => (
                        step.decide(provider, session.as_ref(), d).await,
                        Some(Some(decision)),
                    ),
                    None => (step.cancel(provider).await, None),
                }
            }
        };
        let now = self.h.now();
        let predicted = if !self.clients[pm.client].redirects.contains(&pm.redirect) {
            // A request whose redirect URI is no longer registered is dropped before anything
            // else happens (no login, no consent recorded, no redirect).
            self.stats.dropped_after_removal += 1;
            Predicted::Page
        } else if now >= pm.created + Duration::seconds(INTERACTION_TTL) {
            // An expired step only ever answers access_denied: no login, no consent recorded.
            self.stats.expired_steps += 1;
            Predicted::Error("access_denied")
        } else {
            match answer {
                None => {
                    self.stats.cancelled += 1;
                    Predicted::Error("access_denied")
                }
                Some(decision) => self.predict_advance(&mut pm, session.as_ref(), decision),
            }
        };
        self.observe(pm, outcome, predicted)
    }

    // ----- the token endpoint -----

    async fn token_as(&self, client: usize, form: &[(&str, &str)]) -> (u16, Value) {
        let c = &self.clients[client];
        let id = c.client_id();
        let mut form = form.to_vec();
        match c.auth {
            Auth::Basic => {
                let (s, j, _) = self
                    .h
                    .token(&form, Some((id, c.c.client_secret.as_deref().unwrap())))
                    .await;
                (s, j)
            }
            Auth::Post => {
                form.push(("client_id", id));
                form.push(("client_secret", c.c.client_secret.as_deref().unwrap()));
                let (s, j, _) = self.h.token(&form, None).await;
                (s, j)
            }
            Auth::None => {
                form.push(("client_id", id));
                let (s, j, _) = self.h.token(&form, None).await;
                (s, j)
            }
        }
    }

    async fn endpoint_as(
        &self,
        endpoint: &str,
        client: usize,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let c = &self.clients[client];
        let mut form = form.to_vec();
        let mut auth = None;
        match c.auth {
            Auth::Basic => {
                auth = Some(basic_header(
                    c.client_id(),
                    c.c.client_secret.as_deref().unwrap(),
                ))
            }
            Auth::Post => {
                form.push(("client_id", c.client_id()));
                form.push(("client_secret", c.c.client_secret.as_deref().unwrap()));
            }
            Auth::None => form.push(("client_id", c.client_id())),
        }
        let body = serde_urlencoded::to_string(&form).unwrap();
        let mut req = HttpRequest::new(Method::Post)
            .header("content-type", b"application/x-www-form-urlencoded")
            .body(body.as_bytes());
        if let Some(a) = &auth {
            req = req.header("authorization", a.as_bytes());
        }
        let resp = match endpoint {
            "revoke" => self.h.provider.revoke(&req).await,
            _ => self.h.provider.introspect(&req).await,
        };
        (
            resp.status,
            serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
        )
    }

    fn revoke_grant(&mut self, g: usize) {
        self.grants[g].revoked = true;
    }

    async fn redeem(
        &mut self,
        idx: usize,
        other: Option<usize>,
        verifier: VerifierPick,
        redirect: RedirectPick,
    ) -> Result<(), String> {
        if self.codes.is_empty() {
            return Ok(());
        }
        // Age 0 is the newest code not presented yet (if any); older ages may be replays.
        let fresh = self.codes.iter().rposition(|c| !c.presented);
        let i = match (idx, fresh) {
            (0, Some(i)) => i,
            _ => newest(self.codes.len(), idx),
        };
        let now = now_s(self.h);
        let owner = self.codes[i].client;
        let presenter = other.unwrap_or(owner);
        let code = self.codes[i].code.clone();
        let verifier_sent = match verifier {
            VerifierPick::Right => self.codes[i].verifier.clone(),
            VerifierPick::Wrong => Some(WRONG_VERIFIER.to_owned()),
            VerifierPick::Missing => None,
            VerifierPick::Rfc => Some(VERIFIER.to_owned()),
        };
        let redirect_sent = match redirect {
            RedirectPick::AsSent => self.codes[i].redirect_sent.clone(),
            RedirectPick::Missing => None,
            RedirectPick::Evil => Some("https://evil.example/cb".to_owned()),
            RedirectPick::OtherRegistered => self.clients[owner].initial_redirects.last().cloned(),
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        if let Some(v) = &verifier_sent {
            form.push(("code_verifier", v));
        }
        if let Some(r) = &redirect_sent {
            form.push(("redirect_uri", r));
        }
        let (status, json) = self.token_as(presenter, &form).await;

        // The model.
        let grant = self.codes[i].grant;
        let expected_ok = if self.codes[i].presented {
            self.stats.replays += 1;
            self.revoke_grant(grant);
            false
        } else if self.grants[grant].revoked {
            self.codes[i].presented = true;
            false
        } else {
            self.codes[i].presented = true;
            let c = &self.codes[i];
            let redirect_ok = match (c.redirect_sent.as_deref(), redirect_sent.as_deref()) {
                (Some(sent), Some(given)) => sent == given,
                (Some(_), None) => false,
                (None, Some(given)) => self.clients[presenter].redirects.iter().any(|r| r == given),
                (None, None) => true,
            };
            let pkce_ok = match (&c.verifier, &verifier_sent) {
                (Some(v), Some(g)) => v == g,
                (None, None) => true,
                _ => false,
            };
            presenter == owner
                && now < c.expires
                && redirect_ok
                && pkce_ok
                && self.grants[grant].active(now)
        };
        if !expected_ok {
            ensure!(
                (status, json["error"].as_str()) == (400, Some("invalid_grant")),
                "redeem: expected invalid_grant, got {status} {json}"
            );
            self.stats.redeem_refused += 1;
            return Ok(());
        }
        ensure!(status == 200, "redeem: expected 200, got {status} {json}");
        let c = &mut self.codes[i];
        c.successes += 1;
        self.stats.redeemed += 1;
        ensure!(c.successes == 1, "a code yielded tokens twice");
        let scopes = c.scopes.clone();
        let offline_consented = c.offline_consented;
        let nonce = c.nonce.clone();
        let openid = scopes.iter().any(|s| s == "openid");
        ensure!(
            json["scope"].as_str().unwrap_or("") == scopes.join(" "),
            "scope {} vs {scopes:?}",
            json["scope"]
        );
        let refresh = json["refresh_token"].as_str();
        if refresh.is_some() {
            ensure!(
                offline_consented,
                "a refresh token without an offline_access consent"
            );
            ensure!(
                scopes.iter().any(|s| s == "offline_access"),
                "a refresh token without offline_access"
            );
        }
        let want_refresh =
            scopes.iter().any(|s| s == "offline_access") && self.clients[owner].refresh;
        ensure!(
            refresh.is_some() == want_refresh,
            "refresh token present: {}",
            refresh.is_some()
        );
        ensure!(
            json["id_token"].is_string() == openid,
            "id_token present: {}",
            json["id_token"].is_string()
        );
        if let Some(id_token) = json["id_token"].as_str() {
            let client_id = self.clients[owner].client_id().to_owned();
            let (_, claims) = verify_jwt(&self.h.provider, id_token, &client_id);
            ensure!(
                claims.get("nonce").and_then(Value::as_str) == nonce.as_deref(),
                "ID token nonce {:?}, request nonce {nonce:?}",
                claims.get("nonce")
            );
            ensure!(claims["sub"] == self.grants[grant].subject.as_str(), "sub");
        }
        let access = json["access_token"].as_str().unwrap_or_default().to_owned();
        ensure!(
            jwt_payload(&access)["exp"].as_i64() == Some(now + ACCESS_TTL),
            "access token exp"
        );
        self.access.push(AtM {
            token: access,
            exp: now + ACCESS_TTL,
            grant,
            client: owner,
            openid,
            jti_revoked: false,
        });
        let at = self.access.len() - 1;
        self.codes[i].issued.push(at);
        if let Some(rt) = refresh {
            let g = &self.grants[grant];
            self.families.push(FamilyM {
                grant,
                client: owner,
                scopes,
                tokens: vec![RtM {
                    token: rt.to_owned(),
                    issued: now,
                    expires: (now + REFRESH_IDLE).min(g.expires),
                    rotated: false,
                }],
            });
        }
        Ok(())
    }

    /// Refresh with a token picked from a family; the family and token used, on success.
    async fn refresh(
        &mut self,
        family: usize,
        older: Option<usize>,
        other: Option<usize>,
        narrow: bool,
    ) -> Result<Option<(usize, usize)>, String> {
        if self.families.is_empty() {
            return Ok(None);
        }
        let f = newest(self.families.len(), family);
        let n = self.families[f].tokens.len();
        let t = match older {
            None => n - 1,
            Some(k) => k % n,
        };
        self.refresh_at(f, t, other, narrow).await
    }

    /// Refresh with token `t` of family `f`; `Some((f, t))` if it succeeded.
    async fn refresh_at(
        &mut self,
        f: usize,
        t: usize,
        other: Option<usize>,
        narrow: bool,
    ) -> Result<Option<(usize, usize)>, String> {
        let now = now_s(self.h);
        let owner = self.families[f].client;
        let presenter = other.unwrap_or(owner);
        let token = self.families[f].tokens[t].token.clone();
        let narrowed = self.families[f].scopes[0].clone();
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_str()),
        ];
        if narrow {
            form.push(("scope", narrowed.as_str()));
        }
        let (status, json) = self.token_as(presenter, &form).await;

        let grant = self.families[f].grant;
        if !self.clients[presenter].refresh {
            ensure!(
                (status, json["error"].as_str()) == (400, Some("unauthorized_client")),
                "refresh by a client without the grant: {status} {json}"
            );
            return Ok(None);
        }
        let (rotated, expires) = (
            self.families[f].tokens[t].rotated,
            self.families[f].tokens[t].expires,
        );
        let expected_ok = if (self.grants[grant].revoked && !rotated) || presenter != owner {
            false
        } else if rotated {
            self.stats.reuse_detected += 1;
            self.revoke_grant(grant);
            false
        } else {
            now < expires && self.grants[grant].active(now)
        };
        if !expected_ok {
            ensure!(
                (status, json["error"].as_str()) == (400, Some("invalid_grant")),
                "refresh: expected invalid_grant, got {status} {json}"
            );
            self.stats.refresh_refused += 1;
            return Ok(None);
        }
        ensure!(status == 200, "refresh: expected 200, got {status} {json}");
        // No token outlives its lifetimes.
        let issued = self.families[f].tokens[t].issued;
        let start = self.grants[grant].created;
        ensure!(
            now < issued + REFRESH_IDLE,
            "refresh accepted after its idle lifetime"
        );
        ensure!(
            now < start + REFRESH_ABSOLUTE,
            "refresh accepted after the family's absolute lifetime"
        );
        self.families[f].tokens[t].rotated = true;
        self.stats.refreshed += 1;
        let next = json["refresh_token"]
            .as_str()
            .ok_or("no new refresh token")?
            .to_owned();
        let scopes = if narrow {
            vec![narrowed]
        } else {
            self.families[f].scopes.clone()
        };
        ensure!(
            json["scope"].as_str().unwrap_or("") == scopes.join(" "),
            "refresh scope {}",
            json["scope"]
        );
        let openid = scopes.iter().any(|s| s == "openid");
        ensure!(
            json["id_token"].is_string() == openid,
            "refresh id_token present: {}",
            json["id_token"].is_string()
        );
        if let Some(id_token) = json["id_token"].as_str() {
            let client_id = self.clients[owner].client_id().to_owned();
            let (_, claims) = verify_jwt(&self.h.provider, id_token, &client_id);
            ensure!(
                claims.get("nonce").is_none(),
                "a refresh request has no nonce, the ID token has {}",
                claims["nonce"]
            );
            ensure!(claims["sub"] == self.grants[grant].subject.as_str(), "sub");
        }
        let g_expires = self.grants[grant].expires;
        self.families[f].tokens.push(RtM {
            token: next,
            issued: now,
            expires: (now + REFRESH_IDLE).min(g_expires),
            rotated: false,
        });
        self.access.push(AtM {
            token: json["access_token"].as_str().unwrap_or_default().to_owned(),
            exp: now + ACCESS_TTL,
            grant,
            client: owner,
            openid,
            jti_revoked: false,
        });
        Ok(Some((f, t)))
    }

    async fn revoke(
        &mut self,
        token: TokenPick,
        other: Option<usize>,
        hint: usize,
    ) -> Result<(), String> {
        let hint = ["", "access_token", "refresh_token"][hint];
        let (value, owner, refresh) = match token {
            TokenPick::Access(i) if !self.access.is_empty() => {
                let a = &self.access[newest(self.access.len(), i)];
                (a.token.clone(), a.client, None)
            }
            TokenPick::Refresh(f, t) if !self.families.is_empty() => {
                let fi = newest(self.families.len(), f);
                let ti = newest(self.families[fi].tokens.len(), t);
                (
                    self.families[fi].tokens[ti].token.clone(),
                    self.families[fi].client,
                    Some((fi, ti)),
                )
            }
            _ => return Ok(()),
        };
        let presenter = other.unwrap_or(owner);
        let mut form = vec![("token", value.as_str())];
        if !hint.is_empty() {
            form.push(("token_type_hint", hint));
        }
        let (status, json) = self.endpoint_as("revoke", presenter, &form).await;
        ensure!(status == 200, "revocation: {status} {json}");
        match refresh {
            Some((f, t)) => {
                let grant = self.families[f].grant;
                // A token of a revoked grant is gone unless it was rotated (kept for reuse
                // detection).
                let found = !self.grants[grant].revoked || self.families[f].tokens[t].rotated;
                if found && presenter == owner {
                    self.revoke_grant(grant);
                }
            }
            None => {
                if presenter == owner {
                    if let Some(a) = self.access.iter_mut().find(|a| a.token == value) {
                        a.jti_revoked = true;
                    }
                }
            }
        }
        Ok(())
    }

    async fn revoke_consent(&mut self, client: usize, bob: bool) -> Result<(), String> {
        let subject = if bob { "user-bob" } else { "user-alice" };
        let client_id = self.clients[client].client_id().to_owned();
        self.h
            .provider
            .revoke_consent(subject, &client_id)
            .await
            .map_err(|e| e.to_string())?;
        self.consents.remove(&(subject.to_owned(), client));
        for g in &mut self.grants {
            if g.client == client && g.subject == subject {
                g.revoked = true;
            }
        }
        Ok(())
    }

    async fn toggle_redirect(&mut self) -> Result<(), String> {
        let c = &mut self.clients[0];
        if c.redirects.len() == 2 {
            c.redirects = vec![R_WEB_2.into()];
        } else {
            c.redirects = vec![R_WEB_1.into(), R_WEB_2.into()];
        }
        let mut settings = c.c.client.settings.clone();
        settings.redirect_uris = c.redirects.clone();
        let id = c.c.client.id.clone();
        self.h
            .provider
            .update_client(&id, settings)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no such client")?;
        Ok(())
    }

    // ----- invariants after every step -----

    async fn check_invariants(&mut self) -> Result<(), String> {
        let now = now_s(self.h);
        // Codes: at most one success each; a replayed code's tokens are dead.
        for c in &self.codes {
            ensure!(c.successes <= 1, "code redeemed {} times", c.successes);
        }
        // Access tokens: UserInfo accepts exactly the live ones, never past exp.
        for i in 0..self.access.len() {
            let a = &self.access[i];
            let (status, body, _) = self.h.userinfo(&a.token).await;
            let alive = now < a.exp && self.grants[a.grant].active(now) && !a.jti_revoked;
            let want = match (alive, a.openid) {
                (false, _) => 401,
                (true, false) => 403,
                (true, true) => 200,
            };
            if status == 200 {
                self.stats.userinfo_ok += 1;
                let exp = jwt_payload(&a.token)["exp"].as_i64().unwrap_or(0);
                ensure!(
                    exp > now,
                    "UserInfo accepted an access token past its exp ({exp} <= {now})"
                );
                ensure!(
                    body["sub"] == self.grants[a.grant].subject.as_str(),
                    "UserInfo sub"
                );
            }
            ensure!(
                status == want,
                "UserInfo for access token #{i}: {status}, expected {want} ({body})"
            );
            self.stats.userinfo_refused += usize::from(status != 200);
        }
        // Introspection of the newest access token agrees and never reports it past exp.
        if let Some(a) = self.access.last() {
            let token = a.token.clone();
            let alive = now < a.exp && self.grants[a.grant].active(now) && !a.jti_revoked;
            let (status, info) = self
                .endpoint_as("introspect", 0, &[("token", &token)])
                .await;
            ensure!(status == 200, "introspection {status}");
            ensure!(
                info["active"] == alive,
                "introspection active {} for an access token, expected {alive}",
                info["active"]
            );
            if alive {
                ensure!(
                    info["exp"].as_i64().unwrap_or(0) > now,
                    "introspection: active past exp"
                );
            }
        }
        // Refresh families: at most one active token, and exactly the one the model expects.
        for f in 0..self.families.len() {
            let grant = self.families[f].grant;
            let owner = self.families[f].client;
            let mut active = 0;
            for t in 0..self.families[f].tokens.len() {
                let rt = &self.families[f].tokens[t];
                let want = !rt.rotated && now < rt.expires && self.grants[grant].active(now);
                let token = rt.token.clone();
                let got = if self.clients[owner].auth == Auth::None {
                    // Public clients may not introspect: ask the store.
                    match self
                        .h
                        .store
                        .refresh_token(&SecretHash::of(&token))
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        None => false,
                        Some(found) => {
                            let g = self
                                .h
                                .store
                                .grant(&found.record.grant_id)
                                .await
                                .map_err(|e| e.to_string())?;
                            let g_active = g.is_some_and(|g| g.is_active_at(self.h.now()));
                            !found.rotated
                                && now < found.record.expires_at.unix_timestamp()
                                && g_active
                        }
                    }
                } else {
                    let (status, info) = self
                        .endpoint_as("introspect", owner, &[("token", &token)])
                        .await;
                    ensure!(status == 200, "introspection {status}");
                    if info["active"] == true {
                        let exp = info["exp"].as_i64().unwrap_or(0);
                        ensure!(exp > now, "an active refresh token past its exp");
                        let rt = &self.families[f].tokens[t];
                        ensure!(
                            exp <= rt.issued + REFRESH_IDLE
                                && exp <= self.grants[grant].created + REFRESH_ABSOLUTE,
                            "a refresh token's exp {exp} beyond its idle or absolute lifetime"
                        );
                        ensure!(
                            info["token_type"] == "refresh_token",
                            "token_type {}",
                            info["token_type"]
                        );
                    }
                    info["active"] == true
                };
                ensure!(
                    got == want,
                    "family #{f} token #{t}: active {got}, expected {want}"
                );
                active += usize::from(got);
                self.stats.active_refresh_seen += usize::from(got);
            }
            ensure!(
                active <= 1,
                "family #{f} has {active} active refresh tokens"
            );
        }
        Ok(())
    }

    async fn step(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Authorize(r) => self.authorize(r).await,
            Action::Resume {
                pending,
                session,
                decision,
            } => self.resume(*pending, *session, *decision).await,
            Action::Redeem {
                code,
                other_client,
                verifier,
                redirect,
            } => {
                self.redeem(*code, *other_client, *verifier, *redirect)
                    .await
            }
            Action::Refresh {
                family,
                older,
                other_client,
                narrow,
                replay,
            } => {
                let used = self
                    .refresh(*family, *older, *other_client, *narrow)
                    .await?;
                match used {
                    Some((f, t)) if *replay => self.refresh_at(f, t, None, false).await.map(|_| ()),
                    _ => Ok(()),
                }
            }
            Action::Advance(secs) => {
                self.h.clock.advance(Duration::seconds(*secs));
                Ok(())
            }
            Action::Revoke {
                token,
                other_client,
                hint,
            } => self.revoke(*token, *other_client, *hint).await,
            Action::RevokeConsent { client, bob } => self.revoke_consent(*client, *bob).await,
            Action::ToggleRedirect if self.mutate_clients => self.toggle_redirect().await,
            Action::ToggleRedirect => Ok(()),
            Action::Flow {
                client,
                scope,
                bob,
                pkce,
                verifier,
                delay,
                then,
            } => {
                let families = self.families.len();
                self.flow(*client, *scope, *bob, *pkce, *verifier, *delay)
                    .await?;
                if *then > 0 && self.families.len() > families {
                    self.after_flow(self.families.len() - 1, *then).await?;
                }
                Ok(())
            }
        }
    }

    /// Exercise a new family: reuse, and the idle and absolute lifetime boundaries.
    /// `refresh_at`, then the invariants (so a macro step is checked at every point).
    async fn checked_refresh_at(
        &mut self,
        f: usize,
        t: usize,
        other: Option<usize>,
        narrow: bool,
    ) -> Result<Option<(usize, usize)>, String> {
        let used = self.refresh_at(f, t, other, narrow).await?;
        self.check_invariants().await?;
        Ok(used)
    }

    async fn after_flow(&mut self, f: usize, then: usize) -> Result<(), String> {
        let advance = |secs: i64| self.h.clock.advance(Duration::seconds(secs));
        match then {
            1 | 2 => {
                if let Some((f, t)) = self.checked_refresh_at(f, 0, None, false).await? {
                    if then == 2 {
                        self.checked_refresh_at(f, t, None, false).await?;
                    }
                }
            }
            3 | 4 => {
                advance(if then == 3 {
                    REFRESH_IDLE - 1
                } else {
                    REFRESH_IDLE
                });
                self.checked_refresh_at(f, 0, None, false).await?;
            }
            8 => {
                let other = (self.families[f].client + 1) % 3;
                let hint = usize::from(self.families[f].client == 0);
                self.revoke(TokenPick::Refresh(0, 0), Some(other), hint)
                    .await?;
                self.check_invariants().await?;
                self.revoke(TokenPick::Access(0), Some(other), 2 - hint)
                    .await?;
            }
            7 => {
                advance(ACCESS_TTL - 1);
                self.check_invariants().await?;
                advance(1);
            }
            6 => {
                let other = if self.families[f].client == 0 { 1 } else { 0 };
                self.checked_refresh_at(f, 0, Some(other), false).await?;
            }
            _ => {
                // Steps shorter than the access token lifetime, so the last access token is still
                // unexpired when the grant ends.
                let end = self.grants[self.families[f].grant].created + REFRESH_ABSOLUTE;
                loop {
                    let left = end - now_s(self.h);
                    if left <= 0 {
                        break;
                    }
                    advance(left.min(ACCESS_TTL - 600));
                    let t = self.families[f].tokens.len() - 1;
                    if self.checked_refresh_at(f, t, None, false).await?.is_none() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    async fn flow(
        &mut self,
        client: usize,
        scope: usize,
        bob: bool,
        pkce: usize,
        verifier: VerifierPick,
        delay: i64,
    ) -> Result<(), String> {
        let session = if bob {
            SessionPick::BobNow
        } else {
            SessionPick::AliceNow
        };
        let req = AuthReq {
            client,
            redirect: 1,
            rt: 0,
            scope,
            prompt: 0,
            max_age: 0,
            pkce,
            nonce: true,
            state: true,
            mode: 0,
            session,
            post: false,
        };
        let codes = self.codes.len();
        let pendings = self.pendings.len();
        self.authorize(&req).await?;
        self.check_invariants().await?;
        for _ in 0..2 {
            if self.pendings.len() == pendings {
                break;
            }
            self.resume(0, session, DecisionPick::GrantAll).await?;
            self.check_invariants().await?;
        }
        if self.codes.len() > codes {
            self.h.clock.advance(Duration::seconds(delay));
            self.check_invariants().await?;
            self.redeem(0, None, verifier, RedirectPick::AsSent).await?;
        }
        Ok(())
    }
}

fn config(c: &mut opkit::Config) {
    c.interaction_ttl = Duration::seconds(INTERACTION_TTL);
    c.code_ttl = Duration::seconds(CODE_TTL);
    c.access_token_ttl = Duration::seconds(ACCESS_TTL);
    c.id_token_ttl = Duration::seconds(ACCESS_TTL);
    c.refresh_token_idle_ttl = Duration::seconds(REFRESH_IDLE);
    c.refresh_token_absolute_ttl = Duration::seconds(REFRESH_ABSOLUTE);
}

/// Run one sequence; `Err` names the failing step.
fn run(actions: &[Action], mutate_clients: bool) -> Result<Stats, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = Harness::with_config(config);
        let mut model = Model::new(&h, mutate_clients).await;
        for (i, action) in actions.iter().enumerate() {
            model.log.push(format!("{action:?}"));
            let result = match model.step(action).await {
                Ok(()) => model.check_invariants().await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                return Err(format!("step {i} ({action:?}): {e}"));
            }
        }
        Ok(model.stats)
    })
}

fn proptest_config() -> ProptestConfig {
    let base = ProptestConfig::default();
    ProptestConfig {
        // Modest by default; `PROPTEST_CASES=5000` for a longer hunt.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        // The same sequences on every run unless `PROPTEST_RNG_SEED=<number>` asks for others,
        // so the coverage checks below (every state reached) cannot flake in CI.
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            base.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(20_261_203)
        },
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..base
    }
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.error_pages += o.error_pages;
        self.error_redirects += o.error_redirects;
        self.logins += o.logins;
        self.consents += o.consents;
        self.issued += o.issued;
        self.redeemed += o.redeemed;
        self.redeem_refused += o.redeem_refused;
        self.replays += o.replays;
        self.refreshed += o.refreshed;
        self.refresh_refused += o.refresh_refused;
        self.reuse_detected += o.reuse_detected;
        self.userinfo_ok += o.userinfo_ok;
        self.userinfo_refused += o.userinfo_refused;
        self.active_refresh_seen += o.active_refresh_seen;
        self.dropped_after_removal += o.dropped_after_removal;
        self.cancelled += o.cancelled;
        self.expired_steps += o.expired_steps;
    }
}

/// Run the property over random sequences; panics with the (shrunk) failing sequence.
fn check_property(mutate_clients: bool) -> Stats {
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config());
    let totals = std::cell::RefCell::new(Stats::default());
    let strategy = prop::collection::vec(action(mutate_clients), 1..50);
    let result = runner.run(&strategy, |actions| match run(&actions, mutate_clients) {
        Ok(stats) => {
            totals.borrow_mut().add(stats);
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(e)),
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    totals.into_inner()
}

#[test]
fn flows_keep_their_invariants() {
    let stats = check_property(false);
    eprintln!("{stats:?}");
    // The sequences must reach every state the invariants are about.
    assert!(
        stats.error_pages > 0 && stats.error_redirects > 0,
        "{stats:?}"
    );
    assert!(
        stats.logins > 0 && stats.consents > 0 && stats.issued > 0,
        "{stats:?}"
    );
    assert!(
        stats.redeemed > 0 && stats.redeem_refused > 0 && stats.replays > 0,
        "{stats:?}"
    );
    assert!(
        stats.refreshed > 0 && stats.refresh_refused > 0 && stats.reuse_detected > 0,
        "{stats:?}"
    );
    assert!(
        stats.userinfo_ok > 0 && stats.userinfo_refused > 0,
        "{stats:?}"
    );
    assert!(stats.active_refresh_seen > 0, "{stats:?}");
    assert!(stats.cancelled > 0 && stats.expired_steps > 0, "{stats:?}");
}

/// The same, while the administrator removes and restores a redirect URI between the
/// authorization request and the user's answer: the answer must never be redirected to the
/// removed URI. (Found, shrunk to three steps, as the bug fixed in e771c40: `resume` redirected
/// `access_denied` to a URI no longer registered.)
#[test]
fn flows_keep_their_invariants_while_clients_change() {
    let stats = check_property(true);
    assert!(stats.dropped_after_removal > 0, "{stats:?}");
}

// ---------------------------------------------------------------------------------------------
// Deterministic checks of what the properties found or rely on.

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A redirect URI removed from the client while the user is on the consent page must not
/// receive the answer, not even an error (`access_denied` after a refusal), and neither must a
/// client deleted meanwhile. Regression test for the bug the property above found.
///
/// The step is consumed by its decision, so the two cases use two copies of it, deserialized
/// from the JSON a host would keep in a shared store between the page and the form post.
#[test]
fn a_decision_is_never_redirected_to_a_removed_redirect_uri() {
    block_on(async {
        let h = Harness::new();
        let c = h
            .client(json!({"redirect_uris": [REDIRECT, "https://rp.example/other"]}))
            .await;
        let q = format!(
            "response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
            c.client.client_id,
            enc(REDIRECT)
        );
        let AuthorizeOutcome::Consent(step) = h.authorize(&q, Some(&h.alice())).await else {
            panic!("expected the consent page")
        };
        let saved = serde_json::to_string(&step).expect("a step serializes");
        let copy = || serde_json::from_str::<ConsentStep>(&saved).expect("a step deserializes");
        assert_eq!(copy(), step, "a step survives its JSON form unchanged");
        // The administrator removes the URI while the consent page is shown.
        let mut settings = c.client.settings.clone();
        settings.redirect_uris = vec!["https://rp.example/other".into()];
        h.provider
            .update_client(&c.client.id, settings)
            .await
            .expect("update the client")
            .expect("the client exists");
        let outcome = step
            .decide(&h.provider, Some(&h.alice()), ConsentDecision::Denied)
            .await;
        assert!(
            matches!(outcome, AuthorizeOutcome::ErrorPage(_)),
            "access_denied sent to a URI no longer registered: {outcome:?}"
        );
        // A grant is not redirected there either.
        let outcome = copy()
            .decide(
                &h.provider,
                Some(&h.alice()),
                ConsentDecision::Granted(None),
            )
            .await;
        assert!(
            matches!(outcome, AuthorizeOutcome::ErrorPage(_)),
            "a code sent to a URI no longer registered: {outcome:?}"
        );
        // The same after the client is deleted.
        h.provider
            .delete_client(&c.client.id)
            .await
            .expect("delete the client")
            .expect("the client exists");
        let outcome = copy()
            .decide(&h.provider, Some(&h.alice()), ConsentDecision::Denied)
            .await;
        assert!(
            matches!(outcome, AuthorizeOutcome::ErrorPage(_)),
            "access_denied sent for a deleted client: {outcome:?}"
        );
    });
}

/// A grant id is opaque to the model; make sure the store really keeps one per authorization.
#[test]
fn each_authorization_has_its_own_grant() {
    block_on(async {
        let h = Harness::new();
        let c = h.client(json!({})).await;
        let a = h.code_flow(&c, "openid").await;
        let b = h.code_flow(&c, "openid").await;
        let ga = jwt_payload(a["access_token"].as_str().unwrap())["grant"].clone();
        let gb = jwt_payload(b["access_token"].as_str().unwrap())["grant"].clone();
        assert!(ga.is_string() && gb.is_string());
        assert_ne!(ga, gb);
        let ga = GrantId(ga.as_str().unwrap().to_owned());
        assert!(h
            .store
            .grant(&ga)
            .await
            .expect("the grant store answers")
            .is_some());
    });
}

/// Cancelling a step (the user pressed "cancel" on the login or consent page) answers the
/// client with `access_denied` only while the client still lists the redirect URI: after the
/// URI was removed (or the client deleted) while the page was shown, it is an error page.
/// (Found as a hole in the old `Provider::cancel`, which redirected without looking at the
/// client again.)
#[test]
fn cancel_never_redirects_to_a_removed_redirect_uri() {
    block_on(async {
        let h = Harness::new();
        let c = h
            .client(json!({"redirect_uris": [REDIRECT, "https://rp.example/other"]}))
            .await;
        let q = format!(
            "response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
            c.client.client_id,
            enc(REDIRECT)
        );
        let AuthorizeOutcome::Consent(consent) = h.authorize(&q, Some(&h.alice())).await else {
            panic!("expected the consent page")
        };
        let AuthorizeOutcome::Login(login) = h.authorize(&q, None).await else {
            panic!("expected the login page")
        };
        // While the URI is registered, a cancel is access_denied at it.
        let saved = serde_json::to_string(&consent).expect("a step serializes");
        let copy = || serde_json::from_str::<ConsentStep>(&saved).expect("a step deserializes");
        match copy().cancel(&h.provider).await {
            AuthorizeOutcome::Respond(resp) => {
                assert_eq!(resp.redirect_uri(), REDIRECT);
                assert_eq!(resp.param("error"), Some("access_denied"));
                assert_eq!(resp.param("state"), Some("s"));
                assert!(resp.param("code").is_none());
            }
            other => panic!("expected access_denied, got {other:?}"),
        }
        let mut settings = c.client.settings.clone();
        settings.redirect_uris = vec!["https://rp.example/other".into()];
        h.provider
            .update_client(&c.client.id, settings)
            .await
            .expect("update the client")
            .expect("the client exists");
        match consent.cancel(&h.provider).await {
            AuthorizeOutcome::ErrorPage(_) => {}
            other => panic!("consent cancel: expected an error page, got {other:?}"),
        }
        match login.cancel(&h.provider).await {
            AuthorizeOutcome::ErrorPage(_) => {}
            other => panic!("login cancel: expected an error page, got {other:?}"),
        }
    });
}

/// The authorization request `q` of a confidential client for `REDIRECT`, with S256.
fn code_query(client_id: &str, scope: &str) -> String {
    format!(
        "response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256",
        enc(REDIRECT),
        enc(scope)
    )
}

/// Redeem `code` as `c` with the harness's verifier; the status and the `error`.
async fn redeem_status(h: &Harness, c: &ClientWithSecrets, code: &str) -> (u16, Option<String>) {
    let secret = c.client_secret.as_deref().expect("a confidential client");
    let (status, json, _) = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            Some((&c.client.client_id, secret)),
        )
        .await;
    (status, json["error"].as_str().map(str::to_owned))
}

fn expect_error(outcome: &AuthorizeOutcome, code: &str) {
    match outcome {
        AuthorizeOutcome::Respond(resp) => {
            assert_eq!(resp.param("error"), Some(code), "{resp:?}");
            assert_eq!(resp.redirect_uri(), REDIRECT);
            assert_eq!(resp.param("state"), Some("s"), "state echoed");
            for p in ["code", "access_token", "id_token"] {
                assert!(resp.param(p).is_none(), "{p} in an error response");
            }
        }
        other => panic!("expected {code} for the client, got {other:?}"),
    }
}

/// A step expires `Config::interaction_ttl` (10 minutes by default) after the request
/// arrived: one second before, completing, deciding and cancelling work; from then on each
/// only answers the client `access_denied` (no code, no consent recorded) — unless the
/// redirect URI is no longer trusted, which stays an error page.
#[test]
fn steps_expire_after_the_interaction_ttl() {
    block_on(async {
        let h = Harness::new();
        let ttl = h.provider.config().interaction_ttl;
        assert_eq!(ttl, Duration::minutes(10), "the default interaction_ttl");
        let c = h
            .client(json!({"redirect_uris": [REDIRECT, "https://rp.example/other"]}))
            .await;
        let q = code_query(&c.client.client_id, "openid profile");
        let consent_kept = || async {
            opkit::store::ConsentStore::consent(&h.store, "user-alice", &c.client.client_id)
                .await
                .expect("the consent store answers")
        };

        // Just in time: a login completed one second before the expiry goes on.
        let AuthorizeOutcome::Login(login) = h.authorize(&q, None).await else {
            panic!("expected the login page")
        };
        assert_eq!(login.expires_at(h.provider.config()), h.now() + ttl);
        h.clock.advance(ttl - Duration::seconds(1));
        let AuthorizeOutcome::Consent(consent) = login.complete(&h.provider, &h.alice()).await
        else {
            panic!("a login just before the expiry goes on to the consent page")
        };
        // The consent step keeps the request's arrival time: it expires one second later.
        assert_eq!(
            consent.expires_at(h.provider.config()),
            h.now() + Duration::seconds(1)
        );
        let saved = serde_json::to_string(&consent).expect("a step serializes");
        let copy = || serde_json::from_str::<ConsentStep>(&saved).expect("a step deserializes");
        h.clock.advance(Duration::seconds(1));
        let outcome = consent
            .decide(
                &h.provider,
                Some(&h.alice()),
                ConsentDecision::Granted(None),
            )
            .await;
        expect_error(&outcome, "access_denied");
        assert!(
            consent_kept().await.is_none(),
            "an expired consent step recorded a consent"
        );
        let outcome = copy().cancel(&h.provider).await;
        expect_error(&outcome, "access_denied");

        // An expired login step: completing it is access_denied, not a new login page.
        let AuthorizeOutcome::Login(login) = h.authorize(&q, None).await else {
            panic!("expected the login page")
        };
        let saved = serde_json::to_string(&login).expect("a step serializes");
        let login_copy = || serde_json::from_str::<LoginStep>(&saved).expect("a step deserializes");
        h.clock.advance(ttl);
        let outcome = login.complete(&h.provider, &h.alice()).await;
        expect_error(&outcome, "access_denied");
        let outcome = login_copy().cancel(&h.provider).await;
        expect_error(&outcome, "access_denied");

        // A consent step long expired, decided with a fresh session, and one whose client
        // gave standing consent meanwhile: still access_denied, no code.
        let AuthorizeOutcome::Consent(late) = h.authorize(&q, Some(&h.alice())).await else {
            panic!("expected the consent page")
        };
        let saved_late = serde_json::to_string(&late).expect("a step serializes");
        let params = h.authorize_through(&q, &h.alice()).await;
        assert!(
            param(&params, "code").is_some(),
            "a fresh request still works"
        );
        h.clock.advance(ttl * 6);
        let outcome = late
            .decide(&h.provider, Some(&h.alice()), ConsentDecision::Denied)
            .await;
        expect_error(&outcome, "access_denied");

        // Expired, and its redirect URI removed meanwhile: an error page, never a redirect.
        let mut settings = c.client.settings.clone();
        settings.redirect_uris = vec!["https://rp.example/other".into()];
        h.provider
            .update_client(&c.client.id, settings)
            .await
            .expect("update the client")
            .expect("the client exists");
        let late = serde_json::from_str::<ConsentStep>(&saved_late).expect("a step deserializes");
        let outcome = late
            .decide(
                &h.provider,
                Some(&h.alice()),
                ConsentDecision::Granted(None),
            )
            .await;
        assert!(
            matches!(outcome, AuthorizeOutcome::ErrorPage(_)),
            "an expired step for a removed redirect URI: {outcome:?}"
        );
        let outcome = login_copy().complete(&h.provider, &h.alice()).await;
        assert!(
            matches!(outcome, AuthorizeOutcome::ErrorPage(_)),
            "an expired login step for a removed redirect URI: {outcome:?}"
        );
    });
}

/// Steps are consumed by their transition, so one value cannot be used twice; but a host keeps
/// them as JSON between the page and the form post, and a replayed form post can present a
/// second copy. (This replaces resuming one `PendingAuthorization` twice, which the types now
/// forbid.) Of two copies of one step, at most one may end in a code that redeems.
#[test]
fn a_copied_step_used_twice_yields_at_most_one_working_code() {
    block_on(async {
        let h = Harness::new();
        let c = h.client(json!({})).await;
        // A consent step, decided twice.
        let q = code_query(&c.client.client_id, "openid profile");
        let AuthorizeOutcome::Consent(step) = h.authorize(&q, Some(&h.alice())).await else {
            panic!("expected the consent page")
        };
        let saved = serde_json::to_string(&step).expect("a step serializes");
        let mut working = 0;
        for copy in 0..2 {
            let step: ConsentStep = serde_json::from_str(&saved).expect("a step deserializes");
            let outcome = step
                .decide(
                    &h.provider,
                    Some(&h.alice()),
                    ConsentDecision::Granted(None),
                )
                .await;
            let AuthorizeOutcome::Respond(resp) = &outcome else {
                panic!("copy {copy}: {outcome:?}")
            };
            if let Some(code) = resp.param("code") {
                let (status, error) = redeem_status(&h, &c, code).await;
                working += usize::from(status == 200);
                assert!(
                    status == 200 || error.as_deref() == Some("invalid_grant"),
                    "{status} {error:?}"
                );
            }
        }
        assert!(
            working <= 1,
            "two copies of one consent step each gave a code that redeems ({working})"
        );
        // A login step completed twice (the consent now stands, so each completion issues).
        let AuthorizeOutcome::Login(step) = h.authorize(&q, None).await else {
            panic!("expected the login page")
        };
        let saved = serde_json::to_string(&step).expect("a step serializes");
        let mut working = 0;
        for copy in 0..2 {
            let step: LoginStep = serde_json::from_str(&saved).expect("a step deserializes");
            let outcome = step.complete(&h.provider, &h.alice()).await;
            let AuthorizeOutcome::Respond(resp) = &outcome else {
                panic!("copy {copy}: {outcome:?}")
            };
            if let Some(code) = resp.param("code") {
                let (status, _) = redeem_status(&h, &c, code).await;
                working += usize::from(status == 200);
            }
        }
        assert!(
            working <= 1,
            "two copies of one login step each gave a code that redeems ({working})"
        );
    });
}
