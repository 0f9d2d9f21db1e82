//! The [`KeyStore`] contract.

use time::Duration;

use super::{broken, issued_at, join_all, ok, same};
use crate::jose::Algorithm;
use crate::store::{KeyStore, SigningKeyRecord};

const KEYS: &str = "KeyStore";

fn key(kid: &str, alg: Algorithm, generation: u32) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg,
        generation,
        // Not text: a store must keep bytes (an encrypted key is not UTF-8).
        private_key: vec![0, 159, 146, 150, 255, generation as u8],
        created_at: issued_at(),
        activates_at: issued_at() + Duration::hours(i64::from(generation)),
    }
}

/// Check a [`KeyStore`]: inserts keep every field (the private key as bytes), one record per
/// `(alg, generation)` and per `kid`, listing in `(alg, generation)` order, deletion, and that
/// of concurrent inserts for one generation exactly one wins. `make` returns an empty store.
pub async fn check_key_store<S: KeyStore>(make: impl Fn() -> S) {
    let s = make();
    same(
        KEYS,
        "a new store has no keys",
        ok(s.signing_keys().await, KEYS, "signing_keys"),
        vec![],
    );
    let es0 = key("kit-es-0", Algorithm::Es256, 0);
    let es1 = key("kit-es-1", Algorithm::Es256, 1);
    let rs0 = key("kit-rs-0", Algorithm::Rs256, 0);
    for k in [&rs0, &es1, &es0] {
        same(
            KEYS,
            "insert_signing_key of a new key returns true",
            ok(
                s.insert_signing_key(k.clone()).await,
                KEYS,
                "insert_signing_key",
            ),
            true,
        );
    }
    let mut same_generation = key("kit-es-0-again", Algorithm::Es256, 0);
    same_generation.private_key = vec![1];
    same(
        KEYS,
        "insert_signing_key refuses a second key of one (alg, generation)",
        ok(
            s.insert_signing_key(same_generation).await,
            KEYS,
            "insert_signing_key",
        ),
        false,
    );
    same(
        KEYS,
        "insert_signing_key refuses a taken kid",
        ok(
            s.insert_signing_key(key("kit-es-0", Algorithm::Es256, 7))
                .await,
            KEYS,
            "insert_signing_key",
        ),
        false,
    );
    same(
        KEYS,
        "signing_keys lists every key, by alg then generation, fields intact",
        ok(s.signing_keys().await, KEYS, "signing_keys"),
        vec![es0.clone(), es1.clone(), rs0.clone()],
    );
    same(
        KEYS,
        "delete_signing_key of a stored key returns true",
        ok(
            s.delete_signing_key("kit-es-0").await,
            KEYS,
            "delete_signing_key",
        ),
        true,
    );
    same(
        KEYS,
        "delete_signing_key of an unknown key returns false",
        ok(
            s.delete_signing_key("kit-es-0").await,
            KEYS,
            "delete_signing_key",
        ),
        false,
    );
    same(
        KEYS,
        "a deleted key is gone",
        ok(s.signing_keys().await, KEYS, "signing_keys"),
        vec![es1, rs0],
    );

    let s = make();
    let racers: Vec<_> = (0..8)
        .map(|i| key(&format!("kit-race-{i}"), Algorithm::Es256, 0))
        .collect();
    let results = join_all(
        racers
            .iter()
            .map(|k| s.insert_signing_key(k.clone()))
            .collect(),
    )
    .await;
    let won: Vec<usize> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| ok(r, KEYS, "insert_signing_key").then_some(i))
        .collect();
    if won.len() != 1 {
        broken(
            KEYS,
            "of concurrent inserts for one generation exactly one returns true",
            format_args!("{} did", won.len()),
        );
    }
    same(
        KEYS,
        "the stored key of a raced generation is the winner's",
        ok(s.signing_keys().await, KEYS, "signing_keys"),
        vec![racers[won[0]].clone()],
    );
}
