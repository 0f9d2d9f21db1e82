//! The HTML pages: login, consent, logout confirmation, errors, the landing page and the shared
//! layout. Every interpolated value goes through [`esc`]; every page is sent with a strict CSP,
//! no framing and no caching.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use opkit::flow::authorize::escape_html as esc;
use opkit::http::HttpResponse;
use opkit::{Error, ErrorKind};

use super::web::{into_axum, Incoming};
use super::AppState;

const STYLE: &str = "\
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:28rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.75rem;\
box-shadow:0 1px 4px rgba(0,0,0,.12)}\
main.wide{max-width:56rem}\
h1{font-size:1.35rem;margin:0 0 1rem}\
h2{font-size:1.05rem;margin:1.5rem 0 .5rem}\
a{color:#2456c7}\
label{display:block;margin:.75rem 0 .25rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;\
border:1px solid #b8bfcc;border-radius:.4rem;font-size:1rem}\
.row{display:flex;gap:.75rem;margin-top:1.25rem}\
button{flex:1;padding:.6rem 1rem;border-radius:.4rem;border:1px solid #2456c7;font-size:1rem;\
cursor:pointer;background:#2f6ae0;color:#fff}\
button.secondary{background:#fff;color:#2456c7}\
.error{background:#fdecec;border:1px solid #e7a2a2;color:#8a1c1c;padding:.6rem;border-radius:.4rem}\
.notice{background:#fff6e0;border:1px solid #e8c66a;padding:.6rem;border-radius:.4rem}\
.muted{color:#5b6475;font-size:.9rem}\
ul.scopes{padding-left:1.2rem}\
pre{background:#f4f5f7;padding:.75rem;border-radius:.4rem;overflow:auto;font-size:.85rem}\
code{overflow-wrap:anywhere}\
@media (max-width:32rem){body{background:#fff}main{margin:0 auto;box-shadow:none;border-radius:0}}";

/// A complete page around `body` (already HTML); `title` is escaped here.
pub(crate) fn layout(title: &str, body: &str, wide: bool) -> String {
    let class = if wide { " class=\"wide\"" } else { "" };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main{class}>{body}</main></body></html>",
        esc(title)
    )
}

/// The CSP of every page. `form_target` is the client's origin when a form on the page may end
/// in a redirect to it (browsers apply `form-action` to the redirects after a form post).
pub(crate) fn csp(form_target: Option<&str>) -> String {
    let extra = form_target.map(|t| format!(" {t}")).unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'{extra}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The CSP source that lets a form post end in a redirect to the client's redirect URI
/// (browsers apply `form-action` to redirects): its origin for http(s), the scheme alone for an
/// IPv6 literal (CSP host sources cannot name one) and for a private-use URI scheme.
pub(crate) fn csp_source(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    let scheme = url.scheme();
    match (scheme, url.host()) {
        ("http" | "https", Some(url::Host::Ipv6(_))) => Some(format!("{scheme}:")),
        ("http" | "https", Some(_)) => Some(url.origin().ascii_serialization()),
        _ => Some(format!("{scheme}:")),
    }
}

/// An HTML response (no caching, no framing, no referrer, the CSP above).
pub(crate) fn html(status: u16, page: String, form_target: Option<&str>) -> HttpResponse {
    HttpResponse::html(status, page, &csp(form_target))
}

/// A short page with a heading and a message (both escaped).
pub(crate) fn message(status: u16, title: &str, text: &str) -> HttpResponse {
    let body = format!("<h1>{}</h1><p>{}</p>", esc(title), esc(text));
    html(status, layout(title, &body, false), None)
}

/// 500.
pub(crate) fn server_error() -> HttpResponse {
    message(
        500,
        "Something went wrong",
        "The server could not complete the request. Please try again.",
    )
}

/// 503: a size cap was reached.
pub(crate) fn busy() -> HttpResponse {
    message(
        503,
        "Busy",
        "Too many sign-ins are in progress. Please try again in a few minutes.",
    )
}

/// A posted page whose request is gone (expired, completed, never existed).
pub(crate) fn expired() -> HttpResponse {
    message(
        400,
        "This page has expired",
        "The request expired or was already completed. Go back to the application and start \
         again.",
    )
}

/// A posted page whose CSRF token or browser cookie does not match.
pub(crate) fn forbidden() -> HttpResponse {
    message(
        403,
        "Request refused",
        "The form could not be verified. It may have been opened in another browser, or your \
         browser blocks cookies. Go back to the application and start again.",
    )
}

/// A form that could not be read.
pub(crate) fn bad_form() -> HttpResponse {
    message(
        400,
        "Bad request",
        "The form could not be read. Go back and try again.",
    )
}

/// The page for an authorization request that cannot be answered to the client (unknown client,
/// unregistered redirect URI, …): never a redirect.
pub(crate) fn authorization_error(err: &Error) -> HttpResponse {
    let body = format!(
        "<h1>The sign-in request was refused</h1>\
         <p class=\"error\"><strong>{}</strong>: {}</p>\
         <p class=\"muted\">The application that sent you here made an invalid request. \
         Go back to it and try again, or tell its developers.</p>",
        esc(err.code().as_str()),
        esc(&err.description())
    );
    error_page(err, layout("Sign-in refused", &body, false))
}

/// An error page for `err`, with its status and, for a `405`, the `Allow` header it names.
fn error_page(err: &Error, page: String) -> HttpResponse {
    let resp = html(err.status(), page, None);
    match err.kind() {
        ErrorKind::MethodNotAllowed(allow) => resp.set_header("allow", *allow),
        _ => resp,
    }
}

/// What the login page shows.
pub(crate) struct LoginView<'a> {
    pub(crate) action: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) client_name: &'a str,
    pub(crate) username: Option<&'a str>,
    pub(crate) error: Option<&'a str>,
    pub(crate) form_target: Option<&'a str>,
}

