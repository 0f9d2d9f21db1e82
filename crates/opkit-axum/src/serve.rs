//! The serving loop: [`serve`] accepts connections and serves a [`Router`] on them, with
//! graceful shutdown. Two choices here are about speed (measurements in
//! `benches/http/README.md` of the opkit repository):
//!
//! - **One single-threaded runtime per worker thread.** The listener deals accepted
//!   connections out round-robin, and a connection stays on its worker for its whole life: no
//!   work stealing, no task migrating between threads (so no cross-thread wake-ups and no
//!   malloc arena shared by two threads), at the price of no rebalancing, which is fine for a
//!   server whose requests all cost about the same.
//! - **Responses leave in bursts.** [`Deferred`] makes each response's first write yield once
//!   to the other ready connections of its worker, so the responses to requests that arrived
//!   together are written back to back after all of them were computed. The peer is then woken
//!   once per burst instead of once per response; on a virtual machine, where waking a
//!   sleeping thread on another core costs several microseconds, this is about 20% more
//!   requests per second. A lone request waits for nothing: its task is polled again at once.
//!
//! Each connection is served by hyper's HTTP/1.1 server and watched, so that no peer holds a
//! socket for ever (all in [`ServeOptions`], with their defaults):
//!
//! - a request head must arrive within [`ServeOptions::header_read_timeout`] of the
//!   connection opening, or of the first byte of a later request;
//! - a keep-alive connection idle after a response is closed after
//!   [`ServeOptions::idle_timeout`];
//! - a request body being read must have fully arrived within
//!   [`ServeOptions::body_read_timeout`] of its head, or the request is answered `408` and the
//!   connection closed (the router's body limits apply as before);
//! - at most [`ServeOptions::max_connections`] connections are open at once, across all
//!   workers: at the cap the listener stops accepting, so new connections wait in the
//!   kernel's listen backlog until one closes. Each connection's task carries its permit; the
//!   cap costs one semaphore permit per connection, nothing per request;
//! - when accepting fails for anything but the one connection (out of file descriptors,
//!   `EMFILE` or `ENFILE`, or of memory or buffers, `ENOMEM` or `ENOBUFS`), the listener logs
//!   it once per burst of failures, backs off briefly (10 ms, doubling up to 250 ms) and tries
//!   again, and logs once more when accepting works again: it never stops, and a backlog of
//!   connections is taken as soon as descriptors are free again;
//! - once `shutdown` resolves, the listener closes, idle connections are closed, and busy ones
//!   get [`ServeOptions::shutdown_timeout`] to finish their response; then the rest are
//!   dropped and [`serve_with`] returns.
//!
//! The head and idle timers are the kit's own, not hyper's `header_read_timeout`: hyper's
//! starts when the previous response ends, so it bounds the idle wait and the next head
//! together with one value and cannot tell a connection that idles from one that drips its
//! head. The kit keeps one timer per connection, moved only when the connection changes from
//! reading a head to being busy to being idle; nothing is allocated for it per request. The
//! body timer is made only for a body that a handler has to wait for.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

/// Serves `router` on `listener` with `workers` workers (at least one): the caller's task, which
/// also runs the listener, and `workers - 1` threads, each with a single-threaded runtime of
/// its own. Returns once `shutdown` has resolved and every connection is closed (busy ones get
/// [`DEFAULT_SHUTDOWN_TIMEOUT`] to finish). Every other limit is at its default too, see
/// [`ServeOptions`].
///
/// Call it on a current-thread runtime so the first worker is single-threaded too (on a
/// multi-threaded one it works as well; the other workers still get a thread each). The router
/// is any axum [`Router`], typically [`crate::OpenIdApp::router`] merged with the host's own
/// routes.
///
/// ```no_run
/// # async fn run(router: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
/// opkit_axum::serve(listener, router, workers, async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    router: Router,
    workers: usize,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    serve_with(listener, router, ServeOptions::new(workers), shutdown).await
}

