//! One client's outgoing frames, and how they are written.

use std::collections::VecDeque;
use std::io;

use tungstenite::Bytes;

use super::socket::Socket;
use crate::metrics::Tally;
use crate::{explain, sys};

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
    /// `--explain` has shown `frames[0]`.
    shown: bool,
}

impl Outbox {
    pub(super) fn push(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Puts first a frame of which `sent` bytes are already on the wire
    /// (written by the connection thread, which then handed the socket
    /// over): it must be completed before anything else goes out. Nothing
    /// of this queue was written meanwhile, since the hub did not hold the
    /// socket's token.
    pub(super) fn push_front_partial(&mut self, frame: Bytes, sent: usize) {
        debug_assert_eq!(self.written, 0, "the hub wrote without the token");
        self.bytes += frame.len() - sent;
        self.frames.push_front(frame);
        self.written = sent;
        self.shown = false;
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
        let keep = usize::from(self.written > 0 || self.shown);
        self.frames.truncate(keep);
        self.bytes = self.frames.front().map_or(0, |f| f.len() - self.written);
    }

    /// Drops everything: the connection is being abandoned.
    pub(super) fn clear(&mut self) {
        self.frames.clear();
        self.written = 0;
        self.bytes = 0;
        self.shown = false;
    }

    /// Writes like [`write_to`](Self::write_to), for a connection under
    /// `--explain`, which shows each frame as it goes on the wire: a frame
    /// is shown once the socket has taken all of it but its last byte, and
    /// just before that byte goes. A frame is then shown only if it goes
    /// out (one that has started is always finished; one dropped by a
    /// close before it started never shows), and always before the peer
    /// can have it whole and answer it, so the terminal keeps cause before
    /// effect. It costs two sends a frame, in a teaching mode.
    pub(super) fn write_explained(
        &mut self,
        socket: &Socket,
        decoder: &mut explain::Decoder,
        tally: &mut Tally,
    ) -> io::Result<usize> {
        let mut total = 0;
        while let Some(front) = self.frames.front() {
            let last = front.len() - 1;
            if self.written == last && !self.shown {
                decoder.feed(front);
                self.shown = true;
            }
            let upto = if self.written < last {
                last
            } else {
                front.len()
            };
            let result = socket.send(&[&front[self.written..upto]]);
            if !self.took(result, &mut total, tally)? {
                break;
            }
        }
        Ok(total)
    }

    /// Writes as much as the socket takes now, many frames per system
    /// call, without blocking. Returns the bytes written; an error other
    /// than a full socket means the connection is broken. The frames that
    /// went out whole are counted in `tally`, an error or not.
    pub(super) fn write_to(&mut self, socket: &Socket, tally: &mut Tally) -> io::Result<usize> {
        let mut total = 0;
        while !self.frames.is_empty() {
            let mut bufs: [&[u8]; sys::MAX_IOVECS] = [&[]; sys::MAX_IOVECS];
            let mut n = 0;
            for (i, f) in self.frames.iter().take(sys::MAX_IOVECS).enumerate() {
                bufs[i] = if i == 0 { &f[self.written..] } else { f };
                n += 1;
            }
            let result = socket.send(&bufs[..n]);
            if !self.took(result, &mut total, tally)? {
                break;
            }
        }
        Ok(total)
    }

    /// Takes a send's result: forgets what went out and adds it to
    /// `total`, and the frames it finished to `tally`. Says whether to go
    /// on (false: the socket is full); an error other than a full socket
    /// means the connection is broken.
    fn took(
        &mut self,
        result: io::Result<usize>,
        total: &mut usize,
        tally: &mut Tally,
    ) -> io::Result<bool> {
        match result {
            Ok(sent) => {
                self.advance(sent, tally);
                *total += sent;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets `sent` bytes from the front; a finished frame is counted
    /// in `tally` and dropped here, which gives its bytes back to the
    /// budget if no other client still holds it.
    fn advance(&mut self, mut sent: usize, tally: &mut Tally) {
        self.bytes -= sent;
        while sent > 0 {
            let left = self.frames[0].len() - self.written;
            if sent >= left {
                sent -= left;
                tally.frame(&self.frames[0]);
                self.frames.pop_front();
                self.written = 0;
                self.shown = false;
            } else {
                self.written += sent;
                sent = 0;
            }
        }
    }
}