/// The login form: `username`, `password`, hidden `csrf`, and Sign in / Cancel buttons.
pub(crate) fn login(view: &LoginView<'_>) -> HttpResponse {
    let mut body = String::with_capacity(2048);
    let _ = write!(
        body,
        "<h1>Sign in</h1><p>to continue to <strong>{}</strong></p>",
        esc(view.client_name)
    );
    if let Some(error) = view.error {
        let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", esc(error));
    }
    let autofocus_user = if view.username.is_some() {
        ""
    } else {
        " autofocus"
    };
    let autofocus_pass = if view.username.is_some() {
        " autofocus"
    } else {
        ""
    };
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" \
         autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" maxlength=\"256\"{autofocus_user}>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" \
         maxlength=\"1024\"{autofocus_pass}>\
         <div class=\"row\"><button type=\"submit\" name=\"action\" value=\"login\">Sign in</button>\
         <button type=\"submit\" name=\"action\" value=\"cancel\" class=\"secondary\" formnovalidate>Cancel</button></div>\
         </form>",
        action = esc(view.action),
        csrf = esc(view.csrf),
        username = esc(view.username.unwrap_or("")),
    );
    html(200, layout("Sign in", &body, false), view.form_target)
}

/// What the consent page shows.
pub(crate) struct ConsentView<'a> {
    pub(crate) action: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) client_name: &'a str,
    pub(crate) username: &'a str,
    pub(crate) scopes: Vec<&'a str>,
    pub(crate) offline_access: bool,
    pub(crate) redirect_uri: &'a str,
    pub(crate) form_target: Option<&'a str>,
}

/// A human description of a scope.
fn describe_scope(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Confirm who you are (your account identifier)",
        "profile" => "Your basic profile: name, username, picture, locale",
        "email" => "Your e-mail address and whether it is verified",
        "address" => "Your postal address",
        "phone" => "Your phone number and whether it is verified",
        "offline_access" => "Keep access when you are not using the app (offline access)",
        _ => return None,
    })
}

