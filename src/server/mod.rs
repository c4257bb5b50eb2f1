//! Building, starting and stopping a server.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread::JoinHandle;
use std::time::Duration;

use log::info;

use crate::budget::Budget;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::hub::{self, Event, Hub};
use crate::listener::{self, Remaining, Stop};
use crate::page::Page;
use crate::subprotocol::is_token;

/// What every thread of one server shares. Read-only but for `live`.
pub(crate) struct Shared {
    pub config: Config,
    /// The page, if one is served (a directory canonical).
    pub www: Option<Page>,
    pub handler: Box<dyn Handler>,
    pub hub: Hub,
    /// Connections open now, to enforce `max_connections`.
    pub live: AtomicUsize,
    /// On a TLS port, what every connection's session is made from.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    /// Whether this port speaks TLS (https:// and wss://).
    pub(crate) fn tls_port(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
}

/// A WebSocket server, configured with builder methods and started with
/// [`start`](Server::start) (in the background) or [`run`](Server::run)
/// (in this thread).
///
/// ```no_run
/// let server = wshub::Server::new("127.0.0.1:8080")
///     .ws_path("/ws")
///     .max_message_size(64 * 1024);
/// server.run(|client: &wshub::Client, msg| {
///     let _ = client.send(msg);
/// })?;
/// # Ok::<(), wshub::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    config: Config,
}

impl Server {
    /// A server that will listen on `addr` (`host:port`; port 0 picks a
    /// free port), with every other setting at its default.
    pub fn new(addr: impl Into<String>) -> Server {
        Server {
            config: Config {
                addr: addr.into(),
                ..Config::default()
            },
        }
    }

    /// The path of the WebSocket endpoint. Default `/ws`.
    pub fn ws_path(mut self, path: impl Into<String>) -> Server {
        self.config.ws_path = path.into();
        self
    }

    /// A directory of static files to serve on the same port (`/` serves
    /// its `index.html`), or `None` to serve none. Default: none. Its
    /// files are served as they are, without the `Content-Security-Policy`
    /// wshub's own page gets, so a page written for another server (with
    /// an inline script, say) works; it may set a policy in a `<meta>` tag.
    pub fn www(mut self, dir: Option<impl Into<PathBuf>>) -> Server {
        self.config.www = dir.map(|d| Page::Dir(d.into()));
        self
    }

    /// Serves wshub's own page (the chat page of the `wshub` command, built
    /// into the binary) on the same port, in place of any [`www`](Server::www)
    /// directory. It reads the endpoint's path from `/wshub.json`.
    #[cfg(feature = "embedded-page")]
    pub fn embedded_page(mut self) -> Server {
        self.config.www = Some(Page::Embedded);
        self
    }

