//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3).
//!
//! A client authenticates only by the method it registered: `client_secret_basic`,
//! `client_secret_post`, or `none` (public clients, identified by `client_id` alone). Secrets are
//! compared as SHA-256 hashes in constant time; expired secrets authenticate nothing.

use std::sync::Arc;

use crate::client::{AuthMethod, Client};
use crate::error::{Error, ErrorKind};
use crate::host::{Attempt, Event, Outcome};
use crate::http::{parse_basic_authorization, FormParams, HttpRequest};
use crate::secret::SecretHash;
use crate::store::{Store, UserStore};
use crate::Provider;

fn failed(reason: &'static str) -> Error {
    Error::new(ErrorKind::ClientAuthenticationFailed(reason))
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Authenticate the client of a token-endpoint-style request.
    pub(crate) async fn authenticate_client(
        &self,
        req: &HttpRequest<'_>,
        form: &FormParams<'_>,
    ) -> Result<Arc<Client>, Error> {
        if req.header_count("authorization") > 1 {
            return Err(
                ErrorKind::MalformedRequest("more than one Authorization header".into()).into(),
            );
        }
        let basic = match req.header_value("authorization") {
            Some(value) if value.len() >= 6 && value[..6].eq_ignore_ascii_case(b"basic ") => Some(
                parse_basic_authorization(value)
                    .ok_or_else(|| failed("malformed Basic credentials"))?,
            ),
            _ => None,
        };
        let form_id = form.get("client_id");
        let form_secret = form.get("client_secret");
        let (client_id, method, secret) = match (&basic, form_secret) {
            (Some(_), Some(_)) => {
                return Err(ErrorKind::MalformedRequest(
                    "more than one client authentication method".into(),
                )
                .into())
            }
            (Some(b), None) => {
                if form_id.is_some_and(|id| id != b.client_id) {
                    return Err(ErrorKind::MalformedRequest(
                        "client_id does not match the Authorization header".into(),
                    )
                    .into());
                }
                (
                    b.client_id.as_str(),
                    AuthMethod::ClientSecretBasic,
                    Some(b.client_secret.as_str()),
                )
            }
            (None, Some(secret)) => (
                form_id.ok_or_else(|| failed("client_secret without client_id"))?,
                AuthMethod::ClientSecretPost,
                Some(secret),
            ),
            (None, None) => (
                form_id.ok_or_else(|| failed("no client authentication"))?,
                AuthMethod::None,
                None,
            ),
        };
        let failed = |reason| {
            self.events
                .emit(&Event::ClientAuthenticationFailed { client_id, reason });
            failed(reason)
        };
        let client = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| failed("unknown client"))?;
        if client.settings.token_endpoint_auth_method != method {
            return Err(failed("not the client's registered authentication method"));
        }
        if let Some(secret) = secret {
            let attempt = Attempt::ClientSecret { client_id };
            self.reserve(&attempt)?;
            let presented = SecretHash::of(secret);
            let now = self.clock.now();
            // Check every secret so timing does not tell which one matched.
            let mut ok = false;
            for s in &client.secrets {
                ok |= crate::secret::constant_time_eq(&s.hash.0, &presented.0) & s.is_valid_at(now);
            }
            if !ok {
                self.rate_limit.settle(&attempt, Outcome::Failed);
                return Err(failed("wrong or expired client secret"));
            }
            self.rate_limit.settle(&attempt, Outcome::Succeeded);
        }
        Ok(client)
    }
}
