//! `grant_type=client_credentials` (RFC 6749 §4.4): confidential clients only; an access token
//! and nothing else.

use time::OffsetDateTime;

use super::TokenResponse;
use crate::client::{Client, GrantType};
use crate::error::{Error, ErrorKind};
use crate::host::{Event, Issued, TokenContext};
use crate::http::FormParams;
use crate::scope;
use crate::store::{Store, UserStore};
use crate::token::AccessTokenInput;
use crate::Provider;

impl<S: Store, U: UserStore> Provider<S, U> {
    pub(super) async fn client_credentials_grant(
        &self,
        client: &Client,
        form: &FormParams<'_>,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, Error> {
        if client.is_public() {
            return Err(ErrorKind::UnauthorizedClient(
                "public clients may not use client_credentials".into(),
            )
            .into());
        }
        let scopes = client.requested_scopes(form.get("scope"))?;
        if scopes.contains(scope::OPENID) || scopes.contains(scope::OFFLINE_ACCESS) {
            return Err(
                ErrorKind::InvalidScope("openid and offline_access need a user".into()).into(),
            );
        }
        let resource = Self::token_resource(client, form, None)?;
        let extra = self
            .extra_claims(TokenContext {
                grant_type: GrantType::ClientCredentials,
                client,
                subject: None,
                scopes: &scopes,
                grant_id: None,
                id_token: false,
            })
            .await?;
        let access = self.mint_access_token(
            AccessTokenInput {
                subject: &client.client_id,
                client_id: &client.client_id,
                scopes: &scopes,
                auth_time: None,
                grant_id: None,
                extra: Some(&extra.access_token),
                audience: resource.as_deref(),
                act: None,
            },
            now,
        )?;
        self.events.emit(&Event::TokensIssued {
            grant_type: GrantType::ClientCredentials,
            client_id: &client.client_id,
            subject: None,
            grant_id: None,
            scopes: &scopes,
            issued: Issued {
                access_token: true,
                ..Issued::default()
            },
        });
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            scope: (!scopes.is_empty()).then(|| scopes.to_string()),
            id_token: None,
            refresh_token: None,
            issued_token_type: None,
        })
    }
}
