//! The one error type: shaped like an RFC 6749 error (`error`, `error_description`, HTTP status),
//! typed by [`ErrorKind`], with an internal cause that is never sent to a client.
//!
//! Every mapping from a failure to an OAuth error code and status lives in this file.

use std::borrow::Cow;
use std::fmt;

use crate::jose::KeyError;
use crate::store::{StoreError, StoreErrorKind};

/// The OAuth 2.0 / OpenID Connect error codes opkit sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// RFC 6749 §4.1.2.1 / §5.2
    InvalidRequest,
    /// RFC 6749 §5.2
    InvalidClient,
    /// RFC 6749 §5.2
    InvalidGrant,
    /// RFC 6749 §4.1.2.1 / §5.2
    UnauthorizedClient,
    /// RFC 6749 §5.2
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1 / §5.2
    InvalidScope,
    /// RFC 6749 §4.1.2.1
    AccessDenied,
    /// RFC 6749 §4.1.2.1
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1
    ServerError,
    /// RFC 6749 §4.1.2.1
    TemporarilyUnavailable,
    /// OpenID Connect Core §3.1.2.6
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6
    ConsentRequired,
    /// OpenID Connect Core §3.1.2.6
    InteractionRequired,
    /// OpenID Connect Core §3.1.2.6
    RequestNotSupported,
    /// OpenID Connect Core §3.1.2.6
    RequestUriNotSupported,
    /// OpenID Connect Core §3.1.2.6
    RegistrationNotSupported,
    /// RFC 6750 §3.1
    InvalidToken,
    /// RFC 6750 §3.1
    InsufficientScope,
    /// RFC 7591 §3.2.2
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2
    InvalidClientMetadata,
    /// `invalid_target` (RFC 8693, RFC 8707)
    InvalidTarget,
    /// RFC 7009 §2.2.1
    UnsupportedTokenType,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::RegistrationNotSupported => "registration_not_supported",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong, typed. [`Error::code`] and [`Error::status`] map it to the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A required parameter is absent.
    MissingParameter(&'static str),
    /// A parameter appears more than once (RFC 6749 §3.1, §3.2).
    DuplicateParameter(String),
    /// A parameter is present but its value is not acceptable.
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it was refused.
        reason: Cow<'static, str>,
    },
    /// The request is malformed in some other way.
    MalformedRequest(Cow<'static, str>),
    /// The HTTP method is not allowed at this endpoint (the methods it allows).
    MethodNotAllowed(&'static str),
    /// The body is not of the media type the endpoint takes (the one it takes).
    UnsupportedMediaType(&'static str),
    /// The request (query, body or a header) is larger than the configured limit.
    TooLarge(&'static str),
    /// No client with this `client_id` exists.
    UnknownClient,
    /// Client authentication failed; the reason is for logs only.
    ClientAuthenticationFailed(&'static str),
    /// The `redirect_uri` is missing, unregistered or malformed (never redirected to).
    UntrustedRedirectUri(&'static str),
    /// The client may not use this grant type or response type.
    UnauthorizedClient(Cow<'static, str>),
    /// The grant type is not one opkit implements or has enabled.
    UnsupportedGrantType,
    /// The response type is not one opkit implements.
    UnsupportedResponseType,
    /// A scope is unknown, not allowed for this client, or wider than granted.
    InvalidScope(Cow<'static, str>),
    /// The code, refresh token or resource owner credentials are invalid, expired, revoked,
    /// or bound to another client or redirect URI.
    InvalidGrant(&'static str),
    /// The resource owner or the host refused the request.
    AccessDenied(Cow<'static, str>),
    /// `prompt=none` but the user is not logged in, or must log in again.
    LoginRequired,
    /// `prompt=none` but the user must consent.
    ConsentRequired,
    /// `prompt=none` but the user must interact in some other way.
    InteractionRequired,
    /// The `request` parameter (request objects) is not supported.
    RequestNotSupported,
    /// The `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// The `registration` parameter is not supported.
    RegistrationNotSupported,
    /// No bearer token came with a request that needs one (RFC 6750 §3.1: the challenge carries
    /// no error code).
    MissingToken,
    /// The bearer token is malformed, expired or revoked.
    InvalidToken(&'static str),
    /// The token lacks a scope the resource needs.
    InsufficientScope(&'static str),
    /// Client registration: a redirect URI is unacceptable.
    InvalidRedirectUri(Cow<'static, str>),
    /// Client registration: another metadata field is unacceptable.
    InvalidClientMetadata(Cow<'static, str>),
    /// Token revocation: the token type hint names a type this server cannot revoke.
    UnsupportedTokenType,
    /// Token exchange: the audience or resource asked for is not one the client may get a
    /// token for.
    InvalidTarget(Cow<'static, str>),
    /// The host's rate limiter refused the credential check (answered with `Retry-After`).
    RateLimited(crate::host::Throttled),
    /// The host's store failed; [`StoreErrorKind::Unavailable`] (transient) is answered
    /// `temporarily_unavailable` (503), everything else `server_error`.
    Store(StoreErrorKind),
    /// The random source failed.
    Random,
    /// Signing a token failed, or no key is configured for the client's algorithm.
    Signing,
    /// A response or token could not be serialised.
    Serialization,
    /// The host's [claims hook](crate::host::ClaimsHook) returned a claim the provider sets
    /// itself (a bug in the host; answered `server_error`).
    ReservedClaim {
        /// `id_token` or `access_token`.
        token: &'static str,
        /// The claim's name.
        claim: String,
    },
}

impl ErrorKind {
    /// [`ErrorKind::InvalidParameter`] with a fixed reason.
    pub(crate) fn invalid(name: &'static str, reason: &'static str) -> ErrorKind {
        ErrorKind::InvalidParameter {
            name,
            reason: Cow::Borrowed(reason),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::MissingParameter(name) => write!(f, "missing parameter: {name}"),
            ErrorKind::DuplicateParameter(name) => {
                write!(f, "parameter included more than once: {}", Truncated(name))
            }
            ErrorKind::InvalidParameter { name, reason } => write!(f, "invalid {name}: {reason}"),
            ErrorKind::MalformedRequest(reason) => f.write_str(reason),
            ErrorKind::MethodNotAllowed(allow) => {
                write!(f, "HTTP method not allowed here; use {allow}")
            }
            ErrorKind::UnsupportedMediaType(want) => write!(f, "the body must be {want}"),
            ErrorKind::TooLarge(what) => write!(f, "{what} is too large"),
            ErrorKind::UnknownClient => f.write_str("unknown client"),
            ErrorKind::ClientAuthenticationFailed(_) => f.write_str("client authentication failed"),
            ErrorKind::UntrustedRedirectUri(reason) => write!(f, "invalid redirect_uri: {reason}"),
            ErrorKind::UnauthorizedClient(reason) => f.write_str(reason),
            ErrorKind::UnsupportedGrantType => f.write_str("unsupported grant_type"),
            ErrorKind::UnsupportedResponseType => f.write_str("unsupported response_type"),
            ErrorKind::InvalidScope(reason) => f.write_str(reason),
            ErrorKind::InvalidGrant(reason) => f.write_str(reason),
            ErrorKind::AccessDenied(reason) => f.write_str(reason),
            ErrorKind::LoginRequired => f.write_str("the end-user must log in"),
            ErrorKind::ConsentRequired => f.write_str("the end-user must consent"),
            ErrorKind::InteractionRequired => f.write_str("the end-user must interact"),
            ErrorKind::RequestNotSupported => f.write_str("request objects are not supported"),
            ErrorKind::RequestUriNotSupported => f.write_str("request_uri is not supported"),
            ErrorKind::RegistrationNotSupported => {
                f.write_str("the registration parameter is not supported")
            }
            ErrorKind::MissingToken => f.write_str("a bearer token is required"),
            ErrorKind::InvalidToken(reason) => f.write_str(reason),
            ErrorKind::InsufficientScope(reason) => f.write_str(reason),
            ErrorKind::InvalidRedirectUri(reason) => f.write_str(reason),
            ErrorKind::InvalidClientMetadata(reason) => f.write_str(reason),
            ErrorKind::UnsupportedTokenType => f.write_str("unsupported token_type_hint"),
            ErrorKind::InvalidTarget(reason) => f.write_str(reason),
            ErrorKind::RateLimited(_) => f.write_str("too many attempts; retry later"),
            ErrorKind::Store(StoreErrorKind::Unavailable) => {
                f.write_str("the service is temporarily unavailable; retry later")
            }
            ErrorKind::Store(_)
            | ErrorKind::Random
            | ErrorKind::Signing
            | ErrorKind::Serialization
            | ErrorKind::ReservedClaim { .. } => f.write_str("internal server error"),
        }
    }
}

/// Shows at most 64 characters of an untrusted string.
struct Truncated<'a>(&'a str);

impl fmt::Display for Truncated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(64) {
            Some((end, _)) => write!(f, "{}…", &self.0[..end]),
            None => f.write_str(self.0),
        }
    }
}

/// An error with its OAuth code, HTTP status and an internal cause that is never sent.
pub struct Error {
    kind: ErrorKind,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error of this kind, without an internal cause.
    pub fn new(kind: ErrorKind) -> Self {
        Error { kind, cause: None }
    }

    /// Attach an internal cause (logged by the host, never sent to the client).
    pub fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The internal cause, for logs.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }

    /// The OAuth `error` code.
    pub fn code(&self) -> ErrorCode {
        use ErrorKind as K;
        match self.kind {
            K::MissingParameter(_)
            | K::DuplicateParameter(_)
            | K::InvalidParameter { .. }
            | K::MalformedRequest(_)
            | K::MethodNotAllowed(_)
            | K::UnsupportedMediaType(_)
            | K::TooLarge(_)
            | K::UnknownClient
            | K::UntrustedRedirectUri(_) => ErrorCode::InvalidRequest,
            K::ClientAuthenticationFailed(_) => ErrorCode::InvalidClient,
            K::UnauthorizedClient(_) => ErrorCode::UnauthorizedClient,
            K::UnsupportedGrantType => ErrorCode::UnsupportedGrantType,
            K::UnsupportedResponseType => ErrorCode::UnsupportedResponseType,
            K::InvalidScope(_) => ErrorCode::InvalidScope,
            K::InvalidGrant(_) => ErrorCode::InvalidGrant,
            K::AccessDenied(_) => ErrorCode::AccessDenied,
            K::LoginRequired => ErrorCode::LoginRequired,
            K::ConsentRequired => ErrorCode::ConsentRequired,
            K::InteractionRequired => ErrorCode::InteractionRequired,
            K::RequestNotSupported => ErrorCode::RequestNotSupported,
            K::RequestUriNotSupported => ErrorCode::RequestUriNotSupported,
            K::RegistrationNotSupported => ErrorCode::RegistrationNotSupported,
            K::InvalidToken(_) | K::MissingToken => ErrorCode::InvalidToken,
            K::InsufficientScope(_) => ErrorCode::InsufficientScope,
            K::InvalidRedirectUri(_) => ErrorCode::InvalidRedirectUri,
            K::InvalidClientMetadata(_) => ErrorCode::InvalidClientMetadata,
            K::InvalidTarget(_) => ErrorCode::InvalidTarget,
            K::UnsupportedTokenType => ErrorCode::UnsupportedTokenType,
            K::RateLimited(_) | K::Store(StoreErrorKind::Unavailable) => {
                ErrorCode::TemporarilyUnavailable
            }
            K::Store(_) | K::Random | K::Signing | K::Serialization | K::ReservedClaim { .. } => {
                ErrorCode::ServerError
            }
        }
    }

    /// The HTTP status for a direct (non-redirect) error response.
    pub fn status(&self) -> u16 {
        use ErrorKind as K;
        match self.kind {
            K::MethodNotAllowed(_) => 405,
            K::UnsupportedMediaType(_) => 415,
            K::TooLarge(_) => 413,
            K::ClientAuthenticationFailed(_) | K::InvalidToken(_) | K::MissingToken => 401,
            K::UnknownClient => 400,
            K::InsufficientScope(_) => 403,
            K::AccessDenied(_) => 403,
            K::RateLimited(_) => 429,
            K::Store(StoreErrorKind::Unavailable) => 503,
            K::Store(_) | K::Random | K::Signing | K::Serialization | K::ReservedClaim { .. } => {
                500
            }
            _ => 400,
        }
    }

    /// The `error_description` sent to the client. Never contains the internal cause.
    pub fn description(&self) -> String {
        self.kind.to_string()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Error::new(ErrorKind::Store(err.kind())).with_cause(err)
    }
}

impl From<crate::host::RngError> for Error {
    fn from(err: crate::host::RngError) -> Self {
        Error::new(ErrorKind::Random).with_cause(err)
    }
}

impl From<KeyError> for Error {
    fn from(err: KeyError) -> Self {
        Error::new(ErrorKind::Signing).with_cause(err)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code()).field("kind", &self.kind);
        if let Some(cause) = &self.cause {
            d.field("cause", &format_args!("{cause}"));
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_never_contains_cause() {
        let err = Error::from(StoreError::new("password=hunter2 connection refused"));
        assert_eq!(err.code(), ErrorCode::ServerError);
        assert_eq!(err.status(), 500);
        assert!(!err.description().contains("hunter2"));
        assert!(format!("{err}").find("hunter2").is_none());
    }

    #[test]
    fn duplicate_parameter_name_is_truncated() {
        let long = "a".repeat(1000);
        let err = Error::new(ErrorKind::DuplicateParameter(long));
        assert!(err.description().len() < 120);
    }

    #[test]
    fn client_authentication_is_401() {
        let err = Error::new(ErrorKind::ClientAuthenticationFailed("bad secret"));
        assert_eq!((err.code().as_str(), err.status()), ("invalid_client", 401));
        assert!(!err.description().contains("bad secret"));
    }
}
