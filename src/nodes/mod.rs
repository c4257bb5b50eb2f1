//! Several nodes: wshub servers that share their topics (and the chat its
//! rooms, presence, names and history) through one Redis, with
//! [`Server::redis`](crate::Server::redis) or `--redis`.
//!
//! # Why Redis, and how
//!
//! The systems people would otherwise pick do the same: an in-memory
//! engine for one node, and an existing broker for several (Centrifugo's
//! `redis` engine, Socket.IO's Redis adapter, ActionCable and Django
//! Channels on Redis pub/sub). The client is the `redis` crate in its
//! blocking mode, on two threads of the node's own:
//!
//! - `publisher` owns one connection and sends what the node publishes,
//!   in the order it was handed over: handlers never wait for Redis, they
//!   queue (bounded in bytes) and go on. It also beats: every `BEAT` it
//!   says "this node is alive".
//! - `subscriber` owns a second connection, subscribed to the node's
//!   channel pattern: what other nodes publish to a topic is delivered to
//!   this node's subscribers through the hub (which never waits for a
//!   client or for memory, so neither does this thread); what the chat
//!   publishes goes to the chat (`Listener`). It notices a node whose
//!   beats stop for `GONE_AFTER` and tells the chat, so that no member of
//!   a dead node stays listed.
//! - Round trips that need an answer (a name claimed, a room's history
//!   read) go over a third connection, used briefly by the thread that
//!   asks and never while the chat's lock is held.
//!
//! Each node has an identity (`NodeId`), random at start: what it publishes
//! carries it, so a node skips its own messages coming back (its local
//! delivery has already happened, without waiting for Redis), and its
//! guest names carry it, so they are unique with no round trip.
//!
//! # Faults
//!
//! Pub/sub delivers at most once. While Redis is away, each node serves
//! its own clients as one node would; what is published meanwhile does
//! not reach the other nodes and is dropped, not queued. Each connection
//! retries with a backoff (from 100 ms to `MAX_BACKOFF`); the node logs
//! one line when it loses Redis and one when it has it back, when it
//! resubscribes and the chat announces its members again.
//!
//! The module's parts: `address` reads the address, `keys` names the
//! channels and keys, `envelope` is what goes on a channel, `link` the connections' state and backoff,
//! `publisher` and `subscriber` the two threads.

mod address;
mod envelope;
mod keys;
mod link;
mod publisher;
mod subscriber;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use log::debug;

pub(crate) use self::address::Address;
pub(crate) use self::envelope::Kind;
use self::keys::Keys;
use self::link::Link;
use crate::error::Result;
use crate::handler::Message;
use crate::hub::Hub;

/// How often a node says it is alive.
pub(crate) const BEAT: Duration = Duration::from_secs(1);
/// How long a node may stay silent before the others take it for dead and
/// drop its members: five missed beats.
pub const GONE_AFTER: Duration = Duration::from_secs(5);
/// The longest wait between two attempts to reach Redis.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// What the publisher may hold for Redis, in bytes; beyond it (Redis slow
/// or away) what is published is not sent to the other nodes.
const OUTBOX_BYTES: usize = 8 << 20;
/// How long a claimed name lives in Redis unless its node renews it,
/// which it does every third of this: a dead node's names come free
/// after at most this long.
pub const NAME_TTL: Duration = Duration::from_secs(30);
/// How long a room's history stays in Redis after its last message.
pub const HISTORY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A node's identity: five characters of `a-z0-9`, random at start
/// (about 60 million values: two nodes of the same Redis sharing one is
/// a chance of one in 30 million for two nodes, one in 700,000 for ten).
pub(crate) type NodeId = String;

/// What the chat (the one user of the shared channel besides topics) is
/// told by the subscriber thread. Called with no lock of the node held.
pub(crate) trait Listener: Send + Sync {
    /// A message another node (or, for sequenced ones, this node too)
    /// published on the chat channel.
    fn on_message(&self, hub: &Hub, from: &str, kind: Kind, body: &[u8]);
    /// The subscriber has subscribed (again): what arrives from now on is
    /// new, and Redis may have started afresh, its numbers with it.
    fn on_subscribed(&self);
    /// Both connections are up (again): what the node knew of the others
    /// may be stale, and they may not know its members.
    fn on_connected(&self, hub: &Hub);
    /// The node's members are to be sent again: a notice of them could not
    /// be queued (the outbox was full).
    fn announce(&self, hub: &Hub);
    /// A node not heard from before, or taken for dead, is heard.
    fn on_node_seen(&self, hub: &Hub, node: &str);
    /// A node has been silent for `GONE_AFTER`, or said goodbye.
    fn on_node_gone(&self, hub: &Hub, node: &str);
    /// The names this node holds in Redis, to renew.
    fn claims(&self) -> Vec<String>;
}

