//! Diagnostics on stderr: one line per request (the access log the builder can switch on) and
//! the kit's own warnings. Neither ever carries a query string, a cookie, a form or a secret.

use std::io::Write as _;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Write one line to stderr with one `write(2)`; a line that cannot be written is dropped.
pub(crate) fn line(text: &str) {
    let mut buf = String::with_capacity(text.len() + 1);
    buf.push_str(text);
    buf.push('\n');
    let _ = std::io::stderr().lock().write_all(buf.as_bytes());
}

/// The access log: method, path (never the query, which can carry codes and tokens; ids of
/// pending steps masked), status and time taken.
pub(crate) async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let resp = next.run(req).await;
    line(&format!(
        "{method} {path} {} {:.1}ms",
        resp.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
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
