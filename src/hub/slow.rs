//! Clients that fall behind: the count bound, judged after a write; the
//! memory budget's shedding of the worst blocked client; and the close
//! that ends them (and every client the hub closes). The byte bound is
//! judged by progress, in `deadlines`.

use log::warn;

use super::ClientId;
use super::client::Phase;
use super::thread::HubThread;
use crate::frame;

impl HubThread {
    /// A client's queue is at its count bound. The bound is on what the
    /// client has not taken, not on what the hub has not tried to write
    /// yet: write, then judge. Returns whether one more frame may be
    /// queued; if not, the client is being closed.
    pub(super) fn room_after_write(&mut self, id: ClientId) -> bool {
        self.flush(id);
        let Some(c) = self.clients.get_mut(&id) else {
            return false;
        };
        if c.out.len() < self.limits.queue {
            return true;
        }
        if !c.socket.token.hub_holds() && c.out.len() < self.limits.unjudged_max() {
            // The connection thread is writing a reply of its own (rule 3
            // of `token`), so the hub could not offer the client anything:
            // it is judged at the hub's first write after the hand-over.
            c.judge_count = true;
            return true;
        }
        self.too_slow(id);
        false
    }

    pub(super) fn too_slow(&mut self, id: ClientId) {
        warn!(
            "client {id}: outbound queue full ({} frames), closing it with 1008 (raise --queue if clients are expected to fall this far behind)",
            self.limits.queue
        );
        self.close_too_slow(id, "too slow: outbound queue full");
    }

    /// Closes a client with 1008 for falling behind, and counts it (once:
    /// a client already closing is not closed again).
    pub(super) fn close_too_slow(&mut self, id: ClientId, reason: &str) {
        if self
            .clients
            .get(&id)
            .is_some_and(|c| c.phase == Phase::Open)
        {
            self.metrics.closed_too_slow();
        }
        self.close_now(id, 1008, reason);
    }

    /// Small frames have taken the budget past its limit (large ones are
    /// refused before that): close the client holding the most output it
    /// does not read. One per batch, so a reader that is merely behind
    /// keeps its chance to catch up while the worst offenders go first.
    pub(super) fn shed(&mut self) {
        let worst = self
            .clients
            .iter()
            .filter(|(_, c)| c.phase == Phase::Open && c.deadline.is_some())
            .max_by_key(|(_, c)| c.out.bytes())
            .filter(|(_, c)| c.out.bytes() > crate::SMALL)
            .map(|(id, c)| (*id, c.out.bytes()));
        if let Some((id, bytes)) = worst {
            warn!(
                "client {id}: the memory budget is full and {bytes} bytes wait for this client, the most of any client whose output is blocked; closing it with 1008 (raise --memory to allow more)"
            );
            self.close_too_slow(id, "too slow: server memory budget full");
        }
    }

    /// Sends a close frame ahead of anything still queued (but after a
    /// frame already partly on the wire, which must be completed).
    pub(super) fn close_now(&mut self, id: ClientId, code: u16, reason: &str) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.phase != Phase::Open {
            return;
        }
        c.out.drop_unstarted();
        // A close frame is small: the budget always takes it.
        c.out.push(self.budget.small(frame::close(code, reason)));
        // Rule 4 of `token`. If the thread is writing now, its frame goes first and the
        // hand-over that follows lets the close out.
        c.socket.token.hub_claim();
        c.phase = Phase::Closing;
        self.set_deadline(id, self.limits.close_timeout);
        self.mark_dirty(id);
    }
}
