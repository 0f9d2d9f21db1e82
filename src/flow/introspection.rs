//! Token introspection (RFC 7662) for authenticated confidential clients. Inactive, unknown,
//! expired and revoked tokens all answer `{"active": false}`.

use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::http::{HttpRequest, HttpResponse};
use crate::secret::SecretHash;
use crate::store::{Store, UserStore};
use crate::Provider;

#[derive(Serialize, Default)]
struct Introspection<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
    /// The actor of a delegated (exchanged) token, RFC 8693 §4.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a serde_json::Value>,
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// `POST` the introspection endpoint: `token`, optional `token_type_hint`, with client
    /// authentication by a confidential client. A client learns about the tokens issued to it;
    /// a resource server the administrator marked `introspect_any_token` about every access
    /// token. Any other token is described as `{"active": false}` (RFC 7662 section 4), so an
    /// anonymously registered client cannot probe other clients' tokens. Refresh tokens are
    /// described only to the client they were issued to.
    pub async fn introspect(&self, req: &HttpRequest<'_>) -> HttpResponse {
        match self.introspect_request(req).await {
            Ok(json) => HttpResponse::json_no_store(200, json),
            Err(err) => self.error_response(&err),
        }
    }

    async fn introspect_request(&self, req: &HttpRequest<'_>) -> Result<Vec<u8>, Error> {
        let form = self.read_form(req)?;
        let client = self.authenticate_client(req, &form).await?;
        if client.is_public() {
            return Err(
                ErrorKind::ClientAuthenticationFailed("public clients may not introspect").into(),
            );
        }
        let token = form.require("token")?;
        let to_json = |body: &Introspection<'_>| crate::json::to_json(body, 512);
        let verified = self
            .verify_issued_access_token(token, true)
            .await
            .ok()
            .filter(|v| {
                v.claims.client_id == client.client_id || client.settings.introspect_any_token
            });
        if let Some(verified) = verified {
            let c = &verified.claims;
            return to_json(&Introspection {
                active: true,
                scope: Some(c.scope.clone()),
                client_id: Some(&c.client_id),
                token_type: Some("Bearer"),
                exp: Some(c.exp),
                iat: Some(c.iat),
                sub: Some(&c.sub),
                aud: Some(&c.aud),
                iss: Some(&c.iss),
                jti: Some(&c.jti),
                act: c.act.as_ref(),
            });
        }
        let now = self.clock.now();
        if let Some(found) = self.store.refresh_token(&SecretHash::of(token)).await? {
            let r = &found.record;
            let grant_active = self
                .store
                .grant(&r.grant_id)
                .await?
                .is_some_and(|g| g.is_active_at(now));
            if !found.rotated
                && now < r.expires_at
                && grant_active
                && r.client_id == client.client_id
            {
                return to_json(&Introspection {
                    active: true,
                    scope: Some(r.scopes.to_string()),
                    client_id: Some(&r.client_id),
                    token_type: Some("refresh_token"),
                    exp: Some(r.expires_at.unix_timestamp()),
                    iat: Some(r.issued_at.unix_timestamp()),
                    sub: Some(&r.subject),
                    iss: Some(self.config.issuer()),
                    ..Default::default()
                });
            }
        }
        to_json(&Introspection::default())
    }
}
