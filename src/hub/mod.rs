//! The hub: one thread that owns the client list, queues what is sent to
//! each client and writes it; with each connection thread, which writes its
//! own replies when nothing else is owed to its socket.
//!
//! # Why this shape
//!
//! A connection thread sleeps in a blocking `read()` and has to receive
//! broadcasts at the same time. tungstenite writes pongs and close replies
//! from inside `read()`, so if two threads wrote one socket freely, frames
//! could interleave or follow a close. The usual fixes cost too much here: a
//! short read timeout burns CPU on every idle connection and adds latency; a
//! writer thread per connection doubles the stacks; a wake-up descriptor per
//! connection (so its thread can `poll` socket and signal together) doubles
//! the descriptors, and with this machine's hard limit of 20,000 descriptors
//! that caps the server below 10,000 clients.
//!
//! So a socket has **exactly one writer at a time**, and a per-socket writer
//! token (`token`) says which: the hub, or the socket's own connection
//! thread. Whatever others send (broadcasts, sends from any thread) comes
//! here as an [`Event`] on one crossbeam channel, already encoded as frame
//! bytes. The hub appends the frames to each client's queue and writes them
//! with a non-blocking vectored `send`, many frames in one system call. A
//! socket that takes no more goes into the hub's `poll` set until it drains;
//! the hub itself never blocks on a client, nor waits for the token. A
//! connection thread's own replies (its handler's, its pongs) go out at once
//! from that thread when its socket owes nothing else, sparing the hand-over
//! (a channel send, a wake-up, two context switches); otherwise they queue
//! here like everything else (`socket`). The token's rules keep every
//! sender's frames in order, pongs and close replies in their place, and
//! nothing after a close frame.
//!
//! The hub sleeps in `poll(2)` on one wake-up descriptor (signalled only
//! when it was asleep) plus the blocked sockets, with a timeout only while a
//! deadline is pending or clients are connected: it keeps their keepalive,
//! one round per `--ping-interval` for all of them (connection threads
//! have no read timeout). A server without clients has no timer at all.
//!
//! # Memory
//!
//! Every frame counts against the server's memory budget (`budget`) from
//! its encoding until the last queue holding it has written or dropped it,
//! so a broadcast counts once. What one client may hold is bounded two
//! ways: by count (`--queue` frames, judged at once, after a write), and by
//! bytes (`--queue-bytes`, judged by progress: over it, a client that takes
//! nothing for `deadlines::STALL` (2 s) is closed with 1008, while one that keeps
//! reading is never cut off). Large frames are refused before they could
//! take the budget past its limit; small ones never are, and when they have
//! taken it past, the hub closes the blocked client holding the most.
//!
//! The modules: this one is the handle and its events; `thread` is the
//! hub's loop and what each event does; `client` is the hub's record of a
//! client and its one write; `outbox` is a client's queue of frames;
//! `deadlines` are the hub's clocks; `keepalive` its ping round; `slow` its
//! judging of clients that fall behind; `ids` the hash of its client map;
//! `topics` the table of topics and their subscribers (and the handle's
//! side of them); `shutdown` the hub's stop;
//! `token` is the writer token and its rules; `socket` is the socket the
//! hub and a connection thread share, and the thread's fast path.

mod client;
mod deadlines;
mod ids;
mod keepalive;
mod notes;
mod outbox;
mod shutdown;
mod slow;
mod socket;
mod thread;
mod token;
mod topics;

pub(crate) use socket::{Serving, Socket};

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use tungstenite::Bytes;

use crate::budget::{Budget, Reserved};
use crate::error::{Error, Result};
use crate::handler::Message;
use crate::metrics::Metrics;
use crate::sys::Waker;
use crate::{explain, frame};

/// A client's id: unique for the life of a server, starting at 1.
pub type ClientId = u64;

