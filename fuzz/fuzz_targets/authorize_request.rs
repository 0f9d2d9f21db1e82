//! The authorization endpoint: a Respond only ever goes to a redirect URI registered for the
//! client named by `client_id` (see `props::check_authorize_outcome`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use opkit_fuzz::fixture::{run_authorize, with_fixture};

fuzz_target!(|data: &[u8]| {
    with_fixture(|fx| run_authorize(fx, data));
});
