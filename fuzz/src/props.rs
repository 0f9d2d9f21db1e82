//! Properties the fuzz targets assert, as plain functions that panic (with a message saying
//! which property broke) on a violation. Pure: no provider, no async.
//!
//! Shared with `tests/fuzz_regressions.rs` through `#[path]`; keep it free of `libfuzzer_sys`.

use std::collections::BTreeMap;

use base64::Engine as _;
use opkit::client::{validate, MetadataSource};
use opkit::client::{
    validate_redirect_uri, validate_web_uri, AuthMethod, Client, ClientSettings, GrantType,
};
use opkit::fuzzing::{
    b64_decode, b64_encode, is_valid_verifier_syntax, parse_basic_authorization,
    parse_form_keep_first,
};
use opkit::http::escape_html;
use opkit::http::HttpResponse;
use opkit::jose::{parse_compact, parse_jwks, sign_compact, KeySet, SigningKey, VerifyingKey};
use opkit::pkce::{s256_challenge, ChallengeMethod, CodeChallenge};
use opkit::scope::Scopes;
use opkit::{AuthorizationResponse, ResponseMode};
use opkit::{AuthorizeOutcome, PendingAuthorization};
use serde_json::{Map, Value};

/// Split at the first NUL byte: `(before, after)`; `(b"", data)` when there is none.
pub fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[], data),
    }
}

/// Form-urlencode one component the way RFC 6749 §2.3.1 asks for Basic credentials.
pub fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
pub fn basic_header(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form_encode(id),
            form_encode(secret)
        ))
    )
}

// ---------------------------------------------------------------------------------------------
// basic_auth

/// `parse_basic_authorization`: a parsed credential re-encodes (form-urlencoded, base64) to a
/// header that parses back to the same id and secret.
pub fn check_basic(value: &[u8]) {
    let Some(c) = parse_basic_authorization(value) else {
        return;
    };
    assert!(
        value.len() <= 4096,
        "accepted a header over the 4 KiB limit"
    );
    assert!(
        value[..6].eq_ignore_ascii_case(b"basic "),
        "accepted another scheme"
    );
    assert!(!c.client_id.is_empty(), "accepted an empty client_id");
    let again = basic_header(&c.client_id, &c.client_secret);
    // Re-encoding percent-encodes every non-ASCII byte, so it may outgrow the header limit the
    // original (raw UTF-8) value respected; only then may the re-encoded header be refused.
    if again.len() > 4096 {
        return;
    }
    let back = parse_basic_authorization(again.as_bytes())
        .unwrap_or_else(|| panic!("re-encoded credentials do not parse: {again:?}"));
    assert_eq!(
        back.client_id, c.client_id,
        "client_id changed by re-encoding"
    );
    assert!(
        back.client_secret == c.client_secret,
        "client_secret changed by re-encoding"
    );
}

// ---------------------------------------------------------------------------------------------
// scope

fn scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

