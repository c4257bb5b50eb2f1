//! The socket as tungstenite sees it: reads come from the network through
//! the gate; writes (tungstenite's pongs and close replies) are collected
//! and sent as one frame, by this thread or the hub (see `hub::socket`).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use super::gate::Gate;
use crate::explain;
use crate::frame;
use crate::hub::{ClientId, Socket};
use crate::server::Shared;

pub(super) struct Wire {
    pub id: ClientId,
    pub socket: Arc<Socket>,
    pub shared: Arc<Shared>,
    pub replies: Vec<u8>,
    /// `--explain`: prints each incoming frame as its bytes arrive.
    pub explain: Option<Box<explain::Decoder>>,
    pub gate: Gate,
    /// Bytes the client sent behind its request head, read before the
    /// socket so that they pass the gate too.
    pub early: io::Cursor<Vec<u8>>,
    /// The socket's read timeout now: none (a blocking read with a timeout
    /// arms a kernel timer on every read, about a tenth of an echo round
    /// trip's cost here; the hub keeps the keepalive instead), or the
    /// memory wait while the gate holds budget for a message.
    pub timeout: Option<Duration>,
}

impl Wire {
    /// Sends collected replies, in order with everything else for this
    /// client: at once if nothing else is owed to it, else through the hub.
    pub(super) fn forward(&mut self) {
        if !self.replies.is_empty() {
            let wire = (self.shared.hub.budget()).small(std::mem::take(&mut self.replies));
            let closes = frame::contains_close(&wire);
            let _ = self.shared.hub.send_frame(self.id, wire, closes);
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A pong owed for a ping must go out before this thread sleeps.
        self.forward();
        let cfg = &self.shared.config;
        let timeout = self.gate.holding().then_some(cfg.memory_wait);
        if timeout != self.timeout {
            self.timeout = timeout;
            let _ = self.socket.stream.set_read_timeout(timeout);
        }
        let (socket, explain, hub) = (&self.socket, &mut self.explain, &self.shared.hub);
        let early = &mut self.early;
        let n = self.gate.read(buf, |raw| {
            if (early.position() as usize) < early.get_ref().len() {
                return early.read(raw);
            }
            let n = socket.read(raw, None)?;
            if n > 0 {
                socket.heard();
            }
            // What the client sent, before the gate cuts anything.
            if let Some(d) = explain.as_mut() {
                d.feed(&raw[..n]);
                send_notes(hub, d.take_notes());
            }
            Ok(n)
        });
        // Also after an error: a TLS session that failed has queued the
        // alert that says why.
        self.shared.hub.send_owed_own(self.id, &self.socket);
        let n = n?;
        if self.early.get_ref().capacity() > 0
            && self.early.position() as usize == self.early.get_ref().len()
        {
            // Read through: an idle connection keeps none of it.
            self.early = io::Cursor::new(Vec::new());
        }
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.replies.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends `--explain`'s notes on this connection to the view watching it;
/// dropped if the view is gone.
pub(super) fn send_notes(hub: &crate::hub::Hub, notes: Option<(ClientId, Vec<String>)>) {
    if let Some((view, notes)) = notes {
        for note in notes {
            let _ = hub.send(view, note);
        }
    }
}
