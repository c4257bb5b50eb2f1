//! What a program plugs into wshub: a [`Handler`], and the [`Client`] and
//! [`Message`] it is handed.
//!
//! A handler's methods run on the connection's own thread, so one slow
//! handler call holds up only its own client. They take `&self`: state
//! shared between clients needs its own synchronisation (see
//! `modes::chat` for a small example).

use std::cell::RefCell;
use std::net::SocketAddr;

use tungstenite::{Bytes, Utf8Bytes};

use crate::Result;
use crate::error::Error;
use crate::frame::{self, Opcode};
use crate::http::Request;
use crate::hub::{ClientId, Hub};

/// A WebSocket message: text (valid UTF-8) or binary.
///
/// Payloads are reference-counted, so cloning a message (to send it to
/// many clients) does not copy its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The payload's bytes, whatever the type.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole frame as it goes on the wire.
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Message::Text(t) => frame::encode(Opcode::Text, t.as_bytes()),
            Message::Binary(b) => frame::encode(Opcode::Binary, b),
        }
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::Binary(Bytes::copy_from_slice(b))
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

/// How a connection ended: the close code and reason, as in RFC 6455
/// section 7.1.5 and 7.4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code: the peer's, ours, or 1006 when the TCP connection
    /// ended without a closing handshake.
    pub code: u16,
    /// The reason text that came with it (may be empty).
    pub reason: String,
}

/// A handshake refusal: the HTTP status and a short text for the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status code, e.g. 401 or 403.
    pub status: u16,
    /// A short human-readable reason, sent as the response body.
    pub reason: String,
}

impl Refusal {
    /// Refuses with `status` and a one-line `reason`.
    pub fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

/// How a handler accepts an upgrade: with no subprotocol
/// ([`Accepted::default()`]), or naming one of those the client offered
/// ([`Accepted::protocol`]), which the 101 then carries.
///
/// With no pick, the server picks the first offered name that is in
/// [`Server::protocols`](crate::Server::protocols), if any. A client that
/// offered names and gets none in the 101 may go on (RFC 6455 allows it),
/// but browsers fail the connection; the server logs how to accept one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    pub(crate) protocol: Option<String>,
    pub(crate) topics: Vec<String>,
}

impl Accepted {
    /// Accepts with subprotocol `name`, which must be one of
    /// [`Request::protocols`]: a name the client did not offer refuses the
    /// handshake with `500` and a log line naming both, as a 101 naming it
    /// would make the client fail the connection.
    pub fn protocol(name: impl Into<String>) -> Accepted {
        Accepted {
            protocol: Some(name.into()),
            topics: Vec::new(),
        }
    }

    /// Subscribes the client to `topic` before its 101 goes out: whatever
    /// is published to the topic once the client can see it is open
    /// reaches it (held until [`on_open`](Handler::on_open) returns, and
    /// sent after what `on_open` sent). A subscription made in `on_open`
    /// instead starts when `on_open` runs, a moment after the client has
    /// its 101; that suits a server that first tells the client where it
    /// is, as the chat's `welcome` does.
    pub fn subscribe(mut self, topic: impl Into<String>) -> Accepted {
        self.topics.push(topic.into());
        self
    }
}