/// `Scopes::parse`: accepted values are within the RFC 6749 §3.3 charset and round-trip through
/// `to_string`; a string of well-formed tokens within the limits is accepted.
pub fn check_scope(s: &str) {
    match Scopes::parse(s) {
        Ok(scopes) => {
            let values: Vec<&str> = scopes.iter().collect();
            for v in &values {
                assert!(!v.is_empty(), "empty scope value");
                assert!(
                    v.bytes().all(scope_char),
                    "scope value outside RFC 6749 §3.3: {v:?}"
                );
                assert!(v.len() <= 128, "scope value over 128 bytes");
            }
            for (i, v) in values.iter().enumerate() {
                assert!(!values[..i].contains(v), "duplicate scope value {v:?}");
            }
            assert!(values.len() <= 32, "more than 32 scope values");
            let text = scopes.to_string();
            let again = Scopes::parse(&text).expect("to_string of parsed scopes does not parse");
            assert_eq!(again, scopes, "scopes do not round-trip through to_string");
            assert_eq!(
                Scopes::from_values(values.iter()).expect("from_values"),
                scopes
            );
            // Every value of the input is kept.
            for t in s.split(' ').filter(|t| !t.is_empty()) {
                assert!(scopes.contains(t), "scope value {t:?} dropped");
            }
        }
        Err(_) => {
            let tokens: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
            let mut distinct: Vec<&str> = Vec::new();
            for t in &tokens {
                if !distinct.contains(t) {
                    distinct.push(t);
                }
            }
            let well_formed = tokens
                .iter()
                .all(|t| t.len() <= 128 && t.bytes().all(scope_char));
            assert!(
                !(well_formed && distinct.len() <= 32),
                "well-formed scope refused: {s:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pkce

/// A syntactically valid verifier (43..=128 of `ALPHA / DIGIT / - . _ ~`) derived from `seed`.
pub fn verifier_from(seed: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    let mut v: String = seed
        .iter()
        .take(128)
        .map(|&b| ALPHABET[b as usize % ALPHABET.len()] as char)
        .collect();
    let mut i = 0;
    while v.len() < 43 {
        v.push(ALPHABET[(i * 7 + v.len()) % ALPHABET.len()] as char);
        i += 1;
    }
    v
}

/// `CodeChallenge::new` / `verify` on arbitrary strings, and on a generated verifier `v`:
/// `s256_challenge(v)` verifies `v`, and both methods verify `x` only when `x == v`.
pub fn check_pkce(a: &str, b: &str, seed: &[u8]) {
    if let Some(c) = CodeChallenge::new(a, ChallengeMethod::S256) {
        assert_eq!(a.len(), 43, "S256 challenge of wrong length accepted");
        assert_eq!(
            b64_decode(a).expect("S256 challenge not base64url").len(),
            32
        );
        if c.verify(b) {
            assert!(
                is_valid_verifier_syntax(b),
                "verifier of bad syntax accepted"
            );
            assert_eq!(
                s256_challenge(b),
                a,
                "S256 verified a verifier of another challenge"
            );
        }
        assert!(!c.verify(a) || s256_challenge(a) == a);
    }
    if let Some(c) = CodeChallenge::new(a, ChallengeMethod::Plain) {
        assert!(
            is_valid_verifier_syntax(a),
            "plain challenge of bad syntax accepted"
        );
        assert_eq!(c.verify(b), a == b, "plain verify({b:?}) against {a:?}");
        assert!(c.verify(a), "plain challenge does not verify itself");
    }

    let v = verifier_from(seed);
    assert!(is_valid_verifier_syntax(&v));
    let challenge = s256_challenge(&v);
    let s256 = CodeChallenge::new(&challenge, ChallengeMethod::S256)
        .expect("s256_challenge output refused");
    assert!(s256.verify(&v), "S256 does not verify its own verifier");
    let plain =
        CodeChallenge::new(&v, ChallengeMethod::Plain).expect("valid verifier refused as plain");
    assert!(plain.verify(&v), "plain does not verify its own verifier");
    for x in [a, b, &challenge] {
        assert_eq!(
            s256.verify(x),
            x == v,
            "S256 verify({x:?}) for verifier {v:?}"
        );
        assert_eq!(
            plain.verify(x),
            x == v,
            "plain verify({x:?}) for verifier {v:?}"
        );
    }
    // A one-character change is refused.
    let mut near = v.clone().into_bytes();
    let i = seed.first().map_or(0, |&b| b as usize) % near.len();
    near[i] = if near[i] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).expect("ASCII");
    assert!(
        !s256.verify(&near) && !plain.verify(&near),
        "a different verifier was accepted"
    );
}

// ---------------------------------------------------------------------------------------------
// redirect_uri

/// `validate_redirect_uri`: an accepted URI parses with `url`, has no fragment, and obeys the
/// scheme rules (https with a host; http only on loopback; otherwise a private-use scheme with
/// a dot); `validate_web_uri` accepts a subset.
pub fn check_redirect_uri(s: &str) {
    let web = validate_web_uri(s);
    let Ok(()) = validate_redirect_uri(s) else {
        assert!(
            web.is_err(),
            "web URI accepted but redirect URI refused: {s:?}"
        );
        return;
    };
    assert!(s.len() <= 2048, "over-long redirect URI accepted");
    assert!(!s.contains('#'), "redirect URI with '#' accepted: {s:?}");
    assert!(
        !s.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()),
        "redirect URI with whitespace or control characters accepted: {s:?}"
    );
    let url = url::Url::parse(s)
        .unwrap_or_else(|e| panic!("accepted redirect URI does not parse ({e}): {s:?}"));
    assert!(
        url.fragment().is_none(),
        "accepted redirect URI has a fragment: {s:?}"
    );
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "user info accepted: {s:?}"
    );
    match url.scheme() {
        "https" => assert!(url.host().is_some(), "https without host: {s:?}"),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            assert!(
                loopback,
                "http redirect URI on a non-loopback host accepted: {s:?}"
            );
        }
        scheme => {
            assert!(scheme.contains('.'), "scheme {scheme:?} accepted: {s:?}");
            assert!(
                web.is_err(),
                "private-use scheme accepted as web URI: {s:?}"
            );
            for bad in ["javascript", "data", "file", "vbscript", "about", "blob"] {
                assert_ne!(scheme, bad);
            }
        }
    }
}

