//! What happened: typed events the provider reports to the host, for logs, audit trails,
//! metrics and alerts.
//!
//! The provider calls [`Events::emit`] once per event, on the request's own task, after the
//! change the event reports has been stored. Events carry ids (`client_id`, the management
//! `id`, the subject, the grant id, key ids) and never a secret, a token, a code or a password.
//! The username typed on a failed sign-in is reported as typed (it may be an unknown user's, or
//! a password typed into the wrong field: treat it as personal data).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use opkit::host::{Event, Events};
//!
//! /// Counts issued tokens per client.
//! #[derive(Default)]
//! struct Audit(Mutex<Vec<String>>);
//!
//! impl Events for Audit {
//!     fn emit(&self, event: &Event<'_>) {
//!         if let Event::TokensIssued { client_id, grant_type, .. } = event {
//!             let line = format!("{client_id} {}", grant_type.as_str());
//!             self.0.lock().unwrap().push(line);
//!         }
//!     }
//! }
//!
//! let audit = Arc::new(Audit::default());
//! // provider.with_events(audit.clone())
//! # let _ = audit;
//! ```

use std::fmt;
use std::time::Duration;

use crate::client::GrantType;
use crate::host::Attempt;
use crate::jose::Algorithm;
use crate::scope::Scopes;
use crate::store::{GrantId, StoreErrorKind};

/// The host's event sink. `emit` runs on the request's task: keep it cheap and never block
/// (hand events to a channel if they go anywhere slow).
pub trait Events: Send + Sync {
    /// Report one event.
    fn emit(&self, event: &Event<'_>);
}

/// Reports nothing (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl Events for NoEvents {
    fn emit(&self, _: &Event<'_>) {}
}

/// Where a user signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignInVia {
    /// The host's login page.
    LoginPage,
    /// The password grant at the token endpoint.
    PasswordGrant,
}

impl SignInVia {
    /// A short name (`login_page`, `password_grant`), for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInVia::LoginPage => "login_page",
            SignInVia::PasswordGrant => "password_grant",
        }
    }
}

/// What an issuance handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Issued {
    /// An authorization code.
    pub code: bool,
    /// An access token.
    pub access_token: bool,
    /// An ID token.
    pub id_token: bool,
    /// A refresh token.
    pub refresh_token: bool,
}

