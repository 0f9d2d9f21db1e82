//! The HTTP faces of client management: the management API (`/clients`), RFC 7591 dynamic
//! registration and the RFC 7592 client configuration endpoint.
//!
//! Who may call the management API (an admin bearer token, a session, mTLS, …) is the host's
//! decision; these methods assume the caller is authorised.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;

use super::manage::{ClientWithSecrets, NewClient, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use super::metadata::{validate, MetadataError, MetadataErrorKind, MetadataSource};
use super::{Client, ClientSecret, ClientSettings, GrantType, ResponseType};
use crate::config::RegistrationPolicy;
use crate::error::{Error, ErrorKind};
use crate::host::{Attempt, Outcome};
use crate::http::{parse_form, HttpRequest, HttpResponse, Method};
use crate::jose::Algorithm;
use crate::secret::SecretHash;
use crate::store::{SortOrder, StoreErrorKind};
use crate::store::{Store, UserStore};
use crate::Provider;

/// A management API error: `{"error": code, "message": …, "field": …}` with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementError {
    /// What went wrong; it gives the stable `error` code and the HTTP status.
    pub kind: ManagementErrorKind,
    /// For people.
    pub message: String,
    /// The offending field, when one is at fault.
    pub field: Option<String>,
    /// For `405`: the methods the resource allows (the `Allow` header).
    pub allow: Option<&'static str>,
}

/// The kinds of management API errors, each with a stable wire code and an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagementErrorKind {
    /// The client document is wrong (400; the code says how).
    Metadata(MetadataErrorKind),
    /// The body is not a JSON object (400 `invalid_json`).
    InvalidJson,
    /// A query parameter is wrong (400 `invalid_parameter`).
    InvalidParameter,
    /// The body is too large (413 `too_large`).
    TooLarge,
    /// The body is not JSON (415 `unsupported_media_type`).
    UnsupportedMediaType,
    /// No such client or secret (404 `not_found`).
    NotFound,
    /// The method is not allowed on this path (405 `method_not_allowed`).
    MethodNotAllowed,
    /// A client with the same identifier exists, or a concurrent change won (409 `conflict`).
    Conflict,
    /// Public clients have no secrets (409 `public_client`).
    PublicClient,
    /// The client already holds the most secrets it may (409 `too_many_secrets`).
    TooManySecrets,
    /// The store is briefly unavailable (503 `temporarily_unavailable`).
    Unavailable,
    /// Something failed on the server (500 `server_error`).
    ServerError,
}

impl ManagementErrorKind {
    /// The stable machine code (`error` member).
    pub fn code(self) -> &'static str {
        use ManagementErrorKind as K;
        match self {
            K::Metadata(kind) => kind.code(),
            K::InvalidJson => "invalid_json",
            K::InvalidParameter => "invalid_parameter",
            K::TooLarge => "too_large",
            K::UnsupportedMediaType => "unsupported_media_type",
            K::NotFound => "not_found",
            K::MethodNotAllowed => "method_not_allowed",
            K::Conflict => "conflict",
            K::PublicClient => "public_client",
            K::TooManySecrets => "too_many_secrets",
            K::Unavailable => "temporarily_unavailable",
            K::ServerError => "server_error",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        use ManagementErrorKind as K;
        match self {
            K::Metadata(_) | K::InvalidJson | K::InvalidParameter => 400,
            K::NotFound => 404,
            K::MethodNotAllowed => 405,
            K::Conflict | K::PublicClient | K::TooManySecrets => 409,
            K::TooLarge => 413,
            K::UnsupportedMediaType => 415,
            K::ServerError => 500,
            K::Unavailable => 503,
        }
    }
}

impl ManagementError {
    pub(crate) fn new(kind: ManagementErrorKind, message: impl Into<String>) -> Self {
        ManagementError {
            kind,
            message: message.into(),
            field: None,
            allow: None,
        }
    }

    pub(crate) fn on_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        ManagementError {
            allow: Some(allow),
            ..ManagementError::new(
                ManagementErrorKind::MethodNotAllowed,
                format!("method not allowed; use {allow}"),
            )
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The JSON response.
    pub fn into_http(self) -> HttpResponse {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
        }
        let body = serde_json::to_vec(&Body {
            error: self.kind.code(),
            message: &self.message,
            field: self.field.as_deref(),
        })
        .unwrap_or_default();
        let mut resp = HttpResponse::json(self.status(), body).no_store();
        if let Some(allow) = self.allow {
            resp = resp.with_header("allow", allow);
        }
        resp
    }
}

