//! A throwaway PostgreSQL server for tests and benchmarks (feature `testing`).
//!
//! [`TestCluster::start`] uses the server named by `DATABASE_URL` if that is set, and otherwise
//! runs one of its own from the system's PostgreSQL binaries (Debian keeps them in
//! `/usr/lib/postgresql/<version>/bin`, off `PATH`) in a temporary directory, on a free port of
//! 127.0.0.1. If neither can be had, it panics when `CI=true` (CI must not pass by running
//! nothing) and otherwise prints a `SKIPPED: …` line and returns `None`.
//!
//! ```no_run
//! use opkit_postgres::testing::TestCluster;
//! use opkit_postgres::{PostgresOptions, PostgresStore};
//!
//! # #[tokio::main] async fn main() {
//! let Some(cluster) = TestCluster::start() else { return };
//! let store = PostgresStore::connect(&cluster.fresh_database(), PostgresOptions::default())
//!     .await
//!     .expect("connect");
//! # let _ = store;
//! # }
//! ```
//!
//! One cluster can serve every test of a test binary (keep it in a `static`
//! [`OnceLock`](std::sync::OnceLock)). A `static` is never dropped, so a watchdog process stops
//! the server and removes its directory once the test process has exited.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The superuser of a cluster this module creates.
pub const SUPERUSER: &str = "opkit";

/// The queries of the hot paths, by name, as the store sends them (`$1`, `$2` … parameters):
/// what the EXPLAIN test checks for index use.
pub const HOT_QUERIES: &[(&str, &str)] = &[
    ("client by client_id", crate::clients::BY_CLIENT_ID),
    ("origin allowed", crate::clients::ORIGIN_ALLOWED),
    ("grant by id", crate::grants::BY_ID),
    ("revoke grants of a client", crate::grants::REVOKE_CLIENT),
    ("revoke grants of a subject", crate::grants::REVOKE_SUBJECT),
    ("purge grants", crate::grants::PURGE),
    ("redeem code", crate::tokens::REDEEM_CODE),
    ("purge codes", crate::tokens::PURGE_CODES),
    ("refresh lookup", crate::tokens::REFRESH_LOOKUP),
    ("rotate refresh token", crate::tokens::ROTATE_REFRESH),
    (
        "grace reuse of a refresh token",
        crate::tokens::REUSE_REFRESH,
    ),
    ("purge refresh tokens", crate::tokens::PURGE_REFRESH),
    ("consent", crate::grants::CONSENT),
    ("revoked jti", crate::tokens::JTI_REVOKED),
    ("purge revoked jtis", crate::tokens::PURGE_JTI),
    ("session get", crate::kit_state::GET_SESSION),
    ("purge sessions", crate::kit_state::PURGE_SESSIONS),
    ("pending take", crate::kit_state::TAKE_PENDING),
    ("purge pending", crate::kit_state::PURGE_PENDING),
];

/// The table recording applied schema versions (for tests that fake a newer schema).
pub const VERSION_TABLE: &str = crate::migrate::VERSION_TABLE;

/// A PostgreSQL server for tests: one this process runs, or the one `DATABASE_URL` names.
#[derive(Debug)]
pub struct TestCluster {
    /// A URL of the server's `postgres` database (or `DATABASE_URL` itself).
    admin_url: String,
    managed: Option<Managed>,
    databases: AtomicU32,
}

#[derive(Debug)]
struct Managed {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Running as root: initdb and pg_ctl run as the `postgres` user.
    as_postgres: bool,
    watchdog: Mutex<Option<Child>>,
}