/// How [`serve_with`] serves: the number of workers and the limits that keep a peer from
/// holding a connection for ever. Every limit has a default, so `ServeOptions::new(workers)`
/// is a safe start; the builder methods change one each.
///
/// ```no_run
/// use std::time::Duration;
/// use opkit_axum::ServeOptions;
///
/// # async fn run(router: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let options = ServeOptions::new(2)
///     .header_read_timeout(Duration::from_secs(10))
///     .idle_timeout(Duration::from_secs(90))
///     .body_read_timeout(Duration::from_secs(10))
///     .max_connections(2_000)
///     .shutdown_timeout(Duration::from_secs(5));
/// opkit_axum::serve_with(listener, router, options, opkit_axum::shutdown_signal()).await
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    workers: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    body_read_timeout: Duration,
    /// `None`: derived from the file limit when serving starts.
    max_connections: Option<usize>,
    shutdown_timeout: Duration,
}

impl ServeOptions {
    /// `workers` workers (at least one), and every limit at its default:
    /// [`DEFAULT_HEADER_READ_TIMEOUT`], [`DEFAULT_IDLE_TIMEOUT`],
    /// [`DEFAULT_BODY_READ_TIMEOUT`], [`DEFAULT_SHUTDOWN_TIMEOUT`], and a connection cap
    /// derived from the file limit (see [`max_connections`](Self::max_connections)).
    pub fn new(workers: usize) -> Self {
        ServeOptions {
            workers: workers.max(1),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// Close a connection whose request head has not fully arrived this long after the
    /// connection opened (so one that sends nothing, or drips its head, does not hold a
    /// socket for ever). On a keep-alive connection the time counts from the first byte of
    /// the next request; the wait for that byte is the [idle timeout](Self::idle_timeout).
    /// The connection is closed without a response.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Close a keep-alive connection on which no byte of a next request has arrived this long
    /// after its last response was sent. An idle connection holds a socket; closing it costs
    /// the client only a new connection.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Answer `408 Request Timeout` (and close the connection) when a request body that is
    /// being read has not fully arrived this long after the request head. Only a body that a
    /// handler reads is timed; how large it may be is still the router's business
    /// ([`axum::extract::DefaultBodyLimit`], [`crate::OpenIdProvider::body_limit`]).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Keep at most `max` connections (at least one) open at once, across all workers. At the
    /// cap the listener stops accepting until a connection closes: new connections wait in
    /// the kernel's listen backlog (beyond it the kernel drops their SYNs and the clients
    /// retry), rather than the process running out of file descriptors. Slow and idle
    /// connections count too; the timeouts above bound how long each holds its place.
    ///
    /// By default the cap is three quarters of the process's soft limit on open files
    /// (`RLIMIT_NOFILE`, read from `/proc/self/limits` when serving starts, on Linux), leaving
    /// the rest for the store, outbound fetches and logs, and at most
    /// [`DEFAULT_MAX_CONNECTIONS`]; where the limit cannot be read, it is
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max.clamp(1, Semaphore::MAX_PERMITS));
        self
    }