impl From<MetadataError> for ManagementError {
    fn from(e: MetadataError) -> Self {
        ManagementError::new(ManagementErrorKind::Metadata(e.kind), e.message).on_field(e.field)
    }
}

impl From<Error> for ManagementError {
    fn from(e: Error) -> Self {
        use ManagementErrorKind as K;
        match e.kind() {
            ErrorKind::Store(StoreErrorKind::Conflict) => {
                ManagementError::new(K::Conflict, "a client with the same identifier exists")
            }
            ErrorKind::Store(StoreErrorKind::Unavailable) => {
                ManagementError::new(K::Unavailable, e.description())
            }
            ErrorKind::InvalidClientMetadata(reason) => {
                let (field, message) = reason.split_once(": ").unwrap_or(("", reason));
                let err =
                    ManagementError::new(K::Metadata(MetadataErrorKind::InvalidValue), message);
                if field.is_empty() {
                    err
                } else {
                    err.on_field(field)
                }
            }
            _ => ManagementError::new(K::ServerError, e.description()),
        }
    }
}

/// The management API's view of a client.
#[derive(Serialize)]
struct ManagedView<'a> {
    id: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    redirect_uris: &'a [String],
    post_logout_redirect_uris: &'a [String],
    id_token_signed_response_alg: Algorithm,
    token_endpoint_auth_method: &'static str,
    grant_types: Vec<&'static str>,
    response_types: &'a [ResponseType],
    allowed_scopes: Vec<&'a str>,
    allowed_origins: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_dark_mode_uri: Option<&'a str>,
    require_pkce: bool,
    allow_plain_pkce: bool,
    introspect_any_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_grace_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_grace_reuses: Option<u32>,
    allowed_resources: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    userinfo_signed_response_alg: Option<Algorithm>,
    metadata: &'a BTreeMap<String, Value>,
    client_secrets: Vec<SecretView<'a>>,
    date_created: String,
    date_modified: String,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn grant_names(grants: &[GrantType]) -> Vec<&'static str> {
    grants.iter().map(|g| g.as_str()).collect()
}

fn managed_view<'a>(client: &'a Client, secret: Option<&'a str>) -> ManagedView<'a> {
    let s = &client.settings;
    ManagedView {
        id: &client.id,
        client_id: &client.client_id,
        client_secret: secret,
        name: &s.name,
        description: s.description.as_deref(),
        redirect_uris: &s.redirect_uris,
        post_logout_redirect_uris: &s.post_logout_redirect_uris,
        id_token_signed_response_alg: s.id_token_signed_response_alg,
        token_endpoint_auth_method: s.token_endpoint_auth_method.as_str(),
        grant_types: grant_names(&s.grant_types),
        response_types: &s.response_types,
        allowed_scopes: s.allowed_scopes.iter().collect(),
        allowed_origins: &s.allowed_origins,
        logo_uri: s.logo_uri.as_deref(),
        logo_dark_mode_uri: s.logo_dark_mode_uri.as_deref(),
        require_pkce: s.require_pkce,
        allow_plain_pkce: s.allow_plain_pkce,
        introspect_any_token: s.introspect_any_token,
        refresh_grace_seconds: s.refresh_grace.map(|g| g.window_seconds()),
        refresh_grace_reuses: s.refresh_grace.map(|g| g.reuses()),
        allowed_resources: &s.allowed_resources,
        userinfo_signed_response_alg: s.userinfo_signed_response_alg,
        metadata: &s.metadata,
        client_secrets: client
            .secrets
            .iter()
            .map(|c| secret_view(c, None))
            .collect(),
        date_created: rfc3339(client.date_created),
        date_modified: rfc3339(client.date_modified),
    }
}

/// A client secret as the management API shows it (the plaintext only on creation).
#[derive(Serialize)]
struct SecretView<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    created_at: String,
    expires: Option<String>,
}

fn secret_view<'a>(secret: &'a ClientSecret, plaintext: Option<&'a str>) -> SecretView<'a> {
    SecretView {
        id: &secret.id,
        name: &secret.name,
        client_secret: plaintext,
        created_at: rfc3339(secret.created_at),
        expires: secret.expires_at.map(rfc3339),
    }
}

