//! # wshub
//!
//! A small synchronous WebSocket server (RFC 6455) to embed in a plain
//! program: no async runtime, one thread per connection, one hub thread
//! that owns the client list and writes every socket, and a built-in
//! static file responder on the same port.
//!
//! ```
//! use std::net::TcpStream;
//! use wshub::{Client, Message, Server};
//!
//! // An echo server on a free port, in background threads.
//! let running = Server::new("127.0.0.1:0").start(|client: &Client, msg: Message| {
//!     let _ = client.send(msg);
//! })?;
//!
//! // Any WebSocket client can talk to it; here, tungstenite's.
//! let url = format!("ws://{}/ws", running.local_addr());
//! let (mut ws, _) = tungstenite::connect(url).expect("connect");
//! ws.send("hello".into()).expect("send");
//! assert_eq!(ws.read().expect("read").into_text().expect("text"), "hello");
//!
//! // Push to every client from any thread through the hub.
//! running.hub().broadcast("news for everyone")?;
//! assert_eq!(ws.read().expect("read").into_text().expect("text"), "news for everyone");
//!
//! // The client says goodbye; the server answers and closes the TCP connection.
//! ws.close(None).expect("close");
//! while ws.read().is_ok() {}
//!
//! // Stop: any client still open gets 1001 (going away); every thread is joined.
//! assert_eq!(running.shutdown(), 0);
//! # Ok::<(), wshub::Error>(())
//! ```
//!
//! For per-connection events (open, close, errors, refusing a handshake)
//! implement [`Handler`]. The binary's modes are handlers in [`modes`].
//!
//! The modules, in the order a connection meets them: `listener` accepts,
//! `connection` reads the head with `http` and either serves the `page`
//! (from `files` of a directory, or built in) or completes the
//! `handshake`, then reads frames; `hub` writes them out, encoded by
//! `frame`.

#![warn(missing_docs)]
// Only `sys::memory` may allow it, for the calls no safe wrapper covers.
#![deny(unsafe_code)]

mod budget;
mod config;
mod connection;
mod error;
mod explain;
mod files;
mod frame;
mod handler;
mod handshake;
mod http;
mod hub;
pub mod json;
mod listener;
mod metrics;
pub mod modes;
#[cfg(feature = "redis")]
mod nodes;
mod page;
mod server;
mod subprotocol;
mod sys;
#[cfg(feature = "tls")]
mod tls;

pub use budget::{Reserved, SMALL};
pub use error::{Error, Result};
pub use explain::accept_steps;
pub use handler::{Accepted, Client, CloseInfo, Handler, Message, Refusal};
pub use handshake::{Accept, GUID, accept_key};
pub use http::Request;
pub use hub::{ClientId, Hub};
pub use server::{Running, Server, ShutdownHandle};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
pub use tungstenite::{Bytes, Utf8Bytes};

/// For the `wshub` binary, which has no `unsafe` of its own; not part of
/// the API.
#[doc(hidden)]
pub use sys::tune_allocator;

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};

    /// Parses a request head as the server does; true if it was complete
    /// and valid.
    pub fn parse_head(bytes: &[u8]) -> bool {
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        matches!(crate::http::parse_head(bytes, peer, 16 * 1024), Ok(Some(_)))
    }

    /// Maps a request path to a file under `root`, as the server does.
    pub fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
        crate::files::resolve(root, path)
    }
}

/// The README's code blocks, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
