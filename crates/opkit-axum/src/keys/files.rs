//! Signing keys kept in a folder, so a restart signs with the same keys: PKCS#8 PEM files,
//! generated once.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use opkit::host::Rng;
use opkit::jose::{Algorithm, KeyError, KeySet, SigningKey};

/// Loading or saving the key folder failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Reading or writing the folder failed.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A file holds no usable key.
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: KeyError,
    },
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            KeyFileError::Key { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyFileError::Io { source, .. } => Some(source),
            KeyFileError::Key { source, .. } => Some(source),
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The signing keys in `dir`: every `*.pem` file there (a PKCS#8, SEC1 or PKCS#1 private key;
/// the file name without `.pem` is its `kid`), in file-name order, the last key of each
/// algorithm active. When `dir` has no ES256 or no RS256 key, one is generated and saved there
/// first (the folder is created with mode 0700 and each file written with mode 0600 on Unix,
/// through a synced temporary file renamed into place), so every later start loads the same
/// keys. Generated key ids are `YYYYMMDDTHHMMSSZ-<8 random hex digits>-es256` / `-rs256`, so a
/// key generated later sorts after, and becomes active over, an older one.
///
/// A key file added to the folder is published and signs from the next start on, both at once:
/// relying parties that cached the JWKS refetch it on the unknown `kid`. To publish a key
/// before it signs, add it while serving with
/// [`Provider::rotate_keys`](opkit::Provider::rotate_keys) and save it here once it is active.
///
/// Generating the RSA key is CPU-heavy (under a second in a release build, many seconds in an
/// unoptimised one; see the README's profile settings): call this from a blocking thread
/// (`tokio::task::spawn_blocking`) in an async host.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("opkit-keys-doc-{}", std::process::id()));
/// use opkit::host::SystemRng;
/// use opkit::jose::Algorithm;
///
/// let keys = opkit_axum::load_or_generate_keys(&dir, &SystemRng::new())?;
/// let again = opkit_axum::load_or_generate_keys(&dir, &SystemRng::new())?;
/// let es = keys.active(Algorithm::Es256).unwrap();
/// assert_eq!(again.active(Algorithm::Es256).unwrap().public_jwk(), es.public_jwk());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_or_generate_keys(dir: &Path, rng: &dyn Rng) -> Result<KeySet, KeyFileError> {
    create_private_dir(dir)?;
    let keys = load_keys(dir)?;
    let missing: Vec<Algorithm> = [Algorithm::Es256, Algorithm::Rs256]
        .into_iter()
        .filter(|alg| keys.active(*alg).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(keys);
    }
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    for alg in missing {
        let suffix = match alg {
            Algorithm::Es256 => "es256",
            _ => "rs256",
        };
        let mut id = [0u8; 4];
        rng.fill(&mut id).map_err(|e| KeyFileError::Key {
            path: dir.to_owned(),
            source: e.into(),
        })?;
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let kid = format!("{stamp}-{hex}-{suffix}");
        let path = dir.join(format!("{kid}.pem"));
        let key = SigningKey::generate(alg, kid, rng).map_err(|source| KeyFileError::Key {
            path: path.clone(),
            source,
        })?;
        write_private(&path, key.to_pkcs8_pem().as_bytes())?;
    }
    load_keys(dir)
}

/// Every `*.pem` key in `dir`, in file-name order, the last of each algorithm active.
fn load_keys(dir: &Path) -> Result<KeySet, KeyFileError> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    paths.sort();
    let mut keys = KeySet::new();
    for path in paths {
        let pem = fs::read_to_string(&path).map_err(io_error(&path))?;
        let kid = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let bad = |source| KeyFileError::Key {
            path: path.clone(),
            source,
        };
        let key = SigningKey::from_pem(kid.clone(), &pem).map_err(bad)?;
        keys.insert(key).map_err(bad)?;
        keys.set_active(&kid).map_err(bad)?;
    }
    Ok(keys)
}

fn create_private_dir(dir: &Path) -> Result<(), KeyFileError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error(dir))
}

/// Write `bytes` to `path` readable by the owner only, durably: a temporary file, synced, then
/// renamed over `path`.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    let tmp = path.with_extension("pem.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    file.write_all(bytes).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    fs::rename(&tmp, path).map_err(io_error(path))?;
    if let Some(parent) = path.parent() {
        // The rename is durable once the folder is synced (best effort where unsupported).
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opkit::host::SystemRng;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("opkit-keys-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn generated_once_then_loaded() {
        let dir = temp_dir("once");
        let rng = SystemRng::new();
        let first = load_or_generate_keys(&dir, &rng).unwrap();
        assert_eq!(first.len(), 2);
        let second = load_or_generate_keys(&dir, &rng).unwrap();
        for alg in [Algorithm::Es256, Algorithm::Rs256] {
            assert_eq!(
                first.active(alg).unwrap().public_jwk(),
                second.active(alg).unwrap().public_jwk()
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for entry in fs::read_dir(&dir).unwrap() {
                let mode = entry.unwrap().metadata().unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "key files are private");
            }
            let mode = fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key folder is private");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_newest_key_of_an_algorithm_is_active() {
        let dir = temp_dir("newest");
        let rng = SystemRng::new();
        load_or_generate_keys(&dir, &rng).unwrap();
        let newer =
            SigningKey::generate(Algorithm::Es256, "99991231T000000Z-newer-es256", &rng).unwrap();
        write_private(
            &dir.join("99991231T000000Z-newer-es256.pem"),
            newer.to_pkcs8_pem().as_bytes(),
        )
        .unwrap();
        let keys = load_or_generate_keys(&dir, &rng).unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(
            keys.active(Algorithm::Es256).unwrap().kid(),
            "99991231T000000Z-newer-es256"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_algorithm_is_generated_on_its_own() {
        // As after a crash between the two files of a first start.
        let dir = temp_dir("missing");
        create_private_dir(&dir).unwrap();
        let rng = SystemRng::new();
        let es = SigningKey::generate(Algorithm::Es256, "20260101T000000Z-es256", &rng).unwrap();
        write_private(
            &dir.join("20260101T000000Z-es256.pem"),
            es.to_pkcs8_pem().as_bytes(),
        )
        .unwrap();
        let keys = load_or_generate_keys(&dir, &rng).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys.active(Algorithm::Es256).unwrap().public_jwk(),
            es.public_jwk()
        );
        assert!(keys.active(Algorithm::Rs256).is_some());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_broken_file_is_a_clear_error() {
        let dir = temp_dir("broken");
        create_private_dir(&dir).unwrap();
        fs::write(dir.join("junk.pem"), "not a key").unwrap();
        let err = load_or_generate_keys(&dir, &SystemRng::new()).unwrap_err();
        assert!(matches!(err, KeyFileError::Key { .. }), "{err}");
        assert!(err.to_string().contains("junk.pem"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