/// What the hub is told. Frames are encoded by the sender, off the hub's
/// thread.
pub(crate) enum Event {
    /// A TCP connection was accepted; the hub keeps its socket so that it
    /// can end it at shutdown, whatever phase it is in.
    Accepted {
        id: ClientId,
        socket: Arc<Socket>,
        explain: Option<Arc<explain::Conn>>,
    },
    /// The 101 is about to be written: from now on, frames for this
    /// client are held until `Opened`. It is subscribed to `topics` (the
    /// handler's `Accepted::subscribe`) from now on too.
    Upgrading { id: ClientId, topics: Vec<Arc<str>> },
    /// `on_open` has returned; `early` is what it sent, which goes out
    /// first, followed by what was held.
    Opened {
        id: ClientId,
        early: Vec<(Bytes, bool)>,
    },
    /// Frames for one client; `closes` says the bytes contain a close frame.
    Send {
        to: ClientId,
        frame: Bytes,
        closes: bool,
    },
    /// One frame for every open client but `except`.
    Broadcast {
        frame: Bytes,
        except: Option<ClientId>,
    },
    /// Client `id` now receives what is published to `topic`.
    Subscribe { id: ClientId, topic: Arc<str> },
    /// Client `id` no longer receives what is published to `topic`.
    Unsubscribe { id: ClientId, topic: Arc<str> },
    /// One frame for every subscriber of `topic` but `except`.
    Publish {
        topic: Arc<str>,
        frame: Bytes,
        except: Option<ClientId>,
    },
    /// The connection thread wrote a frame itself and hands the socket's
    /// token to the hub: because the hub wants it, or with the part of
    /// the frame (`rest`: the frame and how much of it went out) that the
    /// socket did not take at once.
    HandOver {
        id: ClientId,
        rest: Option<(Bytes, usize)>,
    },
    /// A TLS session made records of its own while its connection thread
    /// read (an alert), and the hub holds the token: the hub sends them.
    Flush { id: ClientId },
    /// The connection thread is done with the socket.
    Left { id: ClientId },
    /// Close everyone with 1001 and stop once all are gone.
    Shutdown,
}

/// A cheap, clonable handle to the hub, usable from any thread: send to
/// one client, to all, to all but one, or to the subscribers of a topic;
/// subscribe clients to topics; close a client.
///
/// A topic is a name; a client may be subscribed to any number of them,
/// and its subscriptions end with its connection. Subscribing, publishing
/// and unsubscribing take effect in the order they are called (from one
/// thread, or from several under one lock of the caller's): a client
/// subscribed before a publish receives it, and receives nothing
/// published after its unsubscribe. A topic with no subscribers holds
/// nothing; what is published to it is dropped.
///
/// Sends never block on a slow client, and never wait for memory:
/// - a message is encoded once and counted against the server's memory
///   budget until every socket it was queued for has taken it;
/// - a message of at most [`SMALL`](crate::SMALL) bytes is always queued;
///   a larger one that does not fit in the budget now is refused with
///   [`Error::Busy`] and nothing is queued, so a caller holding a lock is
///   never held up, and can try again later, tell its client, or close it
///   (the binary's echo and broadcast modes close the sender with 1013);
/// - a client that does not keep up is closed with 1008 (see
///   [`Server::queue_size`](crate::Server::queue_size) and
///   [`Server::queue_bytes`](crate::Server::queue_bytes)), and a send to a
///   client that has gone is dropped.
///
/// [`Error::Closed`] means the server has stopped.
#[derive(Clone)]
pub struct Hub {
    tx: Sender<Posted>,
    waker: Arc<Waker>,
    budget: Arc<Budget>,
    /// Topics with subscribers, as last counted by the hub thread.
    topic_count: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    /// The link to the other nodes, set once at start with `--redis`.
    #[cfg(feature = "redis")]
    nodes: Arc<std::sync::OnceLock<Arc<crate::nodes::Nodes>>>,
}

impl Hub {
    /// Sends `message` to the client `to`.
    pub fn send(&self, to: ClientId, message: impl Into<Message>) -> Result<()> {
        let frame = self.counted(message.into().encode())?;
        self.send_frame(to, frame, false)
    }

    /// Sends `message` to every open client.
    pub fn broadcast(&self, message: impl Into<Message>) -> Result<()> {
        let frame = self.counted(message.into().encode())?;
        self.post(Event::Broadcast {
            frame,
            except: None,
        })
    }

    /// Sends `message` to every open client except `except`.
    pub fn broadcast_except(&self, except: ClientId, message: impl Into<Message>) -> Result<()> {
        let frame = self.counted(message.into().encode())?;
        self.post(Event::Broadcast {
            frame,
            except: Some(except),
        })
    }

    /// Counts `bytes` of the program's own data against the server's
    /// memory budget until the returned [`Reserved`] is dropped: data it
    /// keeps for its clients, such as a room's recent messages, so that
    /// the budget bounds it with everything else. At most
    /// [`SMALL`](crate::SMALL) bytes are always taken; more are refused
    /// with [`Error::Busy`] when they do not fit now.
    pub fn reserve(&self, bytes: usize) -> Result<Reserved> {
        Reserved::take(&self.budget, bytes).ok_or(Error::Busy { bytes })
    }

    /// Starts the closing handshake with client `id`, after what is
    /// already queued for it.
    pub fn close(&self, id: ClientId, code: u16, reason: &str) -> Result<()> {
        let frame = self.counted(frame::close(code, reason))?;
        self.send_frame(id, frame, true)
    }

