//! Token revocation (RFC 7009). Revoking a refresh token revokes its whole family (grant);
//! revoking an access token records its `jti` until it expires. The answer is 200 whether or
//! not the token was valid, so it tells a caller nothing.

use crate::error::{Error, ErrorKind};
use crate::http::{HttpRequest, HttpResponse};
use crate::secret::SecretHash;
use crate::store::{Store, UserStore};
use crate::token::AccessTokenClaims;
use crate::Provider;

impl<S: Store, U: UserStore> Provider<S, U> {
    /// `POST` the revocation endpoint: `token`, optional `token_type_hint`
    /// (`access_token` or `refresh_token`), with client authentication.
    pub async fn revoke(&self, req: &HttpRequest<'_>) -> HttpResponse {
        match self.revoke_request(req).await {
            Ok(()) => HttpResponse::empty(200).no_store(),
            Err(err) => self.error_response(&err),
        }
    }

    async fn revoke_request(&self, req: &HttpRequest<'_>) -> Result<(), Error> {
        let form = self.read_form(req)?;
        let client = self.authenticate_client(req, &form).await?;
        let token = form.require("token")?;
        let refresh_first = match form.get("token_type_hint") {
            None | Some("refresh_token") => true,
            Some("access_token") => false,
            // RFC 7009 §2.2.1 lets the server refuse hints it does not support.
            Some(_) => return Err(ErrorKind::UnsupportedTokenType.into()),
        };
        if refresh_first {
            if !self.revoke_refresh_token(token, &client.client_id).await? {
                self.revoke_access_token(token, &client.client_id).await?;
            }
        } else if !self.revoke_access_token(token, &client.client_id).await? {
            self.revoke_refresh_token(token, &client.client_id).await?;
        }
        Ok(())
    }

    /// Whether `token` was a refresh token (of this client, then revoked with its family).
    async fn revoke_refresh_token(&self, token: &str, client_id: &str) -> Result<bool, Error> {
        match self.store.refresh_token(&SecretHash::of(token)).await? {
            Some(found) if found.record.client_id == client_id => {
                self.store.revoke_grant(&found.record.grant_id).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether `token` was one of our access tokens for this client (then revoked).
    async fn revoke_access_token(&self, token: &str, client_id: &str) -> Result<bool, Error> {
        let Ok(jws) = self.keys().verify(token) else {
            return Ok(false);
        };
        let Ok(claims) = serde_json::from_slice::<AccessTokenClaims>(jws.payload()) else {
            return Ok(false);
        };
        if claims.client_id != client_id || claims.iss != self.config.issuer() {
            return Ok(false);
        }
        let expires_at = time::OffsetDateTime::from_unix_timestamp(claims.exp)
            .unwrap_or_else(|_| self.clock.now() + self.config.access_token_ttl);
        self.store
            .revoke_access_token(&claims.jti, expires_at)
            .await?;
        Ok(true)
    }
}
