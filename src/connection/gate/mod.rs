//! The inbound gate: what stands between the socket and tungstenite, so
//! that no large message is buffered before the memory budget has room for
//! it, and a bad byte is answered the moment it arrives.
//!
//! tungstenite reserves a frame's whole payload as soon as it has parsed
//! the frame's header, and keeps that buffer for the life of the
//! connection. So the gate reads every frame header itself, before
//! tungstenite may see it, and:
//!
//! - hands tungstenite only whole frames. A frame whose payload is still
//!   arriving is cut: what has come so far goes on as a frame of its own
//!   (FIN cleared, its length what is here), and the rest follows, read by
//!   read, as continuation frames with their masks turned to match. The
//!   message tungstenite assembles is the same; its read buffer never
//!   grows past one read, and its UTF-8 check, which runs frame by frame,
//!   now sees each byte as soon as it arrives ("When an endpoint is to
//!   interpret a byte stream as UTF-8 but finds that the byte stream is
//!   not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the
//!   WebSocket Connection_", RFC 6455 section 8.1);
//! - holds back a header that has not fully arrived (14 bytes at most);
//! - refuses a message over the size limit with 1009 from the header that
//!   announces it past the limit;
//! - once a message has passed [`SMALL`], takes each further byte of it
//!   from the budget before tungstenite may have it. It counts what has
//!   arrived, not what a header promised, so a header alone holds nothing.
//!   If there is no room, the thread waits (it does not read, and TCP
//!   pushes back on the sender) for up to the configured time, then
//!   refuses with 1013;
//! - while it holds budget for a message, expects the rest of it: if
//!   nothing comes within that same time, 1008, so a client cannot hold
//!   its share by going quiet mid-message;
//! - refuses a control frame longer than 125 bytes or fragmented with 1002
//!   from its header ("All control frames MUST have a payload length of 125
//!   bytes or less and MUST NOT be fragmented", section 5.5), where
//!   tungstenite would first buffer it whole.
//!
//! Frames the gate has no business with (reserved opcodes, RSV bits, no
//! mask) pass as they are, or as the first cut of themselves, and
//! tungstenite refuses them from that.
//!
//! Waiting cannot deadlock for good: every waiter gives up after its
//! deadline, closing its connection and giving back what it held, so
//! within that time the budget makes room or someone is closed.

mod header;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use header::{Header, MAX_HEADER, cut_header};

use crate::budget::{Budget, SMALL};

/// The header the gate writes before each later cut of a frame: 2 bytes,
/// a 16-bit length, and the mask when the frame has one.
const CUT_HEADER: usize = 4;

/// Why the gate ended a connection: the close code and reason to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub code: u16,
    pub reason: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for Refused {}

impl Refused {
    fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// The refusal inside an error returned by [`Gate::read`], if any.
    pub(crate) fn find(e: &io::Error) -> Option<Refused> {
        e.get_ref()?.downcast_ref::<Refused>().copied()
    }
}

/// The frame whose payload is still arriving.
#[derive(Debug)]
struct Partial {
    /// Payload bytes still to come.
    remaining: u64,
    /// Data frames are cut; others (a short control frame, a frame
    /// tungstenite will refuse anyway) pass as they are.
    cut: Option<Cut>,
}

#[derive(Debug)]
struct Cut {
    /// The frame's own FIN, which only its last cut carries.
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes already passed, to turn the mask for the next cut.
    offset: u64,
}

/// The gate of one connection. See the module docs.
pub(crate) struct Gate {
    budget: Arc<Budget>,
    max_message: usize,
    wait: Duration,
    /// A header that has not fully arrived.
    held: [u8; MAX_HEADER],
    held_len: usize,
    partial: Option<Partial>,
    /// Payload bytes announced so far by the data message coming in.
    message: usize,
    /// Payload bytes of it handed to tungstenite so far.
    arrived: usize,
    /// Budget taken for that message.
    reserved: usize,
    /// Budget held by messages that have wholly passed the gate, until the
    /// handler has had them: (message number, bytes).
    pending: VecDeque<(u64, usize)>,
    /// A refusal found behind whole frames, for the next read.
    refused: Option<Refused>,
    /// Data messages wholly passed; data messages handled.
    passed: u64,
    handled: u64,
}

impl Gate {
    pub(crate) fn new(budget: Arc<Budget>, max_message: usize, wait: Duration) -> Gate {
        Gate {
            budget,
            max_message,
            wait,
            held: [0; MAX_HEADER],
            held_len: 0,
            partial: None,
            message: 0,
            arrived: 0,
            reserved: 0,
            pending: VecDeque::new(),
            refused: None,
            passed: 0,
            handled: 0,
        }
    }