    /// Once `shutdown` has resolved, give busy connections this long to finish their
    /// responses; then close the rest (their handlers are dropped) and return. Set it below
    /// the time the process manager waits before killing the process.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

/// The largest read buffer of one connection (hyper's minimum is 8 KiB): room for a request
/// head within the kit's limits (an 8 KiB query, a 4 KiB `Authorization` header, cookies).
const MAX_READ_BUFFER: usize = 64 * 1024;

/// How long a request head may take to arrive, by default: 30 s, enough for a slow mobile
/// link to send a few kilobytes of headers.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a keep-alive connection may sit idle between requests, by default: 75 s, longer
/// than the 60 s after which common reverse proxies and load balancers drop an idle upstream
/// connection, so that they, not this server, close it (a server closing first races the
/// proxy's next request on that connection, which then fails).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// How long a request body may take to arrive after its head, by default: 30 s, which a
/// body of the kit's default limit ([`crate::DEFAULT_BODY_LIMIT`], 64 KiB) meets at about
/// 2 KiB/s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long busy connections get to finish once shutdown is signalled, by default: 20 s, under
/// the 30 s that Kubernetes waits between SIGTERM and SIGKILL by default, so that
/// [`serve_with`] returns, and the host can finish, before the process is killed (a plain
/// `docker stop` waits only 10 s: set it lower there).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// The most connections open at once by default (less when the file limit is lower, see
/// [`ServeOptions::max_connections`]): 10 000, far more than a provider's clients keep open,
/// and a bound on the memory and descriptors that slow or idle peers can tie up.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The default connection cap: three quarters of the soft file limit, at most
/// [`DEFAULT_MAX_CONNECTIONS`].
fn default_max_connections() -> usize {
    match soft_file_limit() {
        Some(limit) => usize::try_from(limit / 4 * 3)
            .unwrap_or(usize::MAX)
            .clamp(1, DEFAULT_MAX_CONNECTIONS),
        None => DEFAULT_MAX_CONNECTIONS,
    }
}

/// The soft `RLIMIT_NOFILE`, from the "Max open files" line of `/proc/self/limits`
/// (`None` when unlimited or unreadable).
#[cfg(target_os = "linux")]
fn soft_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_soft_file_limit(&limits)
}

#[cfg(not(target_os = "linux"))]
fn soft_file_limit() -> Option<u64> {
    None
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_soft_file_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// [`serve`] with [`ServeOptions`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let workers = options.workers.max(1);
    let max_connections = options
        .max_connections
        .unwrap_or_else(default_max_connections);
    let cap = Cap {
        places: Arc::new(Semaphore::new(max_connections)),
        max: max_connections,
    };
    let limits = Limits {
        header_read: options.header_read_timeout,
        idle: options.idle_timeout,
        body_read: options.body_read_timeout,
        shutdown: options.shutdown_timeout,
    };
    let (stop, stopped) = watch::channel(false);
    let mut queues = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers - 1);
    let (queue, first) = mpsc::unbounded_channel();
    queues.push(queue);
    for n in 1..workers {
        let (queue, incoming) = mpsc::unbounded_channel();
        queues.push(queue);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let worker = Worker {
            incoming,
            router: router.clone(),
            stopped: stopped.clone(),
            limits,
        };
        let thread = std::thread::Builder::new()
            .name(format!("opkit-worker-{n}"))
            .spawn(move || {
                let result = runtime.block_on(worker.run());
                // Its connections are all gone; a blocking task a handler left running (off
                // the async workers) is not waited for.
                runtime.shutdown_background();
                result
            })?;
        threads.push(thread);
    }
    let here = Worker {
        incoming: first,
        router,
        stopped,
        limits,
    };
    let accepting = async move {
        tokio::select! {
            () = deal(listener, queues, cap) => {}
            () = shutdown => {}
        }
        // Stops every worker's server, which then closes its idle connections and waits for
        // the busy ones, until the shutdown timeout.
        let _ = stop.send(true);
    };
    let (result, ()) = tokio::join!(here.run(), accepting);
    // The other workers stop as this one did; their threads end when their last connection
    // closes or at the shutdown deadline.
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("worker panicked")))
            })
            .collect::<io::Result<Vec<()>>>()
    })
    .await
    .map_err(io::Error::other)?;
    result.and(joined.map(drop))
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM: the usual `shutdown` for [`serve`].
///
/// ```no_run
/// # async fn run(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<()> {
/// opkit_axum::serve(listener, router, 2, opkit_axum::shutdown_signal()).await
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sig) => drop(sig.recv().await),
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// An accepted connection on its way to a worker, its peer's address, and its place under the
/// connection cap.
type Connection = (std::net::TcpStream, SocketAddr, OwnedSemaphorePermit);

