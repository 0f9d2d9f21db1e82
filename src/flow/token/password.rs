//! `grant_type=password` (RFC 6749 §4.3): exists to migrate legacy applications. Off unless the
//! provider enables it (`Config::password_grant_enabled`) and the client registered it.

use time::OffsetDateTime;

use super::{Issue, TokenResponse};
use crate::client::{Client, GrantType};
use crate::error::{Error, ErrorKind};
use crate::host::{Attempt, Event, Outcome, SignInVia};
use crate::http::{FormParams, HttpRequest};
use crate::scope;
use crate::store::{GrantId, Store, UserStore};
use crate::Provider;

impl<S: Store, U: UserStore> Provider<S, U> {
    pub(super) async fn password_grant(
        &self,
        req: &HttpRequest<'_>,
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
        let resource = Self::token_resource(client, form, None)?;
        let attempt = Attempt::Password {
            username,
            source: req.remote_addr,
        };
        // Reserved (and counted) before the password hash, so parallel guesses cannot exceed
        // the limiter's budget.
        self.reserve(&attempt)?;
        let checked = self.users.authenticate(username, password).await;
        let outcome = match &checked {
            Ok(Some(_)) => Outcome::Succeeded,
            Ok(None) => Outcome::Failed,
            Err(_) => Outcome::NotChecked,
        };
        self.rate_limit.settle(&attempt, outcome);
        // Same answer for an unknown user and a wrong password.
        let Some(subject) = checked? else {
            self.events.emit(&Event::SignInFailed {
                username,
                client_id: Some(&client.client_id),
                via: SignInVia::PasswordGrant,
            });
            return Err(ErrorKind::InvalidGrant("invalid resource owner credentials").into());
        };
        self.events.emit(&Event::SignInSucceeded {
            subject: &subject,
            client_id: Some(&client.client_id),
            via: SignInVia::PasswordGrant,
        });
        let id = GrantId(crate::secret::random_token(&*self.rng, 16)?);
        let mut grant = self.new_grant(
            id,
            &client.client_id,
            Some(&subject),
            &scopes,
            Some(now),
            now,
        );
        // The family keeps the resource: its refreshes are for it too.
        grant.resource = resource.clone();
        self.store.create_grant(grant.clone()).await?;
        self.issue_tokens(
            Issue {
                grant_type: GrantType::Password,
                client,
                grant: &grant,
                subject: &subject,
                scopes: &scopes,
                auth_time: Some(now),
                nonce: None,
                refresh: scopes.contains(scope::OFFLINE_ACCESS),
                rotated: None,
                resource,
                extra: None,
            },
            now,
        )
        .await
    }
}
