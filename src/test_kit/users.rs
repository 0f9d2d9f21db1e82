//! The [`UserStore`] contract, on a store the caller has filled.

use super::{ok, same};
use crate::store::UserStore;

const USERS: &str = "UserStore";

/// Check a [`UserStore`] that holds the user `username` with `password` and `subject`: the
/// right password gives the subject, a wrong one, an empty one or an unknown username give
/// `None`, the subject has claims and an unknown subject has none. (The trait has no method to
/// add users, so the caller adds this one through its store's own API.)
pub async fn check_user_store<U: UserStore>(
    users: &U,
    username: &str,
    password: &str,
    subject: &str,
) {
    same(
        USERS,
        "authenticate with the right password returns the subject",
        ok(
            users.authenticate(username, password).await,
            USERS,
            "authenticate",
        ),
        Some(subject.to_owned()),
    );
    let wrong = format!("{password}x");
    for (what, name, pw) in [
        ("a wrong password", username, wrong.as_str()),
        ("an empty password", username, ""),
        ("an unknown username", "kit-nobody", password),
    ] {
        same(
            USERS,
            &format!("authenticate with {what} returns None"),
            ok(users.authenticate(name, pw).await, USERS, "authenticate"),
            None,
        );
    }
    if ok(users.claims(subject).await, USERS, "claims").is_none() {
        super::broken(USERS, "claims of a stored subject", "returned None");
    }
    same(
        USERS,
        "claims of an unknown subject",
        ok(users.claims("kit-nobody").await, USERS, "claims").is_none(),
        true,
    );
}
