//! One connection's thread: read the HTTP head, then either answer it
//! (static file or error) or complete the WebSocket handshake and read
//! frames until the connection ends.
//!
//! After the handshake this thread only ever reads. What it must send
//! (handler replies, and the pongs and close replies tungstenite writes from
//! inside `read()`) goes to the hub, the socket's one writer; see `hub`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use log::{debug, info, warn};
use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::{Bytes, Message as WsMessage};

use crate::error::Error;
use crate::frame::{self, Opcode};
use crate::handler::{Client, CloseInfo, Message};
use crate::http::{self, HeadError, Request};
use crate::hub::{ClientId, Event};
use crate::server::Shared;
use crate::{explain, files, handshake};

/// Serves one accepted connection to the end.
pub(crate) fn serve(
    id: ClientId,
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    explain: Option<Arc<explain::Conn>>,
) {
    let cfg = &shared.config;
    let (request, rest) = match http::read_head(&stream, peer, cfg.max_head_size, cfg.head_timeout)
    {
        Ok(head) => head,
        Err(e) => {
            let (status, text) = match e {
                HeadError::Silent => return,
                HeadError::TooSlow => (408, "the request head took too long".to_string()),
                HeadError::TooLarge => (431, "the request head is too large".to_string()),
                HeadError::Malformed(why) => (400, why),
            };
            debug!("#{id} {peer}: {status} {text}");
            answer(
                &stream,
                &http::error_response(status, "", &text, false),
                shared,
            );
            return;
        }
    };
    debug!(
        "#{id} {peer}: request head:\n{}",
        String::from_utf8_lossy(&request.raw).trim_end()
    );
    if explain.is_some() {
        explain::request(id, &request.raw);
    }
    match route(id, &request, shared) {
        Route::Answer(status, bytes) => {
            debug!(
                "#{id} {peer}: {} {} -> {status}",
                request.method(),
                request.path()
            );
            if explain.is_some() {
                explain::response(id, &bytes);
            }
            answer(&stream, &bytes, shared);
        }
        Route::Upgrade(key) => {
            let response = handshake::response(&key);
            debug!(
                "#{id} {peer}: response head:\n{}",
                String::from_utf8_lossy(&response).trim_end()
            );
            if explain.is_some() {
                explain::accept(id, &key);
                explain::response(id, &response);
            }
            // From `Upgrading` the hub holds what others send to this
            // client, and writes nothing until `Opened`: this thread is the
            // socket's only writer until then, so the 101 goes straight out.
            if shared.hub.post(Event::Upgrading { id }).is_ok()
                && (&*stream).write_all(&response).is_ok()
            {
                let decoder = explain.map(|c| explain::Decoder::new(id, explain::Side::Client, c));
                websocket(id, stream, request, rest, shared, decoder);
            }
        }
    }
}

/// What to do with a request.
enum Route {
    /// Send this whole HTTP response (status, bytes) and close.
    Answer(u16, Vec<u8>),
    /// Complete the WebSocket handshake for this key.
    Upgrade(String),
}

/// Decides a request: an upgrade on the WebSocket path that passes every
/// check becomes a WebSocket; anything else gets an HTTP answer.
fn route(id: ClientId, request: &Request, shared: &Shared) -> Route {
    let cfg = &shared.config;
    let on_ws_path = request.path() == cfg.ws_path;
    let head_only = request.method() == "HEAD";
    let error = |status: u16, extra: &str, text: &str| {
        Route::Answer(status, http::error_response(status, extra, text, head_only))
    };
    if handshake::is_upgrade(request) {
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
                info!(
                    "#{id} {}: handshake refused: {} {}",
                    request.peer(),
                    r.status,
                    r.reason
                );
                return error(r.status, r.extra, &r.reason);
            }
        };
        return match catch_unwind(AssertUnwindSafe(|| shared.handler.on_handshake(request))) {
            Ok(Ok(())) => Route::Upgrade(key),
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
    if on_ws_path {
        let host = request.header("Host").unwrap_or("this-server");
        let text = format!(
            "this is a WebSocket endpoint: connect with ws://{host}{}",
            cfg.ws_path
        );
        return error(426, "Upgrade: websocket\r\n", &text);
    }
    match &shared.www {
        Some(root) => {
            let (status, bytes) = files::respond(root, request.path(), head_only);
            Route::Answer(status, bytes)
        }
        None => error(404, "", "no such file"),
    }
}

