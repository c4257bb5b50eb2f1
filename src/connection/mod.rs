//! One connection's thread: read the HTTP head, then either answer it
//! (static file or error) or complete the WebSocket handshake and read
//! frames until the connection ends.
//!
//! After the handshake this thread reads; what it must send (handler
//! replies, and the pongs and close replies tungstenite writes from inside
//! `read()`) it writes itself when its socket owes nothing else, and hands
//! to the hub otherwise: a socket has one writer at a time; see `hub`.
//!
//! The parts, in the order a connection meets them: this module reads the
//! head and routes it; `websocket` runs the frame loop; `wire` is the socket
//! as tungstenite sees it; `gate` is the part of it that keeps a large
//! message from being buffered before the memory budget has room for it.

mod gate;
mod origin;
mod websocket;
mod wire;

pub(crate) use websocket::Open;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use log::{debug, info, warn};

use crate::http::{self, HeadError, Request};
use crate::hub::{ClientId, Event, Socket};
use crate::server::Shared;
use crate::{explain, handshake, metrics, page, subprotocol};

/// Serves one accepted connection: answers it, or opens a WebSocket and
/// returns it, for the thread to run its frame loop from the top of its
/// stack (see [`Open`]).
// Never inlined: its frame, large with the head and the handshake, must be
// gone before the frame loop starts.
#[inline(never)]
pub(crate) fn serve(
    id: ClientId,
    socket: Arc<Socket>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    explain: Option<Arc<explain::Conn>>,
) -> Option<Open> {
    // Asked first, while the thread is young: the few bytes the system
    // allocates for the answer are then reused by what follows.
    let stack = crate::sys::Stack::current();
    let stream = &socket.stream;
    let cfg = &shared.config;
    // The head's deadline covers a TLS handshake too: a client that stalls
    // in either cannot hold this thread.
    let deadline = Instant::now() + cfg.head_timeout;
    #[cfg(feature = "tls")]
    if let Some(tls) = &socket.tls {
        match tls.handshake(stream, deadline) {
            crate::tls::Start::Tls => {}
            crate::tls::Start::PlainHttp => {
                plain_http_to_tls_port(id, stream, peer, shared, deadline);
                return None;
            }
            crate::tls::Start::Failed(why) => {
                debug!("#{id} {peer}: {why}");
                return None;
            }
        }
    }
    let read = |buf: &mut [u8]| socket.read(buf, Some(deadline));
    let (request, rest) = match http::read_head(stream, read, peer, cfg.max_head_size, deadline) {
        Ok(head) => head,
        Err(e) => {
            let (status, text) = match e {
                HeadError::Silent => return None,
                HeadError::TooSlow => (408, "the request head took too long".to_string()),
                HeadError::TooLarge => (431, "the request head is too large".to_string()),
                HeadError::Malformed(why) => (400, why),
            };
            debug!("#{id} {peer}: {status} {text}");
            answer(
                &socket,
                &http::error_response(status, "", &text, false),
                shared,
            );
            return None;
        }
    };
    debug!(
        "#{id} {peer}: request head:\n{}",
        explain::redacted_head(&request.raw)
    );
    let hub = &shared.hub;
    if let (Some(conn), Some(views)) = (&explain, &shared.views) {
        conn.set_audience(&request, views);
        explain::request(id, conn, &request.raw, hub);
    }
    // Mutable from here: the handshake records the chosen subprotocol on it.
    let mut request = request;
    match route(id, &mut request, shared) {
        Route::Answer(status, bytes) => {
            debug!(
                "#{id} {peer}: {} {} -> {status}",
                request.method(),
                request.path()
            );
            if let Some(conn) = &explain {
                explain::response(id, conn, &bytes, hub);
            }
            answer(&socket, &bytes, shared);
        }
        Route::Upgrade(key, topics, view) => {
            let response = handshake::response(&key, request.protocol());
            debug!(
                "#{id} {peer}: response head:\n{}",
                String::from_utf8_lossy(&response).trim_end()
            );
            if let Some(conn) = &explain {
                explain::accept(id, conn, &key, hub);
                explain::response(id, conn, &response, hub);
            }
            // From `Upgrading` the hub holds what others send to this
            // client, and writes nothing until `Opened`: this thread is the
            // socket's only writer until then, so the 101 goes straight out.
            // Quietly: the hub needs it only once woken to send this client
            // something, and the channel's order applies it first.
            // A peer that does not read cannot hold the thread here either.
            let _ = stream.set_write_timeout(Some(cfg.head_timeout));
            if shared
                .hub
                .post_quietly(Event::Upgrading { id, topics })
                .is_ok()
                && socket.write_all(&response).is_ok()
            {
                let decoder =
                    explain.map(|c| Box::new(explain::Decoder::new(id, explain::Side::Client, c)));
                let opening = websocket::Opening {
                    explain: decoder,
                    stack,
                    view,
                };
                return websocket::open(id, socket, request, rest, shared, opening);
            }
        }
    }
    None
}