/// What the publisher thread is handed, in order.
pub(crate) enum Outgoing {
    /// `PUBLISH channel payload`.
    Publish { channel: String, payload: Vec<u8> },
    /// A message numbered in its room, kept in the room's history and
    /// published, in one step on the Redis side (a script): `head`, the
    /// number and a space, then `body`, on `channel`.
    Sequenced {
        channel: String,
        room: String,
        head: Vec<u8>,
        body: String,
        keep: usize,
    },
    /// A name given up.
    Release(String),
    /// Say goodbye and end.
    Stop,
}

impl Outgoing {
    fn len(&self) -> usize {
        match self {
            Outgoing::Publish { channel, payload } => channel.len() + payload.len(),
            Outgoing::Sequenced {
                channel,
                room,
                head,
                body,
                ..
            } => channel.len() + room.len() + head.len() + body.len(),
            Outgoing::Release(name) => name.len(),
            Outgoing::Stop => 0,
        }
    }
}

/// A node's link to the others: the handle the hub and the chat use.
pub(crate) struct Nodes {
    id: NodeId,
    address: Address,
    keys: Keys,
    outbox: Sender<Outgoing>,
    /// Bytes in `outbox`: added by the sender, taken off by the publisher.
    queued: Arc<AtomicUsize>,
    /// A presence notice was dropped: the publisher sends the whole list
    /// once the outbox has room.
    stale_members: Arc<AtomicBool>,
    link: Arc<Link>,
    /// Set once, when the chat starts listening.
    listener: Arc<OnceLock<Arc<dyn Listener>>>,
    /// The connection for round trips. The lock is held for one command
    /// and its answer (or timeout), by a connection thread that holds no
    /// other lock: it cannot deadlock.
    commands: Mutex<Option<redis::Connection>>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// How long one round trip may take before the asker gives up.
const ROUND_TRIP: Duration = Duration::from_secs(1);

impl Nodes {
    /// The link, not yet started: the hub and its handler are given it
    /// first, so that nothing the threads hear is missed.
    pub(crate) fn new(address: Address) -> (Arc<Nodes>, Receiver<Outgoing>) {
        let (outbox, rx) = crossbeam_channel::unbounded();
        let nodes = Arc::new(Nodes {
            id: envelope::new_node_id(),
            keys: Keys::new(address.db),
            address,
            outbox,
            queued: Arc::new(AtomicUsize::new(0)),
            stale_members: Arc::new(AtomicBool::new(false)),
            link: Arc::new(Link::default()),
            listener: Arc::new(OnceLock::new()),
            commands: Mutex::new(None),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Mutex::new(Vec::new()),
        });
        (nodes, rx)
    }

