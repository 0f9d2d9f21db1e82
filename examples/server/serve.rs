//! How the example provider accepts and serves connections.
//!
//! Two choices here are about speed (measurements in `benches/http/README.md`):
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

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Serves `router` on `listener` with `workers` workers (at least one): the caller's task, which
/// also runs the listener, and `workers - 1` threads, each with a single-threaded runtime of
/// its own. Returns once `shutdown` has resolved and every connection is closed.
///
/// `main.rs` calls it on a current-thread runtime, so the first worker is single-threaded too;
/// the tests that drive the example over HTTP serve through it as well.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    workers: usize,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let workers = workers.max(1);
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
            local,
            router: router.clone(),
            stopped: stopped.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("opkit-worker-{n}"))
            .spawn(move || runtime.block_on(worker.run()))?;
        threads.push(thread);
    }
    let here = Worker {
        incoming: first,
        local,
        router,
        stopped,
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
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        // Responses are written in one piece, so Nagle's algorithm only ever delays them.
        if let Err(e) = tcp.set_nodelay(true) {
            eprintln!("cannot set TCP_NODELAY: {e}");
        }
        // A socket registered with this thread's runtime can't be polled by another's: pass it
        // over as a plain socket, registered again on the worker.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                eprintln!("cannot hand a connection to a worker: {e}");
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
    local: SocketAddr,
    router: Router,
    stopped: watch::Receiver<bool>,
}

impl Worker {
    async fn run(self) -> io::Result<()> {
        let mut stopped = self.stopped;
        let listener = Handed {
            incoming: self.incoming,
            local: self.local,
        };
        axum::serve(listener, self.router)
            .with_graceful_shutdown(async move {
                // An error means the sender is gone, which also means stop.
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
    }
}

/// The connections dealt to one worker, as an axum [`Listener`](axum::serve::Listener).
struct Handed {
    incoming: mpsc::UnboundedReceiver<Connection>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handed {
    type Io = Deferred<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some((tcp, peer)) = self.incoming.recv().await else {
                // The listener is gone: shutting down, and axum stops asking once told to.
                return std::future::pending().await;
            };
            match TcpStream::from_std(tcp) {
                Ok(tcp) => return (Deferred::new(tcp), peer),
                Err(e) => eprintln!("cannot register a connection with its worker: {e}"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// A connection whose writes each first yield once to the worker's other ready tasks (see the
/// module documentation). Reads, flushes and shutdown pass straight through.
pub struct Deferred<T> {
    io: T,
    /// The write being attempted has already yielded once.
    yielded: bool,
}

impl<T> Deferred<T> {
    pub fn new(io: T) -> Self {
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
