//! One client's outgoing frames, and how they are written.

use std::collections::VecDeque;
use std::io;
use std::os::fd::BorrowedFd;

use tungstenite::Bytes;

use crate::sys;

/// Frames waiting for one socket, oldest first. The first may be partly
/// written already; it must be completed before anything else goes out,
/// or the peer would read a frame cut in two.
#[derive(Default)]
pub(super) struct Outbox {
    frames: VecDeque<Bytes>,
    /// How much of `frames[0]` is already on the wire.
    written: usize,
    /// Bytes not yet written, over every frame: the client's share of
    /// the memory it makes the server hold.
    bytes: usize,
}

impl Outbox {
    pub(super) fn push(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Frames waiting, counting a partly written one.
    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes waiting to be written.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops everything but a frame already partly on the wire, which has
    /// to be finished before a close frame can follow it.
    pub(super) fn drop_unstarted(&mut self) {
        let keep = usize::from(self.written > 0);
        self.frames.truncate(keep);
        self.bytes = self.frames.front().map_or(0, |f| f.len() - self.written);
    }

    /// Drops everything: the connection is being abandoned.
    pub(super) fn clear(&mut self) {
        self.frames.clear();
        self.written = 0;
        self.bytes = 0;
    }

    /// Writes as much as the socket takes now, many frames per system
    /// call, without blocking. Returns the bytes written; an error other
    /// than a full socket means the connection is broken.
    pub(super) fn write_to(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        let mut total = 0;
        while !self.frames.is_empty() {
            let mut bufs: [&[u8]; sys::MAX_IOVECS] = [&[]; sys::MAX_IOVECS];
            let mut n = 0;
            for (i, f) in self.frames.iter().take(sys::MAX_IOVECS).enumerate() {
                bufs[i] = if i == 0 { &f[self.written..] } else { f };
                n += 1;
            }
            match sys::send_vectored_nonblocking(fd, &bufs[..n]) {
                Ok(sent) => {
                    self.advance(sent);
                    total += sent;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Forgets `sent` bytes from the front; a finished frame is dropped
    /// here, which gives its bytes back to the budget if no other client
    /// still holds it.
    fn advance(&mut self, mut sent: usize) {
        self.bytes -= sent;
        while sent > 0 {
            let left = self.frames[0].len() - self.written;
            if sent >= left {
                sent -= left;
                self.frames.pop_front();
                self.written = 0;
            } else {
                self.written += sent;
                sent = 0;
            }
        }
    }
}
