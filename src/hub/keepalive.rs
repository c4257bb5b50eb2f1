//! The keepalive: one round per `--ping-interval` for every client, kept by
//! the hub, so that connection threads need no read timeout (a blocking
//! read with a timeout arms a kernel timer on every read).

use std::time::Instant;

use log::info;

use super::client::Phase;
use super::thread::HubThread;
use crate::frame;

impl HubThread {
    /// When the next keepalive round is due: one interval after the last,
    /// while there are clients. An idle server with no client has no
    /// timer at all; one with idle clients wakes once an interval for all
    /// of them, where each connection thread used to wake for itself.
    pub(super) fn next_round(&mut self) -> Option<Instant> {
        if self.clients.is_empty() {
            self.next_round = None;
        } else if self.next_round.is_none() {
            self.next_round = Some(Instant::now() + self.limits.ping_interval);
        }
        self.next_round
    }

    /// A keepalive round. A client heard from since the last round is
    /// alive. One that was not is sent a ping (a browser or any RFC 6455
    /// client answers it: "Upon receipt of a Ping frame, an endpoint MUST
    /// send a Pong frame in response"); one still silent a round after its
    /// ping is gone: it gets a close frame with 1001 and its socket is
    /// shut, which ends its connection thread's read. So a silent peer is
    /// pinged after one to two intervals and dropped after two to three.
    pub(super) fn keepalive(&mut self) {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        ids.extend(
            self.clients
                .iter()
                .filter_map(|(id, c)| (c.phase == Phase::Open && !c.reader_done).then_some(*id)),
        );
        for &id in &ids {
            let Some(c) = self.clients.get_mut(&id) else {
                continue;
            };
            // Whether its thread still writes replies of its own is asked
            // anew each round (see `Client::replies`).
            c.replies = false;
            if c.socket.take_heard() {
                c.pinged = false;
            } else if !c.pinged {
                c.pinged = true;
                let ping = self.budget.small(frame::encode(frame::Opcode::Ping, b""));
                self.queue(id, ping, false);
            } else {
                info!("client {id}: no answer to ping, closing it with 1001");
                self.close_now(id, 1001, "no answer to ping");
                if let Some(c) = self.clients.get_mut(&id) {
                    c.hang_up = true;
                }
            }
        }
        self.scratch = ids;
        for id in std::mem::take(&mut self.dirty) {
            self.flush(id);
        }
    }
}
