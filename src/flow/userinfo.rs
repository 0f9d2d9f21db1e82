//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims the access token's scopes
//! release, for a token presented in the `Authorization` header (or, for POST, the form body);
//! as JSON, or as a signed JWT (`application/jwt`, with `iss` and `aud`) for a client that
//! registered `userinfo_signed_response_alg`.

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
    /// Only in the signed form.
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    sub: &'a str,
    #[serde(flatten)]
    claims: ScopedClaims<'a>,
}

/// The answer: JSON, or the signed JWT a client asked for.
enum Answer {
    Json(Vec<u8>),
    Jwt(String),
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// `GET` or `POST` the UserInfo endpoint. A bad, expired or revoked token gets 401 with
    /// `WWW-Authenticate: Bearer error="invalid_token"`.
    pub async fn userinfo(&self, req: &HttpRequest<'_>) -> HttpResponse {
        match self.userinfo_answer(req).await {
            Ok(Answer::Json(body)) => HttpResponse::json(200, body).no_store(),
            Ok(Answer::Jwt(token)) => HttpResponse {
                status: 200,
                headers: vec![
                    ("content-type", "application/jwt".into()),
                    ("x-content-type-options", "nosniff".into()),
                ],
                body: token.into_bytes(),
            }
            .no_store(),
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

    async fn userinfo_answer(&self, req: &HttpRequest<'_>) -> Result<Answer, Error> {
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
        let alg = self
            .store
            .client(&verified.claims.client_id)
            .await?
            .and_then(|c| c.settings.userinfo_signed_response_alg);
        let mut body = UserInfo {
            iss: None,
            aud: None,
            sub: &verified.claims.sub,
            claims: ScopedClaims::new(&claims, &scopes),
        };
        let Some(alg) = alg else {
            return Ok(Answer::Json(crate::json::to_json(&body, 512)?));
        };
        body.iss = Some(self.config.issuer());
        body.aud = Some(&verified.claims.client_id);
        let keys = self.keys();
        let key = keys
            .active(alg)
            .ok_or_else(|| Error::new(ErrorKind::Signing))?;
        let payload = crate::json::to_json(&body, 512)?;
        Ok(Answer::Jwt(crate::jose::sign_compact(
            key, "JWT", &payload,
        )?))
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
