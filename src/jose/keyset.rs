//! The provider's signing keys: one active key per algorithm, older keys kept for verification.

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::b64;
use super::jwk::Jwks;
use super::jws::{parse_compact, JwsError, ParsedJws};
use super::key::{KeyError, SigningKey};
use super::Algorithm;
use crate::host::Rng;

/// The provider's signing keys, by `kid`.
///
/// Each algorithm has at most one *active* key, the one new tokens are signed with; the first
/// key inserted for an algorithm becomes active. Every key in the set is published in
/// [`KeySet::jwks`] and accepted by [`KeySet::verify`], so rotating (insert a new key, make it
/// active, remove the old one once its tokens have expired) never breaks verification.
///
/// ```
/// use opkit::host::SystemRng;
/// use opkit::jose::{sign_compact, Algorithm, KeySet};
///
/// let keys = KeySet::generate(&SystemRng::default())?;
/// let signer = keys.active(Algorithm::Es256).expect("generate makes an ES256 key");
/// let token = sign_compact(signer, "JWT", br#"{"sub":"alice"}"#)?;
///
/// let verified = keys.verify(&token)?;
/// assert_eq!(verified.payload(), br#"{"sub":"alice"}"#);
/// assert_eq!(verified.header().kid.as_deref(), Some(signer.kid()));
/// assert_eq!(keys.jwks().keys.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Cloning is cheap: the keys themselves are shared, not copied.
#[derive(Default, Clone)]
pub struct KeySet {
    keys: Vec<Arc<SigningKey>>,
    /// Index into `keys` of each algorithm's active key.
    active: Vec<(Algorithm, usize)>,
    /// Keys no longer active, by `kid`, and when the last token they signed expires.
    retired: Vec<(String, OffsetDateTime)>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let active: Vec<(Algorithm, &str)> = self
            .active
            .iter()
            .filter_map(|&(alg, i)| self.keys.get(i).map(|k| (alg, k.kid())))
            .collect();
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("active", &active)
            .field("retired", &self.retired)
            .finish()
    }
}

impl KeySet {
    /// An empty key set.
    #[must_use]
    pub fn new() -> KeySet {
        KeySet::default()
    }

    /// A key set with a new ES256 key and a new 2048-bit RS256 key, both active, with random
    /// key ids (base64url of 8 random bytes). Generating the RSA key takes a while; persist
    /// keys with [`SigningKey::to_pkcs8_pem`] rather than generating them at every start.
    ///
    /// # Errors
    ///
    /// [`KeyError::Rng`] if the random source fails.
    pub fn generate(rng: &dyn Rng) -> Result<KeySet, KeyError> {
        let mut set = KeySet::new();
        for alg in [Algorithm::Es256, Algorithm::Rs256] {
            let mut id = [0u8; 8];
            rng.fill(&mut id)?;
            set.insert(SigningKey::generate(alg, b64::encode(&id), rng)?)?;
        }
        Ok(set)
    }

    /// Adds a key. It becomes its algorithm's active key if that algorithm has none.
    ///
    /// # Errors
    ///
    /// [`KeyError::DuplicateKid`] if a key with the same `kid` is already in the set.
    pub fn insert(&mut self, key: SigningKey) -> Result<(), KeyError> {
        if self.get(key.kid()).is_some() {
            return Err(KeyError::DuplicateKid(key.kid().to_owned()));
        }
        let alg = key.alg();
        self.keys.push(Arc::new(key));
        if self.active_index(alg).is_none() {
            self.active.push((alg, self.keys.len() - 1));
        }
        Ok(())
    }

    /// Makes the key `kid` the active signing key of its algorithm. The previously active key
    /// stays in the set, published and verifying.
    ///
    /// # Errors
    ///
    /// [`KeyError::UnknownKid`] if no key has this `kid`.
    pub fn set_active(&mut self, kid: &str) -> Result<(), KeyError> {
        let index = self
            .position(kid)
            .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
        let alg = self.keys[index].alg();
        match self.active.iter_mut().find(|(a, _)| *a == alg) {
            Some(slot) => slot.1 = index,
            None => self.active.push((alg, index)),
        }
        Ok(())
    }