/// Accepts connections for ever, each once a place under the cap is free, and hands them to
/// the workers in turn.
async fn deal(listener: TcpListener, queues: Vec<mpsc::UnboundedSender<Connection>>, cap: Cap) {
    let mut next = 0;
    let mut place = None;
    let mut full_logged = None;
    let mut failing: Option<Failing> = None;
    loop {
        let permit = match place.take() {
            Some(permit) => permit,
            None => match cap.take_place(&mut full_logged).await {
                Some(permit) => permit,
                None => return,
            },
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                place = Some(permit);
                // Per-connection failures (the peer gave up before we accepted) are nothing to
                // wait for; running out of file descriptors or memory is.
                if !is_connection_error(&e) {
                    let burst = failing.get_or_insert_with(|| {
                        crate::log::line(&format!(
                            "accept failed: {e}; retrying, not logged again until accepting works"
                        ));
                        Failing {
                            since: std::time::Instant::now(),
                            failures: 0,
                            backoff: ACCEPT_BACKOFF_MIN,
                        }
                    });
                    burst.failures += 1;
                    tokio::time::sleep(burst.backoff).await;
                    burst.backoff = (burst.backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
                continue;
            }
        };
        if let Some(burst) = failing.take() {
            crate::log::line(&format!(
                "accepting again after {} failed attempts over {:.1} s",
                burst.failures,
                burst.since.elapsed().as_secs_f64()
            ));
        }
        // Responses are written in one piece, so Nagle's algorithm only ever delays them.
        if let Err(e) = tcp.set_nodelay(true) {
            crate::log::line(&format!("cannot set TCP_NODELAY: {e}"));
        }
        // A socket registered with this thread's runtime can't be polled by another's: pass it
        // over as a plain socket, registered again on the worker.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                crate::log::line(&format!("cannot hand a connection to a worker: {e}"));
                continue;
            }
        };
        if let Some(queue) = queues.get(next) {
            // Fails only if that worker has stopped, which happens only at shutdown.
            let _ = queue.send((tcp, peer, permit));
        }
        next = (next + 1) % queues.len();
    }
}

/// The connection cap: a place (permit) for each connection that may be open.
struct Cap {
    places: Arc<Semaphore>,
    max: usize,
}

impl Cap {
    /// A place, waited for when there is none, which is logged (at most once a minute,
    /// `logged` says when it last was). `None` if the semaphore is closed, which it never is.
    async fn take_place(
        &self,
        logged: &mut Option<std::time::Instant>,
    ) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.places.clone().try_acquire_owned() {
            return Some(permit);
        }
        if logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            crate::log::line(&format!(
                "at the connection cap ({} open): new connections wait until one closes",
                self.max
            ));
            *logged = Some(std::time::Instant::now());
        }
        self.places.clone().acquire_owned().await.ok()
    }
}

/// A burst of failed accepts: since when, how many, and how long to wait before the next try.
struct Failing {
    since: std::time::Instant,
    failures: u64,
    backoff: Duration,
}

/// The first wait after an accept failed for want of resources; it doubles up to the most.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(250);

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The per-connection limits, as a worker needs them.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_read: Duration,
    idle: Duration,
    body_read: Duration,
    shutdown: Duration,
}

/// One worker: serves the connections it is handed until told to stop.
struct Worker {
    incoming: mpsc::UnboundedReceiver<Connection>,
    router: Router,
    stopped: watch::Receiver<bool>,
    limits: Limits,
}