/// Reacts to connection events. Only [`on_message`](Handler::on_message)
/// is required; a closure `Fn(&Client, Message)` is a handler too.
///
/// Every method runs on the connection's thread. A panic in one is caught:
/// the client is closed with 1011 and the server carries on.
pub trait Handler: Send + Sync + 'static {
    /// Accepts or refuses an upgrade request before the 101 is sent, and
    /// may pick a subprotocol from [`Request::protocols`]. The default
    /// accepts everything that passed the server's own checks (path,
    /// version, key, Origin, a well-formed offer) and picks none, leaving
    /// it to [`Server::protocols`](crate::Server::protocols).
    ///
    /// ```
    /// use tungstenite::client::IntoClientRequest;
    /// use wshub::{Accepted, Client, Handler, Message, Refusal, Request, Server};
    ///
    /// struct Chat;
    ///
    /// impl Handler for Chat {
    ///     fn on_handshake(&self, request: &Request) -> Result<Accepted, Refusal> {
    ///         // The client lists what it speaks by preference; take the
    ///         // first this server speaks too.
    ///         match request.protocols().find(|p| ["chat.v2", "chat.v1"].contains(p)) {
    ///             Some(p) => Ok(Accepted::protocol(p)),
    ///             None => Err(Refusal::new(400, "this endpoint speaks chat.v2 or chat.v1")),
    ///         }
    ///     }
    ///     fn on_open(&self, client: &Client, _request: &Request) {
    ///         let _ = client.send(format!("welcome, you speak {:?}", client.protocol()));
    ///     }
    ///     fn on_message(&self, client: &Client, message: Message) {
    ///         let _ = client.send(message);
    ///     }
    /// }
    ///
    /// let running = Server::new("127.0.0.1:0").start(Chat)?;
    /// let url = format!("ws://{}/ws", running.local_addr());
    /// let mut request = url.into_client_request().expect("a request");
    /// let offer = "chat.v3, chat.v1".parse().expect("a header value");
    /// request.headers_mut().insert("Sec-WebSocket-Protocol", offer);
    /// let (mut ws, response) = tungstenite::connect(request).expect("connect");
    /// assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "chat.v1");
    /// let welcome = ws.read().expect("read").into_text().expect("text");
    /// assert_eq!(welcome, "welcome, you speak Some(\"chat.v1\")");
    /// # Ok::<(), wshub::Error>(())
    /// ```
    fn on_handshake(&self, request: &Request) -> Result<Accepted, Refusal> {
        let _ = request;
        Ok(Accepted::default())
    }

    /// The server has started and has not yet accepted a connection:
    /// `hub` is its hub, for a handler that sends from threads of its
    /// own, or keeps state with other nodes.
    fn on_start(&self, hub: &Hub) {
        let _ = hub;
    }

    /// A client is connected. What the handler sends here reaches the
    /// client first; the client starts to receive broadcasts once this
    /// returns.
    fn on_open(&self, client: &Client, request: &Request) {
        let _ = (client, request);
    }

    /// A text or binary message arrived.
    fn on_message(&self, client: &Client, message: Message);

    /// The connection ended. After this nothing more can be sent to it.
    fn on_close(&self, client: &Client, close: &CloseInfo) {
        let _ = (client, close);
    }

    /// Something went wrong on this connection (a protocol error, an I/O
    /// error). `on_close` follows.
    fn on_error(&self, client: &Client, error: &Error) {
        let _ = (client, error);
    }
}

impl<F> Handler for F
where
    F: Fn(&Client, Message) + Send + Sync + 'static,
{
    fn on_message(&self, client: &Client, message: Message) {
        self(client, message)
    }
}

/// One connected client, as a handler sees it.
pub struct Client {
    id: ClientId,
    peer: SocketAddr,
    hub: Hub,
    protocol: Option<Box<str>>,
    /// Frames sent during `on_open`, before the hub knows the client; they
    /// travel with the registration so they arrive before any broadcast.
    early: RefCell<Option<Vec<(Bytes, bool)>>>,
}

impl Client {
    pub(crate) fn new(id: ClientId, peer: SocketAddr, hub: Hub, protocol: Option<&str>) -> Client {
        Client {
            id,
            peer,
            hub,
            protocol: protocol.map(Into::into),
            early: RefCell::new(Some(Vec::new())),
        }
    }

    /// The client's id, unique for the life of the server.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The subprotocol the 101 named (one of those the client offered), or
    /// `None` if it named none. Set already in
    /// [`on_open`](Handler::on_open).
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The server's hub: send to others, broadcast, close.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Sends a message to this client. It is queued and this returns at
    /// once, as [`Hub::send`] does: [`Error::Busy`] if the message is
    /// larger than [`SMALL`](crate::SMALL) and the server's memory budget
    /// cannot take it now (nothing is queued), [`Error::Closed`] if the
    /// server is stopping.
    pub fn send(&self, message: impl Into<Message>) -> Result<()> {
        let frame = self.hub.counted(message.into().encode())?;
        self.queue(frame, false)
    }

    /// Subscribes this client to `topic` (see [`Hub::subscribe`]). In
    /// [`on_open`](Handler::on_open), what is published to the topic from
    /// then on reaches the client after what `on_open` sent it.
    pub fn subscribe(&self, topic: &str) -> Result<()> {
        self.hub.subscribe(self.id, topic)
    }

    /// Ends this client's subscription to `topic`. A reply sent after
    /// this comes after everything the topic delivered before it (in
    /// `on_open`, what `on_open` sends goes first anyway).
    pub fn unsubscribe(&self, topic: &str) -> Result<()> {
        self.hub.unsubscribe(self.id, topic)
    }

    /// Starts the closing handshake with `code` and a short `reason`.
    pub fn close(&self, code: u16, reason: &str) -> Result<()> {
        let frame = self.hub.counted(frame::close(code, reason))?;
        self.queue(frame, true)
    }

    fn queue(&self, frame: Bytes, closes: bool) -> Result<()> {
        if let Some(early) = self.early.borrow_mut().as_mut() {
            early.push((frame, closes));
            return Ok(());
        }
        self.hub.send_frame(self.id, frame, closes)
    }

    /// Ends the `on_open` phase: returns what was sent during it.
    pub(crate) fn take_early(&self) -> Vec<(Bytes, bool)> {
        self.early.borrow_mut().take().unwrap_or_default()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("protocol", &self.protocol)
            .finish()
    }
}
