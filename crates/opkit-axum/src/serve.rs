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
//! Each connection is served by hyper's HTTP/1.1 server with a header read timeout
//! ([`ServeOptions::header_read_timeout`]), so a connection that drips its request head or sits
//! idle between requests does not hold a socket for ever.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Serves `router` on `listener` with `workers` workers (at least one): the caller's task, which
/// also runs the listener, and `workers - 1` threads, each with a single-threaded runtime of
/// its own. Returns once `shutdown` has resolved and every connection is closed.
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

/// How [`serve_with`] serves.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    workers: usize,
    header_read_timeout: Duration,
}

impl ServeOptions {
    /// `workers` workers (at least one), and a header read timeout of
    /// [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub fn new(workers: usize) -> Self {
        ServeOptions {
            workers: workers.max(1),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }

    /// Close a connection whose request head has not fully arrived this long after the
    /// connection opened or its previous response was sent (so an idle keep-alive connection,
    /// or one that drips its headers, does not hold a socket for ever).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }
}

/// How long a request head may take to arrive, by default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// [`serve`] with [`ServeOptions`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let workers = options.workers.max(1);
    let timeout = options.header_read_timeout;
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
            timeout,
        };
        let thread = std::thread::Builder::new()
            .name(format!("opkit-worker-{n}"))
            .spawn(move || runtime.block_on(worker.run()))?;
        threads.push(thread);
    }
    let here = Worker {
        incoming: first,
        router,
        stopped,
        timeout,
    };
    let accepting = async move {
        tokio::select! {
            () = deal(listener, queues) => {}
            () = shutdown => {}
        }
        // Stops every worker's server, which then closes its idle connections and waits for
        // the busy ones.
        let _ = stop.send(true);
    };
    let (result, ()) = tokio::join!(here.run(), accepting);
    // The other workers stop as this one did; their threads end when their last connection
    // closes.
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

/// An accepted connection on its way to a worker, and its peer's address.
type Connection = (std::net::TcpStream, SocketAddr);

/// Accepts connections for ever and hands them to the workers in turn.
async fn deal(listener: TcpListener, queues: Vec<mpsc::UnboundedSender<Connection>>) {
    let mut next = 0;
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Per-connection failures (the peer gave up before we accepted) are nothing to
                // wait for; running out of file descriptors or memory is.
                if !is_connection_error(&e) {
                    crate::log::line(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
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
            let _ = queue.send((tcp, peer));
        }
        next = (next + 1) % queues.len();
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One worker: serves the connections it is handed until told to stop.
struct Worker {
    incoming: mpsc::UnboundedReceiver<Connection>,
    router: Router,
    stopped: watch::Receiver<bool>,
    timeout: Duration,
}

impl Worker {
    /// Serve each connection (HTTP/1.1 through hyper, with the header read timeout) until told
    /// to stop; then let busy connections finish their response and wait for them to close.
    async fn run(self) -> io::Result<()> {
        let Worker {
            mut incoming,
            router,
            mut stopped,
            timeout,
        } = self;
        // Every connection task holds a receiver; `closed()` resolves once all are gone.
        let (live, live_rx) = watch::channel(());
        loop {
            let (tcp, peer) = tokio::select! {
                next = incoming.recv() => match next {
                    Some(next) => next,
                    None => break,
                },
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
            // Each request carries its peer's address as axum's `ConnectInfo`, which the kit's
            // adapter reads (the password throttle counts per source).
            let router = TowerToHyperService::new(router.clone());
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                hyper::service::Service::call(&router, req)
            });
            let mut stop = stopped.clone();
            let holds = live_rx.clone();
            tokio::spawn(async move {
                let builder = {
                    let mut builder = http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(timeout);
                    builder
                };
                let conn = builder.serve_connection(TokioIo::new(Deferred::new(tcp)), service);
                let mut conn = std::pin::pin!(conn);
                let mut stopping = false;
                loop {
                    tokio::select! {
                        // Errors are the peer's (reset, timeout, malformed request): nothing to do.
                        _ = conn.as_mut() => break,
                        _ = stop.wait_for(|stop| *stop), if !stopping => {
                            stopping = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
                drop(holds);
            });
        }
        drop(live_rx);
        live.closed().await;
        Ok(())
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

    #[tokio::test]
    async fn slow_and_idle_connections_are_closed() {
        use axum::routing::get;
        let router = Router::new().route("/", get(|| async { "ok" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = ServeOptions::new(1).header_read_timeout(Duration::from_millis(300));
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