/// The registration (RFC 7591 §3.2.1) view of a client.
#[derive(Serialize)]
struct RegistrationView<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_access_token: Option<&'a str>,
    registration_client_uri: String,
    client_name: &'a str,
    redirect_uris: &'a [String],
    post_logout_redirect_uris: &'a [String],
    token_endpoint_auth_method: &'static str,
    id_token_signed_response_alg: Algorithm,
    #[serde(skip_serializing_if = "Option::is_none")]
    userinfo_signed_response_alg: Option<Algorithm>,
    grant_types: Vec<&'static str>,
    response_types: &'a [ResponseType],
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_dark_mode_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    allowed_origins: &'a [String],
    #[serde(flatten)]
    extras: &'a BTreeMap<String, Value>,
}

fn json_response<T: Serialize>(status: u16, body: &T) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(json) => HttpResponse::json(status, json).no_store(),
        Err(_) => ManagementError::new(
            ManagementErrorKind::ServerError,
            "could not serialise the response",
        )
        .into_http(),
    }
}

/// Read a JSON object body.
fn json_object(req: &HttpRequest<'_>, max: usize) -> Result<Map<String, Value>, ManagementError> {
    if req.body.len() > max {
        return Err(ManagementError::new(
            ManagementErrorKind::TooLarge,
            "the body is too large",
        ));
    }
    if !req.is_json() {
        return Err(ManagementError::new(
            ManagementErrorKind::UnsupportedMediaType,
            "the body must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(req.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ManagementError::new(
            ManagementErrorKind::InvalidJson,
            "the body must be a JSON object",
        )),
        Err(e) => Err(ManagementError::new(
            ManagementErrorKind::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

impl<S: Store, U: UserStore> Provider<S, U> {
    /// The management API: `POST /clients`, `GET /clients`, and `GET`/`PUT`/`DELETE`
    /// `/clients/{id}` (`id` is the management id). The host checks the caller's authority
    /// first.
    ///
    /// Listing takes `page_size` (1–1000, default 100), `after` (a management id; the page
    /// starts after it) and `sort` (`asc`, the default, or `desc`), and returns
    /// `{"items": [...], "next": <id or null>}`.
    pub async fn manage_clients(&self, req: &HttpRequest<'_>, id: Option<&str>) -> HttpResponse {
        match self.manage(req, id).await {
            Ok(resp) => resp,
            Err(e) => e.into_http(),
        }
    }

    async fn manage(
        &self,
        req: &HttpRequest<'_>,
        id: Option<&str>,
    ) -> Result<HttpResponse, ManagementError> {
        let not_found =
            || ManagementError::new(ManagementErrorKind::NotFound, "no client with this id");
        match (req.method, id) {
            (Method::Post, None) => {
                let settings = self.settings_from(req, MetadataSource::Management)?;
                let created = self.create_client(settings, NewClient::new()).await?;
                Ok(json_response(
                    201,
                    &managed_view(&created.client, created.client_secret.as_deref()),
                ))
            }
            (Method::Get, None) => self.list_page(req.query).await,
            (Method::Get, Some(id)) => {
                let client = self
                    .store
                    .client_by_id(id)
                    .await
                    .map_err(Error::from)?
                    .ok_or_else(not_found)?;
                Ok(json_response(200, &managed_view(&client, None)))
            }
            (Method::Put, Some(id)) => {
                let settings = self.settings_from(req, MetadataSource::Management)?;
                let updated = self
                    .update_client(id, settings)
                    .await?
                    .ok_or_else(not_found)?;
                Ok(json_response(
                    200,
                    &managed_view(&updated.client, updated.client_secret.as_deref()),
                ))
            }
            (Method::Delete, Some(id)) => {
                self.delete_client(id).await?.ok_or_else(not_found)?;
                Ok(HttpResponse::empty(204))
            }
            (_, None) => Err(ManagementError::method_not_allowed("GET, POST")),
            (_, Some(_)) => Err(ManagementError::method_not_allowed("GET, PUT, DELETE")),
        }
    }

    /// Client credentials: `GET /clients/{id}/secrets` lists them (never the plaintext),
    /// `POST /clients/{id}/secrets` with `{"name": …, "expires": RFC 3339 or null}` adds one
    /// (`201`, the plaintext shown once), `DELETE /clients/{id}/secrets/{secret_id}` revokes one.
    pub async fn manage_client_secrets(
        &self,
        req: &HttpRequest<'_>,
        id: &str,
        secret_id: Option<&str>,
    ) -> HttpResponse {
        match self.manage_secrets(req, id, secret_id).await {
            Ok(resp) => resp,
            Err(e) => e.into_http(),
        }
    }

    async fn manage_secrets(
        &self,
        req: &HttpRequest<'_>,
        id: &str,
        secret_id: Option<&str>,
    ) -> Result<HttpResponse, ManagementError> {
        match (req.method, secret_id) {
            (Method::Get, None) => {
                let client = self
                    .store
                    .client_by_id(id)
                    .await
                    .map_err(Error::from)?
                    .ok_or_else(|| {
                        ManagementError::new(
                            ManagementErrorKind::NotFound,
                            "no client with this id",
                        )
                    })?;
                #[derive(Serialize)]
                struct Items<'a> {
                    items: Vec<SecretView<'a>>,
                }
                let items = client
                    .secrets
                    .iter()
                    .map(|s| secret_view(s, None))
                    .collect();
                Ok(json_response(200, &Items { items }))
            }
            (Method::Post, None) => {
                let doc = json_object(req, self.config.max_json_body)?;
                let wrong = |kind, name: &str, message: &str| {
                    ManagementError::new(ManagementErrorKind::Metadata(kind), message)
                        .on_field(name)
                };
                let field = |name: &str, message: &str| {
                    wrong(MetadataErrorKind::InvalidType, name, message)
                };
                let name = match doc.get("name") {
                    None | Some(Value::Null) => "secret".to_owned(),
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => return Err(field("name", "name must be a string")),
                };
                let expires = match doc.get("expires") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => {
                        Some(time::OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
                            wrong(
                                MetadataErrorKind::InvalidValue,
                                "expires",
                                "expires must be an RFC 3339 date-time",
                            )
                        })?)
                    }
                    Some(_) => {
                        return Err(field(
                            "expires",
                            "expires must be an RFC 3339 date-time string",
                        ))
                    }
                };
                if let Some(unknown) = doc
                    .keys()
                    .find(|k| !matches!(k.as_str(), "name" | "expires"))
                {
                    return Err(wrong(
                        MetadataErrorKind::UnknownField,
                        unknown,
                        "unknown field",
                    ));
                }
                let (secret, plaintext) = self.add_client_secret(id, &name, expires).await?;
                Ok(json_response(201, &secret_view(&secret, Some(&plaintext))))
            }
            (Method::Delete, Some(secret_id)) => {
                self.revoke_client_secret(id, secret_id).await?;
                Ok(HttpResponse::empty(204))
            }
            (_, None) => Err(ManagementError::method_not_allowed("GET, POST")),
            (_, Some(_)) => Err(ManagementError::method_not_allowed("DELETE")),
        }
    }

    async fn list_page(&self, query: &str) -> Result<HttpResponse, ManagementError> {
        let bad = |field: &str, message: &str| {
            ManagementError::new(ManagementErrorKind::InvalidParameter, message).on_field(field)
        };
        let params = parse_form(query).map_err(|e| {
            ManagementError::new(ManagementErrorKind::InvalidParameter, e.description())
        })?;
        let page_size = match params.get("page_size") {
            None => DEFAULT_PAGE_SIZE,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "page_size",
                        "page_size must be an integer from 1 to 1000",
                    ))
                }
            },
        };
        let order = match params.get("sort") {
            None | Some("asc") => SortOrder::Ascending,
            Some("desc") => SortOrder::Descending,
            Some(_) => return Err(bad("sort", "sort must be asc or desc")),
        };
        let after = params.get("after");
        if after.is_some_and(|a| a.len() > 128) {
            return Err(bad("after", "after is too long"));
        }
        for (name, _) in params.iter() {
            if !matches!(name, "page_size" | "sort" | "after") {
                return Err(bad(name, "unknown parameter"));
            }
        }
        let page = self.list_clients(after, page_size, order).await?;
        let next = (page.len() == page_size)
            .then(|| page.last().map(|c| c.id.clone()))
            .flatten();
        #[derive(Serialize)]
        struct Page<'a> {
            items: Vec<ManagedView<'a>>,
            next: Option<String>,
        }
        let items = page.iter().map(|c| managed_view(c, None)).collect();
        Ok(json_response(200, &Page { items, next }))
    }

    fn settings_from(
        &self,
        req: &HttpRequest<'_>,
        source: MetadataSource,
    ) -> Result<ClientSettings, ManagementError> {
        let doc = json_object(req, self.config.max_json_body)?;
        Ok(validate(&doc, source, self.config.password_grant_enabled)?)
    }

    /// RFC 7591 dynamic registration: `POST` client metadata as JSON, get `201` with the
    /// `client_id`, `client_secret` (confidential clients), a `registration_access_token` and
    /// `registration_client_uri` (RFC 7592). Errors are `invalid_redirect_uri` or
    /// `invalid_client_metadata`; a body over [`Config::max_json_body`](crate::Config) is
    /// `413`, and what one document may hold is capped (see [`validate`]).
    ///
    /// While registration is [open](RegistrationPolicy::Open), every `POST` is first reserved
    /// with the provider's [`RateLimit`](crate::host::RateLimit) as
    /// [`Attempt::Registration`] with the request's
    /// [`remote_addr`](HttpRequest#structfield.remote_addr), before the body is read; a refusal
    /// is `429` with `Retry-After` and the JSON error `temporarily_unavailable`. A caller with
    /// the [initial access token](RegistrationPolicy::InitialAccessToken) is trusted and not
    /// limited.
    pub async fn register(&self, req: &HttpRequest<'_>) -> HttpResponse {
        let limited = match &self.config.registration {
            RegistrationPolicy::Open => true,
            RegistrationPolicy::Closed => {
                return HttpResponse::oauth_error(&Error::new(ErrorKind::AccessDenied(
                    "dynamic registration is disabled".into(),
                )))
            }
            RegistrationPolicy::InitialAccessToken(hash) => match req.require_bearer() {
                Ok(token) if hash.matches(token) => false,
                Ok(_) => {
                    return HttpResponse::oauth_error(&Error::new(ErrorKind::InvalidToken(
                        "invalid initial access token",
                    )))
                }
                Err(err) => return self.error_response(&err),
            },
        };
        if req.method != Method::Post {
            return HttpResponse::oauth_error(&ErrorKind::MethodNotAllowed("POST").into());
        }
        if !limited {
            return self.register_document(req).await.0;
        }
        // Reserved (and counted) before the body is parsed, so parallel requests cannot exceed
        // the quota.
        let attempt = Attempt::Registration {
            source: req.remote_addr,
        };
        if let Err(err) = self.reserve(&attempt) {
            return self.error_response(&err);
        }
        let (resp, outcome) = self.register_document(req).await;
        self.rate_limit.settle(&attempt, outcome);
        resp
    }

    /// Read, validate and store a registration document: the response, and how the attempt
    /// ended for the rate limiter.
    async fn register_document(&self, req: &HttpRequest<'_>) -> (HttpResponse, Outcome) {
        let doc = match self.registration_document(req) {
            Ok(doc) => doc,
            Err(resp) => return (resp, Outcome::Failed),
        };
        let settings = match self.registration_settings(&doc) {
            Ok(s) => s,
            Err(resp) => return (resp, Outcome::Failed),
        };
        match self
            .create_client(settings, NewClient::new().with_registration_access_token())
            .await
        {
            Ok(created) => (
                self.registration_response(201, &created),
                Outcome::Succeeded,
            ),
            Err(e) => {
                let outcome = match e.kind() {
                    ErrorKind::InvalidClientMetadata(_) => Outcome::Failed,
                    // The store or the random source failed: not the caller's doing.
                    _ => Outcome::NotChecked,
                };
                (self.error_response(&e), outcome)
            }
        }
    }

    /// RFC 7592 client configuration endpoint at `registration_client_uri`: `GET`, `PUT` and
    /// `DELETE` with the registration access token as a bearer token.
    pub async fn registration_client(
        &self,
        req: &HttpRequest<'_>,
        client_id: &str,
    ) -> HttpResponse {
        let unauthorized = || {
            HttpResponse::oauth_error(&Error::new(ErrorKind::InvalidToken(
                "invalid registration access token",
            )))
        };
        let token = match req.require_bearer() {
            Ok(token) => token,
            Err(err) => return self.error_response(&err),
        };
        let client = match self.store.client(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return unauthorized(),
            Err(e) => return self.error_response(&e.into()),
        };
        let expected = client
            .registration_access_token
            .unwrap_or(SecretHash([0; 32]));
        if client.registration_access_token.is_none() || !expected.matches(token) {
            return unauthorized();
        }
        match req.method {
            Method::Get => self.registration_response(
                200,
                &ClientWithSecrets {
                    client: Client::clone(&client),
                    client_secret: None,
                    registration_access_token: None,
                },
            ),
            Method::Put => {
                let doc = match self.registration_document(req) {
                    Ok(doc) => doc,
                    Err(resp) => return resp,
                };
                if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
                    return HttpResponse::oauth_error(
                        &ErrorKind::InvalidClientMetadata(
                            "client_id: must be present and match".into(),
                        )
                        .into(),
                    );
                }
                let mut settings = match self.registration_settings(&doc) {
                    Ok(s) => s,
                    Err(resp) => return resp,
                };
                keep_management_settings(&mut settings, &client.settings);
                match self.update_client(&client.id, settings).await {
                    Ok(Some(updated)) => self.registration_response(200, &updated),
                    Ok(None) => unauthorized(),
                    Err(e) => self.error_response(&e),
                }
            }
            Method::Delete => match self.delete_client(&client.id).await {
                Ok(_) => HttpResponse::empty(204).no_store(),
                Err(e) => self.error_response(&e),
            },
            _ => HttpResponse::oauth_error(&ErrorKind::MethodNotAllowed("GET, PUT, DELETE").into()),
        }
    }

    /// A registration (RFC 7591) or client-configuration (RFC 7592) document as settings, or
    /// the RFC 7591 error response.
    fn registration_settings(
        &self,
        doc: &Map<String, Value>,
    ) -> Result<ClientSettings, HttpResponse> {
        validate(
            doc,
            MetadataSource::Registration,
            self.config.password_grant_enabled,
        )
        .map_err(registration_error)
    }

    /// The JSON object of a registration request, or the RFC 7591 error response.
    fn registration_document(
        &self,
        req: &HttpRequest<'_>,
    ) -> Result<Map<String, Value>, HttpResponse> {
        json_object(req, self.config.max_json_body).map_err(|e| match e.kind {
            ManagementErrorKind::TooLarge => {
                HttpResponse::oauth_error(&ErrorKind::TooLarge("the request body").into())
            }
            ManagementErrorKind::UnsupportedMediaType => HttpResponse::oauth_error(
                &ErrorKind::UnsupportedMediaType("application/json").into(),
            ),
            _ => HttpResponse::oauth_error(
                &ErrorKind::InvalidClientMetadata(e.message.into()).into(),
            ),
        })
    }

    fn registration_response(&self, status: u16, created: &ClientWithSecrets) -> HttpResponse {
        let client = &created.client;
        let s = &client.settings;
        let view = RegistrationView {
            client_id: &client.client_id,
            client_secret: created.client_secret.as_deref(),
            client_id_issued_at: client.date_created.unix_timestamp(),
            client_secret_expires_at: created.client_secret.as_ref().map(|_| 0),
            registration_access_token: created.registration_access_token.as_deref(),
            registration_client_uri: format!(
                "{}/{}",
                self.config.endpoint_url(&self.config.paths.registration),
                client.client_id
            ),
            client_name: &s.name,
            redirect_uris: &s.redirect_uris,
            post_logout_redirect_uris: &s.post_logout_redirect_uris,
            token_endpoint_auth_method: s.token_endpoint_auth_method.as_str(),
            id_token_signed_response_alg: s.id_token_signed_response_alg,
            userinfo_signed_response_alg: s.userinfo_signed_response_alg,
            grant_types: grant_names(&s.grant_types),
            response_types: &s.response_types,
            scope: s.allowed_scopes.to_string(),
            logo_uri: s.logo_uri.as_deref(),
            logo_dark_mode_uri: s.logo_dark_mode_uri.as_deref(),
            description: s.description.as_deref(),
            allowed_origins: &s.allowed_origins,
            extras: &s.metadata,
        };
        json_response(status, &view)
    }
}

