//! The claims of a token with the host's extra claims added.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};

/// `claims` as JSON, with `extra` added. A claim in `reserved`, or one `claims` already has
/// (the user's claims in an ID token), is refused: the host must not overwrite what the
/// provider vouches for.
pub(crate) fn payload<T: Serialize>(
    claims: &T,
    extra: Option<&Map<String, Value>>,
    reserved: &[&str],
    token: &'static str,
    capacity: usize,
) -> Result<Vec<u8>, Error> {
    let Some(extra) = extra.filter(|e| !e.is_empty()) else {
        return crate::json::to_json(claims, capacity);
    };
    let serialization = |e| Error::new(ErrorKind::Serialization).with_cause(e);
    let mut value = serde_json::to_value(claims).map_err(serialization)?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| Error::new(ErrorKind::Serialization))?;
    for (name, claim) in extra {
        if reserved.contains(&name.as_str()) || object.contains_key(name) {
            return Err(ErrorKind::ReservedClaim {
                token,
                claim: name.clone(),
            }
            .into());
        }
        object.insert(name.clone(), claim.clone());
    }
    serde_json::to_vec(&value).map_err(serialization)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_claims_are_added_and_reserved_or_present_ones_refused() {
        let claims = json!({"iss": "https://op.example", "email": "a@example.com"});
        let mut extra = Map::new();
        extra.insert("roles".into(), json!(["admin"]));
        let out = payload(&claims, Some(&extra), &["iss"], "id_token", 64).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["roles"], json!(["admin"]));
        assert_eq!(out["email"], "a@example.com");

        for name in ["iss", "email"] {
            let mut extra = Map::new();
            extra.insert(name.into(), json!("x"));
            let err = payload(&claims, Some(&extra), &["iss"], "id_token", 64).unwrap_err();
            assert_eq!(
                err.kind(),
                &ErrorKind::ReservedClaim {
                    token: "id_token",
                    claim: name.into()
                }
            );
            assert_eq!(err.status(), 500);
        }
    }

    #[test]
    fn no_extra_claims_is_the_plain_serialisation() {
        let claims = json!({"iss": "x"});
        let plain = crate::json::to_json(&claims, 16).unwrap();
        assert_eq!(payload(&claims, None, &[], "id_token", 16).unwrap(), plain);
        assert_eq!(
            payload(&claims, Some(&Map::new()), &[], "id_token", 16).unwrap(),
            plain
        );
    }
}
