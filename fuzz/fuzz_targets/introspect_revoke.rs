//! Introspection and revocation: statuses, JSON bodies with a boolean `active`, revocation of a
//! garbage token with good client authentication is 200, revoked tokens become inactive.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opkit_fuzz::fixture::{run_introspect_revoke, with_fixture};

fuzz_target!(|data: &[u8]| {
    with_fixture(|fx| run_introspect_revoke(fx, data));
});
