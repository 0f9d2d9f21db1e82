//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): a client the
//! administrator allowed trades an access token or ID token this provider issued (the subject
//! token), optionally with an actor token (delegation: the new token's `act` names the actor),
//! for a new access token.
//!
//! The new token speaks for the subject token's `sub`, belongs to the subject token's grant (so
//! revoking that grant, by a replayed code, a reused refresh token, a withdrawn consent or a
//! deleted client, revokes the exchanged token too), and has at most the subject token's scopes
//! (within the client's allowed scopes) for the subject token's audience or the provider's,
//! unless the host's [`TokenExchangePolicy`] allows more. One `audience` and one `resource`
//! parameter at most (a repeated parameter is `invalid_request`, as everywhere); no refresh
//! token is issued.

use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{AccessOnly, TokenResponse};
use crate::client::{Client, GrantType};
use crate::error::{Error, ErrorKind};
use crate::host::{ExchangeDecision, ExchangeRequest, ExchangedTokenType};
use crate::http::FormParams;
use crate::scope::{self, Scopes};
use crate::store::{GrantId, Store, UserStore};
use crate::Provider;

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// What a verified subject or actor token says.
struct Presented {
    token_type: ExchangedTokenType,
    subject: String,
    client_id: String,
    scopes: Scopes,
    audience: String,
    grant: Option<GrantId>,
    act: Option<Value>,
}

fn invalid(name: &'static str, reason: &'static str) -> Error {
    ErrorKind::invalid(name, reason).into()
}

impl<S: Store, U: UserStore> Provider<S, U> {
    pub(super) async fn token_exchange_grant(
        &self,
        client: &Client,
        form: &FormParams<'_>,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, Error> {
        if client.is_public() {
            return Err(ErrorKind::UnauthorizedClient(
                "public clients may not use token exchange".into(),
            )
            .into());
        }
        let mut subject = self
            .presented_token(
                client,
                form.require("subject_token")?,
                form.require("subject_token_type")?,
                "subject_token",
                now,
            )
            .await?;
        let actor = match (form.get("actor_token"), form.get("actor_token_type")) {
            (None, None) => None,
            (Some(token), Some(kind)) => Some(
                self.presented_token(client, token, kind, "actor_token", now)
                    .await?,
            ),
            _ => {
                return Err(ErrorKind::MalformedRequest(
                    "actor_token and actor_token_type go together".into(),
                )
                .into())
            }
        };
        match form.get("requested_token_type") {
            None | Some(ACCESS_TOKEN_TYPE) => {}
            Some(_) => {
                return Err(invalid(
                    "requested_token_type",
                    "only access tokens are issued by token exchange",
                ))
            }
        }
        let audience = match (form.get("audience"), form.get("resource")) {
            (Some(a), Some(r)) if a != r => {
                return Err(ErrorKind::InvalidTarget("audience and resource differ".into()).into())
            }
            (Some(a), _) | (None, Some(a)) => Some(a),
            (None, None) => None,
        };
        let mut scopes = match form.get("scope") {
            Some(raw) => client.requested_scopes(Some(raw))?,
            None => {
                let mut within = subject.scopes.clone();
                within.retain(|s| client.settings.allowed_scopes.contains(s));
                within
            }
        };
        // An exchanged token never starts a refresh family.
        scopes.remove(scope::OFFLINE_ACCESS);

        let decision = match &self.exchange_policy {
            None => ExchangeDecision::Allow,
            Some(policy) => policy.decide(&ExchangeRequest {
                client,
                subject_token_type: subject.token_type,
                subject: &subject.subject,
                subject_client_id: &subject.client_id,
                subject_scopes: &subject.scopes,
                subject_audience: &subject.audience,
                actor: actor.as_ref().map(|a| a.subject.as_str()),
                audience,
                scopes: &scopes,
            }),
        };
        match decision {
            ExchangeDecision::Deny => {
                return Err(ErrorKind::UnauthorizedClient(
                    "the client may not exchange this token".into(),
                )
                .into())
            }
            ExchangeDecision::AllowBeyondSubject => {}
            _ => {
                let own = &self.config.access_token_audience;
                if audience.is_some_and(|a| a != subject.audience && a != own) {
                    return Err(ErrorKind::InvalidTarget(
                        "the audience is not the subject token's".into(),
                    )
                    .into());
                }
                if !scopes.is_subset_of(&subject.scopes) {
                    return Err(ErrorKind::InvalidScope(
                        "the scope exceeds the subject token's".into(),
                    )
                    .into());
                }
            }
        }
        // Delegation: the actor, above any actor the subject token already named.
        let act = match actor {
            None => subject.act.take(),
            Some(actor) => {
                let mut act = json!({ "sub": actor.subject });
                if let Some(previous) = subject.act.take() {
                    act["act"] = previous;
                }
                Some(act)
            }
        };
        let mut response = self
            .issue_access_only(
                AccessOnly {
                    grant_type: GrantType::TokenExchange,
                    client,
                    subject: Some(&subject.subject),
                    scopes: &scopes,
                    grant_id: subject.grant.as_ref(),
                    audience: Some(audience.unwrap_or(&subject.audience)),
                    act: act.as_ref(),
                },
                now,
            )
            .await?;
        response.issued_token_type = Some(ACCESS_TOKEN_TYPE);
        Ok(response)
    }

