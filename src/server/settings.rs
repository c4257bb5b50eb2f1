//! The builder's setters: one for each setting of a [`Server`], each
//! taking the server and giving it back.

use std::path::PathBuf;
use std::time::Duration;

use super::Server;
#[cfg(doc)]
use crate::error::Error;
use crate::page::Page;

impl Server {
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
    /// a class (see docs/handshake.md), and offers each page a wire view of
    /// its own connection at `/wshub-wire`. A view's socket is the server's,
    /// not the handler's: [`Handler::on_handshake`](crate::Handler::on_handshake)
    /// is not asked about it, it never receives broadcasts, and it is fed
    /// only what the connection naming its secret sends and receives.
    /// Default off, and free when off.
    pub fn explain(mut self, on: bool) -> Server {
        self.config.explain = on;
        self
    }

    /// Serves `GET /metrics` (and `HEAD`) on this port: the server's
    /// counters in the Prometheus text format (open connections, messages
    /// and bytes in and out, clients closed as too slow, the memory budget
    /// in use). Default off: anyone who can reach the port could read them.
    /// When on, `/metrics` is answered before any file of the same name in
    /// the [`www`](Server::www) directory. An upgrade request is never
    /// answered with metrics, so the WebSocket endpoint may share the path.
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let running = wshub::Server::new("127.0.0.1:0")
    ///     .metrics(true)
    ///     .start(|_: &wshub::Client, _: wshub::Message| {})?;
    /// // What `curl http://ADDR/metrics` does.
    /// let mut http = std::net::TcpStream::connect(running.local_addr()).expect("connect");
    /// http.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
    /// let mut response = String::new();
    /// http.read_to_string(&mut response).expect("read");
    /// assert!(response.contains("\nwshub_connections_open 0\n"));
    /// # Ok::<(), wshub::Error>(())
    /// ```
    pub fn metrics(mut self, on: bool) -> Server {
        self.config.metrics = on;
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

    /// Shares this server's topics with every other server started with
    /// the same Redis (`redis://HOST:PORT` or `redis://HOST:PORT/DB`):
    /// what is published to a topic on one reaches its subscribers on all,
    /// and the chat's rooms, names, presence and history span them. The
    /// address is checked at [`start`](Server::start) ([`Error::Config`]);
    /// Redis itself need not be up yet: the server serves its own clients
    /// meanwhile and keeps trying. What the README's "Several nodes" says
    /// holds: pub/sub delivers at most once, so what is published while
    /// Redis is away reaches only this server's clients.
    ///
    /// ```no_run
    /// let server = wshub::Server::new("0.0.0.0:8080").redis("redis://10.0.0.5:6379");
    /// # let _ = server;
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(mut self, address: impl Into<String>) -> Server {
        self.config.redis = Some(address.into());
        self
    }
}