impl Worker {
    /// Serve each connection (HTTP/1.1 through hyper, watched by its [`Watchdog`]) until told
    /// to stop; then let busy connections finish their response and wait for them to close,
    /// for at most the shutdown timeout, after which the rest are dropped.
    async fn run(self) -> io::Result<()> {
        let Worker {
            mut incoming,
            router,
            mut stopped,
            limits,
        } = self;
        let mut connections = JoinSet::new();
        loop {
            let (tcp, peer, permit) = tokio::select! {
                next = incoming.recv() => match next {
                    Some(next) => next,
                    None => break,
                },
                // A connection's task has ended: forget it.
                Some(_) = connections.join_next() => continue,
                // An error means the sender is gone, which also means stop.
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            let tcp = match TcpStream::from_std(tcp) {
                Ok(tcp) => tcp,
                Err(e) => {
                    crate::log::line(&format!(
                        "cannot register a connection with its worker: {e}"
                    ));
                    continue;
                }
            };
            let activity = Arc::new(Activity::new());
            let io = TokioIo::new(Watched {
                io: Deferred::new(tcp),
                activity: activity.clone(),
            });
            // Each request carries its peer's address as axum's `ConnectInfo`, which the kit's
            // adapter reads (the password throttle counts per source).
            let router = TowerToHyperService::new(router.clone());
            let on_request = activity.clone();
            let body_read = limits.body_read;
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                on_request.enter(Phase::Busy);
                let activity = on_request.clone();
                let mut req = req.map(|body| TimedBody::new(body, body_read, activity.clone()));
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let response = hyper::service::Service::call(&router, req);
                async move {
                    let mut response = response.await?;
                    if activity.body_timed_out.load(Ordering::Relaxed) {
                        // Whatever the handler made of a truncated body, the answer is this.
                        response = body_timeout_response();
                    }
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| Guarded { body, activity }),
                    )
                }
            });
            let mut stop = stopped.clone();
            connections.spawn(async move {
                // The kit's watchdog times heads and idle waits (see the module documentation),
                // not hyper.
                let builder = {
                    let mut builder = http1::Builder::new();
                    // hyper's read buffer may grow to about 400 KiB by default; a request head
                    // the kit accepts fits in far less, and bodies stream through it, so a slow
                    // head holds at most this much per connection.
                    builder
                        .header_read_timeout(None)
                        .max_buf_size(MAX_READ_BUFFER);
                    builder
                };
                let conn = builder.serve_connection(io, service);
                let mut conn = std::pin::pin!(conn);
                let mut watchdog = Watchdog::new(activity, limits);
                let mut stopping = false;
                loop {
                    // Biased, so the watchdog is polled right after the connection and sees each
                    // change of phase in the same turn.
                    tokio::select! {
                        biased;
                        // Errors are the peer's (reset, malformed request): nothing to do.
                        _ = conn.as_mut() => break,
                        // A head or an idle wait took too long: drop (close) the connection.
                        () = &mut watchdog => break,
                        _ = stop.wait_for(|stop| *stop), if !stopping => {
                            stopping = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
                drop(permit);
            });
        }
        let drained = tokio::time::timeout(limits.shutdown, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            crate::log::line(&format!(
                "shutdown: {} connection(s) still busy after {:.1} s, closing them",
                connections.len(),
                limits.shutdown.as_secs_f64()
            ));
            connections.shutdown().await;
        }
        Ok(())
    }
}

/// What a connection is doing, for its [`Watchdog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head: from the connection opening, or from the first byte after an
    /// idle wait. Limited by the header read timeout.
    Head = 0,
    /// From a complete head until hyper is done with the response's body (has taken its last
    /// frame): no limit here (the handler's time is the host's; the request body has its own
    /// timeout).
    Busy = 1,
    /// After a response, until the next request's first byte. Limited by the idle timeout;
    /// each write of the response's bytes starts the wait again, so a slow but reading client
    /// gets all of it.
    Idle = 2,
}

