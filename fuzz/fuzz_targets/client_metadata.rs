//! Client metadata validation (management and registration): invariants of accepted settings
//! and idempotence.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    opkit_fuzz::props::client_metadata_target(data);
});
