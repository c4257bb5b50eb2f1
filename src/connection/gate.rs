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

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::budget::{Budget, SMALL};

/// The longest client frame header: 2 bytes, a 64-bit length, a mask.
const MAX_HEADER: usize = 14;

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

/// One parsed frame header.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    /// Bytes the header takes on the wire.
    size: usize,
}

impl Header {
    /// Parses a header at the start of `b`; `None` if it has not all come.
    fn parse(b: &[u8]) -> Option<Header> {
        let (&first, &second) = (b.first()?, b.get(1)?);
        let (len, mut size) = match second & 0x7F {
            126 => (u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
            127 => {
                let bytes: [u8; 8] = b.get(2..10)?.try_into().ok()?;
                (u64::from_be_bytes(bytes), 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = if second & 0x80 != 0 {
            let m: [u8; 4] = b.get(size..size + 4)?.try_into().ok()?;
            size += 4;
            Some(m)
        } else {
            None
        };
        Some(Header {
            fin: first & 0x80 != 0,
            opcode: first & 0x0F,
            mask,
            len,
            size,
        })
    }

    fn is_data(&self) -> bool {
        self.opcode <= 0x2
    }

    fn is_control(&self) -> bool {
        self.opcode >= 0x8
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
            if !self.budget.take_by(more, Instant::now() + self.wait) {
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

/// Rewrites, in place, the header of a data frame of which only `have`
/// payload bytes are here: FIN cleared, length `have`, in the length form
/// the header already has (tungstenite reads a longer form than needed as
/// well), so nothing moves.
fn cut_header(frame: &mut [u8], h: &Header, have: u64) {
    frame[0] &= 0x7F;
    match frame[1] & 0x7F {
        126 => frame[2..4].copy_from_slice(&(have as u16).to_be_bytes()),
        127 => frame[2..10].copy_from_slice(&have.to_be_bytes()),
        _ => frame[1] = (frame[1] & 0x80) | have as u8,
    }
    debug_assert!(have < h.len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
    use tungstenite::{Message, Utf8Bytes};

    /// A client frame, masked.
    fn frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// Feeds `wire` through a gate to tungstenite, `split` bytes per
    /// socket read, with tungstenite's buffer as small as wshub's.
    struct Fed {
        wire: Vec<u8>,
        at: usize,
        split: usize,
        gate: Gate,
        /// At the end of `wire`, time out (as a silent peer does) instead
        /// of ending the stream.
        quiet: bool,
    }

    impl io::Read for Fed {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let (wire, at, split, quiet) = (&self.wire, &mut self.at, self.split, self.quiet);
            self.gate.read(buf, |b| {
                if quiet && *at == wire.len() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = b.len().min(split).min(wire.len() - *at);
                b[..n].copy_from_slice(&wire[*at..*at + n]);
                *at += n;
                Ok(n)
            })
        }
    }

    impl io::Write for Fed {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn run(wire: Vec<u8>, split: usize, budget: &Arc<Budget>) -> (Vec<Message>, Option<String>) {
        feed(wire, split, false, budget)
    }

    fn run_until_quiet(wire: Vec<u8>, budget: &Arc<Budget>) -> (Vec<Message>, Option<String>) {
        feed(wire, 4096, true, budget)
    }

    fn feed(
        wire: Vec<u8>,
        split: usize,
        quiet: bool,
        budget: &Arc<Budget>,
    ) -> (Vec<Message>, Option<String>) {
        let gate = Gate::new(budget.clone(), 1 << 20, Duration::from_millis(50));
        let fed = Fed {
            wire,
            at: 0,
            split,
            gate,
            quiet,
        };
        let config = WebSocketConfig::default().read_buffer_size(1024);
        let mut ws = WebSocket::from_raw_socket(fed, Role::Server, Some(config));
        let mut got = Vec::new();
        loop {
            match ws.read() {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    got.push(m);
                    ws.get_mut().gate.handled();
                }
                Ok(_) => {}
                Err(e) => {
                    let refused = match &e {
                        tungstenite::Error::Io(io) => Refused::find(io).map(|r| r.code),
                        _ => None,
                    };
                    let why = match refused {
                        Some(code) => Some(code.to_string()),
                        None if matches!(e, tungstenite::Error::ConnectionClosed)
                            || matches!(&e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof)
                            || matches!(
                                &e,
                                tungstenite::Error::Protocol(
                                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
                                )
                            ) =>
                        {
                            None
                        }
                        None => Some(e.to_string()),
                    };
                    assert!(ws.get_ref().gate.holds_nothing() || why.is_some());
                    return (got, why);
                }
            }
        }
    }

    #[test]
    fn messages_pass_whole_whatever_the_reads() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let text = "héllo wörld ".repeat(500);
        let mut wire = frame(0x81, b"hi", [1, 2, 3, 4]);
        wire.extend(frame(0x82, &big, [9, 8, 7, 6]));
        wire.extend(frame(0x01, &text.as_bytes()[..3001], [5, 5, 5, 5]));
        wire.extend(frame(0x89, b"ping", [1, 1, 1, 1]));
        wire.extend(frame(0x80, &text.as_bytes()[3001..], [2, 3, 4, 5]));
        wire.extend(frame(0x82, &[], [0, 0, 0, 0]));
        for split in [1, 2, 3, 7, 13, 100, 1000, 5000, 100_000] {
            let budget = Budget::new(1 << 20);
            let (got, why) = run(wire.clone(), split, &budget);
            assert_eq!(why, None, "split {split}");
            assert_eq!(
                got,
                vec![
                    Message::Text(Utf8Bytes::from_static("hi")),
                    Message::Binary(big.clone().into()),
                    Message::Text(text.clone().into()),
                    Message::Binary(Vec::new().into()),
                ],
                "split {split}"
            );
            assert_eq!(budget.used(), 0, "split {split}: all given back");
        }
    }

    #[test]
    fn invalid_utf8_fails_when_it_arrives_not_at_the_frame_end() {
        // A 10 KiB text frame whose second byte is invalid: the gate hands
        // tungstenite the first read as a frame of its own, which fails.
        let mut payload = vec![b'a'; 10_000];
        payload[1] = 0xFF;
        let wire = frame(0x81, &payload, [1, 2, 3, 4]);
        let budget = Budget::new(1 << 20);
        // Only the first 100 bytes exist: failing needs no more.
        let (_, why) = run(wire[..100].to_vec(), 50, &budget);
        let why = why.expect("fails");
        assert!(why.contains("UTF-8") || why.contains("utf-8"), "{why}");
    }

    #[test]
    fn refusals_come_from_the_header() {
        let budget = Budget::new(1 << 20);
        let mut too_big = frame(0x82, &[], [0; 4]);
        too_big[1] = 0x80 | 127;
        too_big.splice(2..2, (2u64 << 20).to_be_bytes());
        assert_eq!(run(too_big, 1000, &budget).1.as_deref(), Some("1009"));

        let mut long_ping = frame(0x89, &[0u8; 126], [0; 4]);
        long_ping.truncate(8);
        assert_eq!(run(long_ping, 1000, &budget).1.as_deref(), Some("1002"));
    }

    #[test]
    fn whole_messages_before_a_refusal_still_reach_the_handler() {
        let budget = Budget::new(1 << 20);
        let mut wire = frame(0x81, b"hello", [1, 2, 3, 4]);
        let mut too_big = frame(0x82, &[], [0; 4]);
        too_big[1] = 0x80 | 127;
        too_big.splice(2..2, (2u64 << 20).to_be_bytes());
        wire.extend(too_big);
        let (got, why) = run(wire, 1000, &budget);
        assert_eq!(got, vec![Message::Text(Utf8Bytes::from_static("hello"))]);
        assert_eq!(why.as_deref(), Some("1009"));
    }

    #[test]
    fn the_budget_counts_what_arrives_and_waits_then_refuses() {
        // 900 KiB fits the limit but not a budget of 512 KiB: 1013 once
        // the arrived bytes pass it and the wait is over.
        let small_budget = Budget::new(512 << 10);
        let big = frame(0x82, &vec![1u8; 900 << 10], [0; 4]);
        assert_eq!(run(big, 4096, &small_budget).1.as_deref(), Some("1013"));
        assert_eq!(small_budget.used(), 0);
    }

    #[test]
    fn a_header_alone_holds_nothing_a_stalled_message_is_refused() {
        let budget = Budget::new(1 << 20);
        let whole = frame(0x82, &vec![1u8; 100_000], [0; 4]);
        // Only the header came, then silence: nothing is held, and the
        // timeout is the keepalive's (tungstenite reports it).
        let (_, why) = run_until_quiet(whole[..14].to_vec(), &budget);
        assert!(why.is_some_and(|w| w.contains("timed out") || w.contains("would block")));
        // Half came, then silence: the half is held, so 1008.
        let (_, why) = run_until_quiet(whole[..50_000].to_vec(), &budget);
        assert_eq!(why.as_deref(), Some("1008"));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn fragments_add_up_against_the_limit_and_the_budget() {
        // Two 600 KiB fragments: the second takes the message past 1 MiB.
        let part = vec![7u8; 600 << 10];
        let mut wire = frame(0x02, &part, [1, 2, 3, 4]);
        wire.extend(frame(0x80, &part, [1, 2, 3, 4]));
        let budget = Budget::new(4 << 20);
        assert_eq!(run(wire, 4096, &budget).1.as_deref(), Some("1009"));
        assert_eq!(budget.used(), 0, "the gate gives back what it took");
    }
}
