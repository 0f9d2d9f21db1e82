use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::claims::{ScopedClaims, UserClaims};
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::jose::{self, b64};
use crate::scope::Scopes;
use crate::store::{Store, UserStore};
use crate::Provider;

/// The left-most half of the SHA-256 hash of `value`, base64url-encoded: `at_hash` and `c_hash`
/// for ES256 and RS256 (OpenID Connect Core §3.3.2.11).
///
/// ```
/// // OpenID Connect Core, appendix A.4 (RS256), access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
/// assert_eq!(opkit::jose::half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
/// ```
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    b64::encode(&digest[..16])
}

/// What to put in an ID token.
pub(crate) struct IdTokenInput<'a> {
    pub client: &'a Client,
    pub subject: &'a str,
    pub scopes: &'a Scopes,
    pub auth_time: OffsetDateTime,
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
    pub code: Option<&'a str>,
    pub claims: Option<&'a UserClaims>,
    /// The host's extra claims.
    pub extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize)]
struct IdTokenOut<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    claims: Option<ScopedClaims<'a>>,
}

/// What an `id_token_hint` says: an ID token this provider issued (signature and issuer
/// checked; expiry not, as a hint speaks of identity only).
pub(crate) struct IdTokenHint {
    pub subject: String,
    pub audience: Vec<String>,
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Verify an `id_token_hint`; `None` if it is not an ID token this provider issued.
    pub(crate) fn id_token_hint(&self, hint: &str) -> Option<IdTokenHint> {
        #[derive(serde::Deserialize)]
        struct Claims {
            iss: String,
            sub: String,
            aud: serde_json::Value,
        }
        let jws = self.keys().verify(hint).ok()?;
        let claims: Claims = serde_json::from_slice(jws.payload()).ok()?;
        if claims.iss != self.config.issuer() {
            return None;
        }
        let audience = match claims.aud {
            serde_json::Value::String(a) => vec![a],
            serde_json::Value::Array(list) => list
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Some(IdTokenHint {
            subject: claims.sub,
            audience,
        })
    }

    /// Sign an ID token with the client's `id_token_signed_response_alg`.
    pub(crate) fn mint_id_token(
        &self,
        input: IdTokenInput<'_>,
        now: OffsetDateTime,
    ) -> Result<String, Error> {
        let alg = input.client.settings.id_token_signed_response_alg;
        let keys = self.keys();
        let key = keys
            .active(alg)
            .ok_or_else(|| Error::new(ErrorKind::Signing))?;
        let iat = now.unix_timestamp();
        let out = IdTokenOut {
            iss: self.config.issuer(),
            sub: input.subject,
            aud: &input.client.client_id,
            exp: iat + self.config.id_token_ttl.whole_seconds(),
            iat,
            auth_time: input.auth_time.unix_timestamp(),
            nonce: input.nonce,
            at_hash: input.access_token.map(half_hash),
            c_hash: input.code.map(half_hash),
            claims: input.claims.map(|c| ScopedClaims::new(c, input.scopes)),
        };
        let payload = super::extra::payload(
            &out,
            input.extra,
            crate::host::RESERVED_ID_TOKEN,
            "id_token",
            768,
        )?;
        Ok(jose::sign_compact(key, "JWT", &payload)?)
    }
}