/// A connection's phase and how many times it was entered, shared by the connection's I/O,
/// its service and its watchdog, which all run in the connection's one task.
#[derive(Debug)]
struct Activity {
    /// The phase in the low two bits; above them a count of changes, so the watchdog sees a
    /// phase entered again (an idle wait started again by a write).
    state: AtomicU32,
    /// A request body took longer than the body read timeout (the connection is then closed,
    /// so this is never reset).
    body_timed_out: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: AtomicU32::new(Phase::Head as u32),
            body_timed_out: AtomicBool::new(false),
        }
    }

    fn state(&self) -> u32 {
        self.state.load(Ordering::Relaxed)
    }

    fn phase_of(state: u32) -> Phase {
        match state & 3 {
            0 => Phase::Head,
            1 => Phase::Busy,
            _ => Phase::Idle,
        }
    }

    fn phase(&self) -> Phase {
        Self::phase_of(self.state())
    }

    /// Enter `phase` (again, if it is the current one).
    fn enter(&self, phase: Phase) {
        // One task reads and writes this, so a load and a store are enough.
        let count = (self.state() >> 2).wrapping_add(1);
        self.state
            .store((count << 2) | phase as u32, Ordering::Relaxed);
    }
}

/// `now + timeout`, or a time in the far future for a timeout too large to add.
fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365 * 30)))
        .unwrap_or(now)
}

/// Resolves when a connection has spent too long reading a head or idle. It keeps one timer:
/// when the phase changes it computes the new deadline and moves the timer only to an
/// earlier time; when the timer fires before the deadline it is moved to the deadline. Being
/// polled after every poll of the connection (same task) is what lets it see each change.
struct Watchdog {
    activity: Arc<Activity>,
    limits: Limits,
    /// The state last seen.
    seen: u32,
    /// When the current phase's time is up (`None` while busy).
    deadline: Option<Instant>,
    timer: Pin<Box<Sleep>>,
    /// The timer is set (to the deadline or before it).
    armed: bool,
}

impl Watchdog {
    fn new(activity: Arc<Activity>, limits: Limits) -> Self {
        let deadline = deadline_after(Instant::now(), limits.header_read);
        Watchdog {
            seen: activity.state(),
            activity,
            limits,
            deadline: Some(deadline),
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            armed: true,
        }
    }
}

impl Future for Watchdog {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let state = this.activity.state();
        if state != this.seen {
            this.seen = state;
            let limit = match Activity::phase_of(state) {
                Phase::Head => Some(this.limits.header_read),
                Phase::Busy => None,
                Phase::Idle => Some(this.limits.idle),
            };
            this.deadline = limit.map(|limit| deadline_after(Instant::now(), limit));
            if let Some(deadline) = this.deadline {
                if !this.armed || deadline < this.timer.deadline() {
                    this.timer.as_mut().reset(deadline);
                    this.armed = true;
                }
            }
        }
        while this.armed {
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            match this.deadline {
                None => this.armed = false,
                Some(deadline) if deadline > this.timer.deadline() => {
                    this.timer.as_mut().reset(deadline);
                }
                Some(_) => return Poll::Ready(()),
            }
        }
        Poll::Pending
    }
}

