use std::borrow::Cow;

use crate::error::{Error, ErrorKind};

/// At most this many parameters in one query string or form body.
const MAX_PARAMS: usize = 64;

/// Decoded `application/x-www-form-urlencoded` parameters (a query string or a form body).
///
/// Parameters sent without a value are treated as omitted (RFC 6749 §3.1); a parameter sent
/// more than once is refused (RFC 6749 §3.1, §3.2).
///
/// ```
/// use opkit::http::parse_form;
/// let params = parse_form("scope=openid+email&state=a%20b&empty=").unwrap();
/// assert_eq!(params.get("scope"), Some("openid email"));
/// assert_eq!(params.get("state"), Some("a b"));
/// assert_eq!(params.get("empty"), None);
/// assert!(parse_form("a=1&a=2").is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct FormParams<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// The name-value pairs of `application/x-www-form-urlencoded` input, decoded. Components with
/// nothing to decode are borrowed; a `%` not followed by two hex digits stays as it is, and
/// bytes that do not form UTF-8 become U+FFFD (so they match nothing).
fn pairs(input: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    input.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_lossy(name), decode_lossy(value))
    })
}

fn decode_lossy(s: &str) -> Cow<'_, str> {
    match decode(s) {
        Decoded::Borrowed(s) => Cow::Borrowed(s),
        Decoded::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// Decode one form component strictly: `None` when the result is not UTF-8.
pub(crate) fn decode_strict(s: &str) -> Option<Cow<'_, str>> {
    match decode(s) {
        Decoded::Borrowed(s) => Some(Cow::Borrowed(s)),
        Decoded::Owned(bytes) => String::from_utf8(bytes).ok().map(Cow::Owned),
    }
}

enum Decoded<'a> {
    Borrowed(&'a str),
    Owned(Vec<u8>),
}

/// `+` is a space and `%XX` a byte (the URL standard's form decoding).
fn decode(s: &str) -> Decoded<'_> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Decoded::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Decoded::Owned(out)
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parse and decode a query string or form body.
pub fn parse_form(input: &str) -> Result<FormParams<'_>, Error> {
    let mut pairs_out: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(8);
    for (name, value) in pairs(input) {
        if value.is_empty() {
            continue;
        }
        if pairs_out.iter().any(|(n, _)| *n == name) {
            return Err(ErrorKind::DuplicateParameter(name.into_owned()).into());
        }
        if pairs_out.len() == MAX_PARAMS {
            return Err(ErrorKind::TooLarge("the parameter list").into());
        }
        pairs_out.push((name, value));
    }
    Ok(FormParams { pairs: pairs_out })
}

/// Parse like [`parse_form`], but keep the first value of a repeated parameter and report one
/// repeated name (`client_id` or `redirect_uri` if either is repeated, else the first), for a caller that must decide later how to refuse it (the
/// authorization endpoint redirects the error once the client is trusted).
pub(crate) fn parse_form_keep_first(
    input: &str,
) -> Result<(FormParams<'_>, Option<String>), Error> {
    let mut pairs_out: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(12);
    let mut duplicate = None;
    for (name, value) in pairs(input) {
        if value.is_empty() {
            continue;
        }
        if pairs_out.iter().any(|(n, _)| *n == name) {
            // A repeated client_id or redirect_uri matters most: it makes the request untrusted.
            let untrusted = |n: &str| matches!(n, "client_id" | "redirect_uri");
            if duplicate
                .as_deref()
                .is_none_or(|d| !untrusted(d) && untrusted(&name))
            {
                duplicate = Some(name.into_owned());
            }
            continue;
        }
        if pairs_out.len() == MAX_PARAMS {
            return Err(ErrorKind::TooLarge("the parameter list").into());
        }
        pairs_out.push((name, value));
    }
    Ok((FormParams { pairs: pairs_out }, duplicate))
}

impl<'a> FormParams<'a> {
    /// The value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The value of a required parameter.
    pub fn require(&self, name: &'static str) -> Result<&str, Error> {
        self.get(name)
            .ok_or_else(|| ErrorKind::MissingParameter(name).into())
    }

    /// Whether a parameter is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The parameters by value, in order (decoded values are moved out, not copied).
    pub fn into_pairs(self) -> impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)> {
        self.pairs.into_iter()
    }

    /// Parameter names and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// Add parameters from another source (for example the query string of a POST), refusing
    /// duplicates across both.
    pub fn merge(&mut self, other: FormParams<'a>) -> Result<(), Error> {
        for (name, value) in other.pairs {
            if self.contains(&name) {
                return Err(ErrorKind::DuplicateParameter(name.into_owned()).into());
            }
            self.pairs.push((name, value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let p =
            parse_form("redirect_uri=https%3A%2F%2Fa.example%2Fcb&scope=openid+profile").unwrap();
        assert_eq!(p.get("redirect_uri"), Some("https://a.example/cb"));
        assert_eq!(p.get("scope"), Some("openid profile"));
    }

    #[test]
    fn duplicate_is_refused_even_with_other_encoding() {
        let err = parse_form("client_id=a&client%5Fid=b").unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::DuplicateParameter("client_id".into())
        );
    }

    #[test]
    fn empty_value_counts_as_absent() {
        let p = parse_form("state=&state=x").unwrap();
        assert_eq!(p.get("state"), Some("x"));
    }

    #[test]
    fn too_many_parameters() {
        let q: Vec<String> = (0..65).map(|i| format!("p{i}=v")).collect();
        assert!(parse_form(&q.join("&")).is_err());
    }

    #[test]
    fn decoding_matches_the_url_standard() {
        let input = "a=x%20y+z&b=%41%4a%6b&c=100%&d=%zz%2&e=caf%C3%A9&f=%FF&g&=h&i=j=k";
        let ours: Vec<(String, String)> = pairs(input)
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        let theirs: Vec<(String, String)> = url::form_urlencoded::parse(input.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(ours, theirs);
        assert!(matches!(
            pairs("x=plain").next(),
            Some((Cow::Borrowed(_), Cow::Borrowed(_)))
        ));
        assert_eq!(decode_strict("%FF"), None);
    }

    #[test]
    fn malformed_percent_does_not_panic() {
        let p = parse_form("a=%zz%&b=%E2%82").unwrap();
        assert!(p.get("a").is_some());
        assert!(p.get("b").is_some());
    }
}
