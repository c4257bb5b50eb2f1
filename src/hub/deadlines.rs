//! The hub's clocks: how long a client's output may stay blocked, how long
//! a client over its byte bound may take nothing, and how long a closing
//! handshake may take. The hub sleeps until the earliest of them.

use std::net::Shutdown;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::ClientId;
use super::client::Phase;
use super::thread::HubThread;

/// How long a client over its byte bound may go without taking a single
/// byte before it is closed as too slow. A client that reads, however far
/// behind, takes bytes every few milliseconds; one that has stopped takes
/// none.
pub(crate) const STALL: Duration = Duration::from_secs(2);

impl HubThread {
    /// Over the byte bound, a client is judged by whether it keeps taking
    /// bytes, not by the size of one burst, so a reader that is sent
    /// several large messages in a row is never cut off.
    pub(super) fn judge_bytes(&mut self, id: ClientId) {
        let Some(c) = self.clients.get(&id) else {
            return;
        };
        if c.out.bytes() > self.limits.queue_bytes {
            let judge = c.progress + STALL;
            self.deadline_at(id, judge);
        }
    }

    /// Sets a deadline `after` from now, unless an earlier one is set.
    pub(super) fn set_deadline(&mut self, id: ClientId, after: Duration) {
        self.deadline_at(id, Instant::now() + after);
    }

    /// Sets a deadline at `at`, unless an earlier one is set.
    pub(super) fn deadline_at(&mut self, id: ClientId, at: Instant) {
        if let Some(c) = self.clients.get_mut(&id) {
            match c.deadline {
                None => {
                    self.watched.push(id);
                    c.deadline = Some(at);
                }
                Some(d) if d > at => c.deadline = Some(at),
                Some(_) => {}
            }
        }
    }

    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
        let clients = &self.clients;
        self.watched
            .retain(|id| clients.get(id).is_some_and(|c| c.deadline.is_some()));
        self.watched
            .iter()
            .filter_map(|id| clients.get(id).and_then(|c| c.deadline))
            .min()
    }

    pub(super) fn expire_deadlines(&mut self) {
        let now = Instant::now();
        let expired: Vec<ClientId> = self
            .watched
            .iter()
            .copied()
            .filter(|id| {
                self.clients
                    .get(id)
                    .and_then(|c| c.deadline)
                    .is_some_and(|d| d <= now)
            })
            .collect();
        for id in expired {
            let Some(c) = self.clients.get_mut(&id) else {
                continue;
            };
            c.deadline = None;
            if c.phase == Phase::Open && !c.reader_done {
                // Output deadlines run from the last byte the client took:
                // one that is behind but reading gets a new one.
                let idle = now.saturating_duration_since(c.progress);
                if c.out.bytes() > self.limits.queue_bytes {
                    if idle < STALL {
                        c.deadline = Some(c.progress + STALL);
                        continue;
                    }
                    warn!(
                        "client {id}: {} bytes wait for it and it took none for {STALL:?}; closing it with 1008 (raise --queue-bytes if clients are expected to fall this far behind)",
                        c.out.bytes()
                    );
                    self.close_too_slow(id, "too slow: outbound queue full");
                    continue;
                }
                if idle < self.limits.write_timeout {
                    c.deadline = Some(c.progress + self.limits.write_timeout);
                    continue;
                }
            }
            if c.phase == Phase::Open {
                info!("client {id}: output blocked too long, dropping the connection");
            } else {
                debug!("client {id}: closing handshake timed out");
            }
            self.abandon(id);
        }
    }

    /// Gives up on a connection: drops what waits for it and shuts the
    /// socket, which wakes the connection thread from its read to report
    /// the end and send `Left`.
    pub(super) fn abandon(&mut self, id: ClientId) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        c.out.clear();
        let _ = c.socket.stream.shutdown(Shutdown::Both);
        if c.reader_done {
            self.remove(id);
        }
    }
}
