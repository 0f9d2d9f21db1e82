//! Connection hygiene of `opkit_axum::serve_with` over raw TCP: heads, idle keep-alive
//! connections and request bodies that take too long are cut off; the connection cap holds
//! new connections back until one closes; accept survives the file-descriptor limit; shutdown
//! gives up on a busy connection after its deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use opkit_axum::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `/` answers `ok`, `/echo` answers the request body.
fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { body }))
}

/// A server on 127.0.0.1, and what stops it.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<std::io::Result<()>>,
}

async fn start(router: Router, options: ServeOptions) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(opkit_axum::serve_with(listener, router, options, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        done,
    }
}

impl Server {
    /// Signals shutdown; `serve_with`'s result, which must come within `within`.
    async fn shut_down(&mut self, within: Duration) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(within, &mut self.done)
            .await
            .expect("serve_with returns after shutdown")
            .unwrap()
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

/// Reads until the server closes the connection (a reset counts as closed), or `within`
/// passes (`None`). Returns what was read and when the connection was closed.
async fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> Option<(Vec<u8>, Instant)> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let closed = tokio::time::timeout(within, read).await.ok()?;
    Some((got, closed))
}

/// Reads one response (head and a `content-length` body) off a connection kept open.
async fn read_response(tcp: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let server = start(router(), ServeOptions::new(1).header_read_timeout(ms(300))).await;
    let opened = Instant::now();
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let (got, closed) = read_until_closed(&mut tcp, ms(3000))
        .await
        .expect("a silent connection is closed");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    let after = closed - opened;
    assert!(after >= ms(250), "not before the timeout: {after:?}");
}

