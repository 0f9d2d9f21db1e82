//! ECDSA P-256 signatures in low-S form. For a valid signature `(r, s)`, `(r, n - s)` is valid
//! too, so a verifier that accepts both lets anyone turn one token into a second, different
//! string that verifies (signature malleability: a replay cache keyed by the token's bytes
//! would see two tokens). opkit signs with `s <= n/2` only and refuses `s > n/2` under its own
//! keys. Signatures by others (a client's or an upstream provider's key) may be either: RFC 7518
//! does not ask for low-S, and RFC 7515's own ES256 example is high-S.
//!
//! The signature is public, so none of this needs to run in constant time.

/// The order `n` of the P-256 group, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `floor(n / 2)`, big-endian.
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// The `S` half of a 64-byte `R || S` signature.
fn s_of(signature: &[u8]) -> Option<&[u8]> {
    (signature.len() == 64).then(|| &signature[32..])
}

/// Whether a 64-byte `R || S` signature has `s > n/2` (anything not 64 bytes long counts as
/// high: it is refused either way).
pub(crate) fn is_high_s(signature: &[u8]) -> bool {
    // Big-endian numbers of equal length compare like their bytes.
    s_of(signature).is_none_or(|s| s > &HALF_N[..])
}

/// Replace `s` by `n - s` when `s > n/2`, so the signature verifies as before and is low-S.
pub(crate) fn normalize(signature: &mut [u8]) {
    if signature.len() != 64 || !is_high_s(signature) {
        return;
    }
    let s = &mut signature[32..];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let minuend = u16::from(N[i]);
        let subtrahend = u16::from(s[i]) + borrow;
        let (digit, next) = if minuend >= subtrahend {
            (minuend - subtrahend, 0)
        } else {
            (minuend + 256 - subtrahend, 1)
        };
        s[i] = digit as u8;
        borrow = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_s(s: [u8; 32]) -> [u8; 64] {
        let mut sig = [7u8; 64];
        sig[32..].copy_from_slice(&s);
        sig
    }

    #[test]
    fn half_n_is_the_boundary() {
        assert!(!is_high_s(&with_s(HALF_N)));
        let mut above = HALF_N;
        above[31] += 1;
        assert!(is_high_s(&with_s(above)));
        assert!(is_high_s(&[0u8; 63]), "a wrong length is refused");
    }

    #[test]
    fn normalizing_subtracts_from_n() {
        // s = n - 1 becomes 1; s = n/2 + 1 becomes n/2 (n is odd); low values stay.
        let mut n_minus_1 = N;
        n_minus_1[31] -= 1;
        let mut sig = with_s(n_minus_1);
        normalize(&mut sig);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(sig[32..], one);
        assert_eq!(sig[..32], [7u8; 32], "r is untouched");

        let mut above = HALF_N;
        above[31] += 1;
        let mut sig = with_s(above);
        normalize(&mut sig);
        assert_eq!(sig[32..], HALF_N);

        let mut low = with_s(one);
        normalize(&mut low);
        assert_eq!(low[32..], one);
    }

    #[test]
    fn our_signatures_are_low_s_and_a_high_s_twin_is_refused_under_our_keys() {
        use crate::host::SystemRng;
        use crate::jose::{Algorithm, SigningKey};
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

        let key = SigningKey::generate(Algorithm::Es256, "k", &SystemRng::new()).unwrap();
        let jwk = key.public_jwk();
        let mut point = vec![4u8];
        for coordinate in [&jwk.x, &jwk.y] {
            let bytes = crate::jose::b64::decode(coordinate.as_deref().unwrap()).unwrap();
            point.extend_from_slice(&bytes);
        }
        let ring_key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
        for i in 0..64u32 {
            let message = i.to_be_bytes();
            let sig = key.sign(&message).unwrap();
            assert!(!is_high_s(&sig), "signature {i} is high-S");
            key.verifying_key().verify(&message, &sig).unwrap();
            // The twin (r, n - s): ring alone accepts it, opkit does not.
            let mut twin = sig.clone();
            let s: [u8; 32] = twin[32..].try_into().unwrap();
            let mut borrow = 0i16;
            for j in (0..32).rev() {
                let d = i16::from(N[j]) - i16::from(s[j]) - borrow;
                twin[32 + j] = d.rem_euclid(256) as u8;
                borrow = i16::from(d < 0);
            }
            assert!(is_high_s(&twin));
            ring_key.verify(&message, &twin).unwrap();
            assert!(key.verifying_key().verify(&message, &twin).is_err());
            // The same public key taken from a JWK (a client's, say) accepts both halves.
            let foreign = crate::jose::VerifyingKey::from_jwk(jwk).unwrap();
            foreign.verify(&message, &twin).unwrap();
        }
    }
}