impl TestCluster {
    /// A server to test against, or `None` (after a `SKIPPED:` line on stderr) if none can be
    /// had. Panics instead of returning `None` when the environment variable `CI` is `true`.
    pub fn start() -> Option<TestCluster> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.trim().is_empty() {
                return Some(TestCluster {
                    admin_url: url,
                    managed: None,
                    databases: AtomicU32::new(0),
                });
            }
        }
        match Managed::launch() {
            Ok(managed) => Some(TestCluster {
                admin_url: managed.url_of("postgres"),
                managed: Some(managed),
                databases: AtomicU32::new(0),
            }),
            Err(why) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "no PostgreSQL server for the opkit-postgres tests: {why}. CI must run \
                         them: install PostgreSQL (Debian: apt-get install postgresql) or set \
                         DATABASE_URL"
                    );
                }
                eprintln!(
                    "SKIPPED: opkit-postgres tests need PostgreSQL and none could be had \
                     ({why}); install it (Debian: apt-get install postgresql) or set DATABASE_URL"
                );
                None
            }
        }
    }

    /// A URL of the server (its `postgres` database, or `DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.admin_url
    }

    /// Whether this process runs the server (so [`stop`](Self::stop) and
    /// [`start`](Self::start) work); `false` for `DATABASE_URL`.
    pub fn is_managed(&self) -> bool {
        self.managed.is_some()
    }

    /// Create a new, empty database and return its URL.
    ///
    /// # Panics
    ///
    /// If the server refuses.
    pub fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("opkit_t{}_{n}_{nanos:x}", std::process::id());
        self.execute(&self.admin_url, &format!("CREATE DATABASE {name}"));
        self.database_url(&name)
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        if let Some(m) = &self.managed {
            return m.url_of(name);
        }
        let base = &self.admin_url;
        if base.starts_with("postgres://") || base.starts_with("postgresql://") {
            if let Ok(mut url) = url::Url::parse(base) {
                url.set_path(&format!("/{name}"));
                return url.to_string();
            }
        }
        format!("{base} dbname={name}")
    }

    /// Run `sql` (one or more statements) on the database at `url`, from a thread of its own
    /// (so it may be called from inside an async test).
    ///
    /// # Panics
    ///
    /// If the connection or a statement fails.
    pub fn execute(&self, url: &str, sql: &str) {
        let (url, sql) = (url.to_owned(), sql.to_owned());
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let driver = tokio::spawn(connection);
                let result = client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| match e.as_db_error() {
                        Some(db) => format!("{sql}: {db}"),
                        None => format!("{sql}: {e}"),
                    });
                drop(client);
                let _ = driver.await;
                result
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("TestCluster::execute failed: {e}"),
            Err(_) => panic!("TestCluster::execute: its thread panicked"),
        }
    }

    /// Stop the server (`pg_ctl stop -m fast`: connections are closed), for fault tests.
    ///
    /// # Panics
    ///
    /// If the server is not this process's ([`is_managed`](Self::is_managed)) or pg_ctl fails.
    pub fn stop(&self) {
        let m = self.managed_or_panic("stop");
        if let Err(e) = m.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]) {
            panic!("stopping the test cluster: {e}");
        }
    }

    /// Start the server again, on the same port and data, after [`stop`](Self::stop).
    ///
    /// # Panics
    ///
    /// If the server is not this process's or pg_ctl fails.
    pub fn start_again(&self) {
        let m = self.managed_or_panic("start");
        if let Err(e) = m.start_server() {
            panic!("starting the test cluster again: {e}");
        }
    }

    fn managed_or_panic(&self, what: &str) -> &Managed {
        match &self.managed {
            Some(m) => m,
            None => panic!("cannot {what} the server named by DATABASE_URL"),
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(m) = &self.managed {
            let _ = m.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "30"]);
            let _ = std::fs::remove_dir_all(&m.dir);
            let mut watchdog = m.watchdog.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(mut child) = watchdog.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Managed {
    fn launch() -> Result<Managed, String> {
        let bin = find_binaries()?;
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "opkit-pg-{}-{:x}",
            std::process::id(),
            nanos % 0xffff_ffff
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let port = free_port()?;
        let managed = Managed {
            data: dir.join("data"),
            dir,
            bin,
            port,
            as_postgres,
            watchdog: Mutex::new(None),
        };
        // From here on, dropping `managed` on an error path is harmless (no server yet), but
        // the directory must go.
        let result = managed.init().and_then(|()| managed.start_server());
        if let Err(e) = result {
            let _ = managed.pg_ctl(&["stop", "-m", "immediate"]);
            let _ = std::fs::remove_dir_all(&managed.dir);
            return Err(e);
        }
        managed.spawn_watchdog();
        Ok(managed)
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // The caller's directory may be closed to the postgres user.
        c.current_dir(&self.dir);
        c
    }

    fn init(&self) -> Result<(), String> {
        if self.as_postgres {
            // initdb refuses to run as root: the postgres system user owns the directory.
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&self.dir))?;
        }
        let mut initdb = self.command("initdb");
        initdb.arg("-D").arg(&self.data).args([
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(&mut initdb)?;
        // Throwaway data: durability off for speed. Appended as the current user; the file
        // keeps its owner.
        let settings = format!(
            "\n# opkit-postgres TestCluster\n\
             listen_addresses = '127.0.0.1'\n\
             port = {}\n\
             unix_socket_directories = '{}'\n\
             max_connections = 300\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             max_wal_size = '2GB'\n",
            self.port,
            self.dir.display()
        );
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)
            .map_err(|e| format!("reading {}: {e}", conf.display()))?;
        text.push_str(&settings);
        std::fs::write(&conf, text).map_err(|e| format!("writing {}: {e}", conf.display()))
    }

    fn start_server(&self) -> Result<(), String> {
        let log = self.dir.join("server.log");
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log.to_string_lossy()])
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(&self.data).args(args);
        run(&mut c)
    }

    /// A shell that waits for this process to exit, then stops the server and removes the
    /// directory: a `static` cluster is never dropped.
    fn spawn_watchdog(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            format!("runuser -u postgres -- '{}'", pg_ctl.display())
        } else {
            format!("'{}'", pg_ctl.display())
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {stop} -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            data = self.data.display(),
            dir = self.dir.display(),
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(child) = child {
            *self.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        }
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The directory holding `initdb` and `pg_ctl`: the highest version under
/// `/usr/lib/postgresql`, else `PATH`.
fn find_binaries() -> Result<PathBuf, String> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|dir| has_both(dir))
        .ok_or_else(|| {
            "no initdb and pg_ctl in /usr/lib/postgresql/<version>/bin or on PATH".to_owned()
        })
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}