    /// Fills `buf` for tungstenite from `read_socket`, which reads the
    /// network. Returns 0 only at the end of the stream.
    pub(crate) fn read(
        &mut self,
        buf: &mut [u8],
        mut read_socket: impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if let Some(refused) = self.refused.take() {
            return Err(refused.into_io());
        }
        loop {
            let got = match &self.partial {
                Some(Partial { cut: Some(_), .. }) => self.read_cut(buf, &mut read_socket)?,
                Some(Partial { cut: None, .. }) => self.read_on(buf, &mut read_socket)?,
                None => self.read_frames(buf, &mut read_socket)?,
            };
            let Some((scan_from, end)) = got else {
                return Ok(0);
            };
            let ready = self.scan(buf, scan_from, end)?;
            if ready > 0 {
                return Ok(ready);
            }
            // All that came was part of a header, now held: read on.
        }
    }

    /// Reads the socket. A connection that holds budget for a message
    /// must keep sending it: a read timeout then ends it, where otherwise
    /// it would be the keepalive's to judge.
    fn socket(
        &self,
        buf: &mut [u8],
        read_socket: &mut impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        match read_socket(buf) {
            Err(e)
                if self.holding()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                Err(Refused {
                    code: 1008,
                    reason: "message stalled: nothing more of it arrived in time",
                }
                .into_io())
            }
            other => other,
        }
    }

    /// The next piece of a data frame being cut: read into `buf` behind
    /// room for its header, then write the header. Returns where the
    /// frames after it start, and the end; `None` at the end of the stream.
    fn read_cut(
        &mut self,
        buf: &mut [u8],
        read_socket: &mut impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<Option<(usize, usize)>> {
        let Some(Partial {
            remaining,
            cut: Some(cut),
        }) = &self.partial
        else {
            return Ok(None);
        };
        let (remaining, mask) = (*remaining, cut.mask);
        let head = CUT_HEADER + if mask.is_some() { 4 } else { 0 };
        if buf.len() <= head {
            return Err(io::Error::other("read buffer too small for a frame"));
        }
        let room = (buf.len() - head).min(usize::from(u16::MAX));
        let n = self.socket(&mut buf[head..head + room], read_socket)?;
        if n == 0 {
            return Ok(None);
        }
        let piece = n.min(usize::try_from(remaining).unwrap_or(usize::MAX));
        self.arrive(piece).map_err(Refused::into_io)?;
        let Some(Partial {
            remaining,
            cut: Some(cut),
        }) = &mut self.partial
        else {
            return Ok(None);
        };
        *remaining -= piece as u64;
        let last = *remaining == 0;
        buf[0] = if last && cut.fin { 0x80 } else { 0x00 };
        buf[1] = 126 | if mask.is_some() { 0x80 } else { 0 };
        buf[2..4].copy_from_slice(&(piece as u16).to_be_bytes());
        if let Some(mask) = mask {
            // Payload byte i was masked with mask[i % 4]; this cut starts
            // at `offset`, so its mask is turned by it.
            let turn = (cut.offset % 4) as usize;
            for (k, byte) in buf[4..8].iter_mut().enumerate() {
                *byte = mask[(turn + k) % 4];
            }
        }
        cut.offset += piece as u64;
        if last {
            let fin = cut.fin;
            self.partial = None;
            if fin {
                self.message_passed();
            }
        }
        Ok(Some((head + piece, head + n)))
    }

    /// More of a frame that passes as it is (a short control frame).
    fn read_on(
        &mut self,
        buf: &mut [u8],
        read_socket: &mut impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<Option<(usize, usize)>> {
        let n = self.socket(buf, read_socket)?;
        if n == 0 {
            return Ok(None);
        }
        let Some(partial) = &mut self.partial else {
            return Ok(None);
        };
        let piece = n.min(usize::try_from(partial.remaining).unwrap_or(usize::MAX));
        partial.remaining -= piece as u64;
        if partial.remaining == 0 {
            self.partial = None;
        }
        Ok(Some((piece, n)))
    }

    /// New frames, behind a header held back last time if there was one.
    fn read_frames(
        &mut self,
        buf: &mut [u8],
        read_socket: &mut impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<Option<(usize, usize)>> {
        let held = self.held_len;
        buf[..held].copy_from_slice(&self.held[..held]);
        // A timeout here keeps the held bytes for the next call.
        let n = self.socket(&mut buf[held..], read_socket)?;
        if n == 0 {
            return Ok(None);
        }
        self.held_len = 0;
        Ok(Some((0, held + n)))
    }

    /// Goes through the frames in `buf[pos..end]`; returns how much of
    /// `buf` tungstenite may have.
    fn scan(&mut self, buf: &mut [u8], mut pos: usize, end: usize) -> io::Result<usize> {
        while pos < end {
            let Some(h) = Header::parse(&buf[pos..end]) else {
                let rest = end - pos;
                self.held[..rest].copy_from_slice(&buf[pos..end]);
                self.held_len = rest;
                return Ok(pos);
            };
            let have = (end - pos - h.size) as u64;
            if let Err(refused) = self.check(&h, have.min(h.len) as usize) {
                if pos == 0 {
                    return Err(refused.into_io());
                }
                // The whole frames before this one still go to the
                // handler; the refusal comes with the next read.
                self.refused = Some(refused);
                return Ok(pos);
            }
            if have >= h.len {
                pos += h.size + h.len as usize;
                if h.is_data() && h.fin {
                    self.message_passed();
                }
                continue;
            }
            // The frame goes on past this read.
            let cut = h.is_data().then(|| {
                cut_header(&mut buf[pos..], &h, have);
                Cut {
                    fin: h.fin,
                    mask: h.mask,
                    offset: have,
                }
            });
            self.partial = Some(Partial {
                remaining: h.len - have,
                cut,
            });
            return Ok(end);
        }
        Ok(end)
    }

    /// Judges a frame from its header before any of it may pass, `here`
    /// being how much of its payload has come.
    fn check(&mut self, h: &Header, here: usize) -> Result<(), Refused> {
        if h.is_control() && (!h.fin || h.len > 125) {
            return Err(Refused {
                code: 1002,
                reason: "protocol error: control frame fragmented or over 125 bytes",
            });
        }
        if h.is_data() {
            self.admit(h)?;
            self.arrive(here)?;
        }
        Ok(())
    }

    /// Counts a data frame's announced payload into its message, and
    /// refuses a message over the size limit from the header that takes it
    /// there.
    fn admit(&mut self, h: &Header) -> Result<(), Refused> {
        if h.opcode != 0x0 {
            // A new message. (A new one while another is unfinished is a
            // protocol error tungstenite reports; what was taken for the
            // other stays counted until the connection ends.)
            self.message = 0;
        }
        self.message = self
            .message
            .saturating_add(usize::try_from(h.len).unwrap_or(usize::MAX));
        if self.message > self.max_message {
            // "1009 indicates that an endpoint is terminating the
            // connection because it has received a message that is too big
            // for it to process."
            return Err(Refused {
                code: 1009,
                reason: "message too big",
            });
        }
        Ok(())
    }

    /// `n` more payload bytes of the message are about to reach
    /// tungstenite. Once the message is past [`SMALL`], what has arrived
    /// must be in the budget first: the budget counts bytes held, not
    /// bytes promised, so a header alone reserves nothing.
    fn arrive(&mut self, n: usize) -> Result<(), Refused> {
        self.arrived += n;
        if self.arrived > SMALL && self.arrived > self.reserved {
            let more = self.arrived - self.reserved;
            if !self.budget.take_within(more, self.wait) {
                return Err(Refused {
                    code: 1013,
                    reason: "server busy, try again later",
                });
            }
            self.reserved += more;
        }
        Ok(())
    }

    /// True while budget is held for a message still arriving.
    pub(crate) fn holding(&self) -> bool {
        self.reserved > 0
    }

    fn message_passed(&mut self) {
        self.passed += 1;
        self.message = 0;
        self.arrived = 0;
        if self.reserved > 0 {
            self.pending
                .push_back((self.passed, std::mem::take(&mut self.reserved)));
        }
    }

    /// The handler is done with the next message: what it held of the
    /// budget goes back.
    pub(crate) fn handled(&mut self) {
        self.handled += 1;
        while let Some(&(n, bytes)) = self.pending.front() {
            if n > self.handled {
                break;
            }
            self.budget.give(bytes);
            self.pending.pop_front();
        }
    }

    /// True while nothing of the budget is held for this connection.
    #[cfg(test)]
    fn holds_nothing(&self) -> bool {
        self.reserved == 0 && self.pending.is_empty()
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let held = self.reserved + self.pending.iter().map(|(_, b)| b).sum::<usize>();
        if held > 0 {
            self.budget.give(held);
        }
    }
}
