//! PKCE: `CodeChallenge::new`/`verify` on arbitrary strings; a generated verifier verifies
//! against its own S256 and plain challenges and nothing else does.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    opkit_fuzz::props::pkce_target(data);
});
