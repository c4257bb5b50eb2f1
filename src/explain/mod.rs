//! `--explain`: the handshake and every frame of every connection, in
//! plain words as they really are on the wire, for a class to follow: on
//! the terminal, for a projector, and in the wire view of the student's
//! own page.
//!
//! Incoming bytes are decoded from what the socket delivered (see
//! `connection::Wire`); outgoing frames from the exact bytes the hub
//! queues for the socket. Nothing is re-derived from decoded messages.
//! When `--explain` is off none of this runs: every hook is behind an
//! `Option` that is `None`, and no view is offered.
//!
//! # The wire view
//!
//! Browser tools show a WebSocket's messages, never its bytes. The page
//! (`www/wire.js`) can show a student their own connection's handshake and
//! frames, live, as the server saw them. Two problems shape the design:
//! the page cannot read the 101's headers, so it cannot learn which
//! connection number is its own; and whatever the terminal shows is
//! public. So the page makes a random secret, opens a second socket, the
//! view, at `/wshub-wire?wire=SECRET` first, then its main connection with
//! the same `wire=SECRET` in its URL. The server links the two (`views`),
//! and the main connection's steps go, as JSON notes (`note`), to the
//! view as well as to the terminal (`terminal`). The secret is never
//! shown, nor are cookie and authorization values (`redact`).
//!
//! The view is a WebSocket like any other to the hub: its notes are frames
//! queued for it, bounded by the same per-client limits and memory budget,
//! so a slow viewer is closed as too slow and never holds up the
//! connection it watches. The view is not the handler's client (no chat
//! member, no echo), and is not itself explained.
//!
//! The parts: `decode` reads frames from the bytes as they pass;
//! `terminal` and `note` show each step; `views` links views and
//! connections; `redact` hides what must not be shown.

mod decode;
mod note;
mod redact;
mod terminal;
mod views;

pub(crate) use decode::Decoder;
pub(crate) use redact::head as redacted_head;
pub use terminal::accept_steps;
pub(crate) use views::{PATH as VIEW_PATH, Views, secret as view_secret};

use std::sync::OnceLock;
use std::sync::atomic::AtomicU8;

use crate::handshake::Accept;
use crate::http::Request;
use crate::hub::{ClientId, Hub};

/// Which side sent a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// Who sees a connection's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The terminal only.
    Terminal,
    /// The terminal, and the view on this connection `ClientId`.
    Watched(ClientId),
    /// Nobody: this is a view's own connection.
    Quiet,
}

/// One connection's shared explain state.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    /// Who sent the first close frame: 0 nobody yet, 1 the client, 2 the
    /// server. Both directions' decoders race to set it.
    first_close: AtomicU8,
    /// Set once by the connection's thread when its request head is read,
    /// before any frame is decoded.
    audience: OnceLock<Audience>,
}

impl Conn {
    /// Who sees this connection, from its request: a view's own socket
    /// is quiet, a connection naming an open view's secret is watched.
    pub(crate) fn set_audience(&self, request: &Request, views: &Views) {
        let audience = if request.path() == VIEW_PATH {
            Audience::Quiet
        } else {
            views::secret(request)
                .and_then(|s| views.find(&s))
                .map_or(Audience::Terminal, Audience::Watched)
        };
        let _ = self.audience.set(audience);
    }

    fn audience(&self) -> Audience {
        self.audience.get().copied().unwrap_or(Audience::Terminal)
    }

    /// Shows a step made on a connection's own thread: `text` on the
    /// terminal, and `note` sent to the view, if one watches.
    fn show(&self, hub: &Hub, text: impl FnOnce(), note: impl FnOnce() -> String) {
        match self.audience() {
            Audience::Quiet => {}
            Audience::Terminal => text(),
            Audience::Watched(view) => {
                text();
                // Dropped if the view is gone, or too slow and closed.
                let _ = hub.send(view, note());
            }
        }
    }
}

/// Step 1: the request head as received, hidden values replaced.
pub(crate) fn request(id: ClientId, conn: &Conn, raw: &[u8], hub: &Hub) {
    let lines = redact::head_lines(raw);
    conn.show(
        hub,
        || terminal::request(id, &lines),
        || note::request(id, &lines),
    );
}

/// Step 2: the accept computation, with the real key.
pub(crate) fn accept(id: ClientId, conn: &Conn, key: &str, hub: &Hub) {
    let a = Accept::compute(key);
    conn.show(hub, || terminal::accept(id, &a), || note::accept(id, &a));
}

/// Step 3 (or an HTTP answer): a response head exactly as sent.
pub(crate) fn response(id: ClientId, conn: &Conn, raw: &[u8], hub: &Hub) {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    conn.show(
        hub,
        || terminal::response(id, head),
        || note::response(id, head),
    );
}

/// Why a request line is there, if it is one of the headers that make a
/// request a WebSocket request.
fn why_header(line: &str) -> Option<&'static str> {
    let (name, _) = line.split_once(':')?;
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "upgrade" => "asks to switch from HTTP to the websocket protocol",
        "connection" => "must include Upgrade",
        "sec-websocket-key" => "a random 16-byte nonce in base64; the server must prove it read it",
        "sec-websocket-version" => "must be 13 (RFC 6455)",
        "sec-websocket-protocol" => {
            "subprotocols the client speaks, by preference; the 101 names the one chosen, if any"
        }
        "origin" => "the page's origin: the server checks it against the Host",
        _ => return None,
    })
}