/// The consent page: the client, what it asks for, Allow / Deny.
pub(crate) fn consent(view: &ConsentView<'_>) -> HttpResponse {
    let mut body = String::with_capacity(2048);
    let _ = write!(
        body,
        "<h1>Allow access?</h1><p><strong>{}</strong> wants to:</p><ul class=\"scopes\">",
        esc(view.client_name)
    );
    // offline_access gets the notice below rather than a line of the list.
    let listed = view
        .scopes
        .iter()
        .filter(|s| !(view.offline_access && **s == "offline_access"));
    for scope in listed {
        match describe_scope(scope) {
            Some(text) => {
                let _ = write!(body, "<li>{}</li>", esc(text));
            }
            None => {
                let _ = write!(
                    body,
                    "<li>Use the permission <code>{}</code></li>",
                    esc(scope)
                );
            }
        }
    }
    body.push_str("</ul>");
    if view.offline_access {
        body.push_str(
            "<p class=\"notice\"><strong>This app asks to keep access when you are not using the \
             app (offline access).</strong> It can keep acting for you until you revoke it.</p>",
        );
    }
    let _ = write!(
        body,
        "<p class=\"muted\">Signed in as <strong>{user}</strong>. You will be sent back to \
         <code>{origin}</code>.</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <div class=\"row\"><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></div>\
         </form>",
        user = esc(view.username),
        origin = esc(view.redirect_uri),
        action = esc(view.action),
        csrf = esc(view.csrf),
    );
    html(200, layout("Allow access?", &body, false), view.form_target)
}

/// `GET /`: what this is, where to start.
pub(crate) async fn landing(State(state): State<Arc<AppState>>, incoming: Incoming) -> Response {
    let issuer = state.issuer();
    let session = super::session::current_session(&state, &incoming);
    let mut body = format!(
        "<h1>opkit example provider</h1>\
         <p>An OpenID Connect provider for trying relying parties out.</p>\
         <p><a href=\"{start}\">Sign in with the demo client</a></p>\
         <p class=\"muted\">Discovery: <a href=\"{disc}\"><code>{disc}</code></a></p>",
        start = esc(&format!("{issuer}/demo/start")),
        disc = esc(&format!("{issuer}/.well-known/openid-configuration")),
    );
    if let Some(session) = session {
        let _ = write!(
            body,
            "<p class=\"muted\">Signed in as <strong>{}</strong> · <a href=\"{}\">Sign out</a></p>",
            esc(&session.username),
            esc(&format!("{issuer}/logout")),
        );
    }
    into_axum(html(
        200,
        layout("opkit example provider", &body, false),
        None,
    ))
}

/// Anything else.
pub(crate) async fn not_found() -> Response {
    into_axum(message(
        404,
        "Not found",
        "There is nothing at this address.",
    ))
}

/// What the logout confirmation page shows.
pub(crate) struct LogoutView<'a> {
    pub(crate) action: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) client_name: Option<&'a str>,
    pub(crate) username: Option<&'a str>,
    pub(crate) form_target: Option<&'a str>,
}

/// "Sign out?" with Sign out / Stay signed in.
pub(crate) fn logout_confirm(view: &LogoutView<'_>) -> HttpResponse {
    let mut body = String::with_capacity(1024);
    body.push_str("<h1>Sign out?</h1>");
    match view.client_name.filter(|n| !n.trim().is_empty()) {
        Some(name) => {
            let _ = write!(
                body,
                "<p><strong>{}</strong> asks to sign you out of this provider.</p>",
                esc(name)
            );
        }
        None => body.push_str("<p>Do you want to sign out of this provider?</p>"),
    }
    if let Some(user) = view.username {
        let _ = write!(
            body,
            "<p class=\"muted\">Signed in as <strong>{}</strong>.</p>",
            esc(user)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <div class=\"row\"><button type=\"submit\" name=\"decision\" value=\"logout\">Sign out</button>\
         <button type=\"submit\" name=\"decision\" value=\"stay\" class=\"secondary\">Stay signed in</button></div>\
         </form>",
        action = esc(view.action),
        csrf = esc(view.csrf),
    );
    html(200, layout("Sign out?", &body, false), view.form_target)
}

/// A refused logout request (never redirected).
pub(crate) fn logout_error(err: &Error) -> HttpResponse {
    let body = format!(
        "<h1>The sign-out request was refused</h1>\
         <p class=\"error\"><strong>{}</strong>: {}</p>",
        esc(err.code().as_str()),
        esc(&err.description())
    );
    error_page(err, layout("Sign-out refused", &body, false))
}

/// After a logout that sends the user nowhere in particular
/// ([`opkit::flow::logout::LogoutOutcome::LoggedOut`]).
pub(crate) fn signed_out(issuer: &str) -> HttpResponse {
    let body = format!(
        "<h1>Signed out</h1><p>You are signed out of this provider.</p>\
         <p class=\"muted\"><a href=\"{}\">Home</a></p>",
        esc(&format!("{issuer}/"))
    );
    html(200, layout("Signed out", &body, false), None)
}
