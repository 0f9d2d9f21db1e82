//! The token endpoint (RFC 6749 §3.2): reads the form, authenticates the client, and hands the
//! request to the module of its grant type.

mod client_credentials;
mod code;
mod exchange;
mod password;
mod refresh;

use serde::Serialize;
use time::OffsetDateTime;

use crate::client::{Client, GrantType};
use crate::error::{Error, ErrorKind};
use crate::host::{Event, ExtraClaims, Issued, TokenContext};
use crate::http::{parse_form, FormParams, HttpRequest, HttpResponse, ParamsFrom};
use crate::scope::{self, Scopes};
use crate::secret::IssuedSecret;
use crate::store::{Grant, GrantId, RefreshRecord};
use crate::store::{Store, UserStore};
use crate::token::{AccessTokenInput, IdTokenInput};
use crate::Provider;

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    /// The scopes granted (space-separated); omitted when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The refresh token, when `offline_access` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// What a token exchange issued (RFC 8693 §2.2.1); absent for the other grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl TokenResponse {
    /// The JSON body. Tokens and scopes never need escaping (base64url, dots, RFC 6749 scope
    /// characters), so the common case is written directly; anything else goes through serde.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        use std::io::Write as _;
        let optional = [
            ("scope", self.scope.as_deref()),
            ("id_token", self.id_token.as_deref()),
            ("refresh_token", self.refresh_token.as_deref()),
            ("issued_token_type", self.issued_token_type),
        ];
        let plain = |s: &str| crate::json::needs_no_escaping(s);
        if !plain(&self.access_token)
            || !plain(self.token_type)
            || !optional.iter().filter_map(|(_, v)| *v).all(plain)
        {
            return crate::json::to_json(self, 2048);
        }
        let len = self.access_token.len()
            + optional
                .iter()
                .filter_map(|(_, v)| v.map(str::len))
                .sum::<usize>();
        let mut out = Vec::with_capacity(len + 128);
        out.extend_from_slice(b"{\"access_token\":\"");
        out.extend_from_slice(self.access_token.as_bytes());
        out.extend_from_slice(b"\",\"token_type\":\"");
        out.extend_from_slice(self.token_type.as_bytes());
        out.extend_from_slice(b"\",\"expires_in\":");
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{}", self.expires_in);
        for (name, value) in optional {
            if let Some(value) = value {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":\"");
                out.extend_from_slice(value.as_bytes());
                out.push(b'"');
            }
        }
        out.push(b'}');
        Ok(out)
    }
}

/// Who the tokens are for and under which grant.
pub(crate) struct Issue<'a> {
    /// For the event reporting the issuance.
    pub grant_type: GrantType,
    pub client: &'a Client,
    pub grant: &'a Grant,
    pub subject: &'a str,
    pub scopes: &'a Scopes,
    pub auth_time: Option<OffsetDateTime>,
    pub nonce: Option<&'a str>,
    /// Issue a refresh token (first of a new family).
    pub refresh: bool,
    /// The refresh token a rotation already stored, to hand out with the new tokens.
    pub rotated: Option<String>,
    /// The resource the access token is for (RFC 8707), checked by
    /// [`Provider::token_resource`]; `None` for the provider's own audience.
    pub resource: Option<String>,
    /// The claims hook's answer when the grant asked it already (the refresh grant asks before
    /// it rotates, so a failing hook cannot spend the presented token).
    pub extra: Option<ExtraClaims>,
}

/// An issuance of an access token alone (client credentials, token exchange).
pub(crate) struct AccessOnly<'a> {
    pub grant_type: GrantType,
    pub client: &'a Client,
    /// The user the token speaks for; `None` for the client itself.
    pub subject: Option<&'a str>,
    pub scopes: &'a Scopes,
    pub grant_id: Option<&'a GrantId>,
    pub audience: Option<&'a str>,
    pub act: Option<&'a serde_json::Value>,
}