/// A connection's I/O, telling its [`Activity`] when a next request starts (a byte arrives
/// while idle) and when a response's bytes leave while idle.
struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    fn wrote(&self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) && self.activity.phase() == Phase::Idle {
            self.activity.enter(Phase::Idle);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before && self.activity.phase() == Phase::Idle {
            self.activity.enter(Phase::Head);
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A request body that must have fully arrived by a deadline counted from its head. The timer
/// is only made when a read has to wait, so a body that came with its head (or an empty one)
/// costs no timer.
struct TimedBody {
    body: Incoming,
    /// `None` for a body that is already complete.
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    activity: Arc<Activity>,
    expired: bool,
}

impl TimedBody {
    fn new(body: Incoming, timeout: Duration, activity: Arc<Activity>) -> Self {
        use http_body::Body as _;
        let deadline = (!body.is_end_stream()).then(|| deadline_after(Instant::now(), timeout));
        TimedBody {
            body,
            deadline,
            timer: None,
            activity,
            expired: false,
        }
    }
}

/// The error a [`TimedBody`] ends with when its time is up.
#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

impl http_body::Body for TimedBody {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let Some(deadline) = this.deadline else {
            return Poll::Pending;
        };
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.expired = true;
        this.activity.body_timed_out.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// `408 Request Timeout`, closing the connection (the rest of the body is not waited for).
fn body_timeout_response() -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::from(
        "the request body did not arrive in time\n",
    ));
    *response.status_mut() = hyper::StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

/// A response body that, once hyper is done with it (it is dropped when its last frame has
/// been taken, or when hyper never needed it), turns the connection idle.
struct Guarded {
    body: axum::body::Body,
    activity: Arc<Activity>,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.activity.enter(Phase::Idle);
    }
}

impl http_body::Body for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection whose writes each first yield once to the worker's other ready tasks (see the
/// module documentation). Reads, flushes and shutdown pass straight through.
pub(crate) struct Deferred<T> {
    io: T,
    /// The write being attempted has already yielded once.
    yielded: bool,
}

impl<T> Deferred<T> {
    pub(crate) fn new(io: T) -> Self {
        Deferred { io, yielded: false }
    }

    /// `Pending` (with this task woken again, i.e. sent to the back of the run queue) on the
    /// first call for a write, `Ready` on the next.
    fn take_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::take(&mut self.yielded) {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Deferred<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deferred<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.take_turn(cx));
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.take_turn(cx));
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn each_write_yields_once_then_goes_through() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut near = Deferred::new(near);
        for round in 0..3 {
            let mut polls = 0;
            let written = poll_fn(|cx| {
                polls += 1;
                Pin::new(&mut near).poll_write(cx, b"abc")
            })
            .await
            .unwrap();
            assert_eq!((written, polls), (3, 2), "round {round}");
        }
        let mut got = [0; 9];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abcabcabc");
        // Flush and shutdown are not held back.
        poll_fn(|cx| Pin::new(&mut near).poll_shutdown(cx))
            .await
            .unwrap();
        assert_eq!(far.read(&mut got).await.unwrap(), 0);
    }

    #[test]
    fn the_soft_file_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63711                63711                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_soft_file_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_soft_file_limit(unlimited), None);
        assert_eq!(parse_soft_file_limit(""), None);
        assert!((1..=DEFAULT_MAX_CONNECTIONS).contains(&default_max_connections()));
    }

    #[tokio::test]
    async fn slow_and_idle_connections_are_closed() {
        use axum::routing::get;
        let router = Router::new().route("/", get(|| async { "ok" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = ServeOptions::new(1)
            .header_read_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_millis(300));
        tokio::spawn(serve_with(
            listener,
            router,
            options,
            std::future::pending(),
        ));
        let within = |secs| Duration::from_secs(secs);

        // Headers that never finish.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let closed = tokio::time::timeout(within(5), tcp.read_to_end(&mut got)).await;
        assert!(closed.is_ok(), "a dripping request is cut off");

        // A keep-alive connection left idle after its response.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let closed = tokio::time::timeout(within(5), tcp.read_to_end(&mut got)).await;
        assert!(closed.is_ok(), "an idle connection is closed");
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }

    #[tokio::test]
    async fn connections_are_dealt_to_every_worker_and_shutdown_ends_them() {
        use axum::routing::get;
        let router = Router::new().route(
            "/",
            get(|| async { format!("{:?}", std::thread::current().id()) }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, 3, async {
            let _ = stopped.await;
        }));
        let mut threads = std::collections::HashSet::new();
        for _ in 0..3 {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut response = String::new();
            tcp.read_to_string(&mut response).await.unwrap();
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            let body = response.split("\r\n\r\n").nth(1).unwrap().to_owned();
            threads.insert(body);
        }
        assert_eq!(
            threads.len(),
            3,
            "three connections, three workers: {threads:?}"
        );
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}
