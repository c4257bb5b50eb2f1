//! https:// and wss:// on the same port, with rustls.
//!
//! A TLS connection is one rustls session for both directions: the
//! connection thread reads through it, and whoever writes the socket (the
//! thread for its own replies, or the hub; see `hub::token`) writes
//! through it. So reader and writer share it, and the rules are these:
//!
//! - **The session lock** ([`Session::conn`]) is held only to move bytes
//!   into or out of the session (decrypt what was read, encrypt what is to
//!   be written), never across a system call. Neither thread ever waits on
//!   the network for it, only on the other's copy and cipher of at most one
//!   chunk ([`CHUNK`]): the hub never waits on a client.
//! - **Ciphertext leaves in the order the session made it.** Only the
//!   holder of the socket's writer token extracts ciphertext from the
//!   session, and the same holder writes it or keeps it as the socket's
//!   owed bytes ([`Session::owed`]), which the next holder writes before
//!   anything else. Records the session makes on its own while reading (an
//!   alert) wait in the session until the next extraction, which the
//!   connection thread asks for after each read (`Hub::send_owed_own`).
//! - **Queues keep plaintext frames**, shared between clients and counted
//!   once in the memory budget; each is encrypted as it is written, one
//!   chunk at a time, so a socket owes at most one chunk's ciphertext.
//!
//! Before the WebSocket opens, the connection thread is the socket's only
//! user, and [`Session::handshake`] and [`Session::write_all`] block, under
//! the head's deadline (the caller sets the write timeout for the latter).

mod config;

pub use config::TlsConfig;

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rustls::{ServerConfig, ServerConnection};

use crate::sys;

/// Plaintext encrypted per step: one full TLS record. A socket owes at
/// most this much ciphertext (plus the record's overhead) at any time.
pub(crate) const CHUNK: usize = 16 * 1024;

/// One connection's TLS session and the bytes on their way through it.
pub(crate) struct Session {
    /// The session lock: rustls's state for both directions. Never held
    /// across a system call (see the module docs).
    conn: Mutex<ServerConnection>,
    /// Ciphertext made but not yet taken by the socket. Touched only by
    /// the holder of the socket's writer token, so this lock is never
    /// contended (it is a lock because the token's exclusivity is not
    /// visible to the compiler); no system call is made while it is held.
    owed: Mutex<Vec<u8>>,
    /// Ciphertext read from the socket that the session had no room for
    /// yet. Touched only by the connection thread, while reading.
    unread: Mutex<Vec<u8>>,
}

/// How a connection on a TLS port began.
pub(crate) enum Start {
    /// The TLS handshake is done.
    Tls,
    /// The client spoke plain HTTP to the TLS port.
    PlainHttp,
    /// The handshake failed or took too long; the text says why.
    Failed(String),
}

