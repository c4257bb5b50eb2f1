//! Building, starting and stopping a server.
//!
//! The modules: this one is what a server's threads share, the server and
//! its start; `settings` are the builder's setters; `running` is a started
//! server and how it stops.

mod running;
mod settings;

pub use running::{Running, ShutdownHandle};

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::budget::Budget;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::explain;
use crate::handler::Handler;
use crate::hub::{self, Hub};
use crate::listener::{self, Stop};
use crate::metrics::Metrics;
use crate::page::Page;
use crate::subprotocol::is_token;

/// What every thread of one server shares. Read-only but for `live`.
pub(crate) struct Shared {
    pub config: Config,
    /// The page, if one is served (a directory canonical).
    pub www: Option<Page>,
    pub handler: Box<dyn Handler>,
    /// With `--explain`: the wire views open now, also their sockets'
    /// handler.
    pub views: Option<explain::Views>,
    pub hub: Hub,
    /// Connections open now, to enforce `max_connections`.
    pub live: AtomicUsize,
    /// On a TLS port, what every connection's session is made from.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    /// The handler of a connection: the program's, or for a wire view's
    /// socket, the views'.
    pub(crate) fn handler(&self, view: bool) -> &dyn Handler {
        match &self.views {
            Some(views) if view => views,
            _ => &*self.handler,
        }
    }

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
        if config.explain && config.ws_path == explain::VIEW_PATH {
            return Err(Error::Config(format!(
                "with --explain, {} is the wire view's socket: choose another --ws-path",
                explain::VIEW_PATH
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
        #[cfg(feature = "redis")]
        let redis = match &config.redis {
            Some(text) => Some(crate::nodes::Address::parse(text)?),
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
        let metrics = Arc::new(Metrics::default());
        let (hub, hub_thread) = hub::start(limits, 4096, budget, metrics)?;
        let stop = Arc::new(Stop::new()?);
        #[cfg(feature = "redis")]
        let nodes = redis.map(|address| {
            let (nodes, outbox) = crate::nodes::Nodes::new(address);
            hub.set_nodes(nodes.clone());
            (nodes, outbox)
        });
        handler.on_start(&hub);
        #[cfg(feature = "redis")]
        if let Some((nodes, outbox)) = nodes
            && let Err(e) = nodes.start(outbox, &hub)
        {
            nodes.stop();
            return Err(e);
        }
        let views = config.explain.then(explain::Views::default);
        let shared = Arc::new(Shared {
            config,
            www,
            views,
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