    /// Verify a subject or actor token: an access token of ours (any audience, not expired,
    /// grant active, not revoked) or an ID token of ours issued to the asking client (not
    /// expired).
    async fn presented_token(
        &self,
        client: &Client,
        token: &str,
        token_type: &str,
        name: &'static str,
        now: OffsetDateTime,
    ) -> Result<Presented, Error> {
        match token_type {
            ACCESS_TOKEN_TYPE => {
                let verified = self
                    .verify_issued_access_token(token, true)
                    .await
                    .map_err(|e| {
                        invalid(name, "not an active access token of this provider").with_cause(e)
                    })?;
                let c = verified.claims;
                let scopes =
                    Scopes::parse(&c.scope).map_err(|_| invalid(name, "malformed scope"))?;
                Ok(Presented {
                    token_type: ExchangedTokenType::AccessToken,
                    subject: c.sub,
                    client_id: c.client_id,
                    scopes,
                    audience: c.aud,
                    grant: c.grant.map(GrantId),
                    act: c.act,
                })
            }
            ID_TOKEN_TYPE => {
                #[derive(Deserialize)]
                struct IdClaims {
                    iss: String,
                    sub: String,
                    aud: Value,
                    exp: i64,
                }
                let bad = || invalid(name, "not a valid ID token of this provider");
                let jws = self.keys().verify(token).map_err(|e| bad().with_cause(e))?;
                let claims: IdClaims =
                    serde_json::from_slice(jws.payload()).map_err(|e| bad().with_cause(e))?;
                let audiences: Vec<&str> = match &claims.aud {
                    Value::String(a) => vec![a.as_str()],
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                if claims.iss != self.config.issuer() || now.unix_timestamp() >= claims.exp {
                    return Err(bad());
                }
                // An ID token is for the client it was issued to.
                if !audiences.contains(&client.client_id.as_str()) {
                    return Err(invalid(name, "the ID token was issued to another client"));
                }
                Ok(Presented {
                    token_type: ExchangedTokenType::IdToken,
                    subject: claims.sub,
                    client_id: client.client_id.clone(),
                    // It grants no scope; its audience (the client) is no resource, so the
                    // new token is for the provider's own audience unless asked otherwise.
                    scopes: Scopes::default(),
                    audience: self.config.access_token_audience.clone(),
                    grant: None,
                    act: None,
                })
            }
            _ => Err(invalid(
                if name == "subject_token" {
                    "subject_token_type"
                } else {
                    "actor_token_type"
                },
                "only access tokens and ID tokens of this provider are exchanged",
            )),
        }
    }
}