impl Issue<'_> {
    /// What the claims hook is told about this issuance.
    pub(crate) fn token_context(&self, id_token: bool) -> TokenContext<'_> {
        TokenContext {
            grant_type: self.grant_type,
            client: self.client,
            subject: Some(self.subject),
            scopes: self.scopes,
            grant_id: Some(&self.grant.id),
            id_token,
        }
    }
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Handle a token request.
    ///
    /// Returns the JSON token response, or the RFC 6749 §5.2 error (401 with
    /// `WWW-Authenticate` when client authentication failed); always `Cache-Control: no-store`.
    pub async fn token(&self, req: &HttpRequest<'_>) -> HttpResponse {
        match self.token_request(req).await {
            Ok(body) => match body.to_json() {
                Ok(json) => HttpResponse::json_no_store(200, json),
                Err(err) => self.error_response(&err),
            },
            Err(err) => self.error_response(&err),
        }
    }

    /// [`Provider::token`] with the typed result.
    pub async fn token_request(&self, req: &HttpRequest<'_>) -> Result<TokenResponse, Error> {
        let form = self.read_form(req)?;
        let grant_type = form.require("grant_type")?;
        let client = self.authenticate_client(req, &form).await?;
        let grant_type = GrantType::parse(grant_type)
            .filter(|g| *g != GrantType::Implicit)
            .filter(|g| *g != GrantType::Password || self.config.password_grant_enabled)
            .filter(|g| *g != GrantType::TokenExchange || self.config.token_exchange_enabled)
            .ok_or(ErrorKind::UnsupportedGrantType)?;
        if !client.allows_grant(grant_type) {
            return Err(ErrorKind::UnauthorizedClient(
                format!("the client may not use grant_type {}", grant_type.as_str()).into(),
            )
            .into());
        }
        let now = self.clock.now();
        match grant_type {
            GrantType::AuthorizationCode => self.code_grant(&client, &form, now).await,
            GrantType::RefreshToken => self.refresh_grant(&client, &form, now).await,
            GrantType::ClientCredentials => {
                self.client_credentials_grant(&client, &form, now).await
            }
            GrantType::Password => self.password_grant(req, &client, &form, now).await,
            GrantType::TokenExchange => self.token_exchange_grant(&client, &form, now).await,
            GrantType::Implicit => Err(ErrorKind::UnsupportedGrantType.into()),
        }
    }

    /// The resource an access token of this request is for (RFC 8707 §2.2): the `resource`
    /// parameter, which must be the grant's resource when the grant has one and else one the
    /// client may ask for (`invalid_target` otherwise); without the parameter, the grant's.
    pub(crate) fn token_resource(
        client: &Client,
        form: &FormParams<'_>,
        granted: Option<&str>,
    ) -> Result<Option<String>, Error> {
        match (form.get("resource"), granted) {
            (Some(asked), Some(granted)) if asked != granted => {
                Err(ErrorKind::InvalidTarget("the grant is for another resource".into()).into())
            }
            (Some(asked), None) => {
                client.check_resource(asked)?;
                Ok(Some(asked.to_owned()))
            }
            (Some(asked), Some(_)) => Ok(Some(asked.to_owned())),
            (None, granted) => Ok(granted.map(str::to_owned)),
        }
    }

    /// The form of a POST to the token, revocation or introspection endpoint.
    pub(crate) fn read_form<'a>(&self, req: &'a HttpRequest<'a>) -> Result<FormParams<'a>, Error> {
        let body = req.params_text(ParamsFrom::Post, &self.config)?;
        // RFC 6749 §2.3.1: credentials never in the URI.
        if req.query.contains("client_secret") {
            return Err(ErrorKind::MalformedRequest(
                "client_secret must not be sent in the URI".into(),
            )
            .into());
        }
        parse_form(body)
    }

    /// Mint the access token, ID token (with `openid`) and refresh token (when asked) of a
    /// grant.
    pub(crate) async fn issue_tokens(
        &self,
        issue: Issue<'_>,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, Error> {
        let with_id_token = issue.scopes.contains(scope::OPENID);
        let extra = match issue.extra {
            Some(extra) => extra,
            None => {
                self.extra_claims(issue.token_context(with_id_token))
                    .await?
            }
        };
        let access = self.mint_access_token(
            AccessTokenInput {
                subject: issue.subject,
                client_id: &issue.client.client_id,
                scopes: issue.scopes,
                auth_time: issue.auth_time,
                grant_id: Some(&issue.grant.id),
                extra: Some(&extra.access_token),
                audience: issue.resource.as_deref(),
                act: None,
            },
            now,
        )?;
        let id_token = if with_id_token {
            let claims = self
                .users
                .claims(issue.subject)
                .await?
                .ok_or(ErrorKind::InvalidGrant("the user no longer exists"))?;
            Some(self.mint_id_token(
                IdTokenInput {
                    client: issue.client,
                    subject: issue.subject,
                    scopes: issue.scopes,
                    auth_time: issue.auth_time.unwrap_or(now),
                    nonce: issue.nonce,
                    access_token: Some(&access.token),
                    code: None,
                    claims: Some(&claims),
                    extra: Some(&extra.id_token),
                },
                now,
            )?)
        } else {
            None
        };
        let refresh_token = if let Some(rotated) = issue.rotated {
            Some(rotated)
        } else if issue.refresh {
            let secret = IssuedSecret::generate(&*self.rng)?;
            self.store
                .put_refresh_token(self.refresh_record(
                    &secret,
                    issue.grant,
                    issue.subject,
                    issue.scopes,
                    issue.auth_time.unwrap_or(now),
                    now,
                ))
                .await?;
            Some(secret.plaintext)
        } else {
            None
        };
        self.events.emit(&Event::TokensIssued {
            grant_type: issue.grant_type,
            client_id: &issue.client.client_id,
            subject: Some(issue.subject),
            grant_id: Some(&issue.grant.id),
            scopes: issue.scopes,
            issued: Issued {
                code: false,
                access_token: true,
                id_token: id_token.is_some(),
                refresh_token: refresh_token.is_some(),
            },
        });
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            scope: (!issue.scopes.is_empty()).then(|| issue.scopes.to_string()),
            id_token,
            refresh_token,
            issued_token_type: None,
        })
    }

    /// Ask the claims hook, mint the access token, report the issuance and answer: what every
    /// grant that issues an access token alone does.
    pub(crate) async fn issue_access_only(
        &self,
        issue: AccessOnly<'_>,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, Error> {
        let extra = self
            .extra_claims(TokenContext {
                grant_type: issue.grant_type,
                client: issue.client,
                subject: issue.subject,
                scopes: issue.scopes,
                grant_id: issue.grant_id,
                id_token: false,
            })
            .await?;
        let access = self.mint_access_token(
            AccessTokenInput {
                subject: issue.subject.unwrap_or(&issue.client.client_id),
                client_id: &issue.client.client_id,
                scopes: issue.scopes,
                auth_time: None,
                grant_id: issue.grant_id,
                extra: Some(&extra.access_token),
                audience: issue.audience,
                act: issue.act,
            },
            now,
        )?;
        self.events.emit(&Event::TokensIssued {
            grant_type: issue.grant_type,
            client_id: &issue.client.client_id,
            subject: issue.subject,
            grant_id: issue.grant_id,
            scopes: issue.scopes,
            issued: Issued {
                access_token: true,
                ..Issued::default()
            },
        });
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            scope: (!issue.scopes.is_empty()).then(|| issue.scopes.to_string()),
            id_token: None,
            refresh_token: None,
            issued_token_type: None,
        })
    }

    /// A refresh token record: expires after the idle lifetime, never after its grant.
    pub(crate) fn refresh_record(
        &self,
        secret: &IssuedSecret,
        grant: &Grant,
        subject: &str,
        scopes: &Scopes,
        auth_time: OffsetDateTime,
        now: OffsetDateTime,
    ) -> RefreshRecord {
        RefreshRecord {
            hash: secret.hash,
            grant_id: grant.id.clone(),
            client_id: grant.client_id.clone(),
            subject: subject.to_owned(),
            scopes: scopes.clone(),
            auth_time,
            issued_at: now,
            expires_at: (now + self.config.refresh_token_idle_ttl).min(grant.expires_at),
        }
    }

    /// The grant a code or refresh token belongs to, if it is still active.
    pub(crate) async fn active_grant(
        &self,
        id: &crate::store::GrantId,
        now: OffsetDateTime,
    ) -> Result<Grant, Error> {
        self.store
            .grant(id)
            .await?
            .filter(|g| g.is_active_at(now))
            .ok_or_else(|| ErrorKind::InvalidGrant("the grant was revoked or has expired").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(scope: Option<&str>, refresh: Option<&str>) -> TokenResponse {
        TokenResponse {
            access_token: "eyJ.eyJ.sig".into(),
            token_type: "Bearer",
            expires_in: 3600,
            scope: scope.map(str::to_owned),
            id_token: Some("eyJ.eyJ.sig2".into()),
            refresh_token: refresh.map(str::to_owned),
            issued_token_type: None,
        }
    }

    #[test]
    fn hand_written_json_equals_serde() {
        for r in [
            response(Some("openid email"), Some("rt-_x")),
            response(None, None),
            response(Some("weird\"scope"), None),
        ] {
            let ours: serde_json::Value = serde_json::from_slice(&r.to_json().unwrap()).unwrap();
            assert_eq!(ours, serde_json::to_value(&r).unwrap());
        }
    }
}
