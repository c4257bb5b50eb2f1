//! The hub's thread: takes events, queues frames, and writes sockets whose
//! token it holds. Deadlines live in `deadlines`, slow clients in `slow`,
//! a client's record and its write in `client`.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError};
use log::{debug, warn};
use tungstenite::Bytes;

use super::client::{Client, Phase, Wrote};
use super::ids::IdHasher;
use super::token::Claim;
use super::topics::Topics;
use super::{ClientId, Event, Limits, Posted};
use crate::budget::Budget;
use crate::explain;
use crate::metrics::Metrics;
use crate::sys::{self, PollFd, PollFlags, Waker};

/// How many events the hub takes before it writes what they produced: big
/// enough to batch a burst, small enough to keep latency low.
const BATCH: usize = 1024;

pub(super) struct HubThread {
    pub(super) limits: Limits,
    rx: Receiver<Posted>,
    waker: Arc<Waker>,
    pub(super) clients: HashMap<ClientId, Client, BuildHasherDefault<IdHasher>>,
    /// Clients with frames to write this round.
    pub(super) dirty: Vec<ClientId>,
    /// Clients that have a deadline: blocked output or a pending close.
    pub(super) watched: Vec<ClientId>,
    pub(super) stopping: bool,
    pub(super) closed_at_shutdown: usize,
    /// Reused by broadcasts for the list of recipients.
    pub(super) scratch: Vec<ClientId>,
    pub(super) budget: Arc<Budget>,
    pub(super) metrics: Arc<Metrics>,
    /// The next keepalive round, while there are clients.
    pub(super) next_round: Option<Instant>,
    pub(super) topics: Topics,
}

impl HubThread {
    pub(super) fn new(
        limits: Limits,
        rx: Receiver<Posted>,
        waker: Arc<Waker>,
        budget: Arc<Budget>,
        topic_count: Arc<AtomicUsize>,
        metrics: Arc<Metrics>,
    ) -> Self {
        HubThread {
            topics: Topics::new(topic_count, budget.clone()),
            limits,
            rx,
            waker,
            clients: HashMap::default(),
            dirty: Vec::new(),
            watched: Vec::new(),
            stopping: false,
            closed_at_shutdown: 0,
            scratch: Vec::new(),
            budget,
            metrics,
            next_round: None,
        }
    }

