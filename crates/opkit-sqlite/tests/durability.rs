//! Durability under `kill -9`: a child process (this test binary, re-executed in child mode)
//! rotates refresh tokens in a loop and prints each committed hash; the parent kills it with
//! SIGKILL mid-run, reopens the file and finds every printed hash, with at most one unrotated
//! token per family.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use common::{options, TempDir};
use opkit::scope::Scopes;
use opkit::secret::SecretHash;
use opkit::store::{GrantId, RefreshRecord, RefreshRotation, RefreshTokenStore};
use opkit_sqlite::SqliteStore;
use time::{Duration, OffsetDateTime};

/// Set to the database path in the child.
const CHILD_ENV: &str = "OPKIT_SQLITE_DURABILITY_CHILD";
const FAMILIES: usize = 4;
/// The parent kills the child after this many committed rotations.
const KILL_AFTER: usize = 300;

fn token(family: usize, n: usize) -> RefreshRecord {
    let t = OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000);
    RefreshRecord {
        hash: SecretHash::of(&format!("family-{family}-token-{n}")),
        grant_id: GrantId(format!("family-{family}")),
        client_id: "durability".into(),
        subject: "sub".into(),
        scopes: Scopes::parse("openid offline_access").unwrap(),
        auth_time: t,
        issued_at: t,
        expires_at: t + Duration::days(365 * 100),
    }
}

/// The child: rotate until killed (or, should the parent be gone, for at most a minute).
#[test]
fn durability_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // An ordinary run: nothing to do.
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path, options()).await.unwrap();
        let mut out = std::io::stdout().lock();
        let mut current = Vec::new();
        for f in 0..FAMILIES {
            let first = token(f, 0);
            store.put_refresh_token(first.clone()).await.unwrap();
            writeln!(out, "COMMITTED {f} {}", first.hash.to_hex()).unwrap();
            current.push(first.hash);
        }
        out.flush().unwrap();
        let deadline = Instant::now() + StdDuration::from_secs(60);
        let mut n = 1;
        while Instant::now() < deadline {
            let f = n % FAMILIES;
            let next = token(f, n);
            let done = store.rotate_refresh_token(&current[f], next.clone()).await;
            assert_eq!(done.unwrap(), RefreshRotation::Rotated);
            // Printed only once the commit returned.
            writeln!(out, "COMMITTED {f} {}", next.hash.to_hex()).unwrap();
            out.flush().unwrap();
            current[f] = next.hash;
            n += 1;
        }
    });
}

fn parse_hex(hex: &str) -> SecretHash {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    SecretHash(bytes)
}

#[tokio::test]
async fn committed_rotations_survive_kill_9() {
    let dir = TempDir::new("durability");
    std::fs::create_dir_all(dir.path()).unwrap();
    let path = dir.db("killed.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed: Vec<(usize, SecretHash)> = Vec::new();
    let record = |line: String, committed: &mut Vec<(usize, SecretHash)>| {
        if let Some(rest) = line.strip_prefix("COMMITTED ") {
            let (family, hex) = rest.split_once(' ').unwrap();
            committed.push((family.parse().unwrap(), parse_hex(hex)));
        }
    };
    while committed.len() < KILL_AFTER {
        match lines.next() {
            Some(line) => record(line.unwrap(), &mut committed),
            None => panic!("the child stopped after {} rotations", committed.len()),
        }
    }
    // SIGKILL, mid-run: the child is between two rotations or inside one.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed");
    // What it printed before it died was committed too.
    for line in lines {
        match line {
            Ok(line) => record(line, &mut committed),
            Err(_) => break,
        }
    }

    let store = SqliteStore::open(&path, options()).await.unwrap();
    for (family, hash) in &committed {
        let found = store.refresh_token(hash).await.unwrap();
        let found = found.unwrap_or_else(|| panic!("a committed token of family {family} is lost"));
        assert_eq!(found.record.grant_id.0, format!("family-{family}"));
    }
    // The last token printed for each family is either still active or was rotated by a
    // commit the child did not get to print; each family has at most one active token.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT grant_id, count(*) FROM refresh_tokens WHERE NOT rotated GROUP BY grant_id",
        )
        .unwrap();
    let active: HashMap<String, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for f in 0..FAMILIES {
        let n = active.get(&format!("family-{f}")).copied().unwrap_or(0);
        assert_eq!(n, 1, "family {f} has {n} active tokens");
    }
    eprintln!(
        "{} committed rotations printed before SIGKILL, all present",
        committed.len()
    );
}
