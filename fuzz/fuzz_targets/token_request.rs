//! The token endpoint: status in {200,400,401,405,413,415}, 401 iff invalid_client, JSON error
//! bodies, no-store, and tokens only for the client that authenticated.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opkit_fuzz::fixture::{run_token, with_fixture};

fuzz_target!(|data: &[u8]| {
    with_fixture(|fx| run_token(fx, data));
});
