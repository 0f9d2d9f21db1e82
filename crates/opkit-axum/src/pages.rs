//! The HTML the kit shows: login, consent, logout confirmation and short messages (errors,
//! "signed out"), behind one trait, [`Pages`]. Templates are data: the kit hands a view (every
//! value as plain text) to the host's [`Pages`] and sends the HTML it returns with a strict CSP,
//! no framing, no caching. [`DefaultPages`] are clean, accessible and escape every value.

use std::fmt::Write as _;

pub use opkit::http::escape_html;

use opkit::http::HttpResponse;

use escape_html as esc;

/// The login page: a form posting `username`, `password`, the hidden `csrf` and
/// `action=login` (or `action=cancel`) to `action`.
#[derive(Debug)]
#[non_exhaustive]
pub struct LoginView<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The hidden `csrf` field's value.
    pub csrf: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// The username to pre-fill (`login_hint`, or what was typed before an error).
    pub username: Option<&'a str>,
    /// What went wrong with the previous attempt.
    pub error: Option<&'a str>,
}

/// The consent page: a form posting the hidden `csrf` and `decision=allow` or `decision=deny`.
#[derive(Debug)]
#[non_exhaustive]
pub struct ConsentView<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The hidden `csrf` field's value.
    pub csrf: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// Who is signed in.
    pub username: &'a str,
    /// The scopes asked for.
    pub scopes: Vec<&'a str>,
    /// Whether offline access (a refresh token) is asked for.
    pub offline_access: bool,
    /// Where the user will be sent.
    pub redirect_uri: &'a str,
}

/// The logout confirmation page: a form posting the hidden `csrf` and `decision=logout` or
/// `decision=stay`.
#[derive(Debug)]
#[non_exhaustive]
pub struct LogoutView<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The hidden `csrf` field's value.
    pub csrf: &'a str,
    /// The client that asked, if known.
    pub client_name: Option<&'a str>,
    /// Who is signed in, if anyone.
    pub username: Option<&'a str>,
}

/// Which short message a [`MessageView`] carries (for a host that words or translates them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// An authorization request that cannot be answered to the client (never redirected).
    AuthorizationRefused,
    /// A refused logout request.
    LogoutRefused,
    /// A posted page whose step is gone (expired, completed, never existed).
    Expired,
    /// A posted page whose CSRF token or browser does not match.
    Forbidden,
    /// A form that could not be read, or a missing choice.
    BadRequest,
    /// Too many failed sign-ins.
    TooManyAttempts,
    /// A cap on pending steps or sessions was reached.
    Busy,
    /// Something failed on the server.
    ServerError,
    /// The user signed out.
    SignedOut,
    /// The user chose to stay signed in.
    StillSignedIn,
    /// Nothing at this address.
    NotFound,
}

/// A short page: a heading and a sentence, with the protocol error if there is one.
#[derive(Debug)]
#[non_exhaustive]
pub struct MessageView<'a> {
    /// Which message.
    pub kind: MessageKind,
    /// The HTTP status it is sent with.
    pub status: u16,
    /// The heading.
    pub title: &'a str,
    /// The sentence.
    pub text: &'a str,
    /// The OAuth error code and description, for refused requests.
    pub error: Option<(&'a str, &'a str)>,
}

