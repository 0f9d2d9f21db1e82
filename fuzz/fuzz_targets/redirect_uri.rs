//! Redirect URI validation and exact matching. Input: byte0 (mode), then lines; mode even:
//! validate the whole text; mode odd: the lines before the last are registered (those that
//! validate), the last is the candidate.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    opkit_fuzz::props::redirect_uri_target(data);
});