/// One thing that happened. New variants may be added: match with a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A user proved who they are.
    SignInSucceeded {
        /// The user's subject.
        subject: &'a str,
        /// The client the sign-in is for, when known.
        client_id: Option<&'a str>,
        /// Where.
        via: SignInVia,
    },
    /// A sign-in failed: unknown user or wrong password (the two are not told apart).
    SignInFailed {
        /// The username as typed.
        username: &'a str,
        /// The client the sign-in was for, when known.
        client_id: Option<&'a str>,
        /// Where.
        via: SignInVia,
    },
    /// A user granted a client these scopes on the consent page.
    ConsentGiven {
        /// The user.
        subject: &'a str,
        /// The client.
        client_id: &'a str,
        /// What was granted.
        scopes: &'a Scopes,
    },
    /// A user refused consent.
    ConsentDenied {
        /// The user.
        subject: &'a str,
        /// The client.
        client_id: &'a str,
    },
    /// A user's consent to a client was withdrawn and its grants revoked.
    ConsentRevoked {
        /// The user.
        subject: &'a str,
        /// The client.
        client_id: &'a str,
        /// How many grants were revoked.
        grants_revoked: u64,
    },
    /// Codes or tokens were issued. At the authorization endpoint `grant_type` is
    /// `authorization_code` when only a code was issued and `implicit` when a token left
    /// through the front channel (implicit and hybrid flows).
    TokensIssued {
        /// The grant type.
        grant_type: GrantType,
        /// The client.
        client_id: &'a str,
        /// The user (`None` for client credentials).
        subject: Option<&'a str>,
        /// The grant the tokens belong to (`None` for client credentials).
        grant_id: Option<&'a GrantId>,
        /// The scopes of the access token.
        scopes: &'a Scopes,
        /// What was issued.
        issued: Issued,
    },
    /// A refresh token that had already been rotated was presented again: its whole family
    /// (the grant) was revoked.
    RefreshTokenReused {
        /// The client that presented it.
        client_id: &'a str,
        /// The revoked grant.
        grant_id: &'a GrantId,
    },
    /// A rotated refresh token was presented again within its grace window and got a fresh
    /// pair in the same family (a retry or a second tab, or a thief inside the window).
    RefreshTokenGraceReuse {
        /// The client that presented it.
        client_id: &'a str,
        /// The family's grant.
        grant_id: &'a GrantId,
    },
    /// An authorization code was presented a second time: what the first redemption issued
    /// was revoked.
    CodeReplayed {
        /// The client that presented it.
        client_id: &'a str,
        /// The revoked grant.
        grant_id: &'a GrantId,
    },
    /// A client failed to authenticate at the token, revocation or introspection endpoint.
    ClientAuthenticationFailed {
        /// The `client_id` it claimed (as sent; it may not exist).
        client_id: &'a str,
        /// Why, in a few words.
        reason: &'static str,
    },
    /// A client was created, by the management API or by dynamic registration.
    ClientCreated {
        /// The management `id`.
        id: &'a str,
        /// The `client_id`.
        client_id: &'a str,
        /// Created by dynamic registration (RFC 7591), not by the management API.
        registered: bool,
    },
    /// A client's settings or credentials were changed.
    ClientUpdated {
        /// The management `id`.
        id: &'a str,
        /// The `client_id`.
        client_id: &'a str,
    },
    /// A client was deleted and its grants revoked.
    ClientDeleted {
        /// The management `id`.
        id: &'a str,
        /// The `client_id`.
        client_id: &'a str,
    },
    /// A signing key was added to the published set.
    KeyPublished {
        /// Its key id.
        kid: &'a str,
        /// Its algorithm.
        alg: Algorithm,
    },
    /// A key became the one signing for its algorithm.
    KeyActivated {
        /// Its key id.
        kid: &'a str,
        /// Its algorithm.
        alg: Algorithm,
    },
    /// A key left the published set.
    KeyDropped {
        /// Its key id.
        kid: &'a str,
        /// Its algorithm.
        alg: Algorithm,
    },
    /// An attempt was refused by the rate limiter.
    Throttled {
        /// What was attempted.
        attempt: Attempt<'a>,
        /// How long the caller was told to wait.
        retry_after: Duration,
    },
    /// A store call failed while answering a request.
    StoreFailed {
        /// How.
        kind: StoreErrorKind,
    },
    /// A user signed out (RP-initiated logout).
    SignedOut {
        /// The user.
        subject: &'a str,
        /// The client that asked, when known.
        client_id: Option<&'a str>,
    },
}

impl Event<'_> {
    /// A short, stable name for the event (`sign_in_succeeded`, `tokens_issued`, …), for logs
    /// and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            Event::SignInSucceeded { .. } => "sign_in_succeeded",
            Event::SignInFailed { .. } => "sign_in_failed",
            Event::ConsentGiven { .. } => "consent_given",
            Event::ConsentDenied { .. } => "consent_denied",
            Event::ConsentRevoked { .. } => "consent_revoked",
            Event::TokensIssued { .. } => "tokens_issued",
            Event::RefreshTokenReused { .. } => "refresh_token_reused",
            Event::RefreshTokenGraceReuse { .. } => "refresh_token_grace_reuse",
            Event::CodeReplayed { .. } => "code_replayed",
            Event::ClientAuthenticationFailed { .. } => "client_authentication_failed",
            Event::ClientCreated { .. } => "client_created",
            Event::ClientUpdated { .. } => "client_updated",
            Event::ClientDeleted { .. } => "client_deleted",
            Event::KeyPublished { .. } => "key_published",
            Event::KeyActivated { .. } => "key_activated",
            Event::KeyDropped { .. } => "key_dropped",
            Event::Throttled { .. } => "throttled",
            Event::StoreFailed { .. } => "store_failed",
            Event::SignedOut { .. } => "signed_out",
        }
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
