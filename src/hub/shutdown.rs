//! The hub's stop: every open client gets 1001, and the hub ends once all
//! are gone (see `HubThread::run`). Wire views get theirs last, so that
//! they show how the connections they watch ended.

use std::net::Shutdown;

use super::ClientId;
use super::client::Phase;
use super::thread::HubThread;

impl HubThread {
    pub(super) fn begin_shutdown(&mut self) {
        self.stopping = true;
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            let Some(c) = self.clients.get(&id) else {
                continue;
            };
            match c.phase {
                Phase::Http => {
                    let _ = c.socket.stream.shutdown(Shutdown::Both);
                }
                Phase::Open if c.is_view() => {}
                Phase::Open => {
                    self.closed_at_shutdown += 1;
                    self.close_now(id, 1001, "server shutting down");
                }
                // Closed with 1001 once on_open returns.
                Phase::Opening { .. } | Phase::Closing => {}
            }
        }
        for id in std::mem::take(&mut self.dirty) {
            self.flush(id);
        }
    }

    /// While stopping: once only wire views are left, closes them too.
    pub(super) fn close_views_when_alone(&mut self) {
        if self.clients.values().any(|c| !c.is_view()) {
            return;
        }
        let open: Vec<ClientId> = self
            .clients
            .iter()
            .filter_map(|(id, c)| (c.phase == Phase::Open).then_some(*id))
            .collect();
        for id in open {
            self.closed_at_shutdown += 1;
            self.close_now(id, 1001, "server shutting down");
        }
    }
}