/// RFC 7591 §3.2.2 error response.
fn registration_error(e: MetadataError) -> HttpResponse {
    let kind = if e.kind == MetadataErrorKind::InvalidRedirectUri {
        ErrorKind::InvalidRedirectUri(e.to_string().into())
    } else {
        ErrorKind::InvalidClientMetadata(e.to_string().into())
    };
    HttpResponse::oauth_error(&Error::new(kind))
}

/// What only the administrator decides stays as the administrator set it when the client
/// replaces its own registration (RFC 7592): its origins and refresh grace window, and, while it
/// stays confidential, its PKCE exemptions and its right to introspect any token.
fn keep_management_settings(settings: &mut ClientSettings, stored: &ClientSettings) {
    settings.allowed_origins = stored.allowed_origins.clone();
    settings.refresh_grace = stored.refresh_grace;
    settings.allowed_resources = stored.allowed_resources.clone();
    if settings.token_endpoint_auth_method.is_confidential() {
        settings.require_pkce = stored.require_pkce;
        settings.allow_plain_pkce = stored.allow_plain_pkce;
        settings.introspect_any_token = stored.introspect_any_token;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::host::{RateLimit, SystemRng, Throttled};
    use crate::jose::KeySet;
    use crate::store::{MemoryStore, MemoryUsers};
    use crate::Config;

    /// Records what is reserved and settled; refuses registrations once `refuse` is set.
    #[derive(Default)]
    struct Recorder {
        log: Mutex<Vec<String>>,
        refuse: Mutex<bool>,
    }

    impl RateLimit for Recorder {
        fn reserve(&self, attempt: &Attempt<'_>) -> Result<(), Throttled> {
            self.log
                .lock()
                .unwrap()
                .push(format!("reserve {attempt:?}"));
            match *self.refuse.lock().unwrap() {
                true => Err(Throttled {
                    retry_after: Duration::from_millis(2500),
                }),
                false => Ok(()),
            }
        }
        fn settle(&self, attempt: &Attempt<'_>, outcome: Outcome) {
            let line = format!("settle {attempt:?} {outcome:?}");
            self.log.lock().unwrap().push(line);
        }
    }

    fn provider(policy: RegistrationPolicy) -> (Provider<MemoryStore, MemoryUsers>, Arc<Recorder>) {
        let mut config = Config::new("https://id.example").unwrap();
        config.registration = policy;
        let keys = KeySet::generate(&SystemRng::new()).unwrap();
        let recorder = Arc::new(Recorder::default());
        let provider = Provider::new(config, keys, MemoryStore::new(), MemoryUsers::new())
            .with_rate_limit(recorder.clone());
        (provider, recorder)
    }

    fn post(body: &[u8]) -> HttpRequest<'_> {
        HttpRequest::new(Method::Post)
            .header("content-type", b"application/json")
            .remote_addr("192.0.2.7".parse().ok())
            .body(body)
    }

    const GOOD: &[u8] = br#"{"redirect_uris": ["https://rp.example/cb"]}"#;
    const BAD: &[u8] = br#"{"redirect_uris": ["http://rp.example/cb"]}"#;

    #[tokio::test]
    async fn open_registration_is_reserved_per_source_and_settled() {
        let (provider, recorder) = provider(RegistrationPolicy::Open);
        assert_eq!(provider.register(&post(GOOD)).await.status, 201);
        assert_eq!(provider.register(&post(BAD)).await.status, 400);
        let get = HttpRequest::new(Method::Get).remote_addr("192.0.2.7".parse().ok());
        assert_eq!(provider.register(&get).await.status, 405);
        let source = "Registration { source: Some(192.0.2.7) }";
        assert_eq!(
            *recorder.log.lock().unwrap(),
            [
                format!("reserve {source}"),
                format!("settle {source} Succeeded"),
                format!("reserve {source}"),
                format!("settle {source} Failed"),
            ]
        );

        // Refused before the body is read (an unparsable body is not even looked at).
        *recorder.refuse.lock().unwrap() = true;
        let refused = provider.register(&post(b"not json")).await;
        assert_eq!(refused.status, 429);
        assert_eq!(refused.header("retry-after"), Some("3"));
        let body: Value = serde_json::from_slice(&refused.body).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(recorder.log.lock().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn an_initial_access_token_holder_is_not_limited() {
        let hash = SecretHash::of("initial-token");
        let (provider, recorder) = provider(RegistrationPolicy::InitialAccessToken(hash));
        *recorder.refuse.lock().unwrap() = true;
        let req = post(GOOD).header("authorization", b"Bearer initial-token");
        assert_eq!(provider.register(&req).await.status, 201);
        assert_eq!(provider.register(&post(GOOD)).await.status, 401);
        assert!(recorder.log.lock().unwrap().is_empty());
    }
}
