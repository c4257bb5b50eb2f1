//! The writer token: which of two threads may write one socket now.
//!
//! Two threads can write a client's socket: its connection thread, which
//! writes its own replies at once when nothing else is waiting (see
//! `socket`), and the hub, which writes everything else. Exactly one of
//! them writes at any moment, and the token says which. It is one atomic
//! word per socket:
//!
//! - the owner: `FREE` (nobody; the hub has nothing queued for the
//!   socket), `THREAD` (the connection thread is writing one frame now),
//!   or `HUB` (the hub has frames queued, or is about to);
//! - `WANTED`: the hub queued frames while the thread held the token; the
//!   thread must hand the token over when it is done;
//! - a count of the thread's events still on their way to the hub that
//!   will queue frames for this same socket (a reply that could not go
//!   out at once, a broadcast or publish that includes its sender), or
//!   change what reaches it (a subscription it starts or ends). While it is not
//!   zero, a direct write could overtake them, so the thread does not try.
//!
//! The rules, each kept by one function here:
//! 1. The thread takes the token only from a word that is exactly `FREE`
//!    (no flag, no count): nothing is queued or in flight.
//! 2. The thread writes at most one frame, without blocking, then either
//!    gives the token back (`FREE`), or, if the hub wants it or the frame
//!    did not go out whole, keeps it and sends the hub a hand-over event
//!    with the rest; only the hub, on that event, moves `THREAD` to `HUB`.
//! 3. The hub takes a `FREE` token at once; a token the thread holds, it
//!    marks `WANTED`, queues behind it and writes nothing until the
//!    hand-over arrives. It gives the token back only when its queue for
//!    the socket is empty.
//! 4. A close frame is queued by the hub only, which claims the token as
//!    it does so and never gives it back: "The application MUST NOT send
//!    any more data frames after sending a Close frame" (RFC 6455 section
//!    5.5.1).
//!
//! Nothing waits on the token: the thread never spins for it (it queues
//! through the hub instead), and the hub never waits for the thread (it
//! queues and goes on). The thread holds it for one non-blocking send.

use std::sync::atomic::{AtomicU32, Ordering};

const OWNER: u32 = 0b11;
const FREE: u32 = 0;
const THREAD: u32 = 1;
const HUB: u32 = 2;
const WANTED: u32 = 1 << 2;
/// One event in flight; the count takes the bits above the flag.
const IN_FLIGHT: u32 = 1 << 3;

/// What the hub got when it asked for the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// The hub holds the token: it may write.
    Held,
    /// The thread is writing; it hands the token over when done.
    Wanted,
}

/// The token itself. Orderings are acquire/release on every change: a
/// writer's `send` happens before the change that gives the token away,
/// which happens before the next writer's `send`.
#[derive(Debug)]
pub(crate) struct Token(AtomicU32);

impl Token {
    /// A new socket's token, held by the hub: the connection thread writes
    /// the handshake itself, outside this protocol, and the hub gives the
    /// token back once `on_open` is done and what it sent is written.
    pub(super) fn new() -> Token {
        Token(AtomicU32::new(HUB))
    }

    /// Rule 1: the thread takes the token if nothing else is owed.
    pub(super) fn thread_take(&self) -> bool {
        self.0
            .compare_exchange(FREE, THREAD, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Rule 2, after a whole frame went out: gives the token back, unless
    /// the hub wants it; then `false`, and the thread must hand it over.
    pub(super) fn thread_release(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & WANTED == 0).then_some(s & !OWNER)
            })
            .is_ok()
    }

    /// The thread posted an event that will queue a frame for its own
    /// socket, or change its subscriptions: direct writes wait until the
    /// hub has applied it.
    pub(super) fn sent_to_hub(&self) {
        self.0.fetch_add(IN_FLIGHT, Ordering::AcqRel);
    }

    /// The hub applied such an event. If it queued a frame, it claimed
    /// the token first, so the thread still cannot write; if it queued
    /// nothing, nothing waits that a direct write could overtake.
    pub(super) fn landed(&self) {
        self.0.fetch_sub(IN_FLIGHT, Ordering::AcqRel);
    }

    /// Rule 3: the hub asks for the token to write frames it queued.
    pub(super) fn hub_claim(&self) -> Claim {
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| match s & OWNER {
                FREE => Some(s | HUB),
                THREAD if s & WANTED == 0 => Some(s | WANTED),
                _ => None,
            });
        match prev.unwrap_or_else(|s| s) & OWNER {
            THREAD => Claim::Wanted,
            _ => Claim::Held,
        }
    }

    /// Rule 2, on the hub's side: the hand-over event arrived, and the
    /// token is the hub's.
    pub(super) fn hub_take_over(&self) {
        // Only this call moves THREAD to HUB, and the thread changes
        // nothing while a hand-over is in flight, so this cannot race with
        // another owner change.
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s & !(OWNER | WANTED)) | HUB)
            })
            .ok();
    }

    /// Rule 3: the hub's queue for the socket is empty (and, rule 4, no
    /// close frame is in it or behind it); the thread may write again.
    pub(super) fn hub_release(&self) {
        self.0.fetch_and(!OWNER, Ordering::AcqRel);
    }

    /// True when the hub holds the token (read by the hub only: nobody
    /// else can take it from the hub, so the answer cannot go stale).
    pub(super) fn hub_holds(&self) -> bool {
        self.0.load(Ordering::Acquire) & OWNER == HUB
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_writes_only_when_nothing_is_owed() {
        let t = Token::new();
        assert!(!t.thread_take(), "the hub holds a new socket's token");
        t.hub_release();
        assert!(t.thread_take());
        assert!(t.thread_release());
        t.sent_to_hub();
        assert!(!t.thread_take(), "an event of the thread's is in flight");
        assert_eq!(t.hub_claim(), Claim::Held);
        t.landed();
        assert!(!t.thread_take(), "the hub has it queued");
        t.hub_release();
        assert!(t.thread_take());
    }

    #[test]
    fn the_hub_waits_for_a_hand_over() {
        let t = Token::new();
        t.hub_release();
        assert!(t.thread_take());
        assert_eq!(t.hub_claim(), Claim::Wanted);
        assert!(!t.hub_holds());
        assert!(!t.thread_release(), "the hub wants it: hand it over");
        assert!(!t.hub_holds(), "still the thread's until the event lands");
        t.hub_take_over();
        assert!(t.hub_holds());
        assert!(!t.thread_take());
    }
}
