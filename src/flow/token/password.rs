//! `grant_type=password` (RFC 6749 §4.3): exists to migrate legacy applications. Off unless the
//! provider enables it (`Config::password_grant_enabled`) and the client registered it.

use time::OffsetDateTime;

use super::{Issue, TokenResponse};
use crate::client::{Client, GrantType};
use crate::error::{Error, ErrorKind};
use crate::host::Attempt;
use crate::http::FormParams;
use crate::scope;
use crate::store::{GrantId, Store, UserStore};
use crate::Provider;

impl<S: Store, U: UserStore> Provider<S, U> {
    pub(super) async fn password_grant(
        &self,
        client: &Client,
        form: &FormParams<'_>,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, Error> {
        let username = form.require("username")?;
        let password = form.require("password")?;
        let mut scopes = client.requested_scopes(form.get("scope"))?;
        if !client.allows_grant(GrantType::RefreshToken) {
            scopes.remove(scope::OFFLINE_ACCESS);
        }
        let attempt = Attempt::Password { username };
        if !self.rate_limit.allow(&attempt) {
            return Err(ErrorKind::RateLimited.into());
        }
        // Same answer for an unknown user and a wrong password.
        let Some(subject) = self.users.authenticate(username, password).await? else {
            self.rate_limit.failed(&attempt);
            return Err(ErrorKind::InvalidGrant("invalid resource owner credentials").into());
        };
        self.rate_limit.succeeded(&attempt);
        let id = GrantId(crate::secret::random_token(&*self.rng, 16)?);
        let grant = self.new_grant(
            id,
            &client.client_id,
            Some(&subject),
            &scopes,
            Some(now),
            now,
        );
        self.store.create_grant(grant.clone()).await?;
        self.issue_tokens(
            Issue {
                client,
                grant: &grant,
                subject: &subject,
                scopes: &scopes,
                auth_time: Some(now),
                nonce: None,
                refresh: scopes.contains(scope::OFFLINE_ACCESS),
            },
            now,
        )
        .await
    }
}
