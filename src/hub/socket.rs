//! A client's socket, shared by its connection thread and the hub, and the
//! connection thread's own fast path for its replies.
//!
//! An echo reply that went through the hub cost a channel send, a wake-up
//! and two context switches before its one `send`. So a connection thread
//! writes its own frame at once, without blocking, when the socket's
//! [`Token`] says nothing else is owed to it; anything else goes to the
//! hub as before. See `token` for the rules that keep one writer per
//! socket and every sender's frames in order.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tungstenite::Bytes;

use super::token::Token;
use super::{ClientId, Event, Hub};
use crate::error::Result;
use crate::sys;

/// A client's TCP stream, its TLS session if it has one, its writer
/// token, and whether it was heard from.
#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) stream: TcpStream,
    /// On a TLS port: the session every byte goes through (see `tls` for
    /// how reader and writer share it).
    /// Boxed: rustls's state is large, and a plain socket keeps only the
    /// pointer's width.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Box<crate::tls::Session>>,
    pub(super) token: Token,
    /// The peer sent something since the hub's last keepalive round (see
    /// `thread::HubThread::keepalive`). Set by the connection thread,
    /// taken by the hub; a flag, not a lock: a lost race only delays a
    /// ping by one round.
    heard: AtomicBool,
}

impl Socket {
    pub(crate) fn new(stream: TcpStream) -> Socket {
        Socket {
            stream,
            #[cfg(feature = "tls")]
            tls: None,
            token: Token::new(),
            heard: AtomicBool::new(false),
        }
    }

    /// A socket on a TLS port; its handshake is yet to be run.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(stream: TcpStream, session: crate::tls::Session) -> Socket {
        Socket {
            tls: Some(Box::new(session)),
            ..Socket::new(stream)
        }
    }

    /// Reads what the peer sent (decrypted, on a TLS port), blocking.
    /// Only the connection thread reads. For the request head, `deadline`
    /// is the head's, which the caller has also set as the read timeout: on
    /// a TLS port it bounds the many reads one record can take as well.
    pub(crate) fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.read(&self.stream, buf, deadline);
        }
        let _ = deadline;
        (&self.stream).read(buf)
    }

    /// The TLS session made records of its own while reading (an alert),
    /// which a writer must send. Never, on a plain socket.
    pub(crate) fn made_records(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.made_records();
        }
        false
    }

    /// Writes all of `bytes`, blocking, under the stream's write timeout:
    /// the connection thread's HTTP answers and 101, sent before the hub
    /// writes anything to this socket.
    pub(crate) fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.write_all(&self.stream, bytes);
        }
        (&self.stream).write_all(bytes)
    }

    /// Writes what the socket takes now without blocking, for the holder
    /// of the writer token. Returns the bytes of `bufs` taken; on a TLS
    /// port, their ciphertext may be partly owed (see [`owes`](Self::owes)).
    pub(crate) fn send(&self, bufs: &[&[u8]]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.send_vectored(self.stream.as_fd(), bufs);
        }
        sys::send_vectored_nonblocking(self.stream.as_fd(), bufs)
    }

    /// Sends what a TLS socket owes (see `tls`) without blocking, for the
    /// holder of the writer token; true when nothing is owed any more.
    /// Always true for a plain socket, which never owes anything.
    pub(crate) fn send_owed(&self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.send_owed(self.stream.as_fd());
        }
        Ok(true)
    }

    /// Bytes are owed to the socket beyond any queue: ciphertext made but
    /// not yet taken, or TLS records the session made on its own.
    pub(crate) fn owes(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.owes();
        }
        false
    }

    /// The connection thread read bytes from the peer: it is alive.
    pub(crate) fn heard(&self) {
        // Loaded first, so that a busy connection writes the shared line
        // once a round, not once a read.
        if !self.heard.load(Ordering::Relaxed) {
            self.heard.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the peer was heard from since the last call.
    pub(super) fn take_heard(&self) -> bool {
        self.heard.swap(false, Ordering::Relaxed)
    }
}

thread_local! {
    /// The WebSocket this thread serves, while its frame loop runs: sends
    /// to it from this thread may take the fast path, and this thread's
    /// events that reach it are counted on its token.
    static OWN: RefCell<Option<(ClientId, Arc<Socket>)>> = const { RefCell::new(None) };
}

/// Marks the calling thread as the connection thread of `id` until
/// dropped.
pub(crate) struct Serving(());

impl Serving {
    pub(crate) fn start(id: ClientId, socket: Arc<Socket>) -> Serving {
        OWN.with(|own| *own.borrow_mut() = Some((id, socket)));
        Serving(())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        OWN.with(|own| own.borrow_mut().take());
    }
}

impl Hub {
    /// Sends one frame to `to`: written here and now if `to` is this
    /// thread's own client and nothing is owed to it, else queued through
    /// the hub.
    pub(crate) fn send_frame(&self, to: ClientId, frame: Bytes, closes: bool) -> Result<()> {
        OWN.with(|own| match own.borrow().as_ref() {
            // A close always goes through the hub, which keeps the token
            // from then on.
            Some((id, socket)) if *id == to && !closes && socket.token.thread_take() => {
                self.write_own(*id, socket, frame)
            }
            _ => self.post(Event::Send { to, frame, closes }),
        })
    }

    /// The fast path: this thread holds the token; writes `frame` without
    /// blocking, then gives the token back or hands it, with whatever did
    /// not go out, to the hub.
    fn write_own(&self, id: ClientId, socket: &Socket, frame: Bytes) -> Result<()> {
        // Nothing sent is handed over whole: to a full socket the hub
        // writes it when there is room; on a broken one the hub's write
        // fails too, and it ends the connection.
        let sent = socket.send(&[&frame]).unwrap_or(0);
        if sent == frame.len() {
            self.metrics.sent_frame(&frame);
            // On a TLS port, part of its ciphertext may still be owed:
            // the hub sends that, first.
            if !socket.owes() && socket.token.thread_release() {
                return Ok(());
            }
            return self.post(Event::HandOver { id, rest: None });
        }
        self.post(Event::HandOver {
            id,
            rest: Some((frame, sent)),
        })
    }

    /// After a read on a TLS socket: sends the records its session made
    /// on its own (an alert), here if the token is free, else through the
    /// hub. Ciphertext owed otherwise is the token holder's to send.
    pub(crate) fn send_owed_own(&self, id: ClientId, socket: &Socket) {
        if !socket.made_records() {
            return;
        }
        if !socket.token.thread_take() {
            let _ = self.post(Event::Flush { id });
            return;
        }
        if matches!(socket.send_owed(), Ok(true)) && socket.token.thread_release() {
            return;
        }
        let _ = self.post(Event::HandOver { id, rest: None });
    }

    /// If an event posted from the calling thread can queue a frame for
    /// the thread's own client, counts it on that client's token and
    /// returns the client's id, for the hub to uncount it once queued.
    pub(super) fn count_own(event: &Event) -> Option<ClientId> {
        OWN.with(|own| {
            let own = own.borrow();
            let (id, socket) = own.as_ref()?;
            let reaches = match event {
                Event::Send { to, .. } => to == id,
                Event::Broadcast { except, .. } | Event::Publish { except, .. } => {
                    *except != Some(*id)
                }
                // Not a frame, but a change to what reaches this client:
                // a reply sent after it must not overtake what the hub
                // still queues under the old subscriptions.
                Event::Subscribe { id: to, .. } | Event::Unsubscribe { id: to, .. } => to == id,
                _ => false,
            };
            reaches.then(|| {
                socket.token.sent_to_hub();
                *id
            })
        })
    }
}
