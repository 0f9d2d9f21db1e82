//! `Scopes::parse`: RFC 6749 §3.3 charset, round-trip through `to_string`, completeness.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    opkit_fuzz::props::scope_target(data);
});
