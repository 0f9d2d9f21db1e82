//! Signing keys the kit keeps for a host: in a folder of PEM files ([`load_or_generate_keys`]),
//! or in the host's [`KeyStore`](opkit::store::KeyStore) so every instance on one database
//! signs with the same keys ([`StoredKeys`]), encrypted at rest with a
//! [`KeyEncryptionKey`] when one is given.

mod files;
mod kek;
mod stored;

pub use files::{load_or_generate_keys, KeyFileError};
pub use kek::{KekError, KeyEncryptionKey};
pub use stored::{StoredKeyError, StoredKeys};
