use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, ErrorKind};
use crate::jose;
use crate::scope::Scopes;
use crate::secret::random_token;
use crate::store::GrantId;
use crate::store::{Store, UserStore};
use crate::Provider;

/// The claims of a JWT access token (RFC 9068 §2.2). `grant` is opkit's private claim naming the
/// grant the token was issued under (revoking the grant revokes the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The user, or the client id for client credentials.
    pub sub: String,
    /// The resource the token is for (the provider's configured access-token audience).
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The grant id (absent for client credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// The actor of a delegation (RFC 8693 §4.1): `{"sub": …}`, nested for a chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct AccessTokenOut<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    jti: &'a str,
    client_id: &'a str,
    #[serde(serialize_with = "crate::scope::serialize_joined")]
    scope: &'a Scopes,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a serde_json::Value>,
}

/// A freshly signed access token.
#[derive(Debug, Clone)]
pub(crate) struct MintedAccessToken {
    pub token: String,
    pub expires_in: i64,
}

/// What to put in an access token.
pub(crate) struct AccessTokenInput<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a Scopes,
    pub auth_time: Option<OffsetDateTime>,
    pub grant_id: Option<&'a GrantId>,
    /// The host's extra claims.
    pub extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// Another audience than the provider's (token exchange).
    pub audience: Option<&'a str>,
    /// The actor claim (token exchange with an actor token).
    pub act: Option<&'a serde_json::Value>,
}

/// A validated access token presented to a resource endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccessToken {
    /// Its claims.
    pub claims: AccessTokenClaims,
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Sign a JWT access token (`typ: at+jwt`).
    pub(crate) fn mint_access_token(
        &self,
        input: AccessTokenInput<'_>,
        now: OffsetDateTime,
    ) -> Result<MintedAccessToken, Error> {
        let keys = self.keys();
        let key = keys
            .active(self.config.access_token_alg)
            .ok_or_else(|| Error::new(ErrorKind::Signing))?;
        let jti = random_token(&*self.rng, 16)?;
        let iat = now.unix_timestamp();
        let ttl = self.config.access_token_ttl.whole_seconds();
        let claims = AccessTokenOut {
            iss: self.config.issuer(),
            sub: input.subject,
            aud: input.audience.unwrap_or(&self.config.access_token_audience),
            exp: iat + ttl,
            iat,
            jti: &jti,
            client_id: input.client_id,
            scope: input.scopes,
            auth_time: input.auth_time.map(OffsetDateTime::unix_timestamp),
            grant: input.grant_id.map(|g| g.0.as_str()),
            act: input.act,
        };
        let payload = super::extra::payload(
            &claims,
            input.extra,
            crate::host::RESERVED_ACCESS_TOKEN,
            "access_token",
            512,
        )?;
        let token = jose::sign_compact(key, "at+jwt", &payload)?;
        Ok(MintedAccessToken {
            token,
            expires_in: ttl,
        })
    }

    /// Verify an access token this provider issued: signature, `typ`, issuer, audience, expiry,
    /// the grant still active and the token not revoked.
    pub async fn verify_access_token(&self, token: &str) -> Result<VerifiedAccessToken, Error> {
        self.verify_issued_access_token(token, false).await
    }

    /// [`Provider::verify_access_token`], for any audience when `any_audience` (a token
    /// exchanged for another resource is still ours to introspect and to exchange again).
    pub(crate) async fn verify_issued_access_token(
        &self,
        token: &str,
        any_audience: bool,
    ) -> Result<VerifiedAccessToken, Error> {
        let invalid = |reason| Error::new(ErrorKind::InvalidToken(reason));
        let jws = self
            .keys()
            .verify(token)
            .map_err(|e| invalid("invalid access token").with_cause(e))?;
        if !jws.header().typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(invalid("not an access token"));
        }
        let claims: AccessTokenClaims = serde_json::from_slice(jws.payload())
            .map_err(|e| invalid("invalid access token").with_cause(e))?;
        let now = self.clock.now();
        let audience_ok = any_audience || claims.aud == self.config.access_token_audience;
        if claims.iss != self.config.issuer() || !audience_ok {
            return Err(invalid("access token not issued for this server"));
        }
        if now.unix_timestamp() >= claims.exp {
            return Err(invalid("access token expired"));
        }
        if let Some(grant) = &claims.grant {
            let active = self
                .store
                .grant(&GrantId(grant.clone()))
                .await?
                .is_some_and(|g| g.is_active_at(now));
            if !active {
                return Err(invalid("access token revoked"));
            }
        } else if self.store.client(&claims.client_id).await?.is_none() {
            return Err(invalid("access token revoked"));
        }
        if self.store.is_access_token_revoked(&claims.jti).await? {
            return Err(invalid("access token revoked"));
        }
        Ok(VerifiedAccessToken { claims })
    }
}
