//! The provider's events as `tracing` events (target `opkit::event`): warnings for what points
//! at an attack or an outage (replays, reuse, failed client authentication, throttling, store
//! failures), information for the rest. Fields are ids, never secrets or tokens.

use opkit::host::{Attempt, Event};
use tracing::{info, warn};

/// Emit `event` to the current `tracing` subscriber.
pub(crate) fn trace(event: &Event<'_>) {
    let name = event.name();
    match *event {
        Event::SignInSucceeded {
            subject,
            client_id,
            via,
        } => info!(target: "opkit::event", event = name, subject, client_id, via = via.as_str()),
        Event::SignInFailed {
            username,
            client_id,
            via,
        } => info!(target: "opkit::event", event = name, username, client_id, via = via.as_str()),
        Event::ConsentGiven {
            subject,
            client_id,
            scopes,
        } => info!(target: "opkit::event", event = name, subject, client_id, scopes = %scopes),
        Event::ConsentDenied { subject, client_id } => {
            info!(target: "opkit::event", event = name, subject, client_id)
        }
        Event::ConsentRevoked {
            subject,
            client_id,
            grants_revoked,
        } => info!(target: "opkit::event", event = name, subject, client_id, grants_revoked),
        Event::TokensIssued {
            grant_type,
            client_id,
            subject,
            grant_id,
            scopes,
            issued,
        } => info!(
            target: "opkit::event",
            event = name,
            grant_type = grant_type.as_str(),
            client_id,
            subject,
            grant_id = grant_id.map(|g| g.0.as_str()),
            scopes = %scopes,
            code = issued.code,
            access_token = issued.access_token,
            id_token = issued.id_token,
            refresh_token = issued.refresh_token,
        ),
        Event::RefreshTokenReused {
            client_id,
            grant_id,
        }
        | Event::CodeReplayed {
            client_id,
            grant_id,
        }
        | Event::RefreshTokenGraceReuse {
            client_id,
            grant_id,
        } => warn!(target: "opkit::event", event = name, client_id, grant_id = grant_id.0.as_str()),
        Event::ClientAuthenticationFailed { client_id, reason } => {
            warn!(target: "opkit::event", event = name, client_id, reason)
        }
        Event::ClientCreated {
            id,
            client_id,
            registered,
        } => info!(target: "opkit::event", event = name, id, client_id, registered),
        Event::ClientUpdated { id, client_id } | Event::ClientDeleted { id, client_id } => {
            info!(target: "opkit::event", event = name, id, client_id)
        }
        Event::KeyPublished { kid, alg }
        | Event::KeyActivated { kid, alg }
        | Event::KeyDropped { kid, alg } => {
            info!(target: "opkit::event", event = name, kid, alg = alg.as_str())
        }
        Event::Throttled {
            attempt,
            retry_after,
        } => warn!(
            target: "opkit::event",
            event = name,
            attempt = attempt_name(&attempt),
            source = attempt_source(&attempt).map(tracing::field::display),
            retry_after_secs = retry_after.as_secs_f64(),
        ),
        Event::StoreFailed { kind } => {
            warn!(target: "opkit::event", event = name, kind = ?kind)
        }
        Event::SignedOut { subject, client_id } => {
            info!(target: "opkit::event", event = name, subject, client_id)
        }
        _ => info!(target: "opkit::event", event = name),
    }
}

/// A short name for what was attempted, for logs and metric labels.
pub(crate) fn attempt_name(attempt: &Attempt<'_>) -> &'static str {
    match attempt {
        Attempt::Password { .. } => "password",
        Attempt::ClientSecret { .. } => "client_secret",
        Attempt::Registration { .. } => "registration",
        Attempt::PendingStep { .. } => "pending_step",
        _ => "other",
    }
}

fn attempt_source(attempt: &Attempt<'_>) -> Option<std::net::IpAddr> {
    match attempt {
        Attempt::Password { source, .. }
        | Attempt::Registration { source }
        | Attempt::PendingStep { source } => *source,
        _ => None,
    }
}
