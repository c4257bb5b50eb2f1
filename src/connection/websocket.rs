//! A WebSocket connection's frame loop: read, hand messages to the
//! handler, answer protocol errors with the close code RFC 6455 asks for.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use log::{debug, info, warn};
use tungstenite::Message as WsMessage;
use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

use super::gate::{Gate, Refused};
use super::wire::Wire;
use crate::error::Error;
use crate::explain;
use crate::handler::{Client, CloseInfo, Message};
use crate::http::Request;
use crate::hub::{ClientId, Event, Serving, Socket};
use crate::metrics::OpenGuard;
use crate::server::Shared;
use crate::sys::Stack;

/// A WebSocket connection whose handshake and `on_open` are done: what
/// its thread keeps while it reads frames.
///
/// Setting up is deep, short work (parsing the head, the accept key, log
/// lines, `on_open`); reading frames is shallow and lasts. So [`open`]
/// returns this up the stack, and the thread runs [`Open::run`] from near
/// its top: an idle thread then keeps two pages of stack rather than
/// three (measured: the blocked read sits 7,104 bytes below the top, where
/// it was 8,352 when the loop ran under the setup's frames).
pub(crate) struct Open {
    // Boxed: kept by value, it would sit in the loop's frame and push the
    // blocked read into a third page.
    ws: Box<WebSocket<Wire>>,
    client: Client,
    shared: Arc<Shared>,
    started: Instant,
    /// Set when the connection has already ended (on_open panicked).
    ended: Option<CloseInfo>,
    stack: Option<Stack>,
    /// Counts this WebSocket as open until its thread is done with it.
    open: OpenGuard,
    /// A wire view's socket: its handler is the server's `Views`, not the
    /// program's.
    view: bool,
}

/// What a WebSocket being opened brings besides its socket and request.
pub(super) struct Opening {
    /// `--explain`: decodes what the client sends.
    pub explain: Option<Box<explain::Decoder>>,
    pub stack: Option<Stack>,
    /// A wire view's socket (see `explain`).
    pub view: bool,
}

/// Completes the opening of a WebSocket whose 101 is sent: builds its
/// reader, runs `on_open`, and registers it with the hub. `None` if the
/// server is stopping.
pub(super) fn open(
    id: ClientId,
    socket: Arc<Socket>,
    request: Request,
    rest: Vec<u8>,
    shared: &Arc<Shared>,
    opening: Opening,
) -> Option<Open> {
    let Opening {
        mut explain,
        stack,
        view,
    } = opening;
    let cfg = &shared.config;
    let peer = request.peer();
    let open = shared.hub.metrics().opened();
    // No read timeout (the head's is cleared): an idle connection sleeps in
    // `read` until data comes; the hub keeps the keepalive (see
    // `hub::thread`), and ends a dead peer's connection by shutting it.
    let _ = socket.stream.set_read_timeout(None);
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(cfg.read_buffer_size)
        // Writes only collect tungstenite's small replies; see `Wire`.
        .write_buffer_size(0)
        // The gate refuses these first, from the headers; tungstenite's
        // own checks stay as a second line.
        .max_message_size(Some(cfg.max_message_size))
        .max_frame_size(Some(cfg.max_message_size));
    if let Some(d) = explain.as_mut() {
        // Frames the client sent right behind its request head.
        d.feed(&rest);
        super::wire::send_notes(&shared.hub, d.take_notes());
    }
    let wire = Wire {
        id,
        socket,
        shared: shared.clone(),
        replies: Vec::new(),
        explain,
        gate: Gate::new(
            shared.hub.budget().clone(),
            cfg.max_message_size,
            cfg.memory_wait,
        ),
        early: io::Cursor::new(rest),
        timeout: None,
    };
    let ws = Box::new(WebSocket::from_raw_socket(
        wire,
        Role::Server,
        Some(ws_config),
    ));

    let client = Client::new(id, peer, shared.hub.clone(), request.protocol());
    info!("#{id} {peer}: WebSocket open ({})", request.path());
    let handler = shared.handler(view);
    let opened = catch_unwind(AssertUnwindSafe(|| handler.on_open(&client, &request)));
    let early = client.take_early();
    // Headers are not needed past on_open; an idle connection keeps only
    // what it must.
    drop(request);
    shared.hub.post(Event::Opened { id, early }).ok()?;
    let ended = opened
        .is_err()
        .then(|| fail(&client, 1011, "internal error"));
    Some(Open {
        ws,
        client,
        shared: shared.clone(),
        started: Instant::now(),
        ended,
        stack,
        open,
        view,
    })
}

