//! `parse_basic_authorization`: accepted credentials re-encode and parse back unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    opkit_fuzz::props::basic_auth_target(data);
});
