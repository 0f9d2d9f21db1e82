//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5): `Issued → Redeemed`.
//! A second redemption fails and revokes everything the first one issued.

use time::OffsetDateTime;

use super::{Issue, TokenResponse};
use crate::client::{Client, GrantType};
use crate::error::{Error, ErrorKind};
use crate::host::Event;
use crate::http::FormParams;
use crate::scope;
use crate::secret::SecretHash;
use crate::store::CodeRedemption;
use crate::store::{Store, UserStore};
use crate::Provider;

impl<S: Store, U: UserStore> Provider<S, U> {
    pub(super) async fn code_grant(
        &self,
        client: &Client,
        form: &FormParams<'_>,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, Error> {
        let code = form.require("code")?;
        let record = match self.store.redeem_code(&SecretHash::of(code)).await? {
            CodeRedemption::Redeemed(record) => *record,
            CodeRedemption::Replayed { grant_id } => {
                self.store.revoke_grant(&grant_id).await?;
                self.events.emit(&Event::CodeReplayed {
                    client_id: &client.client_id,
                    grant_id: &grant_id,
                });
                return Err(ErrorKind::InvalidGrant(
                    "the authorization code was already used; tokens issued with it are revoked",
                )
                .into());
            }
            CodeRedemption::Unknown => {
                return Err(ErrorKind::InvalidGrant("invalid authorization code").into())
            }
        };
        if record.client_id != client.client_id {
            return Err(ErrorKind::InvalidGrant(
                "the authorization code was issued to another client",
            )
            .into());
        }
        if now >= record.expires_at {
            return Err(ErrorKind::InvalidGrant("the authorization code has expired").into());
        }
        let redirect_ok = match (record.redirect_uri.as_deref(), form.get("redirect_uri")) {
            (Some(sent), Some(given)) => sent == given,
            (Some(_), None) => false,
            (None, Some(given)) => client.has_redirect_uri(given),
            (None, None) => true,
        };
        if !redirect_ok {
            return Err(ErrorKind::InvalidGrant(
                "redirect_uri does not match the authorization request",
            )
            .into());
        }
        match (&record.challenge, form.get("code_verifier")) {
            (Some(challenge), Some(verifier)) if challenge.verify(verifier) => {}
            (Some(_), Some(_)) => {
                return Err(ErrorKind::InvalidGrant("PKCE verification failed").into())
            }
            (Some(_), None) => {
                return Err(ErrorKind::InvalidGrant("code_verifier is required").into())
            }
            (None, Some(_)) => {
                return Err(ErrorKind::InvalidGrant(
                    "code_verifier sent, but the authorization request had no code_challenge",
                )
                .into())
            }
            (None, None) => {}
        }
        let grant = self.active_grant(&record.grant_id, now).await?;
        let resource = Self::token_resource(client, form, grant.resource.as_deref())?;
        let refresh = record.scopes.contains(scope::OFFLINE_ACCESS)
            && client.allows_grant(GrantType::RefreshToken);
        self.issue_tokens(
            Issue {
                grant_type: GrantType::AuthorizationCode,
                client,
                grant: &grant,
                subject: &record.subject,
                scopes: &record.scopes,
                auth_time: Some(record.auth_time),
                nonce: record.nonce.as_deref(),
                refresh,
                rotated: None,
                resource,
                extra: None,
            },
            now,
        )
        .await
    }
}