    /// The largest message (and frame) accepted, in bytes; bigger ones close
    /// the connection with 1009. Default 1 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Server {
        self.config.max_message_size = bytes;
        self
    }

    /// The most connections open at once; more get `503`. Default 4096.
    pub fn max_connections(mut self, n: usize) -> Server {
        self.config.max_connections = n;
        self
    }

    /// How many messages may wait for one client before it is closed with
    /// 1008 as too slow. Default 1024.
    pub fn queue_size(mut self, messages: usize) -> Server {
        self.config.queue_size = messages;
        self
    }

    /// How many bytes may wait for one client before, if it also takes
    /// nothing for 2 seconds, it is closed with 1008 as too slow. A client
    /// that keeps reading is never closed by this bound, however many
    /// large messages are sent to it in a row. Default 1 MiB.
    pub fn queue_bytes(mut self, bytes: usize) -> Server {
        self.config.queue_bytes = bytes;
        self
    }

    /// The memory budget: the most bytes of message data the server holds
    /// at once, counting large messages being read and every frame queued
    /// to go out (a broadcast once, however many clients it goes to).
    /// Messages of at most [`SMALL`](crate::SMALL) bytes never wait for
    /// it; each connection may hold one such message being read besides.
    /// A large message that does not fit waits (its connection stops
    /// reading) for up to [`memory_wait`](Server::memory_wait), then is
    /// refused with close code 1013; a large send that does not fit gets
    /// [`Error::Busy`]. Must hold at least two of the largest messages (one
    /// as it is read, one as it is sent). Default 64 MiB.
    pub fn memory_budget(mut self, bytes: usize) -> Server {
        self.config.memory_budget = bytes;
        self
    }

    /// How long a connection reading a large message may wait for room in
    /// the memory budget before it is closed with 1013 (try again later).
    /// Default 5 s.
    pub fn memory_wait(mut self, wait: Duration) -> Server {
        self.config.memory_wait = wait;
        self
    }

    /// The read buffer each connection allocates up front, and the most
    /// it reads per system call. Default 1 KiB: small messages cost one
    /// read; raise it for bulk transfers.
    pub fn read_buffer_size(mut self, bytes: usize) -> Server {
        self.config.read_buffer_size = bytes;
        self
    }

    /// The keepalive round: every interval the hub pings the clients it
    /// has not heard from since the last round, and closes (1001) those
    /// silent since their ping. A silent client is pinged after one to two
    /// intervals and dropped after two to three. Default 30 s.
    pub fn ping_interval(mut self, every: Duration) -> Server {
        self.config.ping_interval = every;
        self
    }

    /// How long the HTTP request head may take to arrive. Default 10 s.
    pub fn head_timeout(mut self, timeout: Duration) -> Server {
        self.config.head_timeout = timeout;
        self
    }

    /// The largest HTTP request head accepted; bigger ones get `431`.
    /// Default 16 KiB.
    pub fn max_head_size(mut self, bytes: usize) -> Server {
        self.config.max_head_size = bytes;
        self
    }

    /// How long a client's output may stay blocked (it does not read)
    /// before the connection is dropped. Default 30 s.
    pub fn write_timeout(mut self, timeout: Duration) -> Server {
        self.config.write_timeout = timeout;
        self
    }

    /// How long to wait for the peer's close frame after sending ours, at
    /// shutdown too. Default 5 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Server {
        self.config.close_timeout = timeout;
        self
    }

    /// Allows WebSocket requests from a browser page at `origin` (e.g.
    /// `https://example.org`) besides the server's own; `*` allows every
    /// origin. By default only pages from this server, and clients that
    /// send no `Origin` (non-browser tools), may connect.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Server {
        let origin = origin.into();
        if origin == "*" {
            self.config.origins.any = true;
        } else {
            self.config.origins.allowed.push(origin);
        }
        self
    }

    /// The subprotocols this server speaks, for handlers that pick none
    /// themselves: a client offering some gets the first it offers (it
    /// lists them by preference) that is in `names`, named in the 101 and
    /// in [`Client::protocol`](crate::Client::protocol). A client offering
    /// none is served as before. Replaces any earlier list. Default: none.
    ///
    /// ```
    /// # use tungstenite::client::IntoClientRequest;
    /// let running = wshub::Server::new("127.0.0.1:0")
    ///     .protocols(["chat.v2", "chat.v1"])
    ///     .start(|_: &wshub::Client, _: wshub::Message| {})?;
    /// # let mut request = format!("ws://{}/ws", running.local_addr()).into_client_request().unwrap();
    /// # let offer = "mqtt, chat.v1, chat.v2".parse().unwrap();
    /// # request.headers_mut().insert("Sec-WebSocket-Protocol", offer);
    /// # let (_ws, response) = tungstenite::connect(request).unwrap();
    /// // A client offering "mqtt, chat.v1, chat.v2" gets chat.v1: its order decides.
    /// assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "chat.v1");
    /// # Ok::<(), wshub::Error>(())
    /// ```
    pub fn protocols<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Server {
        self.config.protocols = names.into_iter().map(Into::into).collect();
        self
    }

    /// The stack size of each connection thread, where handlers run.
    /// Default 128 KiB.
    pub fn stack_size(mut self, bytes: usize) -> Server {
        self.config.stack_size = bytes;
        self
    }

    /// Prints every handshake and frame on standard output, explained for
    /// a class (see docs/handshake.md). Default off, and free when off.
    pub fn explain(mut self, on: bool) -> Server {
        self.config.explain = on;
        self
    }

    /// Serves https:// and wss:// on this port, with the certificate
    /// chain and private key in these PEM files (read at
    /// [`start`](Server::start), which fails with [`Error::Tls`] and a
    /// line that names the file if either cannot be used).
    ///
    /// ```no_run
    /// let server = wshub::Server::new("0.0.0.0:8443")
    ///     .tls("/etc/wshub/cert.pem", "/etc/wshub/key.pem");
    /// # let _ = server;
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Server {
        self.config.tls = Some(crate::tls::TlsConfig {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Binds the address and starts serving in background threads. Returns
    /// once the server is listening.
    pub fn start(self, handler: impl Handler) -> Result<Running> {
        let config = self.config;
        if !config.ws_path.starts_with('/') {
            return Err(Error::Config(format!(
                "the WebSocket path {:?} must start with /",
                config.ws_path
            )));
        }
        if config.queue_size == 0 || config.max_connections == 0 {
            return Err(Error::Config(
                "queue size and connection limit must be at least 1".into(),
            ));
        }
        if config.max_message_size > config.memory_budget / 2 {
            return Err(Error::Config(format!(
                "the memory budget ({}) must hold two of the largest messages (2 x {}): one as it is read, one as it is sent; raise it with --memory, or lower --max-message",
                human(config.memory_budget),
                human(config.max_message_size)
            )));
        }
        if let Some(bad) = config.protocols.iter().find(|p| !is_token(p)) {
            return Err(Error::Config(format!(
                "{bad:?} is not a valid subprotocol name: RFC 6455 allows printable ASCII without spaces or separators such as , / ; = ( )"
            )));
        }
        let www = match &config.www {
            Some(Page::Dir(dir)) => match dir.canonicalize() {
                Ok(real) if real.is_dir() => Some(Page::Dir(real)),
                _ => return Err(Error::WwwMissing(dir.clone())),
            },
            other => other.clone(),
        };
        #[cfg(feature = "tls")]
        let tls = match &config.tls {
            Some(files) => Some(files.load()?),
            None => None,
        };
        let listener = TcpListener::bind(&config.addr).map_err(|source| Error::Bind {
            addr: config.addr.clone(),
            source,
        })?;
        let local_addr = listener.local_addr()?;

        let limits = hub::Limits {
            queue: config.queue_size,
            queue_bytes: config.queue_bytes,
            write_timeout: config.write_timeout,
            close_timeout: config.close_timeout,
            ping_interval: config.ping_interval,
        };
        let budget = Budget::new(config.memory_budget);
        let (hub, hub_thread) = hub::start(limits, 4096, budget)?;
        let stop = Arc::new(Stop::new()?);
        let shared = Arc::new(Shared {
            config,
            www,
            handler: Box::new(handler),
            hub: hub.clone(),
            live: AtomicUsize::new(0),
            #[cfg(feature = "tls")]
            tls,
        });
        let listener_thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("wshub-listener".into())
                .spawn(move || listener::run(listener, shared, stop))?
        };
        Ok(Running {
            local_addr,
            hub,
            stop,
            threads: Some((listener_thread, hub_thread)),
        })
    }

    /// Binds the address and serves in this thread, for good. Use
    /// [`start`](Server::start) to keep control: to learn the port, send
    /// from elsewhere, or stop.
    pub fn run(self, handler: impl Handler) -> Result<()> {
        let running = self.start(handler)?;
        running.wait();
        Ok(())
    }
}

/// A size for people: `64 MiB`, `512 KiB`, `100 bytes`.
fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A started server. Dropping it shuts the server down gracefully.
pub struct Running {
    local_addr: SocketAddr,
    hub: Hub,
    stop: Arc<Stop>,
    threads: Option<(JoinHandle<Remaining>, JoinHandle<usize>)>,
}

impl Running {
    /// The address the server listens on (the real port, if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to send to clients from any thread.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// A handle that stops this server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
        }
    }

    /// Stops accepting, closes every client with 1001 (going away), waits
    /// a bounded time for the closing handshakes, and joins every thread.
    /// Returns how many WebSocket clients were closed.
    pub fn shutdown(mut self) -> usize {
        self.stop.request();
        self.finish()
    }

    /// Blocks until another thread stops the server through a
    /// [`ShutdownHandle`], then finishes the shutdown like
    /// [`shutdown`](Running::shutdown).
    pub fn wait(mut self) -> usize {
        self.finish()
    }

    fn finish(&mut self) -> usize {
        let Some((listener, hub_thread)) = self.threads.take() else {
            return 0;
        };
        let remaining = listener.join().ok();
        let _ = self.hub.post(Event::Shutdown);
        if let Some(remaining) = remaining {
            remaining.join_all();
        }
        let closed = hub_thread.join().unwrap_or(0);
        info!(
            "server on {} stopped; {closed} client(s) closed",
            self.local_addr
        );
        closed
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.request();
        self.finish();
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Stops a running server from any thread; clonable.
#[derive(Clone)]
pub struct ShutdownHandle {
    stop: Arc<Stop>,
}

impl ShutdownHandle {
    /// Asks the server to stop. Returns at once; the thread blocked in
    /// [`Running::wait`] completes the shutdown.
    pub fn shutdown(&self) {
        self.stop.request();
    }
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}