    pub(super) fn run(mut self) -> usize {
        loop {
            // Take what is waiting, up to a batch, then write it all: a
            // client with several frames queued gets them in one send.
            let mut disconnected = false;
            for _ in 0..BATCH {
                match self.rx.try_recv() {
                    Ok(Posted { event, counted }) => {
                        self.apply(event);
                        if let Some(id) = counted {
                            self.landed(id);
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            for id in std::mem::take(&mut self.dirty) {
                self.flush(id);
            }
            if self.budget.over() {
                self.shed();
            }
            if disconnected && !self.stopping {
                // Every handle is gone: nobody can ask for a shutdown any
                // more, so this is it.
                self.begin_shutdown();
            }
            if self.stopping {
                self.close_views_when_alone();
            }
            if self.stopping && self.clients.is_empty() {
                return self.closed_at_shutdown;
            }
            if !self.rx.is_empty() {
                continue;
            }

            self.waker.about_to_sleep();
            if !self.rx.is_empty() {
                self.waker.woke(false);
                continue;
            }
            let mut polled = Vec::new();
            for &id in &self.watched {
                // Only sockets the hub may write: the thread that holds a
                // token hands it over with an event, which wakes the hub.
                let writable = |c: &Client| !c.settled() && c.socket.token.hub_holds();
                if self.clients.get(&id).is_some_and(writable) {
                    polled.push(id);
                }
            }
            let wake_at = match (self.next_deadline(), self.next_round()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timeout = wake_at.map(|d| d.saturating_duration_since(Instant::now()));
            // The poll set borrows the descriptors it watches, so it is
            // built for each sleep, after `next_deadline` (which needs the
            // hub mutably), and let go before the writes below.
            let mut fds = Vec::with_capacity(1 + polled.len());
            fds.push(PollFd::new(&*self.waker, PollFlags::IN));
            polled.retain(|id| match self.clients.get(id) {
                Some(c) => {
                    fds.push(PollFd::new(&c.socket.stream, PollFlags::OUT));
                    true
                }
                None => false,
            });
            if let Err(e) = sys::poll(&mut fds, timeout) {
                warn!("hub: poll failed: {e}");
            }
            self.waker.woke(sys::ready(&fds[0]));
            // Keeps the clients whose socket is ready, in order.
            let mut ready = fds[1..].iter().map(sys::ready);
            polled.retain(|_| ready.next() == Some(true));
            for id in polled {
                self.flush(id);
            }
            self.expire_deadlines();
            if self.next_round.is_some_and(|t| t <= Instant::now()) {
                self.next_round = None;
                self.keepalive();
            }
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Accepted {
                id,
                socket,
                explain,
            } => {
                if self.stopping {
                    let _ = socket.stream.shutdown(Shutdown::Both);
                }
                let explain = explain
                    .map(|conn| Box::new(explain::Decoder::new(id, explain::Side::Server, conn)));
                self.clients.insert(id, Client::new(socket, explain));
            }
            Event::Upgrading { id, topics } => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.phase = Phase::Opening {
                        held: Vec::new(),
                        overflow: false,
                    };
                }
                for topic in topics {
                    self.subscribe(id, topic);
                }
            }
            Event::Opened { id, early } => {
                let Some(c) = self.clients.get_mut(&id) else {
                    return;
                };
                let Phase::Opening { held, overflow } = &mut c.phase else {
                    return;
                };
                let (held, overflow) = (std::mem::take(held), *overflow);
                c.phase = Phase::Open;
                // What on_open sent comes first (a welcome, say), then
                // what others sent meanwhile: nothing is lost in between.
                for (frame, closes) in early.into_iter().chain(held) {
                    self.queue(id, frame, closes);
                }
                if overflow {
                    self.too_slow(id);
                }
                if self.stopping {
                    self.closed_at_shutdown += 1;
                    self.close_now(id, 1001, "server shutting down");
                }
            }
            Event::Send { to, frame, closes } => self.queue(to, frame, closes),
            Event::Broadcast { frame, except } => {
                let mut ids = std::mem::take(&mut self.scratch);
                ids.clear();
                ids.extend(
                    self.clients
                        .iter()
                        .filter_map(|(id, c)| (c.receives() && Some(*id) != except).then_some(*id)),
                );
                self.deliver(ids, frame);
            }
            Event::Subscribe { id, topic } => self.subscribe(id, topic),
            Event::Unsubscribe { id, topic } => self.unsubscribe(id, &topic),
            Event::Publish {
                topic,
                frame,
                except,
            } => self.publish(&topic, frame, except),
            Event::HandOver { id, rest } => {
                let Some(c) = self.clients.get_mut(&id) else {
                    return;
                };
                c.socket.token.hub_take_over();
                c.replies = true;
                if let Some((frame, sent)) = rest {
                    if c.out.is_empty() {
                        c.progress = Instant::now();
                    }
                    // Part of it is on the wire: it goes first, even ahead
                    // of a close queued meanwhile.
                    c.out.push_front_partial(frame, sent);
                    self.judge_bytes(id);
                }
                self.mark_dirty(id);
            }
            Event::Flush { id } => {
                // Rule 3 of `token`: if the thread holds the token, its
                // hand-over brings the hub here again.
                let mine = self
                    .clients
                    .get(&id)
                    .is_some_and(|c| c.socket.token.hub_claim() == Claim::Held);
                if mine {
                    self.mark_dirty(id);
                }
            }
            Event::Left { id } => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.reader_done = true;
                    // The thread is gone: whatever is left to write (a TLS
                    // alert its session made as it failed, say) is the
                    // hub's, and the token stays with it (see `Client::write`).
                    if c.hub_writes() && c.socket.token.hub_claim() == Claim::Held {
                        // Its notes go with the next write, or its removal.
                        let _ = c.write(&self.metrics);
                    }
                    if c.settled() {
                        self.remove(id);
                    } else {
                        // Give the last frames (a close reply) a bounded
                        // time to get out.
                        self.set_deadline(id, self.limits.close_timeout);
                    }
                }
            }
            Event::Shutdown => self.begin_shutdown(),
        }
    }

    /// An event the client's own thread posted, counted on its token, is
    /// applied: its next reply no longer has to wait behind it, and since
    /// the thread sends replies, it gets the token back when the queue is
    /// empty.
    fn landed(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.socket.token.landed();
            if !c.replies {
                c.replies = true;
                self.mark_dirty(id);
            }
        }
    }