impl Open {
    /// Reads frames until the connection ends, handing messages to the
    /// handler, then reports the end.
    pub(crate) fn run(self) {
        let Open {
            mut ws,
            client,
            shared,
            started,
            mut ended,
            stack,
            open,
            view,
        } = self;
        // Everything deeper than this frame was short-lived (the head, the
        // handshake, log lines, on_open): its pages go back now.
        if let Some(stack) = stack {
            stack.release_below_here();
        }
        let handler = shared.handler(view);
        let id = client.id();
        // From here this thread may write its own replies (see `hub::socket`).
        let serving = Serving::start(id, ws.get_ref().socket.clone());
        while ended.is_none() {
            let result = ws.read();
            ws.get_mut().forward();
            match result {
                Ok(WsMessage::Text(text)) => {
                    shared.hub.metrics().received(text.len());
                    ended = dispatch(handler, &client, Message::Text(text));
                    ws.get_mut().gate.handled();
                }
                Ok(WsMessage::Binary(data)) => {
                    shared.hub.metrics().received(data.len());
                    ended = dispatch(handler, &client, Message::Binary(data));
                    ws.get_mut().gate.handled();
                }
                Ok(WsMessage::Close(frame)) => {
                    // tungstenite has queued the reply, echoing the code:
                    // "the endpoint MUST send a Close frame in response ...
                    // typically echoing the status code it received". The
                    // next read forwards it and reports the end.
                    let (code, reason) = match frame {
                        Some(f) => (u16::from(f.code), f.reason.to_string()),
                        // "If this Close control frame contains no status
                        // code, _The WebSocket Connection Close Code_ is
                        // considered to be 1005."
                        None => (1005, String::new()),
                    };
                    ended = Some(CloseInfo { code, reason });
                    finish_closing(&mut ws);
                }
                Ok(WsMessage::Pong(_)) => {
                    // The answer to the hub's keepalive ping, which only an
                    // idle connection is sent: a good moment to give back
                    // the stack pages its last messages' handlers touched.
                    if let Some(stack) = stack {
                        stack.release_below_here();
                    }
                }
                Ok(WsMessage::Ping(_) | WsMessage::Frame(_)) => {}
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
                    // The memory wait's timeout, set while the gate held
                    // budget, outlived it; the next read clears it.
                    continue;
                }
                Err(e) => ended = Some(protocol_failure(handler, &client, e)),
            }
        }
        // The last reply (a close, say) goes to the hub; `Left` follows when
        // this thread ends, however it ends (see `listener::Finished`).
        ws.get_mut().forward();
        drop(ws);
        closed(handler, &client, ended, started);
        drop(serving);
        drop(open);
    }
}

/// Reports the end of a connection: a log line and `on_close`.
fn closed(
    handler: &dyn crate::Handler,
    client: &Client,
    ended: Option<CloseInfo>,
    started: Instant,
) {
    let (id, peer) = (client.id(), client.peer());
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
    if catch_unwind(AssertUnwindSafe(|| handler.on_close(client, &close))).is_err() {
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
        // The gate's refusals: 1009, 1002, and 1013 when the memory
        // budget had no room for a large message in time.
        WsError::Io(io) => match Refused::find(io) {
            Some(r) => {
                if r.code == 1013 {
                    warn!(
                        "#{} {}: no room in the memory budget for a large message; closing with 1013 (raise --memory to hold more at once)",
                        client.id(),
                        client.peer()
                    );
                }
                (r.code, r.reason)
            }
            None => {
                return CloseInfo {
                    code: 1006,
                    reason: String::new(),
                };
            }
        },
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
