//! The memory budget: one count, in bytes, of the message data a server
//! holds, and the rules for taking from it.
//!
//! What is counted, from the moment it exists until its last reference is
//! gone:
//! - a large message being read: a connection reserves its bytes before
//!   tungstenite may buffer them (see `connection::gate`), and gives them
//!   back once the handler has had the message;
//! - every frame the server sends, from encoding until it has been written
//!   to every socket it was queued for (or dropped): the frame's bytes own
//!   their share of the count (see [`Budget::frame`]), so a broadcast
//!   shared by a thousand queues counts once, and whoever drops the last
//!   reference gives the bytes back;
//! - the hub's table of topics and subscriptions (an estimate per entry,
//!   see `hub::topics`), and what a program reserves for data it keeps on
//!   behalf of clients ([`Reserved`]), such as chat's recent history.
//!
//! Small messages never wait and are never refused: a message of at most
//! [`SMALL`] bytes is read within the connection's own allowance, and a
//! small frame is counted but always taken. Only large messages can meet a
//! full budget: a connection reading one stops reading (TCP pushes back on
//! its sender) until there is room, for a bounded time; a large send is
//! refused at once with [`Error::Busy`](crate::Error::Busy). Small frames
//! can take the count past the limit; the hub then closes the clients
//! that hold the most output without reading it (see `hub`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tungstenite::Bytes;

/// A message of at most this many bytes is small: it never waits for the
/// budget. Each connection may hold one small message being read outside
/// the budget, so this, times the connection limit, is part of the
/// server's memory bound. 4 KiB holds a chat line, a JSON event, a ping.
pub const SMALL: usize = 4 * 1024;

/// The header of a server frame carrying [`SMALL`] bytes: 2 bytes and a
/// 16-bit length.
const SMALL_HEADER: usize = 4;

/// The count, shared by every thread of one server.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    /// How many connections wait in [`take_within`](Budget::take_within). Lets
    /// [`give`](Budget::give) skip the lock when nobody waits, which is
    /// always, but under pressure.
    waiters: AtomicUsize,
    /// Protects nothing but the wait itself: a waiter holds it only between
    /// its last check and going to sleep, and a giver only to notify, so no
    /// one ever holds it while doing I/O or taking another lock, and it
    /// cannot deadlock.
    lock: Mutex<()>,
    room: Condvar,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            room: Condvar::new(),
        })
    }

    /// Bytes counted now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes the budget holds (small frames may take it past).
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// True while small frames have taken the count past the limit.
    pub(crate) fn over(&self) -> bool {
        self.used() > self.limit
    }

    /// Takes `n` bytes if they fit under the limit; never waits.
    pub(crate) fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    /// Takes `n` bytes whether they fit or not: for small frames, which
    /// must never wait or be refused, and the hub's own small tables.
    pub(crate) fn force_take(&self, n: usize) {
        self.used.fetch_add(n, Ordering::SeqCst);
    }

    /// Takes `n` bytes, waiting up to `wait` for room. False if there was
    /// none by then. The clock is read only when there is no room at once.
    pub(crate) fn take_within(&self, n: usize, wait: Duration) -> bool {
        if self.try_take(n) {
            return true;
        }
        let deadline = Instant::now() + wait;
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let taken = loop {
            // A giver either freed room before we registered (and this
            // check sees it), or notifies after taking the lock, which it
            // cannot do until we sleep: no wake-up is lost.
            if self.try_take(n) {
                break true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            guard = match self.room.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        taken
    }

    /// Gives back `n` bytes and wakes whoever waits for room.
    pub(crate) fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.room.notify_all();
        }
    }

    /// Wraps an encoded frame so that it counts against the budget until
    /// its last clone is dropped. A frame over [`SMALL`] is refused (given
    /// back as `Err`) when it does not fit; a small one is always taken.
    pub(crate) fn frame(self: &Arc<Self>, bytes: Vec<u8>) -> Result<Bytes, Vec<u8>> {
        // A payload of at most SMALL bytes, whatever its length form.
        if bytes.len() <= SMALL + SMALL_HEADER {
            return Ok(self.small(bytes));
        }
        if !self.try_take(bytes.capacity()) {
            return Err(bytes);
        }
        Ok(self.counted(bytes))
    }

    /// Counts a frame known to be small (a close, a ping, a pong), which
    /// the budget always takes.
    pub(crate) fn small(self: &Arc<Self>, bytes: Vec<u8>) -> Bytes {
        self.force_take(bytes.capacity());
        self.counted(bytes)
    }

    /// Wraps bytes already taken from the budget.
    fn counted(self: &Arc<Self>, bytes: Vec<u8>) -> Bytes {
        Bytes::from_owner(Counted {
            bytes,
            budget: self.clone(),
        })
    }
}

/// Bytes of a program's own data (a room's recent history, a cache),
/// counted against the server's memory budget until this is dropped. Made
/// by [`Hub::reserve`](crate::Hub::reserve).
#[must_use = "the bytes are given back as soon as this is dropped"]
pub struct Reserved {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reserved {
    /// Takes `bytes`: at most [`SMALL`] always, more only if they fit now.
    pub(crate) fn take(budget: &Arc<Budget>, bytes: usize) -> Option<Reserved> {
        if bytes <= SMALL {
            budget.force_take(bytes);
        } else if !budget.try_take(bytes) {
            return None;
        }
        Some(Reserved {
            budget: budget.clone(),
            bytes,
        })
    }

    /// How many bytes this holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

impl std::fmt::Debug for Reserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reserved")
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// Frame bytes that hold their share of the budget while they live.
struct Counted {
    bytes: Vec<u8>,
    budget: Arc<Budget>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // Free first, then give back: the other way round, a waiter could
        // take the room and allocate while these bytes still exist.
        let n = self.bytes.capacity();
        drop(std::mem::take(&mut self.bytes));
        self.budget.give(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frames_count_until_the_last_clone_is_gone() {
        let budget = Budget::new(1 << 20);
        let frame = budget.frame(vec![0u8; 100_000]).expect("fits");
        let shared = frame.clone();
        assert_eq!(budget.used(), 100_000);
        drop(frame);
        assert_eq!(budget.used(), 100_000, "a clone still holds it");
        drop(shared);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn large_frames_are_refused_when_full_small_ones_never() {
        let budget = Budget::new(64 * 1024);
        let big = budget.frame(vec![0u8; 63 * 1024]).expect("fits");
        assert!(budget.frame(vec![0u8; 10 * 1024]).is_err());
        let small = budget.frame(vec![0u8; 4000]).expect("small always goes");
        assert!(budget.over());
        drop((big, small));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_waiter_gets_room_when_it_is_given_back() {
        let budget = Budget::new(1000);
        assert!(budget.try_take(800));
        let b = budget.clone();
        let waiter = std::thread::spawn(move || b.take_within(500, Duration::from_secs(10)));
        // Give back only once the waiter is registered, so the test covers
        // the wake-up rather than the first check.
        let until = Instant::now() + Duration::from_secs(10);
        while budget.waiters.load(Ordering::SeqCst) == 0 && Instant::now() < until {
            std::thread::yield_now();
        }
        budget.give(800);
        assert!(waiter.join().expect("no panic"));
        assert_eq!(budget.used(), 500);
        assert!(!budget.take_within(600, Duration::from_millis(50)));
    }
}
