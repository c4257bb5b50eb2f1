//! The accept loop: one thread that hands each connection to a thread of
//! its own, refuses connections over the limit, and joins finished threads.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use log::{error, warn};

use crate::connection;
use crate::http;
use crate::hub::{ClientId, Event, Socket};
use crate::server::Shared;
use crate::sys::{self, PollFd, PollFlags, Waker};

/// Tells the listener to stop, from any thread.
pub(crate) struct Stop {
    pub waker: Waker,
    pub requested: AtomicBool,
}

impl Stop {
    pub(crate) fn new() -> io::Result<Stop> {
        Ok(Stop {
            waker: Waker::new()?,
            requested: AtomicBool::new(false),
        })
    }

    pub(crate) fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.waker.wake();
    }
}

/// What the listener hands back when it stops: the connection threads still
/// running, and the channel on which each reports its end.
pub(crate) struct Remaining {
    pub threads: HashMap<ClientId, JoinHandle<()>>,
    pub done: Receiver<ClientId>,
}

impl Remaining {
    /// Joins every connection thread; returns once all have ended.
    pub(crate) fn join_all(mut self) {
        while !self.threads.is_empty() {
            match self.done.recv() {
                Ok(id) => {
                    if let Some(t) = self.threads.remove(&id) {
                        let _ = t.join();
                    }
                }
                Err(_) => break,
            }
        }
        for (_, t) in self.threads.drain() {
            let _ = t.join();
        }
    }
}

/// Accepts until stopped.
pub(crate) fn run(listener: TcpListener, shared: Arc<Shared>, stop: Arc<Stop>) -> Remaining {
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let mut threads: HashMap<ClientId, JoinHandle<()>> = HashMap::new();
    let mut next_id: ClientId = 1;
    let _ = listener.set_nonblocking(true);
    let mut fds = [
        PollFd::new(&listener, PollFlags::IN),
        PollFd::new(&stop.waker, PollFlags::IN),
    ];
    loop {
        stop.waker.about_to_sleep();
        let mut signalled = false;
        if done_rx.is_empty() && !stop.requested.load(Ordering::SeqCst) {
            if let Err(e) = sys::poll(&mut fds, None) {
                error!("listener: poll failed: {e}");
            }
            signalled = sys::ready(&fds[1]);
        }
        stop.waker.woke(signalled);
        // Join threads that have ended, so their stacks go back at once.
        while let Ok(id) = done_rx.try_recv() {
            if let Some(t) = threads.remove(&id) {
                let _ = t.join();
            }
        }
        if stop.requested.load(Ordering::SeqCst) {
            return Remaining {
                threads,
                done: done_rx,
            };
        }
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let id = next_id;
                    next_id += 1;
                    if let Some(t) = spawn(id, stream, peer, &shared, &done_tx, &stop) {
                        threads.insert(id, t);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors (EMFILE) leaves the connection in
                    // the backlog and the socket readable: pause briefly
                    // rather than spin, and let threads finish meanwhile.
                    warn!("listener: accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    break;
                }
            }
        }
    }
}

fn spawn(
    id: ClientId,
    stream: TcpStream,
    peer: std::net::SocketAddr,
    shared: &Arc<Shared>,
    done: &Sender<ClientId>,
    stop: &Arc<Stop>,
) -> Option<JoinHandle<()>> {
    // Accepted sockets inherit non-blocking mode on some systems (macOS);
    // connection threads use blocking reads.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    sys::no_sigpipe(stream.as_fd());
    shared.hub.metrics().accepted();
    let live = shared.live.fetch_add(1, Ordering::SeqCst) + 1;
    if live > shared.config.max_connections {
        shared.live.fetch_sub(1, Ordering::SeqCst);
        warn!(
            "{peer}: over the connection limit ({}), answering 503",
            shared.config.max_connections
        );
        let body = http::error_response(
            503,
            "Retry-After: 5\r\n",
            "too many connections, try again soon",
            false,
        );
        // Never block the accept loop: the answer fits in an empty socket
        // buffer. Reading what the client already sent first makes the
        // close a FIN rather than a reset that could destroy the answer.
        let _ = stream.set_nonblocking(true);
        let mut sink = [0u8; 4096];
        for _ in 0..4 {
            if !matches!((&stream).read(&mut sink), Ok(1..)) {
                break;
            }
        }
        // A TLS client could not read a plain answer: it just sees the
        // connection closed.
        if !shared.tls_port() {
            let _ = (&stream).write(&body);
        }
        let _ = stream.shutdown(Shutdown::Write);
        return None;
    }
    let socket = match new_socket(stream, shared) {
        Ok(socket) => Arc::new(socket),
        Err(e) => {
            error!("{peer}: cannot start a TLS session: {e}");
            shared.live.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
    };
    let explain = shared.config.explain.then(Arc::default);
    let accepted = Event::Accepted {
        id,
        socket: socket.clone(),
        explain: explain.clone(),
    };
    // The hub needs to know of the socket only when it is shutting down or
    // has something to send it, which wakes it anyway.
    if shared.hub.post_quietly(accepted).is_err() {
        shared.live.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    let (shared, done, stop) = (shared.clone(), done.clone(), stop.clone());
    let spawned = std::thread::Builder::new()
        .name(format!("ws-{id}"))
        .stack_size(shared.config.stack_size)
        .spawn(move || {
            let guard = Finished {
                id,
                shared: &shared,
                done,
                stop,
            };
            if let Some(open) = connection::serve(id, socket, peer, guard.shared, explain) {
                open.run();
            }
        });
    match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            error!("{peer}: cannot start a thread: {e}");
            None
        }
    }
}

/// The accepted stream, with a TLS session on a TLS port.
fn new_socket(stream: TcpStream, shared: &Shared) -> std::io::Result<Socket> {
    #[cfg(feature = "tls")]
    if let Some(config) = &shared.tls {
        return Ok(Socket::with_tls(
            stream,
            crate::tls::Session::new(config.clone())?,
        ));
    }
    let _ = shared;
    Ok(Socket::new(stream))
}

/// Runs when a connection thread ends, however it ends: frees its slot,
/// tells the hub, and asks the listener to join the thread.
struct Finished<'a> {
    id: ClientId,
    shared: &'a Arc<Shared>,
    done: Sender<ClientId>,
    stop: Arc<Stop>,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.shared.live.fetch_sub(1, Ordering::SeqCst);
        // A view's secret goes with its connection, however it ended.
        if let Some(views) = &self.shared.views {
            views.forget(self.id);
        }
        let _ = self.shared.hub.post(Event::Left { id: self.id });
        let _ = self.done.send(self.id);
        self.stop.waker.wake();
    }
}
