//! Diagnostics through `tracing`: the kit's own warnings (target `opkit_axum`) and the access
//! log the builder can switch on (target `opkit_axum::access`, one event per request). Neither
//! ever carries a query string, a cookie, a form or a secret. The host chooses where they go by
//! installing a subscriber (`tracing-subscriber`'s `fmt` prints them on stderr).

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// A warning of the kit's (an accept failure, a store that failed, a refused request's cause).
pub(crate) fn line(text: &str) {
    tracing::warn!(target: "opkit_axum", "{text}");
}

/// The access log: method, path (never the query, which can carry codes and tokens; ids of
/// pending steps masked), status and time taken, inside a span for the request.
pub(crate) async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    // The provider's events during the request (target `opkit::event`) carry its method and
    // path as their span's fields.
    let span = tracing::info_span!("request", method = %method, path = %path);
    let resp = next.run(req).instrument(span).await;
    tracing::info!(
        target: "opkit_axum::access",
        method = %method,
        path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    resp
}

/// The path with the ids of pending steps masked (any segment of 40 or more characters: the
/// kit's ids are 43) and overlong paths cut.
pub(crate) fn loggable_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(200));
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if segment.len() >= 40 {
            out.push('…');
        } else {
            out.push_str(segment);
        }
    }
    if out.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| out.is_char_boundary(*i))
            .unwrap_or(0);
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_masked_and_long_paths_cut() {
        let id = "a".repeat(43);
        assert_eq!(
            loggable_path(&format!("/interaction/{id}/login")),
            "/interaction/…/login"
        );
        assert_eq!(loggable_path("/token"), "/token");
        let long = "/x".repeat(300);
        assert!(loggable_path(&long).chars().count() <= 201);
    }
}
