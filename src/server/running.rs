//! A started server, and the handle that stops it from any thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use log::info;

use crate::hub::{Event, Hub};
use crate::listener::{Remaining, Stop};

/// A started server. Dropping it shuts the server down gracefully.
pub struct Running {
    pub(super) local_addr: SocketAddr,
    pub(super) hub: Hub,
    pub(super) stop: Arc<Stop>,
    pub(super) threads: Option<(JoinHandle<Remaining>, JoinHandle<usize>)>,
}

impl Running {
    /// The address the server listens on (the real port, if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to send to clients from any thread.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// A handle that stops this server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
        }
    }

    /// Stops accepting, closes every client with 1001 (going away), waits
    /// a bounded time for the closing handshakes, and joins every thread.
    /// Returns how many WebSocket clients were closed.
    pub fn shutdown(mut self) -> usize {
        self.stop.request();
        self.finish()
    }

    /// Blocks until another thread stops the server through a
    /// [`ShutdownHandle`], then finishes the shutdown like
    /// [`shutdown`](Running::shutdown).
    pub fn wait(mut self) -> usize {
        self.finish()
    }

    fn finish(&mut self) -> usize {
        let Some((listener, hub_thread)) = self.threads.take() else {
            return 0;
        };
        let remaining = listener.join().ok();
        let _ = self.hub.post(Event::Shutdown);
        if let Some(remaining) = remaining {
            remaining.join_all();
        }
        let closed = hub_thread.join().unwrap_or(0);
        // After the hub: the clients' goodbyes (a chat's leave notices)
        // are on their way to the other nodes before this node's own.
        #[cfg(feature = "redis")]
        if let Some(nodes) = self.hub.nodes() {
            nodes.stop();
        }
        info!(
            "server on {} stopped; {closed} client(s) closed",
            self.local_addr
        );
        closed
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.request();
        self.finish();
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Stops a running server from any thread; clonable.
#[derive(Clone)]
pub struct ShutdownHandle {
    stop: Arc<Stop>,
}

impl ShutdownHandle {
    /// Asks the server to stop. Returns at once; the thread blocked in
    /// [`Running::wait`] completes the shutdown.
    pub fn shutdown(&self) {
        self.stop.request();
    }
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}