/// The pages of the provider. Every method has a default (the [`DefaultPages`] design), so a
/// host overrides only what it wants to change; each returns a complete HTML document. Values in
/// the views are plain text: escape them (with [`escape_html`]) or use a template engine that
/// does.
///
/// ```
/// use opkit_axum::pages::{escape_html, LoginView, Pages};
///
/// struct Branded;
/// impl Pages for Branded {
///     fn login(&self, view: &LoginView<'_>) -> String {
///         format!(
///             "<!DOCTYPE html><title>ACME sign-in</title><form method=\"post\" action=\"{}\">\
///              <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
///              <input name=\"username\"><input type=\"password\" name=\"password\">\
///              <button name=\"action\" value=\"login\">Sign in to {}</button></form>",
///             escape_html(view.action),
///             escape_html(view.csrf),
///             escape_html(view.client_name),
///         )
///     }
/// }
/// ```
pub trait Pages: Send + Sync + 'static {
    /// The login page.
    fn login(&self, view: &LoginView<'_>) -> String {
        default_login(view)
    }

    /// The consent page.
    fn consent(&self, view: &ConsentView<'_>) -> String {
        default_consent(view)
    }

    /// The logout confirmation page.
    fn logout(&self, view: &LogoutView<'_>) -> String {
        default_logout(view)
    }

    /// A short message (errors, "signed out").
    fn message(&self, view: &MessageView<'_>) -> String {
        default_message(view)
    }
}

/// The kit's own pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPages;

impl Pages for DefaultPages {}

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

/// A complete page in the default design around `body` (already HTML); `title` is escaped.
/// `wide` gives room for code blocks. Hosts can use it for pages of their own.
///
/// ```
/// let html = opkit_axum::pages::layout("Hi <you>", "<p>hello</p>", false);
/// assert!(html.contains("<title>Hi &lt;you&gt;</title>") && html.contains("<p>hello</p>"));
/// ```
pub fn layout(title: &str, body: &str, wide: bool) -> String {
    let class = if wide { " class=\"wide\"" } else { "" };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main{class}>{body}</main></body></html>",
        esc(title)
    )
}

/// An HTML response with the kit's headers: a CSP allowing inline styles only and forms to
/// this origin (plus `form_target`, the CSP source of the client a form may end up redirecting
/// to), no framing, no caching, no referrer.
///
/// ```
/// let resp = opkit_axum::pages::html(200, "<!DOCTYPE html>".into(), None);
/// assert!(resp.header("content-security-policy").unwrap().contains("default-src 'none'"));
/// ```
pub fn html(status: u16, page: String, form_target: Option<&str>) -> HttpResponse {
    let extra = form_target.map(|t| format!(" {t}")).unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'{extra}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    HttpResponse::html(status, page, &csp)
}

/// The CSP source that lets a form post end in a redirect to `redirect_uri` (browsers apply
/// `form-action` to redirects): its origin for http(s), the scheme alone for an IPv6 literal
/// (CSP host sources cannot name one) and for a private-use URI scheme.
pub(crate) fn csp_source(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    let scheme = url.scheme();
    match (scheme, url.host()) {
        ("http" | "https", Some(url::Host::Ipv6(_))) => Some(format!("{scheme}:")),
        ("http" | "https", Some(_)) => Some(url.origin().ascii_serialization()),
        _ => Some(format!("{scheme}:")),
    }
}

fn default_message(view: &MessageView<'_>) -> String {
    let mut body = format!("<h1>{}</h1>", esc(view.title));
    if let Some((code, description)) = view.error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\"><strong>{}</strong>: {}</p>",
            esc(code),
            esc(description)
        );
    }
    let _ = write!(body, "<p>{}</p>", esc(view.text));
    layout(view.title, &body, false)
}

fn default_login(view: &LoginView<'_>) -> String {
    let mut body = String::with_capacity(2048);
    let _ = write!(
        body,
        "<h1>Sign in</h1><p>to continue to <strong>{}</strong></p>",
        esc(view.client_name)
    );
    if let Some(error) = view.error {
        let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", esc(error));
    }
    let (focus_user, focus_pass) = match view.username {
        Some(_) => ("", " autofocus"),
        None => (" autofocus", ""),
    };
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" \
         autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" maxlength=\"256\"{focus_user}>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" \
         maxlength=\"1024\"{focus_pass}>\
         <div class=\"row\"><button type=\"submit\" name=\"action\" value=\"login\">Sign in</button>\
         <button type=\"submit\" name=\"action\" value=\"cancel\" class=\"secondary\" formnovalidate>Cancel</button></div>\
         </form>",
        action = esc(view.action),
        csrf = esc(view.csrf),
        username = esc(view.username.unwrap_or("")),
    );
    layout("Sign in", &body, false)
}

