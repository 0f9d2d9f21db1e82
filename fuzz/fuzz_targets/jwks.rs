//! `parse_jwks`: `from_jwk` never panics; accepted sets round-trip through JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    opkit_fuzz::props::jwks_target(data);
});
