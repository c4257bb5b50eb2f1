//! The hub's record of one client: its socket, the phase it is in, and
//! its queue of frames; and the one place the hub writes a socket.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use tungstenite::Bytes;

use super::outbox::Outbox;
use super::socket::Socket;
use crate::explain;
use crate::metrics::{Metrics, Tally};

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Accepted, HTTP head not yet handled; the hub only holds the socket.
    Http,
    /// Handshake and `on_open` under way: frames wait in `held`, up to
    /// `Limits::unjudged_max`; `overflow` says more came, and the client is
    /// closed with 1008 once open.
    Opening {
        held: Vec<(Bytes, bool)>,
        overflow: bool,
    },
    /// A WebSocket: frames may be queued.
    Open,
    /// A close frame is queued or sent: nothing more goes out.
    Closing,
}

pub(super) struct Client {
    pub socket: Arc<Socket>,
    pub phase: Phase,
    pub out: Outbox,
    /// When the socket last took bytes, or the queue was last empty.
    pub progress: Instant,
    /// Set while output is blocked, or a close is awaiting its reply.
    pub deadline: Option<Instant>,
    /// In the list of clients to write this round.
    pub dirty: bool,
    /// The connection thread is gone: drop the client once `out` drains.
    pub reader_done: bool,
    /// Sent a keepalive ping, and has not been heard from since.
    pub pinged: bool,
    /// Its connection thread writes replies of its own (one came through
    /// the hub since the last keepalive round): give it the token back
    /// whenever the queue is empty. A client that only listens (a
    /// broadcast subscriber) never asks, and the hub keeps its token,
    /// which spares two atomic operations per delivery.
    pub replies: bool,
    /// Frames were queued past the count bound while the connection
    /// thread held the token: the hub's next write judges the client.
    pub judge_count: bool,
    /// Shut the socket once the queue is written: the peer is gone, and
    /// its close frame is a courtesy nobody will answer.
    pub hang_up: bool,
    /// `--explain`: prints each frame as it goes on the wire. Boxed: most
    /// servers never explain, and each client's entry in the map stays
    /// small.
    pub explain: Option<Box<explain::Decoder>>,
    /// The topics it is subscribed to, ended when it is removed.
    pub topics: Vec<Arc<str>>,
}

/// What one write of a client's queue came to.
pub(super) enum Wrote {
    /// The connection thread holds the token: its hand-over will come.
    NotMine,
    /// The hub wrote what the socket took (perhaps nothing).
    Mine,
}

impl Client {
    /// Nothing waits to be written: no frame, and (on a TLS port) no
    /// ciphertext owed.
    pub(super) fn settled(&self) -> bool {
        // Owed TLS bytes are the hub's to send only while it holds the
        // token; otherwise the connection thread sends them (see `tls`).
        self.out.is_empty()
            && !(self.hub_writes() && self.socket.token.hub_holds() && self.socket.owes())
    }

    /// Broadcasts and topics reach it: it is open, or opening (and holds
    /// them until `on_open` returns), and not a wire view.
    pub(super) fn receives(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Opening { .. }) && !self.is_view()
    }

    /// A wire view's socket (see `explain`): only notes are sent to it.
    pub(super) fn is_view(&self) -> bool {
        self.explain.as_ref().is_some_and(|d| d.quiet())
    }

    /// The hub writes this socket only once it is open: before, the
    /// connection thread writes its HTTP answer or its 101 and `on_open`'s
    /// frames itself.
    pub(super) fn hub_writes(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Closing)
    }

    pub(super) fn new(socket: Arc<Socket>, explain: Option<Box<explain::Decoder>>) -> Client {
        Client {
            socket,
            phase: Phase::Http,
            out: Outbox::default(),
            progress: Instant::now(),
            deadline: None,
            dirty: false,
            reader_done: false,
            pinged: false,
            replies: false,
            judge_count: false,
            hang_up: false,
            explain,
            topics: Vec::new(),
        }
    }

    /// Writes as much of the queue as the socket takes now, if the hub
    /// holds the socket's token; gives the token back once the queue is
    /// empty, if the connection thread has replies to write itself.
    pub(super) fn write(&mut self, metrics: &Metrics) -> io::Result<Wrote> {
        if !self.socket.token.hub_holds() {
            return Ok(Wrote::NotMine);
        }
        let socket = &*self.socket;
        let mut tally = Tally::default();
        // A wire view's own socket is not explained: written like any.
        let n = match self.explain.as_mut().filter(|d| !d.quiet()) {
            None => self.out.write_to(socket, &mut tally),
            Some(decoder) => self.out.write_explained(socket, decoder, &mut tally),
        };
        // Also after an error: what went out whole before it was sent.
        metrics.sent(tally);
        let n = n?;
        if n > 0 {
            self.progress = Instant::now();
        }
        // A TLS socket may owe the ciphertext of the last frame taken.
        if self.out.is_empty() && self.hub_writes() && !socket.send_owed()? {
            return Ok(Wrote::Mine);
        }
        // Under --explain the hub keeps the token, so that every frame is
        // decoded as written, by the one thread that writes them all.
        if self.out.is_empty()
            && self.replies
            && !self.reader_done
            && self.phase == Phase::Open
            && self.explain.is_none()
        {
            self.socket.token.hub_release();
        }
        Ok(Wrote::Mine)
    }
}