impl Session {
    pub(crate) fn new(config: Arc<ServerConfig>) -> io::Result<Session> {
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Session {
            conn: Mutex::new(conn),
            owed: Mutex::new(Vec::new()),
            unread: Mutex::new(Vec::new()),
        })
    }

    fn conn(&self) -> MutexGuard<'_, ServerConnection> {
        // A panic while the lock is held leaves rustls's state as it was
        // at the panic; the connection is then ended by its own errors.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the TLS handshake before `deadline`, blocking. A client that
    /// sends plain HTTP instead is told apart by its first byte: a TLS
    /// connection starts with a handshake record (22), HTTP with a method
    /// name in ASCII letters.
    pub(crate) fn handshake(&self, stream: &TcpStream, deadline: Instant) -> Start {
        let mut first = [0u8; 1];
        if !set_timeout(stream, deadline) {
            return Start::Failed("no TLS handshake in time".into());
        }
        match stream.peek(&mut first) {
            Ok(1) if first[0].is_ascii_alphabetic() => return Start::PlainHttp,
            Ok(1) => {}
            Ok(_) => return Start::Failed("closed before the TLS handshake".into()),
            Err(e) => return Start::Failed(format!("no TLS handshake: {e}")),
        }
        let mut buf = [0u8; 4096];
        loop {
            // Writes too: a peer that does not read cannot hold the thread
            // either.
            let left = deadline.saturating_duration_since(Instant::now());
            if !set_timeout(stream, deadline) || stream.set_write_timeout(Some(left)).is_err() {
                return Start::Failed("the TLS handshake took too long".into());
            }
            if let Err(e) = self.write_owed_blocking(stream) {
                return Start::Failed(format!("TLS handshake: {e}"));
            }
            if !self.conn().is_handshaking() {
                return Start::Tls;
            }
            let n = match (&*stream).read(&mut buf) {
                Ok(0) => return Start::Failed("closed during the TLS handshake".into()),
                Ok(n) => n,
                Err(e) => return Start::Failed(format!("TLS handshake: {e}")),
            };
            let fed = {
                let mut conn = self.conn();
                feed(&mut conn, &buf[..n])
            };
            match fed {
                Ok(0) => {}
                // Records behind the handshake's last: the first read
                // takes them.
                Ok(rest) => lock(&self.unread).extend_from_slice(&buf[n - rest..n]),
                Err(e) => {
                    // The session has queued an alert that says why.
                    let _ = self.write_owed_blocking(stream);
                    return Start::Failed(format!("TLS handshake failed: {e}"));
                }
            }
        }
    }

    /// Reads plaintext into `buf`, blocking on the socket as a plain read
    /// would. `Ok(0)` at the end of the stream. With a `deadline` (the
    /// request head's), `TimedOut` once it has passed: a record can take
    /// many reads to complete, and a peer that trickles it byte by byte
    /// must not outlive the deadline.
    pub(crate) fn read(
        &self,
        stream: &TcpStream,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        loop {
            {
                let mut conn = self.conn();
                match conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The peer closed TCP without a close_notify: for a
                    // WebSocket, whose own close comes first, just the end.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                let mut unread = lock(&self.unread);
                if !unread.is_empty() {
                    let rest = feed(&mut conn, &unread)?;
                    let taken = unread.len() - rest;
                    unread.drain(..taken);
                    if unread.is_empty() {
                        *unread = Vec::new();
                    }
                    continue;
                }
            }
            if deadline.is_some_and(|d| !set_timeout(stream, d)) {
                return Err(io::ErrorKind::TimedOut.into());
            }
            // No lock is held here: the ciphertext is read into `buf`,
            // handed to the session, and `buf` then takes the plaintext.
            let n = (&*stream).read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut conn = self.conn();
            let rest = feed(&mut conn, &buf[..n])?;
            if rest > 0 {
                lock(&self.unread).extend_from_slice(&buf[n - rest..n]);
            }
        }
    }

    /// Writes without blocking, for the holder of the writer token: first
    /// what the socket owes, then the next chunk of `bufs`, encrypted.
    /// Returns the plaintext bytes taken (their ciphertext is sent or
    /// owed); `WouldBlock` if what was owed did not all go.
    pub(crate) fn send_vectored(&self, fd: BorrowedFd<'_>, bufs: &[&[u8]]) -> io::Result<usize> {
        if !self.send_owed(fd)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut slices: [IoSlice<'_>; sys::MAX_IOVECS] = [IoSlice::new(&[]); sys::MAX_IOVECS];
        let (mut n, mut room) = (0, CHUNK);
        for b in bufs.iter().take(sys::MAX_IOVECS) {
            if room == 0 {
                break;
            }
            let part = &b[..b.len().min(room)];
            slices[n] = IoSlice::new(part);
            room -= part.len();
            n += 1;
        }
        let taken = {
            let mut conn = self.conn();
            let taken = conn.writer().write_vectored(&slices[..n])?;
            let mut owed = lock(&self.owed);
            while conn.wants_write() {
                conn.write_tls(&mut *owed)?;
            }
            taken
        };
        // What does not go now is owed, and goes first next time; so does
        // an error, since the session has taken the plaintext.
        let _ = self.send_owed(fd);
        Ok(taken)
    }

    /// Sends what the socket owes, including records the session made on
    /// its own, without blocking. True when nothing is owed any more.
    pub(crate) fn send_owed(&self, fd: BorrowedFd<'_>) -> io::Result<bool> {
        let mut owed = self.take_owed();
        let mut sent = 0;
        let mut failed = None;
        while sent < owed.len() {
            match sys::send_vectored_nonblocking(fd, &[&owed[sent..]]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        owed.drain(..sent);
        let done = owed.is_empty();
        // An idle connection keeps no buffer.
        if !done {
            *lock(&self.owed) = owed;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Whether the session made records of its own (an alert) that no
    /// writer has taken out yet.
    pub(crate) fn made_records(&self) -> bool {
        self.conn().wants_write()
    }

    /// Whether ciphertext is owed to the socket, or the session has made
    /// records of its own that are yet to be sent.
    pub(crate) fn owes(&self) -> bool {
        // One lock at a time: `send_vectored` takes the session's, then
        // this one's.
        let owed = !lock(&self.owed).is_empty();
        owed || self.conn().wants_write()
    }

    /// Writes all of `bytes`, blocking (under the socket's write
    /// timeout): for the HTTP answers and the 101, which the connection
    /// thread sends before the hub writes anything.
    pub(crate) fn write_all(&self, stream: &TcpStream, bytes: &[u8]) -> io::Result<()> {
        for chunk in bytes.chunks(CHUNK) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let n = self.conn().writer().write(rest)?;
                rest = &rest[n..];
                self.write_owed_blocking(stream)?;
            }
        }
        self.write_owed_blocking(stream)
    }

    /// Tells the peer that nothing more comes (TLS close_notify), before
    /// the TCP connection is shut for writing.
    pub(crate) fn close_notify(&self, stream: &TcpStream) {
        self.conn().send_close_notify();
        let _ = self.write_owed_blocking(stream);
    }

    fn write_owed_blocking(&self, stream: &TcpStream) -> io::Result<()> {
        (&*stream).write_all(&self.take_owed())
    }

    /// Takes what the socket owes, with the records the session has made
    /// since behind it, in the order they were made. For the token holder;
    /// the two locks are taken one after the other, never together.
    fn take_owed(&self) -> Vec<u8> {
        let mut owed = std::mem::take(&mut *lock(&self.owed));
        let mut conn = self.conn();
        while conn.wants_write() {
            // Into a Vec, which cannot fail.
            if conn.write_tls(&mut owed).is_err() {
                break;
            }
        }
        owed
    }
}

/// Hands ciphertext to the session and decrypts what it completes.
/// Returns how many bytes at the end of `bytes` it had no room for.
fn feed(conn: &mut ServerConnection, bytes: &[u8]) -> io::Result<usize> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match conn.read_tls(&mut rest) {
            Ok(0) => break,
            Ok(_) => {}
            // "received plaintext buffer full": the reader takes it first.
            Err(e) if e.kind() == io::ErrorKind::Other => break,
            Err(e) => return Err(e),
        }
        conn.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(rest.len())
}

fn lock(m: &Mutex<Vec<u8>>) -> MutexGuard<'_, Vec<u8>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets the read timeout to what is left before `deadline`; false if
/// nothing is.
fn set_timeout(stream: &TcpStream, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    !left.is_zero() && stream.set_read_timeout(Some(left)).is_ok()
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}