    /// Appends a frame to a client's queue, unless it is closing, and
    /// closes it with 1008 if the queue is over its bound.
    pub(super) fn queue(&mut self, id: ClientId, frame: Bytes, closes: bool) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        match &mut c.phase {
            Phase::Open => {}
            Phase::Opening { held, overflow } => {
                // The client is offered nothing until its thread has
                // written the handshake and what `on_open` sent, so it
                // cannot be behind yet: it is judged by the count once the
                // hub writes to it, on `Opened`.
                if held.len() < self.limits.unjudged_max() {
                    held.push((frame, closes));
                } else {
                    *overflow = true;
                }
                return;
            }
            // "The application MUST NOT send any more data frames after
            // sending a Close frame."
            Phase::Http | Phase::Closing => return,
        }
        if c.out.len() >= self.limits.queue && !closes && !self.room_after_write(id) {
            return;
        }
        // The write may have judged the client and closed it.
        let Some(c) = self.clients.get_mut(&id).filter(|c| c.phase == Phase::Open) else {
            return;
        };
        if c.out.is_empty() {
            // Nothing was owed, so the client was not behind until now.
            c.progress = Instant::now();
        }
        c.out.push(frame);
        // Rule 4 of `token`: a close takes the token for good (the hub
        // gives it back only to an open client with nothing queued).
        let mine = c.socket.token.hub_claim() == Claim::Held;
        if mine && !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
        if closes {
            c.phase = Phase::Closing;
            self.set_deadline(id, self.limits.close_timeout);
        } else if c.out.bytes() > self.limits.queue_bytes {
            self.judge_bytes(id);
        }
    }

    pub(super) fn mark_dirty(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(&id)
            && !c.dirty
        {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Writes as much of a client's queue as its socket takes now.
    pub(super) fn flush(&mut self, id: ClientId) {
        if self.write_out(id) {
            self.pass_notes(id);
        }
    }

    /// [`flush`](Self::flush) but for `--explain`'s notes; says whether the
    /// client is explained.
    fn write_out(&mut self, id: ClientId) -> bool {
        let Some(c) = self.clients.get_mut(&id) else {
            return false;
        };
        let explained = c.explain.is_some();
        c.dirty = false;
        match c.write(&self.metrics) {
            Ok(Wrote::NotMine) => return explained,
            Ok(Wrote::Mine) => {}
            Err(e) => {
                debug!("client {id}: write failed: {e}");
                self.abandon(id);
                return explained;
            }
        }
        if std::mem::take(&mut c.judge_count) && c.out.len() > self.limits.queue {
            self.too_slow(id);
            return explained;
        }
        if c.settled() {
            if c.reader_done {
                self.remove(id);
            } else if c.hang_up {
                let _ = c.socket.stream.shutdown(Shutdown::Both);
            } else if c.phase == Phase::Open {
                c.deadline = None;
            }
        } else {
            self.set_deadline(id, self.limits.write_timeout);
        }
        explained
    }

    pub(super) fn remove(&mut self, id: ClientId) {
        if let Some(mut c) = self.clients.remove(&id) {
            self.leave_topics(id, std::mem::take(&mut c.topics));
            // The server closes the TCP connection first (RFC 6455 section
            // 7.1.1); the connection thread holds the other reference and
            // is on its way out.
            let _ = c.socket.stream.shutdown(Shutdown::Both);
            if let Some(mut d) = c.explain.take()
                && c.phase != Phase::Http
            {
                d.tcp_closed();
                self.send_notes(d.take_notes());
            }
        }
    }
}
