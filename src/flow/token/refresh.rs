//! `grant_type=refresh_token` (RFC 6749 §6): `Active → Rotated`. Each use returns a new refresh
//! token; presenting a rotated one revokes the whole family (its grant).

use time::OffsetDateTime;

use super::{Issue, TokenResponse};
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::http::FormParams;
use crate::secret::{IssuedSecret, SecretHash};
use crate::store::RefreshRotation;
use crate::store::{Store, UserStore};
use crate::Provider;

const REUSED: &str = "the refresh token was already used; its token family is revoked";

impl<S: Store, U: UserStore> Provider<S, U> {
    pub(super) async fn refresh_grant(
        &self,
        client: &Client,
        form: &FormParams<'_>,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, Error> {
        let presented = SecretHash::of(form.require("refresh_token")?);
        let lookup = self
            .store
            .refresh_token(&presented)
            .await?
            .ok_or(ErrorKind::InvalidGrant("invalid refresh token"))?;
        let record = lookup.record;
        if record.client_id != client.client_id {
            return Err(
                ErrorKind::InvalidGrant("the refresh token was issued to another client").into(),
            );
        }
        if lookup.rotated {
            self.store.revoke_grant(&record.grant_id).await?;
            return Err(ErrorKind::InvalidGrant(REUSED).into());
        }
        if now >= record.expires_at {
            return Err(ErrorKind::InvalidGrant("the refresh token has expired").into());
        }
        let grant = self.active_grant(&record.grant_id, now).await?;
        // The scope may be narrowed for this access token, never widened; the refresh token
        // keeps the original scope (RFC 6749 §6).
        let scopes = match form.get("scope") {
            None => record.scopes.clone(),
            Some(raw) => {
                let asked = client.requested_scopes(Some(raw))?;
                if !asked.is_subset_of(&record.scopes) {
                    return Err(ErrorKind::InvalidScope(
                        "the scope exceeds what was granted".into(),
                    )
                    .into());
                }
                asked
            }
        };
        let next = IssuedSecret::generate(&*self.rng)?;
        let next_record = self.refresh_record(
            &next,
            &grant,
            &record.subject,
            &record.scopes,
            record.auth_time,
            now,
        );
        match self
            .store
            .rotate_refresh_token(&presented, next_record)
            .await?
        {
            RefreshRotation::Rotated => {}
            RefreshRotation::Reused { grant_id } => {
                self.store.revoke_grant(&grant_id).await?;
                return Err(ErrorKind::InvalidGrant(REUSED).into());
            }
            RefreshRotation::Unknown => {
                return Err(ErrorKind::InvalidGrant("invalid refresh token").into())
            }
        }
        let mut response = self
            .issue_tokens(
                Issue {
                    client,
                    grant: &grant,
                    subject: &record.subject,
                    scopes: &scopes,
                    auth_time: Some(record.auth_time),
                    nonce: None,
                    refresh: false,
                },
                now,
            )
            .await?;
        response.refresh_token = Some(next.plaintext);
        Ok(response)
    }
}