/// What to do with a request.
enum Route {
    /// Send this whole HTTP response (status, bytes) and close.
    Answer(u16, Vec<u8>),
    /// Complete the WebSocket handshake for this key, subscribing the
    /// client to these topics first; `true` for a wire view's socket.
    Upgrade(String, Vec<Arc<str>>, bool),
}

/// Decides a request: an upgrade on the WebSocket path that passes every
/// check becomes a WebSocket; anything else gets an HTTP answer.
fn route(id: ClientId, request: &mut Request, shared: &Shared) -> Route {
    let cfg = &shared.config;
    let on_ws_path = request.path() == cfg.ws_path;
    let head_only = request.method() == "HEAD";
    let error = |status: u16, extra: &str, text: &str| {
        Route::Answer(status, http::error_response(status, extra, text, head_only))
    };
    if handshake::is_upgrade(request) {
        if let Some(views) = &shared.views
            && request.path() == explain::VIEW_PATH
        {
            return match view(id, request, views, &cfg.origins) {
                Ok(key) => Route::Upgrade(key, Vec::new(), true),
                Err(r) => error(r.status, r.extra, &r.reason),
            };
        }
        if !on_ws_path {
            return error(
                404,
                "",
                &format!("no WebSocket endpoint here; it is at {}", cfg.ws_path),
            );
        }
        let key = match handshake::check(request, &cfg.origins) {
            Ok(key) => key,
            Err(r) => {
                let refused_origin = request
                    .header("Origin")
                    .filter(|o| r.status == 403 && !cfg.origins.allows(o, request.header("Host")));
                let why = refused_origin.map_or_else(|| r.reason.clone(), origin::refusal);
                info!(
                    "#{id} {}: handshake refused: {} {why}",
                    request.peer(),
                    r.status,
                );
                return error(r.status, r.extra, &r.reason);
            }
        };
        return match catch_unwind(AssertUnwindSafe(|| shared.handler.on_handshake(request))) {
            Ok(Ok(accepted)) => {
                let picked = accepted.protocol.as_deref();
                match subprotocol::settle(id, request, picked, &cfg.protocols) {
                    Ok(()) => Route::Upgrade(
                        key,
                        accepted.topics.into_iter().map(Into::into).collect(),
                        false,
                    ),
                    Err(r) => error(r.status, r.extra, &r.reason),
                }
            }
            Ok(Err(refusal)) => {
                info!(
                    "#{id} {}: refused by the handler: {} {}",
                    request.peer(),
                    refusal.status,
                    refusal.reason
                );
                let status = if (400..600).contains(&refusal.status) {
                    refusal.status
                } else {
                    403
                };
                error(status, "", &refusal.reason)
            }
            Err(_) => {
                warn!("#{id} {}: handler panicked in on_handshake", request.peer());
                error(500, "", "internal error")
            }
        };
    }
    if !matches!(request.method(), "GET" | "HEAD") {
        return error(
            405,
            "Allow: GET, HEAD\r\n",
            "only GET and HEAD are served here",
        );
    }
    // Only here, past the upgrade check: a WebSocket request is never
    // answered with metrics, even if the endpoint shares the path.
    if cfg.metrics && request.path() == metrics::PATH {
        let hub = &shared.hub;
        return Route::Answer(200, metrics::respond(hub, head_only));
    }
    if let Some(page) = &shared.www {
        if request.path() == page::SETTINGS_PATH {
            return Route::Answer(200, page::settings(cfg, head_only));
        }
        // Only the upgrade headers set a WebSocket apart from a page
        // request, so the endpoint may share its path with a file (`/`).
        if let Some(bytes) = page.respond(request.path(), head_only) {
            return Route::Answer(200, bytes);
        }
    }
    if on_ws_path {
        let host = request.header("Host").unwrap_or("this-server");
        let scheme = if shared.tls_port() { "wss" } else { "ws" };
        let text = format!(
            "this is a WebSocket endpoint: connect with {scheme}://{host}{}",
            cfg.ws_path
        );
        return error(426, "Upgrade: websocket\r\n", &text);
    }
    error(404, "", "no such file")
}