/// A stored client with these redirect URIs (other settings irrelevant).
pub fn client_with_redirects(redirect_uris: Vec<String>) -> Client {
    let epoch = time::OffsetDateTime::UNIX_EPOCH;
    Client {
        id: "mgmt-id".into(),
        client_id: "client".into(),
        secrets: Vec::new(),
        registration_access_token: None,
        settings: ClientSettings {
            name: "Fuzz".into(),
            description: None,
            redirect_uris,
            post_logout_redirect_uris: Vec::new(),
            id_token_signed_response_alg: opkit::jose::Algorithm::Es256,
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::AuthorizationCode],
            response_types: vec![opkit::client::ResponseType::CODE],
            allowed_scopes: Scopes::new(),
            allowed_origins: Vec::new(),
            logo_uri: None,
            logo_dark_mode_uri: None,
            require_pkce: true,
            allow_plain_pkce: false,
            introspect_any_token: false,
            refresh_grace: None,
            allowed_resources: Vec::new(),
            userinfo_signed_response_alg: None,
            metadata: BTreeMap::new(),
        },
        date_created: epoch,
        date_modified: epoch,
        revision: 0,
    }
}

/// `Client::has_redirect_uri` accepts exactly the byte-equal registered values.
pub fn check_redirect_matching(registered: &[String], candidate: &str) {
    let client = client_with_redirects(registered.to_vec());
    let expected = registered
        .iter()
        .any(|r| r.as_bytes() == candidate.as_bytes());
    assert_eq!(
        client.has_redirect_uri(candidate),
        expected,
        "has_redirect_uri({candidate:?}) against {registered:?}"
    );
    for r in registered {
        assert!(
            client.has_redirect_uri(r),
            "registered URI {r:?} not matched"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// client_metadata

/// The management document that describes `settings`.
pub fn management_doc(s: &ClientSettings) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("name".into(), s.name.clone().into());
    if let Some(d) = &s.description {
        doc.insert("description".into(), d.clone().into());
    }
    doc.insert("redirect_uris".into(), s.redirect_uris.clone().into());
    doc.insert(
        "post_logout_redirect_uris".into(),
        s.post_logout_redirect_uris.clone().into(),
    );
    doc.insert(
        "id_token_signed_response_alg".into(),
        s.id_token_signed_response_alg.as_str().into(),
    );
    doc.insert(
        "token_endpoint_auth_method".into(),
        s.token_endpoint_auth_method.as_str().into(),
    );
    doc.insert(
        "grant_types".into(),
        s.grant_types
            .iter()
            .map(|g| Value::from(g.as_str()))
            .collect::<Vec<_>>()
            .into(),
    );
    doc.insert(
        "response_types".into(),
        s.response_types
            .iter()
            .map(|r| Value::from(r.as_str()))
            .collect::<Vec<_>>()
            .into(),
    );
    doc.insert(
        "allowed_scopes".into(),
        s.allowed_scopes
            .iter()
            .map(Value::from)
            .collect::<Vec<_>>()
            .into(),
    );
    doc.insert("allowed_origins".into(), s.allowed_origins.clone().into());
    if let Some(l) = &s.logo_uri {
        doc.insert("logo_uri".into(), l.clone().into());
    }
    if let Some(l) = &s.logo_dark_mode_uri {
        doc.insert("logo_dark_mode_uri".into(), l.clone().into());
    }
    doc.insert("require_pkce".into(), s.require_pkce.into());
    doc.insert("allow_plain_pkce".into(), s.allow_plain_pkce.into());
    doc.insert(
        "metadata".into(),
        Value::Object(
            s.metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    );
    doc
}

/// Invariants of validated settings.
pub fn check_settings(s: &ClientSettings, source: MetadataSource, password_enabled: bool) {
    for uri in &s.redirect_uris {
        assert_eq!(
            validate_redirect_uri(uri),
            Ok(()),
            "accepted redirect URI fails validation: {uri:?}"
        );
    }
    for uri in &s.post_logout_redirect_uris {
        assert_eq!(
            validate_redirect_uri(uri),
            Ok(()),
            "accepted post-logout URI fails validation: {uri:?}"
        );
    }
    for uri in s.logo_uri.iter().chain(&s.logo_dark_mode_uri) {
        assert_eq!(
            validate_web_uri(uri),
            Ok(()),
            "accepted logo URI fails validation: {uri:?}"
        );
    }
    for rt in &s.response_types {
        for g in rt.required_grants() {
            assert!(
                s.grant_types.contains(&g),
                "response type {rt} without grant {}",
                g.as_str()
            );
        }
    }
    if s.grant_types.contains(&GrantType::AuthorizationCode) {
        assert!(
            s.response_types.iter().any(|r| r.code),
            "authorization_code without a code response type"
        );
    }
    if s.grant_types.contains(&GrantType::Implicit) {
        assert!(
            s.response_types
                .iter()
                .any(|r| r.has_front_channel_tokens()),
            "implicit without a front-channel response type"
        );
    }
    if s.grant_types
        .iter()
        .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::Implicit))
    {
        assert!(
            !s.redirect_uris.is_empty(),
            "a redirect-based grant without redirect URIs"
        );
    }
    let public = !s.token_endpoint_auth_method.is_confidential();
    if source == MetadataSource::Registration {
        // Dynamically registered clients cannot exempt themselves from S256.
        assert!(s.require_pkce, "registered client without require_pkce");
        assert!(!s.allow_plain_pkce, "registered client allowed plain PKCE");
    }
    if public {
        assert!(s.require_pkce, "public client without require_pkce");
        assert!(!s.allow_plain_pkce, "public client allowed plain PKCE");
        assert!(
            !s.grant_types.contains(&GrantType::ClientCredentials),
            "public client_credentials"
        );
        assert!(
            !s.grant_types.contains(&GrantType::Password),
            "public password grant"
        );
    }
    if s.grant_types.contains(&GrantType::Password) {
        assert!(
            password_enabled && source == MetadataSource::Management,
            "password grant accepted while disabled"
        );
    }
    for (i, g) in s.grant_types.iter().enumerate() {
        assert!(!s.grant_types[..i].contains(g), "duplicate grant type");
    }
    for (i, r) in s.response_types.iter().enumerate() {
        assert!(
            !s.response_types[..i].contains(r),
            "duplicate response type"
        );
    }
    for (i, u) in s.redirect_uris.iter().enumerate() {
        assert!(!s.redirect_uris[..i].contains(u), "duplicate redirect URI");
    }
    assert!(s.name.chars().count() <= 256, "over-long name accepted");
    if source == MetadataSource::Management {
        assert!(!s.name.trim().is_empty(), "empty name accepted");
    }
    for scope in s.allowed_scopes.iter() {
        assert!(
            !scope.is_empty() && scope.bytes().all(scope_char),
            "malformed allowed scope {scope:?}"
        );
    }
}

/// `metadata::validate` for both sources (and both password-grant settings): accepted settings
/// hold the invariants, and re-validating them as a management document is the identity.
pub fn check_client_metadata(bytes: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Map<String, Value>>(bytes) else {
        return;
    };
    for source in [MetadataSource::Management, MetadataSource::Registration] {
        for password in [false, true] {
            let Ok(settings) = validate(&doc, source, password) else {
                continue;
            };
            check_settings(&settings, source, password);
            // Strict by default: PKCE is required unless the management document says
            // `"require_pkce": false`, and `plain` is refused unless it says
            // `"allow_plain_pkce": true`.
            if doc.get("require_pkce") != Some(&Value::Bool(false)) {
                assert!(settings.require_pkce, "PKCE not required by default");
            }
            if doc.get("allow_plain_pkce") != Some(&Value::Bool(true)) {
                assert!(!settings.allow_plain_pkce, "plain PKCE allowed by default");
            }
            if settings.name.trim().is_empty() {
                continue; // only a registration may leave the name empty
            }
            let again = validate(
                &management_doc(&settings),
                MetadataSource::Management,
                password,
            )
            .unwrap_or_else(|e| panic!("validated settings refused as a management document: {e}"));
            assert!(
                again == settings,
                "settings change when validated again: {settings:?} vs {again:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// jwks

/// `parse_jwks`: `from_jwk` never panics, and an accepted set re-serialises and re-parses to an
/// equal value.
pub fn check_jwks(bytes: &[u8]) {
    let Ok(jwks) = parse_jwks(bytes) else {
        return;
    };
    assert!(
        jwks.keys.len() <= opkit::jose::MAX_JWKS_KEYS,
        "too many keys accepted"
    );
    for jwk in &jwks.keys {
        if let Ok(key) = VerifyingKey::from_jwk(jwk) {
            assert_eq!(key.kid(), jwk.kid.as_deref());
            match jwk.kty.as_str() {
                "EC" => {
                    assert_eq!(key.alg(), opkit::jose::Algorithm::Es256);
                    assert_eq!(
                        b64_decode(jwk.x.as_deref().unwrap_or("")).map(|x| x.len()),
                        Some(32)
                    );
                    assert_eq!(
                        b64_decode(jwk.y.as_deref().unwrap_or("")).map(|y| y.len()),
                        Some(32)
                    );
                }
                "RSA" => assert_eq!(key.alg(), opkit::jose::Algorithm::Rs256),
                other => panic!("key of kty {other:?} accepted"),
            }
            if let Some(u) = &jwk.use_ {
                assert_eq!(u, "sig", "key with use {u:?} accepted");
            }
            // Verifying garbage never panics and never succeeds.
            assert!(key.verify(b"message", &[0u8; 64]).is_err());
            assert!(key.verify(b"message", &[1u8; 256]).is_err());
        }
        let text = serde_json::to_string(jwk).expect("serialise JWK");
        let back: opkit::jose::PublicJwk = serde_json::from_str(&text).expect("re-parse JWK");
        assert_eq!(&back, jwk);
    }
    let text = serde_json::to_vec(&jwks).expect("serialise JWKS");
    let back = parse_jwks(&text).unwrap_or_else(|e| panic!("re-serialised JWKS refused: {e}"));
    assert_eq!(back, jwks, "JWKS does not round-trip");
}

// ---------------------------------------------------------------------------------------------
// jws

/// `parse_compact` / `KeySet::verify` on arbitrary text: an accepted JWS re-serialises to the
/// exact input; a verified one also names a key of the set with its algorithm.
pub fn check_jws_text(s: &str, keys: &KeySet) {
    let Ok(jws) = parse_compact(s) else {
        assert!(
            keys.verify(s).is_err(),
            "verify accepted what parse_compact refused"
        );
        return;
    };
    let (header_b64, rest) = s.split_once('.').expect("three parts");
    let (payload_b64, _) = rest.split_once('.').expect("three parts");
    assert_eq!(
        jws.signing_input(),
        &s[..header_b64.len() + 1 + payload_b64.len()]
    );
    assert_eq!(
        b64_encode(jws.payload()),
        payload_b64,
        "payload base64 is not canonical"
    );
    let again = format!("{}.{}", jws.signing_input(), b64_encode(jws.signature()));
    assert_eq!(again, s, "parsed JWS does not re-serialise to the input");
    assert!(!jws.header().alg.is_empty() || jws.header().algorithm().is_err());
    if let Ok(verified) = keys.verify(s) {
        let again = format!(
            "{}.{}",
            verified.signing_input(),
            b64_encode(verified.signature())
        );
        assert_eq!(again, s, "verified JWS does not re-serialise to the input");
        let kid = verified
            .header()
            .kid
            .as_deref()
            .expect("verified without kid");
        let key = keys.get(kid).expect("verified with an unknown kid");
        assert_eq!(
            verified.header().algorithm(),
            Ok(key.alg()),
            "verified with another algorithm"
        );
        assert_eq!(verified.payload(), jws.payload());
    }
}

/// Sign `payload` with `key`, verify it, then change one byte of the token: the result must
/// not verify unless it is the same token.
pub fn check_jws_sign_mutate(
    key: &SigningKey,
    keys: &KeySet,
    typ: &str,
    payload: &[u8],
    pos: usize,
    byte: u8,
) {
    let token = sign_compact(key, typ, payload).expect("sign");
    let jws = keys
        .verify(&token)
        .unwrap_or_else(|e| panic!("fresh token does not verify: {e}"));
    assert_eq!(jws.payload(), payload);
    assert_eq!(jws.header().alg, key.alg().as_str());
    assert_eq!(jws.header().kid.as_deref(), Some(key.kid()));
    assert_eq!(jws.header().typ.as_deref(), Some(typ));
    check_jws_text(&token, keys);

    let mut bytes = token.clone().into_bytes();
    let i = pos % bytes.len();
    bytes[i] = byte & 0x7f; // keep it UTF-8
    let mutated = String::from_utf8(bytes).expect("ASCII");
    check_jws_text(&mutated, keys);
    if mutated != token {
        assert!(
            keys.verify(&mutated).is_err(),
            "token with byte {i} changed still verifies: {mutated}"
        );
    }
    // Truncation never verifies either.
    let cut = &token[..pos % token.len()];
    assert!(keys.verify(cut).is_err(), "truncated token verifies");
}

// ---------------------------------------------------------------------------------------------
// token, introspection, revocation endpoints

/// The statuses the token, introspection and revocation endpoints may answer.
pub const ENDPOINT_STATUSES: [u16; 6] = [200, 400, 401, 405, 413, 415];

/// An RFC 6749 §5.2 error response, or (for 200) whatever `ok_body` checks.
pub fn check_endpoint_response(resp: &HttpResponse, ok_body: impl FnOnce(&[u8])) {
    assert!(
        ENDPOINT_STATUSES.contains(&resp.status),
        "status {} ({:?})",
        resp.status,
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(
        resp.header("cache-control"),
        Some("no-store"),
        "no Cache-Control: no-store"
    );
    if resp.status == 200 {
        ok_body(&resp.body);
        assert!(resp.header("www-authenticate").is_none());
        return;
    }
    let json: Value = serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
        panic!(
            "error body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&resp.body)
        )
    });
    let error = json
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("error body without error: {json}"));
    assert_eq!(
        resp.status == 401,
        error == "invalid_client",
        "status {} with error {error}",
        resp.status
    );
    assert_eq!(
        resp.status == 401,
        resp.header("www-authenticate").is_some(),
        "WWW-Authenticate iff 401"
    );
    assert_eq!(resp.header("content-type"), Some("application/json"));
}

/// A 200 token response: JSON with a bearer access token and no error.
pub fn check_token_ok_body(body: &[u8]) -> Value {
    let json: Value = serde_json::from_slice(body).expect("200 token body is not JSON");
    assert!(json.get("error").is_none(), "200 with error: {json}");
    assert!(
        json["access_token"].as_str().is_some_and(|t| !t.is_empty()),
        "no access_token: {json}"
    );
    assert_eq!(json["token_type"], "Bearer");
    assert!(
        json["expires_in"].as_i64().is_some_and(|e| e > 0),
        "expires_in: {json}"
    );
    json
}

/// A 200 introspection response: JSON with a boolean `active`.
pub fn check_introspection_ok_body(body: &[u8]) {
    let json: Value = serde_json::from_slice(body).expect("200 introspection body is not JSON");
    let active = json.get("active").and_then(Value::as_bool);
    assert!(
        active.is_some(),
        "introspection without boolean active: {json}"
    );
    if active == Some(false) {
        assert_eq!(
            json.as_object().map(Map::len),
            Some(1),
            "inactive token with claims: {json}"
        );
    }
}

/// The payload of a JWT, unverified.
pub fn jwt_claims(token: &str) -> Value {
    let jws = parse_compact(token).expect("issued token is a JWS");
    serde_json::from_slice(jws.payload()).expect("JWT payload is JSON")
}

// ---------------------------------------------------------------------------------------------
// authorization endpoint

/// What the fuzz harness knows of a registered client.
#[derive(Debug, Clone)]
pub struct KnownClient {
    /// The `client_id`.
    pub client_id: String,
    /// Its registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Whether it must send a PKCE challenge with every code request.
    pub require_pkce: bool,
    /// Whether `code_challenge_method=plain` is accepted from it.
    pub allows_plain_pkce: bool,
}

const RESPONSE_PARAMS: [&str; 10] = [
    "code",
    "state",
    "iss",
    "id_token",
    "access_token",
    "token_type",
    "expires_in",
    "error",
    "error_description",
    "scope",
];

/// The parameters an authorization request carries (`None` when it does not parse). A repeated
/// parameter keeps its first value, as the authorization endpoint reads it: it refuses the
/// repetition, but by a redirect once the client and redirect URI are trusted.
pub fn request_params(src: &str) -> Option<Vec<(String, String)>> {
    let (form, _repeated) = parse_form_keep_first(src).ok()?;
    Some(
        form.iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
    )
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Properties of an authorization endpoint outcome for a request whose parameters were
/// `params` (`None`: the parameters did not parse or the request was not a GET / form POST).
///
/// A `Respond` goes only to a redirect URI registered for the client named by `client_id`
/// (and to the one sent, if sent), its Location keeps that URI as an exact prefix with the
/// same origin and path, carries `iss`, echoes `state`, and never puts tokens in a query. A
/// code request gets past validation (a login or consent step, or a code) only with the PKCE
/// the client's policy asks for: a challenge unless the client is exempted, and `S256` unless
/// it is allowed `plain`.
pub fn check_authorize_outcome(
    params: Option<&[(String, String)]>,
    outcome: &AuthorizeOutcome,
    clients: &[KnownClient],
    issuer: &str,
    had_session: bool,
) {
    let (params, client) = match outcome {
        AuthorizeOutcome::ErrorPage(_) => return,
        _ => {
            let params =
                params.unwrap_or_else(|| panic!("{outcome:?} for a request that does not parse"));
            let client_id =
                get(params, "client_id").unwrap_or_else(|| panic!("{outcome:?} without client_id"));
            let client = clients
                .iter()
                .find(|c| c.client_id == client_id)
                .unwrap_or_else(|| panic!("{outcome:?} for unknown client {client_id:?}"));
            (params, client)
        }
    };
    let registered = &client.redirect_uris;
    let sent = get(params, "redirect_uri");
    let check_target = |target: &str| {
        assert!(
            registered.iter().any(|r| r == target),
            "target {target:?} is not registered: {registered:?}"
        );
        match sent {
            Some(s) => assert_eq!(target, s, "target differs from the redirect_uri sent"),
            None => {
                assert_eq!(
                    registered.len(),
                    1,
                    "redirect_uri omitted with several registered"
                );
                let openid =
                    get(params, "scope").is_some_and(|s| s.split(' ').any(|t| t == "openid"));
                assert!(!openid, "redirect_uri omitted in an OpenID Connect request");
            }
        }
    };
    let check_step = |p: &PendingAuthorization| {
        assert_eq!(Some(p.client_id()), get(params, "client_id"));
        check_target(p.redirect_uri());
        if p.response_type().code {
            check_pkce_policy(params, client);
        }
    };
    match outcome {
        AuthorizeOutcome::ErrorPage(_) => {}
        AuthorizeOutcome::Login(step) => check_step(step.request()),
        AuthorizeOutcome::Consent(step) => {
            assert!(had_session, "consent step without a logged-in user");
            check_step(step.request());
        }
        AuthorizeOutcome::Respond(resp) => {
            check_target(resp.redirect_uri());
            check_response(resp, params, issuer, had_session);
            if resp.param("code").is_some() {
                check_pkce_policy(params, client);
            }
        }
    }
}

/// A code request accepted for `client` carried the PKCE its policy asks for.
fn check_pkce_policy(params: &[(String, String)], client: &KnownClient) {
    match get(params, "code_challenge") {
        None => assert!(
            !client.require_pkce,
            "code request without PKCE accepted for a client that requires it"
        ),
        Some(_) => {
            let method = get(params, "code_challenge_method").unwrap_or("plain");
            assert!(
                method == "S256" || (method == "plain" && client.allows_plain_pkce),
                "code_challenge_method {method:?} accepted for a client that requires S256"
            );
        }
    }
}

/// A cancelled login or consent step of a client and redirect URI that are still registered
/// (and a request that has not expired) answers the client with `access_denied`, nothing else.
pub fn check_cancelled(outcome: &AuthorizeOutcome) {
    let AuthorizeOutcome::Respond(resp) = outcome else {
        panic!("a cancelled step gave {outcome:?}, not a response to the client");
    };
    assert_eq!(
        resp.param("error"),
        Some("access_denied"),
        "cancelled: {resp:?}"
    );
    for name in ["code", "id_token", "access_token"] {
        assert!(
            resp.param(name).is_none(),
            "{name} in a cancelled request's answer"
        );
    }
}

fn check_response(
    resp: &AuthorizationResponse,
    params: &[(String, String)],
    issuer: &str,
    had_session: bool,
) {
    let target = resp.redirect_uri();
    assert_eq!(resp.param("iss"), Some(issuer), "response without iss");
    let is_error = resp.param("error").is_some();
    let tokens = resp.param("id_token").is_some() || resp.param("access_token").is_some();
    let success = resp.param("code").is_some() || tokens;
    assert!(
        is_error != success,
        "response is both or neither an error and a success"
    );
    if success {
        assert!(had_session, "success without a logged-in user");
    }
    if tokens {
        assert_ne!(
            resp.mode(),
            ResponseMode::Query,
            "tokens in a query response"
        );
    }
    match (get(params, "state"), resp.param("state")) {
        (None, None) => {}
        (Some(sent), Some(back)) => {
            assert!(sent.starts_with(back), "state changed");
            if sent.len() <= 2048 {
                assert_eq!(sent, back, "state not echoed exactly");
            }
        }
        (sent, back) => panic!("state sent {sent:?}, returned {back:?}"),
    }
    let target_url = url::Url::parse(target).expect("registered redirect URI parses");
    match resp.location() {
        None => {
            assert_eq!(resp.mode(), ResponseMode::FormPost);
            let html = resp.form_post_html();
            let action = format!("action=\"{}\"", escape_html(target));
            // Count the markup outside the hidden inputs' (escaped) values: a value may well
            // end in `action=`, which is no attribute.
            let markup = without_values(&html);
            assert_eq!(markup.matches("<form").count(), 1, "more than one form");
            assert_eq!(
                markup.matches("action=\"").count(),
                1,
                "more than one form action"
            );
            assert!(
                html.contains(&action),
                "form_post action is not the redirect URI"
            );
            for name in RESPONSE_PARAMS {
                if let Some(v) = resp.param(name) {
                    let input = format!(
                        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                        escape_html(v)
                    );
                    assert!(html.contains(&input), "form_post lacks {name}");
                }
            }
            assert_eq!(
                html.matches("<script>").count(),
                1,
                "injected script element"
            );
            assert_eq!(resp.clone().into_http().status, 200);
        }
        Some(location) => {
            assert_ne!(resp.mode(), ResponseMode::FormPost);
            let rest = location
                .strip_prefix(target)
                .unwrap_or_else(|| panic!("Location {location:?} does not start with {target:?}"));
            let sep_ok = rest.starts_with(['?', '&', '#'])
                || (resp.mode() == ResponseMode::Query && target.ends_with(['?', '&']));
            assert!(sep_ok, "Location continues {target:?} with {rest:?}");
            let url = url::Url::parse(&location)
                .unwrap_or_else(|e| panic!("Location does not parse ({e}): {location:?}"));
            assert_eq!(url.scheme(), target_url.scheme());
            assert_eq!(url.host(), target_url.host(), "Location host changed");
            assert_eq!(url.port(), target_url.port(), "Location port changed");
            assert_eq!(url.path(), target_url.path(), "Location path changed");
            let carried = match resp.mode() {
                ResponseMode::Fragment => {
                    assert_eq!(
                        url.query(),
                        target_url.query(),
                        "fragment response changed the query"
                    );
                    url.fragment().unwrap_or("")
                }
                _ => {
                    assert!(url.fragment().is_none(), "query response with a fragment");
                    url.query().unwrap_or("")
                }
            };
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(carried.as_bytes())
                .into_owned()
                .collect();
            for name in RESPONSE_PARAMS {
                if let Some(v) = resp.param(name) {
                    assert!(
                        pairs.iter().any(|(n, w)| n == name && w == v),
                        "{name} does not survive the Location encoding"
                    );
                }
            }
            let http = resp.clone().into_http();
            assert_eq!(http.status, 303);
            assert_eq!(http.header("location"), Some(location.as_str()));
        }
    }
}

/// `html` with the contents of every `value="…"` attribute removed (escaped values hold no
/// `"`, so each ends at the next one).
fn without_values(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("value=\"") {
        let (head, tail) = rest.split_at(i + "value=\"".len());
        out.push_str(head);
        rest = match tail.find('"') {
            Some(end) => &tail[end..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Entry points of the pure targets (the fuzz targets call these; so do the regression tests).

/// `basic_auth`: the input is the header value.
pub fn basic_auth_target(data: &[u8]) {
    check_basic(data);
}

/// `scope`: the input is the scope string (non-UTF-8 inputs are skipped).
pub fn scope_target(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        check_scope(s);
    }
}

/// `pkce`: `a NUL b`; the whole input seeds the generated verifier.
pub fn pkce_target(data: &[u8]) {
    let (a, b) = split_nul(data);
    check_pkce(
        &String::from_utf8_lossy(a),
        &String::from_utf8_lossy(b),
        data,
    );
}

/// `client_metadata`: the input is the JSON document.
pub fn client_metadata_target(data: &[u8]) {
    check_client_metadata(data);
}

/// `jwks`: the input is the JWK Set document.
pub fn jwks_target(data: &[u8]) {
    check_jwks(data);
}

/// `redirect_uri`: byte0 even: validate the rest; odd: the rest is lines, those before the
/// last that validate are registered, the last is the candidate.
pub fn redirect_uri_target(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode & 1 == 0 {
        check_redirect_uri(&text);
        return;
    }
    let mut lines: Vec<&str> = text.split('\n').collect();
    let candidate = lines.pop().unwrap_or("");
    for l in &lines {
        check_redirect_uri(l);
    }
    let registered: Vec<String> = lines
        .iter()
        .filter(|l| validate_redirect_uri(l).is_ok())
        .map(|l| (*l).to_owned())
        .collect();
    check_redirect_matching(&registered, candidate);
}

/// `jws`: byte0 even: parse/verify the rest as text; odd: sign the payload (bytes 4..) with
/// `es` (or `rs` when bit 1 is set) under one of four `typ`s (bits 2-3), check it verifies,
/// then set the byte at position `u16le(bytes 1-2)` to byte 3 and check it no longer does.
pub fn jws_target(data: &[u8], set: &KeySet, es: &SigningKey, rs: &SigningKey) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check_jws_text(&String::from_utf8_lossy(rest), set);
        return;
    }
    if rest.len() < 3 {
        return;
    }
    let key = if mode & 2 != 0 { rs } else { es };
    let typ = ["JWT", "at+jwt", "logout+jwt", "a\"b\\c"][usize::from((mode >> 2) & 3)];
    let pos = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
    check_jws_sign_mutate(key, set, typ, &rest[3..], pos, rest[2]);
}
