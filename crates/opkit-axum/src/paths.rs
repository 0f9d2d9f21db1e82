//! The paths the router will mount, checked before it is built: axum panics on routes that
//! collide, and a path of the configuration is the host's input, so a mistake there is a typed
//! [`BuildError`] from [`OpenIdProvider::build`](crate::OpenIdProvider::build) instead.

use std::fmt;

use opkit::config::Endpoint;
use opkit::Config;

use crate::admin::CLIENTS_PATH;
use crate::interaction::INTERACTION_PATH;

/// The configuration cannot be served as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A configured path is not of the form `/segment/segment…` with URL-safe characters
    /// (letters, digits, `-`, `.`, `_`, `~`), or is the root.
    InvalidPath {
        /// The path as configured.
        path: String,
    },
    /// Two routes would be served at the same place: a path given to two endpoints, or a path
    /// inside what another endpoint or the kit serves below its own (`/interaction/…`,
    /// `/clients/…`, the registration and end-session endpoints' `…/{id}`).
    PathCollision {
        /// The path that collides.
        path: String,
        /// What it collides with.
        with: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidPath { path } => write!(
                f,
                "endpoint path {path:?}: expected /segment/… of letters, digits, '-', '.', '_', '~'"
            ),
            BuildError::PathCollision { path, with } => {
                write!(f, "endpoint path {path:?} collides with {with:?}")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Check every path the router mounts for `config` (with the management API when `admin`, and
/// the kit's own `extra` paths such as `/metrics`).
pub(crate) fn check(config: &Config, admin: bool, extra: &[&str]) -> Result<(), BuildError> {
    let endpoints = config.endpoints();
    // Paths with a subtree of their own: nothing else may be at or below them.
    let mut owned: Vec<(&str, bool)> = vec![(INTERACTION_PATH, true)];
    if admin {
        owned.push((CLIENTS_PATH, true));
    }
    owned.extend(extra.iter().map(|path| (*path, true)));
    for (endpoint, path) in &endpoints {
        if *endpoint != Endpoint::Discovery && !valid(path) {
            return Err(BuildError::InvalidPath {
                path: (*path).to_owned(),
            });
        }
        if matches!(endpoint, Endpoint::Registration | Endpoint::EndSession) {
            owned.push((path, false));
        }
    }
    for (i, (_, path)) in endpoints.iter().enumerate() {
        let twice = endpoints[..i].iter().find(|(_, other)| other == path);
        if let Some((_, other)) = twice {
            return Err(collision(path, other));
        }
        for (base, base_itself) in &owned {
            let inside = path
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('/'));
            let at = path == base && *base_itself;
            if inside || at {
                return Err(collision(path, base));
            }
        }
    }
    Ok(())
}

fn collision(path: &str, with: &str) -> BuildError {
    BuildError::PathCollision {
        path: path.to_owned(),
        with: with.to_owned(),
    }
}

/// `/segment/segment…`, each segment non-empty and URL-safe (no `{`, `}` or `*`, which axum
/// reads as captures).
fn valid(path: &str) -> bool {
    path.len() > 1
        && path.len() <= 256
        && path.starts_with('/')
        && path[1..].split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opkit::config::RegistrationPolicy;

    fn config() -> Config {
        let mut config = Config::new("https://op.example").unwrap();
        config.registration = RegistrationPolicy::Open;
        config
    }

    #[test]
    fn the_defaults_are_fine() {
        assert_eq!(check(&config(), true, &[]), Ok(()));
    }

    /// A change to the configuration, and what the changed path then collides with.
    type Case = (fn(&mut Config), &'static str);

    #[test]
    fn collisions_and_bad_paths_are_errors() {
        let cases: [Case; 6] = [
            (|c| c.paths.token = "/authorize".into(), "/authorize"),
            (|c| c.paths.userinfo = "/interaction".into(), "/interaction"),
            (|c| c.paths.jwks = "/register/keys".into(), "/register"),
            (|c| c.paths.token = "/clients/token".into(), "/clients"),
            (
                |c| c.paths.end_session = Some("/register".into()),
                "/register",
            ),
            (|c| c.paths.revocation = Some("/logout/x".into()), "/logout"),
        ];
        for (adjust, with) in cases {
            let mut c = config();
            adjust(&mut c);
            match check(&c, true, &[]) {
                Err(BuildError::PathCollision { with: w, .. }) => assert_eq!(w, with),
                other => panic!("expected a collision with {with}: {other:?}"),
            }
        }
        for bad in ["token", "/", "/to ken", "/{id}", "/a//b", "/a/*"] {
            let mut c = config();
            c.paths.token = bad.into();
            assert!(
                matches!(check(&c, false, &[]), Err(BuildError::InvalidPath { .. })),
                "{bad}"
            );
        }
        // Without the management API, /clients is free.
        let mut c = config();
        c.paths.token = "/clients".into();
        assert_eq!(check(&c, false, &[]), Ok(()));
    }
}