    /// Starts the node's two threads. Redis need not be up: they keep
    /// trying.
    pub(crate) fn start(&self, rx: Receiver<Outgoing>, hub: &Hub) -> Result<()> {
        let publisher = publisher::spawn(self, rx, hub.clone())?;
        self.threads().push(publisher);
        let subscriber = subscriber::spawn(self, hub.clone())?;
        self.threads().push(subscriber);
        Ok(())
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This node's identity.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Whether both connections to Redis are up.
    pub(crate) fn connected(&self) -> bool {
        self.link.up()
    }

    /// Sets who hears the chat channel; once.
    pub(crate) fn listen(&self, listener: Arc<dyn Listener>) {
        let _ = self.listener.set(listener);
    }

    /// Hands `what` to the publisher; dropped (and false) when the outbox
    /// holds `OUTBOX_BYTES` already. While Redis is away the publisher
    /// drops what it is handed.
    pub(crate) fn send(&self, what: Outgoing) -> bool {
        let len = what.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > OUTBOX_BYTES {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            debug!("redis: the outbox is full; a message was not sent to the other nodes");
            return false;
        }
        if self.outbox.send(what).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Publishes `message` on `topic` to the other nodes.
    pub(crate) fn forward(&self, topic: &str, message: &Message) {
        let (kind, body) = match message {
            Message::Text(t) => (Kind::Text, t.as_bytes()),
            Message::Binary(b) => (Kind::Binary, &b[..]),
        };
        self.send(Outgoing::Publish {
            channel: self.keys.topic(topic),
            payload: envelope::encode(&self.id, kind, body),
        });
    }

    /// Publishes `body` on the chat channel. A presence notice that
    /// cannot be queued is made good by sending the whole list later.
    pub(crate) fn tell(&self, kind: Kind, body: &str) -> bool {
        let sent = self.send(Outgoing::Publish {
            channel: self.keys.chat(),
            payload: envelope::encode(&self.id, kind, body.as_bytes()),
        });
        if !sent && matches!(kind, Kind::Joined | Kind::Left | Kind::Renamed) {
            self.stale_members.store(true, Ordering::Relaxed);
        }
        sent
    }

    /// Hands a chat message to the publisher to be numbered in `room`,
    /// kept (the last `keep` of the room) and published; see `Outgoing`.
    pub(crate) fn said(&self, room: &str, body: &str, keep: usize) -> bool {
        self.send(Outgoing::Sequenced {
            channel: self.keys.chat(),
            room: room.to_string(),
            head: envelope::encode(&self.id, Kind::Said, b""),
            body: body.to_string(),
            keep,
        })
    }

    /// Gives up a name this node claimed.
    pub(crate) fn release(&self, name: &str) {
        self.send(Outgoing::Release(name.to_string()));
    }

    /// Claims `name` for this node, unless another node holds it: `Ok(false)`.
    /// An error means Redis did not answer.
    pub(crate) fn claim(&self, name: &str) -> redis::RedisResult<bool> {
        let key = self.keys.name(name);
        self.round_trip(|con| {
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(&self.id)
                .arg("NX")
                .arg("EX")
                .arg(NAME_TTL.as_secs())
                .query(con)?;
            Ok(set.is_some())
        })
    }

    /// A room's history as Redis keeps it, oldest first.
    pub(crate) fn history(&self, room: &str) -> redis::RedisResult<Vec<Vec<u8>>> {
        let key = self.keys.history(room);
        self.round_trip(|con| redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).query(con))
    }

    /// Runs `f` on the connection for round trips. Tried whether or not
    /// the publisher and subscriber are up (a node just started may read
    /// history before they are); a kept connection that fails (Redis
    /// restarted, or closed it while idle) is made again once.
    fn round_trip<T>(
        &self,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let mut guard = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        let kept = guard.is_some();
        for attempt in 0..2 {
            let con = match guard.as_mut() {
                Some(con) => con,
                None => guard.insert(link::connect(&self.address, ROUND_TRIP)?),
            };
            match f(con) {
                Ok(answer) => return Ok(answer),
                Err(e) => {
                    // A connection that failed once is not trusted again.
                    *guard = None;
                    let stale = kept && attempt == 0;
                    if !stale || !(e.is_io_error() || e.is_connection_dropped()) {
                        return Err(e);
                    }
                }
            }
        }
        Err(link::down())
    }

    /// Stops both threads: the publisher sends what it holds and says
    /// goodbye (so the others drop this node's members at once), then
    /// both end.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.outbox.send(Outgoing::Stop);
        let mut threads = std::mem::take(&mut *self.threads());
        let subscriber = threads.pop();
        for thread in threads {
            let _ = thread.join();
        }
        if let Some(subscriber) = subscriber {
            // The subscriber ends on hearing this node's goodbye. If the
            // publisher could not say it (it was reconnecting), say it
            // here, or the subscriber would wait for its read timeout.
            if !subscriber.is_finished() {
                let beat = self.keys.beat();
                let bye = envelope::encode(&self.id, Kind::Bye, b"");
                if let Ok(mut con) = link::connect(&self.address, ROUND_TRIP) {
                    let _ = redis::cmd("PUBLISH")
                        .arg(&beat)
                        .arg(&bye[..])
                        .query::<i64>(&mut con);
                }
            }
            let _ = subscriber.join();
        }
    }
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nodes")
            .field("id", &self.id)
            .field("address", &self.address.to_string())
            .finish_non_exhaustive()
    }
}