    /// Bytes of message data the server holds now, counted against its
    /// memory budget: messages being read, and frames not yet written to
    /// every client they were sent to. Zero when nothing is in flight.
    pub fn memory_in_use(&self) -> usize {
        self.budget.used()
    }

    /// Counts an encoded frame against the budget; `Busy` if it is large
    /// and does not fit now.
    pub(crate) fn counted(&self, frame: Vec<u8>) -> Result<Bytes> {
        self.budget
            .frame(frame)
            .map_err(|frame| Error::Busy { bytes: frame.len() })
    }

    pub(crate) fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The link to the other nodes, if the server has one.
    #[cfg(feature = "redis")]
    pub(crate) fn nodes(&self) -> Option<&Arc<crate::nodes::Nodes>> {
        self.nodes.get()
    }

    #[cfg(feature = "redis")]
    pub(crate) fn set_nodes(&self, nodes: Arc<crate::nodes::Nodes>) {
        let _ = self.nodes.set(nodes);
    }

    /// Hands the hub an event and wakes it.
    pub(crate) fn post(&self, event: Event) -> Result<()> {
        let counted = Hub::count_own(&event);
        self.tx
            .send(Posted { event, counted })
            .map_err(|_| Error::Closed)?;
        self.waker.wake();
        Ok(())
    }

    /// Hands the hub an event that can wait until it wakes for something
    /// else (a connection's first steps, which need nothing written), so
    /// that a connect costs fewer wake-ups. It is woken anyway once its
    /// inbox holds `QUIET_MAX` events, and before a send would wait for
    /// room in it.
    pub(crate) fn post_quietly(&self, event: Event) -> Result<()> {
        let posted = Posted {
            event,
            counted: None,
        };
        match self.tx.try_send(posted) {
            Ok(()) => {
                if self.tx.len() >= QUIET_MAX {
                    self.waker.wake();
                }
                Ok(())
            }
            Err(TrySendError::Full(posted)) => {
                self.waker.wake();
                self.tx.send(posted).map_err(|_| Error::Closed)
            }
            Err(TrySendError::Disconnected(_)) => Err(Error::Closed),
        }
    }
}

/// How many quietly posted events may wait before the hub is woken.
const QUIET_MAX: usize = 64;

/// An event on its way to the hub. `counted` names the client whose token
/// counts it (see `token`): the posting thread's own client, when the
/// event can queue a frame for it.
pub(crate) struct Posted {
    event: Event,
    counted: Option<ClientId>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// The hub's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Frames a client may have waiting before it is closed as too slow.
    pub queue: usize,
    /// Bytes a client may have waiting before, if it also takes nothing
    /// for `deadlines::STALL`, it is closed as too slow.
    pub queue_bytes: usize,
    /// How long a client's output may stay blocked before it is dropped.
    pub write_timeout: Duration,
    /// How long to wait for the closing handshake after sending a close.
    pub close_timeout: Duration,
    /// How often the hub looks for silent clients, pings them, and ends
    /// those that stayed silent since their ping.
    pub ping_interval: Duration,
}

impl Limits {
    /// Frames a client may have waiting while the hub cannot write to it
    /// (its thread is writing the handshake and what `on_open` sent, or
    /// one reply of its own). The client has been offered none of them,
    /// so it is not behind, and the count bound waits for the hub's next
    /// write; meanwhile the frames' bytes are counted in the budget, and
    /// the queue's own entries stay within the client's byte bound.
    pub fn unjudged_max(&self) -> usize {
        let entry = std::mem::size_of::<(Bytes, bool)>();
        self.queue.max(self.queue_bytes / entry)
    }
}

/// Starts the hub thread. Returns its handle and the thread, which ends
/// after `Shutdown` once every client is gone, returning how many
/// WebSocket clients it closed.
pub(crate) fn start(
    limits: Limits,
    inbox: usize,
    budget: Arc<Budget>,
    metrics: Arc<Metrics>,
) -> std::io::Result<(Hub, std::thread::JoinHandle<usize>)> {
    let (tx, rx) = crossbeam_channel::bounded(inbox);
    let waker = Arc::new(Waker::new()?);
    let topic_count = Arc::new(AtomicUsize::new(0));
    let hub = Hub {
        tx,
        waker: waker.clone(),
        budget: budget.clone(),
        topic_count: topic_count.clone(),
        metrics: metrics.clone(),
        #[cfg(feature = "redis")]
        nodes: Arc::default(),
    };
    let thread = std::thread::Builder::new()
        .name("wshub-hub".into())
        .spawn(move || {
            thread::HubThread::new(limits, rx, waker, budget, topic_count, metrics).run()
        })?;
    Ok((hub, thread))
}
