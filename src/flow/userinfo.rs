//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims the access token's scopes
//! release, for a token presented in the `Authorization` header (or, for POST, the form body).

use std::borrow::Cow;

use serde::Serialize;

use crate::claims::ScopedClaims;
use crate::error::{Error, ErrorKind};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::scope::{self, Scopes};
use crate::store::{Store, UserStore};
use crate::Provider;

#[derive(Serialize)]
struct UserInfo<'a> {
    sub: &'a str,
    #[serde(flatten)]
    claims: ScopedClaims<'a>,
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// `GET` or `POST` the UserInfo endpoint. A bad, expired or revoked token gets 401 with
    /// `WWW-Authenticate: Bearer error="invalid_token"`.
    pub async fn userinfo(&self, req: &HttpRequest<'_>) -> HttpResponse {
        match self.userinfo_json(req).await {
            Ok(body) => HttpResponse::json(200, body).no_store(),
            Err(err) => {
                let mut resp = self.error_response(&err);
                if err.status() == 403 {
                    resp.headers.push((
                        "www-authenticate",
                        "Bearer error=\"insufficient_scope\"".into(),
                    ));
                }
                resp
            }
        }
    }

    async fn userinfo_json(&self, req: &HttpRequest<'_>) -> Result<Vec<u8>, Error> {
        let token = self.userinfo_token(req)?;
        let verified = self.verify_access_token(&token).await?;
        let scopes = Scopes::parse(&verified.claims.scope)
            .map_err(|_| ErrorKind::InvalidToken("invalid access token"))?;
        if !scopes.contains(scope::OPENID) || verified.claims.grant.is_none() {
            return Err(ErrorKind::InsufficientScope(
                "the access token was not issued with the openid scope",
            )
            .into());
        }
        let claims = self
            .users
            .claims(&verified.claims.sub)
            .await?
            .ok_or(ErrorKind::InvalidToken("the user no longer exists"))?;
        let body = UserInfo {
            sub: &verified.claims.sub,
            claims: ScopedClaims::new(&claims, &scopes),
        };
        crate::json::to_json(&body, 512)
    }

    fn userinfo_token<'a>(&self, req: &'a HttpRequest<'a>) -> Result<Cow<'a, str>, Error> {
        match req.method {
            Method::Get => req.require_bearer().map(Cow::Borrowed),
            Method::Post => {
                let in_body = if req.is_form() && !req.body.is_empty() {
                    self.read_form(req)?.get("access_token").map(str::to_owned)
                } else {
                    None
                };
                match (req.header_count("authorization") > 0, in_body) {
                    (true, Some(_)) => Err(ErrorKind::MalformedRequest(
                        "the access token was sent in more than one way".into(),
                    )
                    .into()),
                    (true, None) => req.require_bearer().map(Cow::Borrowed),
                    (false, Some(token)) => Ok(Cow::Owned(token)),
                    (false, None) => Err(ErrorKind::MissingToken.into()),
                }
            }
            _ => Err(ErrorKind::MethodNotAllowed("GET, POST").into()),
        }
    }
}