/// A human description of a standard scope.
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

fn default_consent(view: &ConsentView<'_>) -> String {
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
         <code>{target}</code>.</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <div class=\"row\"><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></div>\
         </form>",
        user = esc(view.username),
        target = esc(view.redirect_uri),
        action = esc(view.action),
        csrf = esc(view.csrf),
    );
    layout("Allow access?", &body, false)
}

fn default_logout(view: &LogoutView<'_>) -> String {
    let mut body = String::from("<h1>Sign out?</h1>");
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
    layout("Sign out?", &body, false)
}

/// The wording of each message, and its status.
pub(crate) fn wording(kind: MessageKind) -> (u16, &'static str, &'static str) {
    use MessageKind as K;
    match kind {
        K::AuthorizationRefused => (
            400,
            "The sign-in request was refused",
            "The application that sent you here made an invalid request. Go back to it and try \
             again, or tell its developers.",
        ),
        K::LogoutRefused => (
            400,
            "The sign-out request was refused",
            "The application that sent you here made an invalid request.",
        ),
        K::Expired => (
            400,
            "This page has expired",
            "The request expired or was already completed. Go back to the application and start \
             again.",
        ),
        K::Forbidden => (
            403,
            "Request refused",
            "The form could not be verified. It may have been opened in another browser, or your \
             browser blocks cookies. Go back to the application and start again.",
        ),
        K::BadRequest => (
            400,
            "Bad request",
            "The form could not be read. Go back and try again.",
        ),
        K::TooManyAttempts => (
            429,
            "Too many attempts",
            "Too many failed sign-in attempts. Go back to the application and start again.",
        ),
        K::Busy => (
            503,
            "Busy",
            "Too many sign-ins are in progress. Please try again in a few minutes.",
        ),
        K::ServerError => (
            500,
            "Something went wrong",
            "The server could not complete the request. Please try again.",
        ),
        K::SignedOut => (200, "Signed out", "You are signed out of this provider."),
        K::StillSignedIn => (200, "Still signed in", "You were not signed out."),
        K::NotFound => (404, "Not found", "There is nothing at this address."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_escape_every_value() {
        let evil = "<script>\"'&";
        let login = DefaultPages.login(&LoginView {
            action: evil,
            csrf: evil,
            client_name: evil,
            username: Some(evil),
            error: Some(evil),
        });
        let consent = DefaultPages.consent(&ConsentView {
            action: evil,
            csrf: evil,
            client_name: evil,
            username: evil,
            scopes: vec![evil, "openid"],
            offline_access: true,
            redirect_uri: evil,
        });
        let logout = DefaultPages.logout(&LogoutView {
            action: evil,
            csrf: evil,
            client_name: Some(evil),
            username: Some(evil),
        });
        let message = DefaultPages.message(&MessageView {
            kind: MessageKind::AuthorizationRefused,
            status: 400,
            title: evil,
            text: evil,
            error: Some((evil, evil)),
        });
        for page in [login, consent, logout, message] {
            assert!(!page.contains("<script>"), "{page}");
            assert!(page.contains("&lt;script&gt;"), "{page}");
        }
    }

    #[test]
    fn csp_sources() {
        assert_eq!(
            csp_source("https://rp.example:8443/cb?x").as_deref(),
            Some("https://rp.example:8443")
        );
        assert_eq!(csp_source("http://[::1]:9/cb").as_deref(), Some("http:"));
        assert_eq!(
            csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        let resp = html(200, String::new(), Some("https://rp.example"));
        let csp = resp.header("content-security-policy").unwrap();
        assert!(
            csp.contains("form-action 'self' https://rp.example;"),
            "{csp}"
        );
    }
}
