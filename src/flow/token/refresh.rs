//! `grant_type=refresh_token` (RFC 6749 §6): `Active → Rotated`. Each use returns a new refresh
//! token; presenting a rotated one revokes the whole family (its grant), unless the refresh
//! grace window forgives it.
//!
//! # The grace window
//!
//! With a [`RefreshGrace`] of `window` and `reuses` (the client's own, else the provider's), a
//! token rotated at `t` and presented again at `now` gets a fresh access token and a fresh
//! refresh token in the same family — the tab that got the rotation's token keeps it — if
//! `now - window <= t`, the token has not expired, its grant is active, and fewer than `reuses`
//! such reuses of this token were granted before. The store counts them atomically
//! ([`RefreshTokenStore::reuse_rotated_refresh_token`](crate::store::RefreshTokenStore::reuse_rotated_refresh_token)),
//! so of `n` concurrent presentations of one active token exactly `min(n, 1 + reuses)`
//! succeed: one rotates it, up to `reuses` reuse it. Any other presentation of a rotated
//! token (grace off, after the window, past the count, expired) revokes the family, and with
//! it every token the reuses handed out. Reuses do not move `t`: replaying cannot extend the
//! window.

use time::OffsetDateTime;

use super::{Issue, TokenResponse};
use crate::client::{Client, GrantType};
use crate::config::RefreshGrace;
use crate::error::{Error, ErrorKind};
use crate::host::Event;
use crate::http::FormParams;
use crate::scope;
use crate::secret::{IssuedSecret, SecretHash};
use crate::store::{GrantId, RefreshRecord, RefreshReuse, RefreshRotation};
use crate::store::{Store, UserStore};
use crate::Provider;

const REUSED: &str = "the refresh token was already used; its token family is revoked";

impl<S: Store, U: UserStore> Provider<S, U> {
    /// A rotated refresh token came back: revoke its family and say so.
    async fn reused(&self, client: &Client, grant_id: &GrantId) -> Error {
        if let Err(e) = self.store.revoke_grant(grant_id).await {
            return e.into();
        }
        self.events.emit(&Event::RefreshTokenReused {
            client_id: &client.client_id,
            grant_id,
        });
        ErrorKind::InvalidGrant(REUSED).into()
    }

    /// A rotated token within its grace: the store grants the reuse (storing `next`) or
    /// refuses it, and then the family is revoked.
    async fn grace_reuse(
        &self,
        client: &Client,
        presented: &SecretHash,
        grace: RefreshGrace,
        next: RefreshRecord,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let grant_id = next.grant_id.clone();
        match self
            .store
            .reuse_rotated_refresh_token(presented, now - grace.window(), grace.reuses(), next)
            .await?
        {
            RefreshReuse::Granted => {
                self.events.emit(&Event::RefreshTokenGraceReuse {
                    client_id: &client.client_id,
                    grant_id: &grant_id,
                });
                Ok(())
            }
            RefreshReuse::Refused { grant_id } => Err(self.reused(client, &grant_id).await),
            RefreshReuse::Unknown => Err(ErrorKind::InvalidGrant("invalid refresh token").into()),
        }
    }

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
        let grace = client
            .settings
            .refresh_grace
            .unwrap_or(self.config.refresh_grace);
        let expired = now >= record.expires_at;
        if lookup.rotated && (grace.is_off() || expired) {
            return Err(self.reused(client, &record.grant_id).await);
        }
        if expired {
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
        // The claims hook is asked before the rotation: if it fails, the presented token is
        // not spent and the client can retry with it.
        // Checked before the rotation: a refused resource does not spend the token.
        let resource = Self::token_resource(client, form, grant.resource.as_deref())?;
        let mut issue = Issue {
            grant_type: GrantType::RefreshToken,
            client,
            grant: &grant,
            subject: &record.subject,
            scopes: &scopes,
            auth_time: Some(record.auth_time),
            nonce: None,
            refresh: false,
            rotated: None,
            resource,
            extra: None,
        };
        let context = issue.token_context(scopes.contains(scope::OPENID));
        issue.extra = Some(self.extra_claims(context).await?);
        let next = IssuedSecret::generate(&*self.rng)?;
        let next_record = self.refresh_record(
            &next,
            &grant,
            &record.subject,
            &record.scopes,
            record.auth_time,
            now,
        );
        if lookup.rotated {
            self.grace_reuse(client, &presented, grace, next_record, now)
                .await?;
        } else {
            // A concurrent rotation may win the race: then this is a reuse, forgiven as one.
            let spare = (!grace.is_off()).then(|| next_record.clone());
            match self
                .store
                .rotate_refresh_token(&presented, next_record)
                .await?
            {
                RefreshRotation::Rotated => {}
                RefreshRotation::Reused { grant_id } => match spare {
                    Some(next_record) => {
                        self.grace_reuse(client, &presented, grace, next_record, now)
                            .await?
                    }
                    None => return Err(self.reused(client, &grant_id).await),
                },
                RefreshRotation::Unknown => {
                    return Err(ErrorKind::InvalidGrant("invalid refresh token").into())
                }
            }
        }
        issue.rotated = Some(next.plaintext);
        self.issue_tokens(issue, now).await
    }
}
