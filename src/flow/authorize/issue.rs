//! Issuing the authorization response: the grant, then a code and/or tokens.

use time::OffsetDateTime;

use super::{AuthorizationResponse, AuthorizeOutcome, PendingAuthorization, Session};
use crate::client::{Client, GrantType};
use crate::error::{Error, ErrorKind};
use crate::host::{Event, ExtraClaims, Issued, TokenContext};
use crate::scope::{self, Scopes};
use crate::secret::IssuedSecret;
use crate::store::{CodeRecord, Grant, GrantId, StoreErrorKind};
use crate::store::{Store, UserStore};
use crate::token::AccessTokenInput;
use crate::token::IdTokenInput;
use crate::Provider;

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Issue what the response type asks for and build the response.
    pub(super) async fn finish(
        &self,
        pending: &PendingAuthorization,
        client: &Client,
        session: &Session,
        scopes: Scopes,
        now: OffsetDateTime,
    ) -> AuthorizeOutcome {
        match self.issue(pending, client, session, scopes, now).await {
            Ok(resp) => AuthorizeOutcome::Respond(resp),
            Err(err) => self.fail_with(pending, err),
        }
    }

    async fn issue(
        &self,
        pending: &PendingAuthorization,
        client: &Client,
        session: &Session,
        scopes: Scopes,
        now: OffsetDateTime,
    ) -> Result<AuthorizationResponse, Error> {
        let rt = pending.response_type;
        // The grant takes the request's id, so a request issues at most once: a second answer
        // (a step copied out of the host's storage and replayed) collides with the first grant,
        // which is then revoked like the grant of a replayed code.
        let mut grant = self.new_grant(
            GrantId(pending.id.clone()),
            &client.client_id,
            Some(&session.subject),
            &scopes,
            Some(session.auth_time),
            now,
        );
        grant.resource = pending.resource.clone();
        let grant_id = grant.id.clone();
        match self.store.create_grant(grant).await {
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                self.store.revoke_grant(&grant_id).await?;
                return Err(ErrorKind::AccessDenied(
                    "this authorization request was already answered; what it issued is revoked"
                        .into(),
                )
                .into());
            }
            other => other?,
        }

        let code = if rt.code {
            let code = IssuedSecret::generate(&*self.rng)?;
            self.store
                .put_code(CodeRecord {
                    hash: code.hash,
                    grant_id: grant_id.clone(),
                    client_id: client.client_id.clone(),
                    subject: session.subject.clone(),
                    redirect_uri: pending
                        .redirect_uri_sent
                        .then(|| pending.redirect_uri.clone()),
                    scopes: scopes.clone(),
                    nonce: pending.nonce.clone(),
                    challenge: pending.challenge.clone(),
                    auth_time: session.auth_time,
                    expires_at: now + self.config.code_ttl,
                })
                .await?;
            Some(code.plaintext)
        } else {
            None
        };
        let grant_type = if rt.token || rt.id_token {
            GrantType::Implicit
        } else {
            GrantType::AuthorizationCode
        };
        // Tokens from the authorization endpoint get the hook's claims; a code gets them at
        // the token endpoint.
        let extra = if rt.token || rt.id_token {
            self.extra_claims(TokenContext {
                grant_type,
                client,
                subject: Some(&session.subject),
                scopes: &scopes,
                grant_id: Some(&grant_id),
                id_token: rt.id_token,
            })
            .await?
        } else {
            ExtraClaims::default()
        };
        let access = if rt.token {
            Some(self.mint_access_token(
                AccessTokenInput {
                    subject: &session.subject,
                    client_id: &client.client_id,
                    scopes: &scopes,
                    auth_time: Some(session.auth_time),
                    grant_id: Some(&grant_id),
                    extra: Some(&extra.access_token),
                    audience: pending.resource.as_deref(),
                    act: None,
                },
                now,
            )?)
        } else {
            None
        };
        let id_token = if rt.id_token {
            let claims = self.users.claims(&session.subject).await?.ok_or_else(|| {
                Error::new(ErrorKind::AccessDenied("the user no longer exists".into()))
            })?;
            Some(self.mint_id_token(
                IdTokenInput {
                    client,
                    subject: &session.subject,
                    scopes: &scopes,
                    auth_time: session.auth_time,
                    nonce: pending.nonce.as_deref(),
                    access_token: access.as_ref().map(|a| a.token.as_str()),
                    code: code.as_deref(),
                    claims: Some(&claims),
                    extra: Some(&extra.id_token),
                },
                now,
            )?)
        } else {
            None
        };

        self.events.emit(&Event::TokensIssued {
            grant_type,
            client_id: &client.client_id,
            subject: Some(&session.subject),
            grant_id: Some(&grant_id),
            scopes: &scopes,
            issued: Issued {
                code: code.is_some(),
                access_token: access.is_some(),
                id_token: id_token.is_some(),
                refresh_token: false,
            },
        });
        let mut resp =
            AuthorizationResponse::new(pending.redirect_uri.clone(), pending.response_mode);
        if let Some(code) = code {
            resp.push("code", code);
        }
        if let Some(access) = access {
            resp.push("access_token", access.token);
            resp.push("token_type", "Bearer");
            resp.push("expires_in", access.expires_in.to_string());
            resp.push("scope", scopes.to_string());
        }
        if let Some(id_token) = id_token {
            resp.push("id_token", id_token);
        }
        if let Some(state) = &pending.state {
            resp.push("state", state.clone());
        }
        resp.push("iss", self.config.issuer());
        Ok(resp)
    }

    /// A new grant record. Its lifetime covers everything that may be issued under it: the
    /// refresh family's absolute lifetime with `offline_access`, else a code and its tokens.
    pub(crate) fn new_grant(
        &self,
        id: GrantId,
        client_id: &str,
        subject: Option<&str>,
        scopes: &Scopes,
        auth_time: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Grant {
        let lifetime = if scopes.contains(scope::OFFLINE_ACCESS) {
            self.config.refresh_token_absolute_ttl
        } else {
            self.config.code_ttl + self.config.access_token_ttl.max(self.config.id_token_ttl)
        };
        Grant {
            id,
            client_id: client_id.to_owned(),
            subject: subject.map(str::to_owned),
            scopes: scopes.clone(),
            auth_time,
            created_at: now,
            expires_at: now + lifetime,
            revoked: false,
            resource: None,
        }
    }
}