    /// Makes the key `kid` its algorithm's active signing key, as [`KeySet::set_active`] does,
    /// and schedules the key it replaces for removal once every token it signed has expired:
    /// [`KeySet::drop_retired`] at or after `now + keep_for` removes it. `keep_for` is the longest
    /// lifetime of a token signed with it ([`Config::longest_token_lifetime`](crate::Config::longest_token_lifetime)).
    ///
    /// # Errors
    ///
    /// [`KeyError::UnknownKid`] if no key has this `kid`.
    pub fn activate(
        &mut self,
        kid: &str,
        now: OffsetDateTime,
        keep_for: Duration,
    ) -> Result<(), KeyError> {
        let index = self
            .position(kid)
            .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
        let previous = self
            .active(self.keys[index].alg())
            .map(|k| k.kid().to_owned())
            .filter(|previous| previous != kid);
        self.set_active(kid)?;
        self.retired.retain(|(k, _)| k != kid);
        if let Some(previous) = previous {
            self.retired.push((previous, now + keep_for));
        }
        Ok(())
    }

    /// Removes the keys [`KeySet::activate`] retired whose tokens have all expired at `now`,
    /// returning their `kid`s. A retired key that was made active again is kept.
    pub fn drop_retired(&mut self, now: OffsetDateTime) -> Vec<String> {
        let due: Vec<String> = self
            .retired
            .iter()
            .filter(|(_, until)| *until <= now)
            .map(|(kid, _)| kid.clone())
            .collect();
        let mut dropped = Vec::new();
        for kid in due {
            self.retired.retain(|(k, _)| *k != kid);
            if self.retire(&kid).is_ok() {
                dropped.push(kid);
            }
        }
        dropped
    }

    /// Removes a key that is no longer active: the last step of a rotation, once no unexpired
    /// token signed with it remains. Tokens signed with it stop verifying.
    ///
    /// # Errors
    ///
    /// [`KeyError::UnknownKid`] if no key has this `kid`, [`KeyError::KeyIsActive`] if it is
    /// its algorithm's active key (use [`KeySet::remove`] to drop it anyway).
    pub fn retire(&mut self, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        let index = self
            .position(kid)
            .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
        if self.active.iter().any(|&(_, i)| i == index) {
            return Err(KeyError::KeyIsActive(kid.to_owned()));
        }
        Ok(self.remove_at(index))
    }

    /// Removes a key unconditionally. If it was its algorithm's active key, that algorithm has
    /// no active key afterwards (it drops out of [`KeySet::algorithms`]) until another key of
    /// it is activated or inserted.
    pub fn remove(&mut self, kid: &str) -> Option<Arc<SigningKey>> {
        let index = self.position(kid)?;
        Some(self.remove_at(index))
    }

    fn remove_at(&mut self, index: usize) -> Arc<SigningKey> {
        let key = self.keys.remove(index);
        self.retired.retain(|(kid, _)| kid != key.kid());
        self.active.retain(|&(_, i)| i != index);
        for slot in &mut self.active {
            if slot.1 > index {
                slot.1 -= 1;
            }
        }
        key
    }

    fn position(&self, kid: &str) -> Option<usize> {
        self.keys.iter().position(|k| k.kid() == kid)
    }

    fn active_index(&self, alg: Algorithm) -> Option<usize> {
        self.active.iter().find(|(a, _)| *a == alg).map(|&(_, i)| i)
    }

    /// The active signing key for `alg`, if there is one.
    #[must_use]
    pub fn active(&self, alg: Algorithm) -> Option<&SigningKey> {
        self.active_index(alg)
            .and_then(|i| self.keys.get(i))
            .map(|k| &**k)
    }