/// Sends a whole HTTP response, then lets the client close first, so the
/// response is not lost to a reset (a close with unread input sends RST).
fn answer(stream: &TcpStream, bytes: &[u8], shared: &Shared) {
    http::send(stream, bytes, shared.config.head_timeout);
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

/// The socket as tungstenite sees it: reads come from the network; writes
/// (its pongs and close replies) are collected and handed to the hub.
struct Wire {
    id: ClientId,
    stream: Arc<TcpStream>,
    shared: Arc<Shared>,
    replies: Vec<u8>,
    /// Bytes were read since the connection loop last looked.
    got_bytes: bool,
    /// `--explain`: prints each incoming frame as its bytes arrive.
    explain: Option<explain::Decoder>,
}

impl Wire {
    /// Hands collected replies to the hub, which writes them in order with
    /// everything else for this client.
    fn forward(&mut self) {
        if !self.replies.is_empty() {
            let wire = Bytes::from(std::mem::take(&mut self.replies));
            let closes = frame::contains_close(&wire);
            let _ = self.shared.hub.post(Event::Send {
                to: self.id,
                frame: wire,
                closes,
            });
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A pong owed for a ping must go out before this thread sleeps.
        self.forward();
        let n = (&*self.stream).read(buf)?;
        self.got_bytes |= n > 0;
        if let Some(d) = self.explain.as_mut() {
            d.feed(&buf[..n]);
        }
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.replies.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads frames until the connection ends, handing messages to the handler.
fn websocket(
    id: ClientId,
    stream: Arc<TcpStream>,
    request: Request,
    rest: Vec<u8>,
    shared: &Arc<Shared>,
    mut explain: Option<explain::Decoder>,
) {
    let cfg = &shared.config;
    let peer = request.peer();
    let started = Instant::now();
    // The keepalive interval is the only read timeout: an idle client costs
    // one wake-up per interval, to send it a ping.
    let _ = stream.set_read_timeout(Some(cfg.ping_interval));
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(cfg.read_buffer_size)
        // Writes only collect tungstenite's small replies; see `Wire`.
        .write_buffer_size(0)
        .max_message_size(Some(cfg.max_message_size))
        // One frame can never be bigger than the message it carries, so a
        // too-large frame is refused from its header, before any payload
        // is buffered.
        .max_frame_size(Some(cfg.max_message_size));
    if let Some(d) = explain.as_mut() {
        // Frames the client sent right behind its request head.
        d.feed(&rest);
    }
    let wire = Wire {
        id,
        stream,
        shared: shared.clone(),
        replies: Vec::new(),
        got_bytes: false,
        explain,
    };
    let mut ws = WebSocket::from_partially_read(wire, rest, Role::Server, Some(ws_config));

    let handler = &*shared.handler;
    let client = Client::new(id, peer, shared.hub.clone());
    info!("#{id} {peer}: WebSocket open ({})", request.path());
    let opened = catch_unwind(AssertUnwindSafe(|| handler.on_open(&client, &request)));
    let early = client.take_early();
    // Headers are not needed past on_open; an idle connection keeps only
    // what it must.
    drop(request);
    if shared.hub.post(Event::Opened { id, early }).is_err() {
        return;
    }
    let mut ended: Option<CloseInfo> = None;
    if opened.is_err() {
        ended = Some(fail(&client, 1011, "internal error"));
    }

    let mut awaiting_pong = false;
    while ended.is_none() {
        let result = ws.read();
        let wire = ws.get_mut();
        wire.forward();
        // Any byte from the peer, a pong or anything else, shows it is alive.
        if std::mem::take(&mut wire.got_bytes) {
            awaiting_pong = false;
        }
        match result {
            Ok(WsMessage::Text(text)) => ended = dispatch(handler, &client, Message::Text(text)),
            Ok(WsMessage::Binary(data)) => {
                ended = dispatch(handler, &client, Message::Binary(data))
            }
            Ok(WsMessage::Close(frame)) => {
                // tungstenite has queued the reply, echoing the code: "the
                // endpoint MUST send a Close frame in response ... typically
                // echoing the status code it received". The next read
                // forwards it and reports the end.
                let (code, reason) = match frame {
                    Some(f) => (u16::from(f.code), f.reason.to_string()),
                    // "If this Close control frame contains no status code,
                    // _The WebSocket Connection Close Code_ is considered to be 1005."
                    None => (1005, String::new()),
                };
                ended = Some(CloseInfo { code, reason });
                finish_closing(&mut ws);
            }
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_)) => {}
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                ended = Some(CloseInfo {
                    code: 1006,
                    reason: String::new(),
                });
            }
            Err(WsError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // A whole interval of silence: ping, and if a second one
                // passes without a byte, the peer is gone.
                if awaiting_pong {
                    debug!("#{id} {peer}: no answer to ping");
                    ended = Some(fail(&client, 1001, "no answer to ping"));
                } else {
                    let _ = shared
                        .hub
                        .send_frame(id, frame::encode(Opcode::Ping, b""), false);
                    awaiting_pong = true;
                }
                continue;
            }
            Err(e) => ended = Some(protocol_failure(handler, &client, e)),
        }
    }
    // The last reply (a close, say) goes to the hub; `Left` follows when
    // this thread ends, however it ends (see `listener::Finished`).
    ws.get_mut().forward();

    let close = ended.unwrap_or(CloseInfo {
        code: 1006,
        reason: String::new(),
    });
    info!(
        "#{id} {peer}: WebSocket closed after {:.1?}, code {}{}{}",
        started.elapsed(),
        close.code,
        if close.reason.is_empty() { "" } else { " " },
        close.reason
    );
    if catch_unwind(AssertUnwindSafe(|| handler.on_close(&client, &close))).is_err() {
        warn!("#{id} {peer}: handler panicked in on_close");
    }
}

/// Runs the handler on one message; a panic closes this client with 1011.
fn dispatch(handler: &dyn crate::Handler, client: &Client, msg: Message) -> Option<CloseInfo> {
    match catch_unwind(AssertUnwindSafe(|| handler.on_message(client, msg))) {
        Ok(()) => None,
        Err(_) => {
            warn!(
                "#{} {}: handler panicked; closing with 1011",
                client.id(),
                client.peer()
            );
            // "1011 indicates that a server is terminating the connection
            // because it encountered an unexpected condition that prevented
            // it from fulfilling the request."
            Some(fail(client, 1011, "internal error"))
        }
    }
}

/// After a client's close frame, lets tungstenite flush its reply.
fn finish_closing(ws: &mut WebSocket<Wire>) {
    // The server state is "closed by peer": this read writes the reply
    // and returns ConnectionClosed without touching the socket.
    let _ = ws.read();
    ws.get_mut().forward();
}

/// Maps a read error to the close code RFC 6455 asks for, sends the close
/// frame through the hub, and tells the handler.
fn protocol_failure(handler: &dyn crate::Handler, client: &Client, e: WsError) -> CloseInfo {
    let (code, reason) = match &e {
        // "1009 indicates that an endpoint is terminating the connection
        // because it has received a message that is too big for it to process."
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => (1009, "message too big"),
        // "1007 indicates that an endpoint is terminating the connection
        // because it has received data within a message that was not
        // consistent with the type of the message (e.g., non-UTF-8 data
        // within a text message)."
        WsError::Utf8(_) => (1007, "invalid UTF-8"),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            return CloseInfo {
                code: 1006,
                reason: String::new(),
            };
        }
        // "1002 indicates that an endpoint is terminating the connection due
        // to a protocol error."
        WsError::Protocol(_) => (1002, "protocol error"),
        WsError::Io(_) => {
            return CloseInfo {
                code: 1006,
                reason: String::new(),
            };
        }
        _ => (1011, "internal error"),
    };
    debug!(
        "#{} {}: {e}; closing with {code}",
        client.id(),
        client.peer()
    );
    let err = Error::WebSocket(e);
    if catch_unwind(AssertUnwindSafe(|| handler.on_error(client, &err))).is_err() {
        warn!(
            "#{} {}: handler panicked in on_error",
            client.id(),
            client.peer()
        );
    }
    fail(client, code, reason)
}

/// _Fail the WebSocket Connection_: send a close frame, then stop reading.
/// The hub writes it and closes the TCP connection.
fn fail(client: &Client, code: u16, reason: &str) -> CloseInfo {
    let _ = client.hub().close(client.id(), code, reason);
    CloseInfo {
        code,
        reason: reason.to_string(),
    }
}