#[tokio::test]
async fn a_head_dripped_slower_than_the_header_timeout_is_cut_off() {
    let server = start(router(), ServeOptions::new(1).header_read_timeout(ms(500))).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let opened = Instant::now();
    // A byte every 50 ms: the whole head would take 1.3 s.
    let mut cut = None;
    for byte in GET {
        if tcp.write_all(&[*byte]).await.is_err() {
            cut = Some(Instant::now());
            break;
        }
        let mut buf = [0; 256];
        match tokio::time::timeout(ms(50), tcp.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = Some(Instant::now());
                break;
            }
            Ok(Ok(n)) => panic!("answered: {}", String::from_utf8_lossy(&buf[..n])),
        }
    }
    let cut = cut.expect("the connection is closed before the head is complete") - opened;
    assert!(cut >= ms(450) && cut < ms(1200), "cut at {cut:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let options = ServeOptions::new(1)
        .header_read_timeout(ms(5000))
        .idle_timeout(ms(300));
    let mut server = start(router(), options).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    // Two requests on the connection, then silence.
    for _ in 0..2 {
        tcp.write_all(GET).await.unwrap();
        let response = read_response(&mut tcp).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    let answered = Instant::now();
    let (got, closed) = read_until_closed(&mut tcp, ms(3000))
        .await
        .expect("an idle connection is closed well before the header timeout");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    let after = closed - answered;
    assert!(after >= ms(250), "not before the idle timeout: {after:?}");
    // Nothing is left to wait for.
    server.shut_down(ms(1000)).await.unwrap();
}

#[tokio::test]
async fn a_head_started_while_idle_gets_the_whole_header_timeout() {
    // The next request starts 600 ms into the idle wait (under the idle timeout) and its head
    // takes 700 ms (under the header timeout): 1.3 s after the response, which a single timer
    // from the end of the response (hyper's header read timeout) would have cut at 1 s.
    let options = ServeOptions::new(1)
        .header_read_timeout(ms(1000))
        .idle_timeout(ms(900));
    let server = start(router(), options).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(GET).await.unwrap();
    let response = read_response(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    tokio::time::sleep(ms(600)).await;
    tcp.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(ms(700)).await;
    tcp.write_all(b"host: x\r\n\r\n").await.unwrap();
    let response = read_response(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_closed() {
    let server = start(router(), ServeOptions::new(1).body_read_timeout(ms(300))).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let sent = Instant::now();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let (got, closed) = read_until_closed(&mut tcp, ms(3000))
        .await
        .expect("the connection is closed");
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    let after = closed - sent;
    assert!(after >= ms(250), "not before the timeout: {after:?}");
}

#[tokio::test]
async fn a_body_that_arrives_in_pieces_within_the_timeout_is_read() {
    let server = start(router(), ServeOptions::new(1).body_read_timeout(ms(1000))).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 20\r\n\r\n0123456789")
        .await
        .unwrap();
    tokio::time::sleep(ms(300)).await;
    tcp.write_all(b"abcdefghij").await.unwrap();
    let response = read_response(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with("\r\n\r\n0123456789abcdefghij"),
        "{response}"
    );
    // And the connection stays usable.
    tcp.write_all(GET).await.unwrap();
    let response = read_response(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn at_the_connection_cap_a_new_connection_waits_until_one_closes() {
    let options = ServeOptions::new(2)
        .max_connections(4)
        .header_read_timeout(ms(10_000));
    let server = start(router(), options).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Let the server take all four.
    tokio::time::sleep(ms(200)).await;
    // The fifth is connected (the kernel's backlog holds it) but not served.
    let mut fifth = TcpStream::connect(server.addr).await.unwrap();
    fifth
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0; 256];
    let early = tokio::time::timeout(ms(500), fifth.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    // One of the four goes away: now the fifth is served.
    drop(idle.pop());
    let (got, _) = read_until_closed(&mut fifth, ms(3000))
        .await
        .expect("served once a place is free");
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    // The other three were never disturbed.
    for tcp in &mut idle {
        let still = tokio::time::timeout(ms(50), tcp.read(&mut buf)).await;
        assert!(still.is_err(), "an idle connection was closed: {still:?}");
    }
}

/// `/slow` answers after 300 ms; `/forever` never does. Each says when it has started.
fn busy_router(started: tokio::sync::mpsc::UnboundedSender<&'static str>) -> Router {
    let also = started.clone();
    Router::new()
        .route(
            "/slow",
            get(move || async move {
                let _ = also.send("slow");
                tokio::time::sleep(ms(300)).await;
                "done"
            }),
        )
        .route(
            "/forever",
            get(move || async move {
                let _ = started.send("forever");
                std::future::pending::<()>().await;
            }),
        )
}

/// Sends `GET path` on a new connection.
async fn ask(addr: SocketAddr, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    tcp
}

#[tokio::test]
async fn shutdown_gives_up_on_busy_connections_after_the_shutdown_timeout() {
    let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
    // Two workers, two hung requests: one on the caller's runtime, one on a worker thread.
    let options = ServeOptions::new(2).shutdown_timeout(ms(400));
    let mut server = start(busy_router(started), options).await;
    let mut hung = Vec::new();
    for _ in 0..2 {
        hung.push(ask(server.addr, "/forever").await);
        assert_eq!(starts.recv().await, Some("forever"));
    }
    let asked = Instant::now();
    server.shut_down(ms(3000)).await.unwrap();
    let took = asked.elapsed();
    assert!(
        took >= ms(350),
        "the busy connections had their time: {took:?}"
    );
    // Their connections are closed, without an answer.
    for tcp in &mut hung {
        let (got, _) = read_until_closed(tcp, ms(1000))
            .await
            .expect("closed at the deadline");
        assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    }
}

#[tokio::test]
async fn shutdown_lets_a_busy_connection_finish_within_the_timeout() {
    let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
    let options = ServeOptions::new(2).shutdown_timeout(ms(5000));
    let mut server = start(busy_router(started), options).await;
    let mut slow = ask(server.addr, "/slow").await;
    assert_eq!(starts.recv().await, Some("slow"));
    // An idle connection does not hold shutdown up.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let asked = Instant::now();
    server.shut_down(ms(3000)).await.unwrap();
    assert!(
        asked.elapsed() < ms(2000),
        "returned once the answer was sent"
    );
    let (got, _) = read_until_closed(&mut slow, ms(1000)).await.unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.ends_with("done"), "{got}");
    assert!(read_until_closed(&mut idle, ms(1000)).await.is_some());
}

/// The file-descriptor limit. The server runs in a child process (this test binary again, with
/// only `file_limit::child` selected and `CHILD` set), started by `sh` after `ulimit -n 64`,
/// so that only the server is short of descriptors; the clients are here.
#[cfg(unix)]
mod file_limit {
    use super::*;

    /// Set in the child: its options, as `header_ms=500` and optionally `max=16`.
    const CHILD: &str = "OPKIT_CONNECTIONS_TEST_CHILD";
    /// The child's file limit.
    const FILE_LIMIT: u32 = 64;

    /// Not a test of its own (it returns at once): the server half of the file-limit tests.
    #[test]
    fn child() {
        use std::io::Write as _;
        let Ok(config) = std::env::var(CHILD) else {
            return;
        };
        let mut options = ServeOptions::new(1);
        for setting in config.split(';') {
            match setting.split_once('=') {
                Some(("header_ms", n)) => {
                    options = options.header_read_timeout(ms(n.parse().unwrap()))
                }
                Some(("max", n)) => options = options.max_connections(n.parse().unwrap()),
                _ => panic!("unknown setting {setting}"),
            }
        }
        // The kit's warnings (target `opkit_axum`) on stderr, for the parent to read.
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .without_time()
            .init();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut stdout = std::io::stdout();
            writeln!(stdout, "listening {}", listener.local_addr().unwrap()).unwrap();
            stdout.flush().unwrap();
            // Serve until the parent closes our standard input.
            let parent_gone = async {
                let _ = tokio::task::spawn_blocking(|| {
                    std::io::copy(&mut std::io::stdin(), &mut std::io::sink())
                })
                .await;
            };
            opkit_axum::serve_with(listener, router(), options, parent_gone)
                .await
                .unwrap();
        });
    }

    /// The child server, its address and (once it has exited) what it wrote on stderr.
    struct Child {
        process: tokio::process::Child,
        addr: SocketAddr,
        stderr: JoinHandle<String>,
    }

    async fn start_child(config: &str) -> Child {
        use std::process::Stdio;
        use tokio::io::AsyncBufReadExt;
        let exe = std::env::current_exe().unwrap();
        let mut process = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {FILE_LIMIT} && exec \"$0\" \"$@\""))
            .arg(exe)
            .args([
                "file_limit::child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("sh runs this test binary");
        let mut stderr = process.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut lines = tokio::io::BufReader::new(process.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                // The test harness may have written the test's name on the same line.
                if let Some((_, addr)) = line.split_once("listening ") {
                    return addr.parse().unwrap();
                }
            }
            panic!("the child exited before listening");
        })
        .await
        .expect("the child listens");
        // Keep reading its stdout so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Child {
            process,
            addr,
            stderr,
        }
    }

    impl Child {
        /// Opens `n` connections that send nothing, then asks for `/` on one more: its answer,
        /// after the server must still be running.
        async fn flood_then_request(&mut self, n: usize) -> String {
            let mut idle = Vec::new();
            for _ in 0..n {
                idle.push(TcpStream::connect(self.addr).await.unwrap());
            }
            let mut tcp = TcpStream::connect(self.addr).await.unwrap();
            tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let (got, _) = read_until_closed(&mut tcp, Duration::from_secs(6))
                .await
                .expect("the request is answered once the idle connections time out");
            assert!(
                self.process.try_wait().unwrap().is_none(),
                "the server is still running"
            );
            String::from_utf8_lossy(&got).into_owned()
        }

        /// Stops the child (by closing its standard input): what it wrote on stderr.
        async fn stop(mut self) -> String {
            drop(self.process.stdin.take());
            let status = tokio::time::timeout(Duration::from_secs(5), self.process.wait())
                .await
                .expect("the child stops")
                .unwrap();
            let stderr = self.stderr.await.unwrap();
            assert!(status.success(), "{status}: {stderr}");
            stderr
        }
    }

    #[tokio::test]
    async fn with_the_cap_above_the_file_limit_accept_survives_running_out_and_recovers() {
        let mut child = start_child("header_ms=1000;max=1000").await;
        // Far more connections than descriptors: accepting fails with EMFILE until the first
        // ones time out.
        let response = child.flood_then_request(100).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let stderr = child.stop().await;
        let failed = stderr
            .lines()
            .filter(|line| line.contains("accept failed"))
            .count();
        assert!(
            stderr.contains("Too many open files"),
            "the server ran out of descriptors: {stderr}"
        );
        // Once per burst of failures (a failure every few milliseconds for a second), not once
        // per failure.
        assert!((1..=3).contains(&failed), "{stderr}");
        assert!(stderr.contains("accepting again"), "{stderr}");
    }

    #[tokio::test]
    async fn with_the_cap_below_the_file_limit_new_connections_wait_and_are_served() {
        let mut child = start_child("header_ms=500;max=16").await;
        let response = child.flood_then_request(40).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let stderr = child.stop().await;
        assert!(!stderr.contains("accept failed"), "{stderr}");
        assert!(stderr.contains("at the connection cap"), "{stderr}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_default_cap_keeps_accept_within_the_file_limit() {
        // No cap given: the default is derived from the child's file limit.
        let mut child = start_child("header_ms=500").await;
        let response = child.flood_then_request(100).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let stderr = child.stop().await;
        assert!(!stderr.contains("accept failed"), "{stderr}");
        assert!(stderr.contains("at the connection cap"), "{stderr}");
    }
}