    /// The key with this `kid`, active or not.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid() == kid).map(|k| &**k)
    }

    /// The algorithms that have an active key, in [`Algorithm::ALL`] order.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        Algorithm::ALL
            .into_iter()
            .filter(move |&alg| self.active_index(alg).is_some())
    }

    /// Every key, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &SigningKey> + '_ {
        self.keys.iter().map(|k| &**k)
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public JWK Set to serve at the `jwks_uri`: every key in the set, active or not, so
    /// tokens signed before a rotation still verify.
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.keys.iter().map(|k| k.public_jwk().clone()).collect(),
        }
    }

    /// Parses and verifies a compact JWS signed by one of the keys of this set.
    ///
    /// The header must name a `kid` of this set, and its `alg` must be that key's algorithm
    /// (so a token cannot pick the algorithm a key is verified with); `none` and every other
    /// algorithm are refused. Claims are not looked at.
    ///
    /// # Errors
    ///
    /// What [`parse_compact`] refuses, then [`JwsError::UnsupportedAlgorithm`],
    /// [`JwsError::MissingKid`], [`JwsError::UnknownKid`], [`JwsError::AlgorithmMismatch`] or
    /// [`JwsError::BadSignature`].
    pub fn verify<'a>(&self, token: &'a str) -> Result<ParsedJws<'a>, JwsError> {
        let jws = parse_compact(token)?;
        let header = jws.header();
        header.algorithm()?;
        let kid = header.kid.as_deref().ok_or(JwsError::MissingKid)?;
        let key = self.get(kid).ok_or(JwsError::UnknownKid)?;
        key.verifying_key().verify_jws(&jws)?;
        Ok(jws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SystemRng;
    use crate::jose::jws::sign_compact;
    use crate::jose::key::tests::{ec_key, rsa_key};
    use crate::jose::{PublicJwk, VerifyingKey};
    use jsonwebtoken::{decode, DecodingKey, Validation};

    const PAYLOAD: &[u8] = br#"{"iss":"https://op.example","sub":"alice","aud":"rp","n":1}"#;

    fn set_with(keys: Vec<SigningKey>) -> KeySet {
        let mut set = KeySet::new();
        for k in keys {
            set.insert(k).unwrap();
        }
        set
    }

    /// Replaces part `i` (0 header, 1 payload, 2 signature) of a compact JWS.
    fn replace_part(token: &str, i: usize, with: &str) -> String {
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[i] = with;
        parts.join(".")
    }

    fn jsonwebtoken_verify(jwk: &PublicJwk, token: &str) -> serde_json::Value {
        let (key, alg) = match jwk.kty.as_str() {
            "EC" => (
                DecodingKey::from_ec_components(
                    jwk.x.as_deref().unwrap(),
                    jwk.y.as_deref().unwrap(),
                )
                .unwrap(),
                jsonwebtoken::Algorithm::ES256,
            ),
            _ => (
                DecodingKey::from_rsa_components(
                    jwk.n.as_deref().unwrap(),
                    jwk.e.as_deref().unwrap(),
                )
                .unwrap(),
                jsonwebtoken::Algorithm::RS256,
            ),
        };
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let data = decode::<serde_json::Value>(token, &key, &validation).unwrap();
        assert_eq!(data.header.kid, jwk.kid);
        data.claims
    }

    #[test]
    fn es256_and_rs256_round_trip_and_verify_independently() {
        let set = set_with(vec![ec_key("e1"), rsa_key("r1")]);
        for alg in [Algorithm::Es256, Algorithm::Rs256] {
            let key = set.active(alg).unwrap();
            for typ in ["JWT", "at+jwt", "logout+jwt"] {
                let token = sign_compact(key, typ, PAYLOAD).unwrap();
                let jws = set.verify(&token).unwrap();
                assert_eq!(jws.payload(), PAYLOAD);
                assert_eq!(jws.header().alg, alg.as_str());
                assert_eq!(jws.header().typ.as_deref(), Some(typ));
                assert_eq!(jws.header().kid.as_deref(), Some(key.kid()));
                let expected_sig_len = if alg == Algorithm::Es256 { 64 } else { 256 };
                assert_eq!(jws.signature().len(), expected_sig_len);

                let claims = jsonwebtoken_verify(key.public_jwk(), &token);
                assert_eq!(claims["sub"], "alice");
                // The JWKS as served, round-tripped through JSON, verifies too.
                let served: Jwks =
                    crate::jose::parse_jwks(serde_json::to_string(&set.jwks()).unwrap().as_bytes())
                        .unwrap();
                let jwk = served.find(key.kid()).unwrap();
                VerifyingKey::from_jwk(jwk)
                    .unwrap()
                    .verify_jws(&jws)
                    .unwrap();
            }
        }
    }

    #[test]
    fn types_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KeySet>();
        assert_send_sync::<SigningKey>();
        assert_send_sync::<VerifyingKey>();
        assert_send_sync::<ParsedJws<'static>>();
    }

    #[test]
    fn header_is_exact() {
        let key = ec_key("k-1");
        let token = sign_compact(&key, "JWT", b"{}").unwrap();
        let header = b64::decode(token.split('.').next().unwrap()).unwrap();
        assert_eq!(header, br#"{"alg":"ES256","typ":"JWT","kid":"k-1"}"#);
    }

    #[test]
    fn tampering_is_detected() {
        let set = set_with(vec![ec_key("e1"), rsa_key("r1")]);
        for alg in [Algorithm::Es256, Algorithm::Rs256] {
            let key = set.active(alg).unwrap();
            let token = sign_compact(key, "JWT", PAYLOAD).unwrap();
            let parts: Vec<&str> = token.split('.').collect();

            // Payload changed.
            let other = b64::encode(br#"{"sub":"mallory"}"#);
            assert_eq!(
                set.verify(&replace_part(&token, 1, &other)).unwrap_err(),
                JwsError::BadSignature
            );
            // Signature changed.
            let mut sig = b64::decode(parts[2]).unwrap();
            sig[10] ^= 1;
            assert_eq!(
                set.verify(&replace_part(&token, 2, &b64::encode(&sig)))
                    .unwrap_err(),
                JwsError::BadSignature
            );
            // Signature truncated.
            assert_eq!(
                set.verify(&replace_part(&token, 2, &b64::encode(&sig[..32])))
                    .unwrap_err(),
                JwsError::BadSignature
            );
            // Header alg swapped to the other supported algorithm: refused before any
            // signature check.
            let swapped = match alg {
                Algorithm::Es256 => "RS256",
                Algorithm::Rs256 => "ES256",
            };
            let header = format!(r#"{{"alg":"{swapped}","typ":"JWT","kid":"{}"}}"#, key.kid());
            assert_eq!(
                set.verify(&replace_part(&token, 0, &b64::encode(header.as_bytes())))
                    .unwrap_err(),
                JwsError::AlgorithmMismatch
            );
            // alg none, with or without a signature.
            let none = b64::encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid()).as_bytes());
            let unsigned = format!("{none}.{}.", parts[1]);
            assert_eq!(
                set.verify(&unsigned).unwrap_err(),
                JwsError::UnsupportedAlgorithm
            );
            assert_eq!(
                set.verify(&replace_part(&token, 0, &none)).unwrap_err(),
                JwsError::UnsupportedAlgorithm
            );
            // HS256 (the classic confusion with a public key as HMAC secret).
            let hs = b64::encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, key.kid()).as_bytes());
            assert_eq!(
                set.verify(&replace_part(&token, 0, &hs)).unwrap_err(),
                JwsError::UnsupportedAlgorithm
            );
            // Unknown and missing kid.
            let unknown = b64::encode(format!(r#"{{"alg":"{alg}","kid":"nope"}}"#).as_bytes());
            assert_eq!(
                set.verify(&replace_part(&token, 0, &unknown)).unwrap_err(),
                JwsError::UnknownKid
            );
            let no_kid = b64::encode(format!(r#"{{"alg":"{alg}"}}"#).as_bytes());
            assert_eq!(
                set.verify(&replace_part(&token, 0, &no_kid)).unwrap_err(),
                JwsError::MissingKid
            );
            // Signed by a key of the same algorithm outside the set, claiming a kid inside it.
            let outsider = match alg {
                Algorithm::Es256 => ec_key("e1"),
                Algorithm::Rs256 => continue,
            };
            let forged = sign_compact(&outsider, "JWT", PAYLOAD).unwrap();
            assert_eq!(set.verify(&forged).unwrap_err(), JwsError::BadSignature);
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let mut set = set_with(vec![ec_key("old")]);
        assert_eq!(set.active(Algorithm::Es256).unwrap().kid(), "old");
        let old_token =
            sign_compact(set.active(Algorithm::Es256).unwrap(), "JWT", PAYLOAD).unwrap();

        set.insert(ec_key("new")).unwrap();
        // Inserting does not change the active key.
        assert_eq!(set.active(Algorithm::Es256).unwrap().kid(), "old");
        set.set_active("new").unwrap();
        assert_eq!(set.active(Algorithm::Es256).unwrap().kid(), "new");
        let new_token =
            sign_compact(set.active(Algorithm::Es256).unwrap(), "JWT", PAYLOAD).unwrap();

        assert!(set.verify(&old_token).is_ok());
        assert!(set.verify(&new_token).is_ok());
        let kids: Vec<_> = set
            .jwks()
            .keys
            .into_iter()
            .map(|k| k.kid.unwrap())
            .collect();
        assert_eq!(kids, ["old", "new"]);

        // The active key cannot be retired; the old one can.
        assert_eq!(
            set.retire("new").unwrap_err(),
            KeyError::KeyIsActive("new".into())
        );
        assert_eq!(set.retire("old").unwrap().kid(), "old");
        assert_eq!(set.verify(&old_token).unwrap_err(), JwsError::UnknownKid);
        assert!(set.verify(&new_token).is_ok());
        assert_eq!(set.active(Algorithm::Es256).unwrap().kid(), "new");
        assert_eq!(set.jwks().keys.len(), 1);
        assert_eq!(
            set.retire("old").unwrap_err(),
            KeyError::UnknownKid("old".into())
        );
    }

    #[test]
    fn set_management() {
        let mut set = KeySet::new();
        assert!(set.is_empty());
        assert_eq!(set.algorithms().count(), 0);
        set.insert(ec_key("a")).unwrap();
        assert_eq!(
            set.insert(ec_key("a")).unwrap_err(),
            KeyError::DuplicateKid("a".into())
        );
        set.insert(rsa_key("r")).unwrap();
        set.insert(ec_key("b")).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(
            set.algorithms().collect::<Vec<_>>(),
            [Algorithm::Rs256, Algorithm::Es256]
        );
        assert_eq!(
            set.set_active("zz").unwrap_err(),
            KeyError::UnknownKid("zz".into())
        );
        assert_eq!(set.get("r").unwrap().alg(), Algorithm::Rs256);
        assert!(set.get("zz").is_none());

        // Removing a key before the active one keeps the active index right.
        set.set_active("b").unwrap();
        assert_eq!(set.remove("a").unwrap().kid(), "a");
        assert_eq!(set.active(Algorithm::Es256).unwrap().kid(), "b");
        assert_eq!(set.active(Algorithm::Rs256).unwrap().kid(), "r");

        // Removing the active key leaves the algorithm without one.
        assert!(set.remove("b").is_some());
        assert!(set.active(Algorithm::Es256).is_none());
        assert_eq!(set.algorithms().collect::<Vec<_>>(), [Algorithm::Rs256]);
        assert!(set.remove("b").is_none());
        // The next ES256 key inserted becomes active.
        set.insert(ec_key("c")).unwrap();
        assert_eq!(set.active(Algorithm::Es256).unwrap().kid(), "c");
        assert_eq!(
            set.iter().map(SigningKey::kid).collect::<Vec<_>>(),
            ["r", "c"]
        );

        let dbg = format!("{set:?}");
        assert!(dbg.contains("\"r\"") && dbg.contains("Es256"), "{dbg}");
    }

    #[test]
    fn generate_makes_both_algorithms() {
        // One RSA generation for the whole test suite beyond the shared key.
        let set = KeySet::generate(&SystemRng::default()).unwrap();
        assert_eq!(set.len(), 2);
        for alg in Algorithm::ALL {
            let key = set.active(alg).unwrap();
            assert_eq!(key.kid().len(), 11);
            let token = sign_compact(key, "JWT", PAYLOAD).unwrap();
            assert!(set.verify(&token).is_ok());
        }
        let jwks = serde_json::to_value(set.jwks()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        for k in jwks["keys"].as_array().unwrap() {
            assert!(k.get("d").is_none() && k.get("p").is_none());
            assert_eq!(k["use"], "sig");
        }
    }

    /// RFC 7515 Appendix A.3: ECDSA P-256 SHA-256.
    #[test]
    fn rfc7515_a3_vector() {
        const JWS: &str = concat!(
            "eyJhbGciOiJFUzI1NiJ9.",
            "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
            "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
        );
        let jwk: PublicJwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256",
                "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        )
        .unwrap();
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        let jws = parse_compact(JWS).unwrap();
        assert_eq!(jws.header().alg, "ES256");
        assert_eq!(
            jws.payload(),
            b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
        );
        key.verify_jws(&jws).unwrap();
        let tampered = replace_part(JWS, 1, &b64::encode(b"{\"iss\":\"joe\"}"));
        assert_eq!(
            key.verify_jws(&parse_compact(&tampered).unwrap()),
            Err(JwsError::BadSignature)
        );

        // The same key imported as a private JWK signs tokens this verifying key accepts,
        // and the set refuses the RFC token for lack of a kid.
        let private = SigningKey::from_jwk(
            r#"{"kty":"EC","crv":"P-256","kid":"a3",
                "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#,
        )
        .unwrap();
        let token = sign_compact(&private, "JWT", PAYLOAD).unwrap();
        key.verify_jws(&parse_compact(&token).unwrap()).unwrap();
        let set = set_with(vec![private]);
        assert_eq!(set.verify(JWS).unwrap_err(), JwsError::MissingKid);
        assert!(set.verify(&token).is_ok());
    }

    #[test]
    fn oversized_and_garbage_tokens() {
        let set = set_with(vec![ec_key("e")]);
        assert_eq!(
            set.verify(&"a".repeat(crate::jose::MAX_TOKEN_LEN + 1))
                .unwrap_err(),
            JwsError::TooLarge
        );
        for garbage in ["", "...", "a.b.c", "\u{0}.\u{0}.\u{0}", "é.é.é"] {
            assert!(set.verify(garbage).is_err());
        }
    }
}