/// Checks a wire view's upgrade and claims its secret (see `explain`),
/// before its 101 is sent: the page opens its main connection as soon as
/// the view is open, and the server must know the secret by then.
fn view(
    id: ClientId,
    request: &Request,
    views: &explain::Views,
    origins: &crate::config::Origins,
) -> Result<String, handshake::Refused> {
    // The same checks as the endpoint's: a page of another origin may
    // not open a view either.
    let key = handshake::check(request, origins)?;
    let refused = |status, reason: &str| handshake::Refused {
        status,
        extra: "",
        reason: reason.to_string(),
    };
    let secret = explain::view_secret(request).ok_or_else(|| {
        refused(
            400,
            "a wire view needs ?wire= and a secret of 32 hex digits (0-9, a-f)",
        )
    })?;
    if !views.claim(id, secret) {
        return Err(refused(
            409,
            "another wire view holds this secret; make a new one",
        ));
    }
    Ok(key)
}

/// Sends a whole HTTP response, then lets the client close first, so the
/// response is not lost to a reset (a close with unread input sends RST).
fn answer(socket: &Socket, bytes: &[u8], shared: &Shared) {
    let stream = &socket.stream;
    // Errors only mean the peer went away, which is nothing to report.
    let _ = stream.set_write_timeout(Some(shared.config.head_timeout));
    let _ = socket.write_all(bytes);
    #[cfg(feature = "tls")]
    if let Some(tls) = &socket.tls {
        tls.close_notify(stream);
    }
    linger(stream, shared);
}

/// A client spoke plain HTTP to a TLS port: it is told, in plain HTTP,
/// where to go instead.
#[cfg(feature = "tls")]
fn plain_http_to_tls_port(
    id: ClientId,
    stream: &TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    deadline: Instant,
) {
    let read = |buf: &mut [u8]| (&*stream).read(buf);
    let max = shared.config.max_head_size;
    let Ok((request, _)) = http::read_head(stream, read, peer, max, deadline) else {
        return;
    };
    let host = request.header("Host").unwrap_or("this-server");
    let (scheme, what) = if handshake::is_upgrade(&request) {
        ("wss", "WebSocket connections")
    } else {
        ("https", "pages")
    };
    let text = format!(
        "this port speaks TLS only: open {scheme}://{host}{} for {what} here",
        request.path()
    );
    info!("#{id} {peer}: plain HTTP on the TLS port, answered 400: {text}");
    let _ = stream.set_write_timeout(Some(shared.config.head_timeout));
    let answer = http::error_response(400, "", &text, false);
    let _ = std::io::Write::write_all(&mut &*stream, &answer);
    linger(stream, shared);
}

/// Shuts the sending side and reads what the client still sends, for a
/// short while, so that the close is a FIN and not a reset.
fn linger(stream: &TcpStream, shared: &Shared) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 512];
    let _ = stream.set_read_timeout(Some(shared.config.close_timeout));
    let mut s = stream;
    let mut budget = 64 * 1024;
    while let Ok(n @ 1..) = s.read(&mut sink) {
        budget -= n.min(budget);
        if budget == 0 {
            break;
        }
    }
}
