//! `grant_type=client_credentials` (RFC 6749 §4.4): confidential clients only; an access token
//! and nothing else.

use time::OffsetDateTime;

use super::{AccessOnly, TokenResponse};
use crate::client::{Client, GrantType};
use crate::error::{Error, ErrorKind};
use crate::http::FormParams;
use crate::scope;
use crate::store::{Store, UserStore};
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
        self.issue_access_only(
            AccessOnly {
                grant_type: GrantType::ClientCredentials,
                client,
                subject: None,
                scopes: &scopes,
                grant_id: None,
                audience: resource.as_deref(),
                act: None,
            },
            now,
        )
        .await
    }
}
