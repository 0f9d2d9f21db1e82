//! JWS: parse/verify arbitrary text, or sign, verify and mutate one byte (see
//! `props::jws_target`): a verified JWS re-serialises to its exact input, and no one-byte
//! change of a signed token verifies.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use opkit::jose::{KeySet, SigningKey};
use opkit_fuzz::fixture::{es_key, keys, rs_key};

fn fixture() -> &'static (KeySet, SigningKey, SigningKey) {
    static K: OnceLock<(KeySet, SigningKey, SigningKey)> = OnceLock::new();
    K.get_or_init(|| (keys(), es_key(), rs_key()))
}

fuzz_target!(|data: &[u8]| {
    let (set, es, rs) = fixture();
    opkit_fuzz::props::jws_target(data, set, es, rs);
});
