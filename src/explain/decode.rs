//! Frames decoded from the bytes as they pass, for the terminal and the
//! wire view alike: one decoder per direction of a connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Audience, Conn, Side, note, terminal};
use crate::hub::ClientId;

/// Payload bytes shown in hex, at most.
pub(super) const HEX_BYTES: usize = 16;
/// Text shown, at most, in bytes.
pub(super) const TEXT_BYTES: usize = 120;
/// The most a control frame carries ("All control frames MUST have a
/// payload length of 125 bytes or less"): a close reason is kept whole.
const CONTROL_BYTES: usize = 125;

/// Decodes a stream of frame bytes as they pass, showing each frame when
/// it is complete. Keeps only a frame's header and first bytes, so a large
/// payload costs no memory here.
pub(crate) struct Decoder {
    id: ClientId,
    side: Side,
    conn: Arc<Conn>,
    header: Vec<u8>,
    frame: Option<Frame>,
    /// Notes for the view watching this connection, made as frames
    /// complete and taken by whoever owns the decoder: its thread may not
    /// be one that can post to the hub (the hub's own).
    notes: Vec<String>,
}

/// One frame: its header, and its first payload bytes.
pub(super) struct Frame {
    pub first: u8,
    pub second: u8,
    pub len: u64,
    pub form: &'static str,
    pub mask: Option<[u8; 4]>,
    seen: u64,
    /// The first payload bytes as on the wire (masked if masked).
    pub wire: Vec<u8>,
    /// The first payload bytes unmasked.
    pub plain: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new(id: ClientId, side: Side, conn: Arc<Conn>) -> Decoder {
        Decoder {
            id,
            side,
            conn,
            header: Vec::new(),
            frame: None,
            notes: Vec::new(),
        }
    }

    /// Whether nobody sees this connection (a wire view's own socket).
    pub(crate) fn quiet(&self) -> bool {
        self.conn.audience() == Audience::Quiet
    }

    /// Feeds bytes in wire order.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        if self.quiet() {
            return;
        }
        while !bytes.is_empty() {
            let Some(f) = self.frame.as_mut() else {
                self.header.push(bytes[0]);
                bytes = &bytes[1..];
                self.frame = parse_header(&self.header);
                if self.frame.is_some() {
                    self.header.clear();
                    self.finish_if_done();
                }
                continue;
            };
            let take = (f.len - f.seen).min(bytes.len() as u64) as usize;
            for (i, &b) in bytes[..take].iter().enumerate() {
                let at = f.seen as usize + i;
                if at < HEX_BYTES {
                    f.wire.push(b);
                }
                if at < f.kept() {
                    f.plain.push(f.mask.map_or(b, |m| b ^ m[at % 4]));
                }
            }
            f.seen += take as u64;
            bytes = &bytes[take..];
            self.finish_if_done();
        }
    }

    /// The connection is closed: the last step, shown like the others.
    pub(crate) fn tcp_closed(&mut self) {
        match self.conn.audience() {
            Audience::Quiet => {}
            Audience::Terminal => terminal::tcp_closed(self.id),
            Audience::Watched(_) => {
                terminal::tcp_closed(self.id);
                self.notes.push(note::tcp_closed(self.id));
            }
        }
    }

    /// The notes made so far, with the view they are for.
    pub(crate) fn take_notes(&mut self) -> Option<(ClientId, Vec<String>)> {
        match self.conn.audience() {
            Audience::Watched(view) if !self.notes.is_empty() => {
                Some((view, std::mem::take(&mut self.notes)))
            }
            _ => None,
        }
    }

    fn finish_if_done(&mut self) {
        if self.frame.as_ref().is_some_and(|f| f.seen == f.len)
            && let Some(f) = self.frame.take()
        {
            let remarks = f.remarks(self.side, || self.starts_closing());
            terminal::frame(self.id, self.side, &f, &remarks);
            if matches!(self.conn.audience(), Audience::Watched(_)) {
                self.notes
                    .push(note::frame(self.id, self.side, &f, &remarks));
            }
        }
    }

    /// For a close frame: whether this side starts the closing handshake
    /// (rather than answering the other's close).
    fn starts_closing(&self) -> bool {
        let me = match self.side {
            Side::Client => 1,
            Side::Server => 2,
        };
        self.conn
            .first_close
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

impl Frame {
    /// How many payload bytes are kept unmasked.
    fn kept(&self) -> usize {
        if self.opcode() >= 0x8 {
            CONTROL_BYTES
        } else {
            TEXT_BYTES.max(HEX_BYTES)
        }
    }

    pub(super) fn fin(&self) -> u8 {
        self.first >> 7
    }

    pub(super) fn opcode(&self) -> u8 {
        self.first & 0x0F
    }

    pub(super) fn rsv(&self) -> [u8; 3] {
        [
            (self.first >> 6) & 1,
            (self.first >> 5) & 1,
            (self.first >> 4) & 1,
        ]
    }

    /// The header bytes as they were on the wire: two, the extended
    /// length, the masking key.
    pub(super) fn header(&self) -> Vec<u8> {
        let mut header = vec![self.first, self.second];
        match self.form {
            "16-bit" => header.extend_from_slice(&(self.len as u16).to_be_bytes()),
            "64-bit" => header.extend_from_slice(&self.len.to_be_bytes()),
            _ => {}
        }
        if let Some(m) = self.mask {
            header.extend_from_slice(&m);
        }
        header
    }

    pub(super) fn form_why(&self) -> &'static str {
        match self.form {
            "7-bit" => "7-bit form: 0-125 fits in the second byte",
            "16-bit" => "16-bit form: 126, then 2 bytes of length",
            _ => "64-bit form: 127, then 8 bytes of length",
        }
    }

    /// Whether the payload is longer than what is kept of it.
    pub(super) fn cut(&self, kept: usize) -> bool {
        self.len > kept as u64
    }

    /// The kept payload as text, cut at a character's end, and whether
    /// it is cut.
    pub(super) fn text(&self) -> (String, bool) {
        let bytes = &self.plain;
        let whole = !self.cut(bytes.len());
        let shown = match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            // A cut through a character: up to the last whole one.
            Err(e) if !whole && e.error_len().is_none() => {
                String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
            }
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        };
        (shown, !whole)
    }

    /// A close frame's code (`None`: no code) and reason.
    pub(super) fn close(&self) -> (Option<u16>, String) {
        match self.plain.as_slice() {
            [a, b, reason @ ..] => (
                Some(u16::from_be_bytes([*a, *b])),
                String::from_utf8_lossy(reason).into_owned(),
            ),
            _ => (None, String::new()),
        }
    }

    /// The sentences shown under the frame; `starts` is asked only for a
    /// close frame.
    fn remarks(&self, side: Side, starts: impl FnOnce() -> bool) -> Vec<String> {
        let mut out = Vec::new();
        if self.opcode() == 0x8 {
            let who = match side {
                Side::Client => "client",
                Side::Server => "server",
            };
            out.push(if starts() {
                format!(
                    "the {who} starts the closing handshake; the other side must answer with a Close"
                )
            } else {
                format!("the {who} answers the Close: the closing handshake is complete")
            });
        }
        if self.fin() == 0 {
            out.push("FIN=0: more frames of this message follow (fragmentation)".to_string());
        }
        out
    }
}

fn parse_header(h: &[u8]) -> Option<Frame> {
    if h.len() < 2 {
        return None;
    }
    let masked = h[1] & 0x80 != 0;
    let (len, form, at) = match h[1] & 0x7F {
        126 if h.len() >= 4 => (u64::from(u16::from_be_bytes([h[2], h[3]])), "16-bit", 4),
        127 if h.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&h[2..10]);
            (u64::from_be_bytes(n), "64-bit", 10)
        }
        126 | 127 => return None,
        n => (u64::from(n), "7-bit", 2),
    };
    let mask = if masked {
        let m = h.get(at..at + 4)?;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    Some(Frame {
        first: h[0],
        second: h[1],
        len,
        form,
        mask,
        seen: 0,
        wire: Vec::new(),
        plain: Vec::new(),
    })
}

pub(super) fn opcode_name(op: u8) -> &'static str {
    match op {
        0x0 => "continuation",
        0x1 => "text",
        0x2 => "binary",
        0x8 => "close",
        0x9 => "ping",
        0xA => "pong",
        _ => "reserved",
    }
}

/// What a close code means (RFC 6455 section 7.4.1).
pub(super) fn close_meaning(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away (server shutting down, page left, or no answer to ping)",
        1002 => "protocol error",
        1003 => "data of a type the endpoint cannot accept",
        1007 => "invalid data (e.g. text that is not UTF-8)",
        1008 => "policy violation (e.g. too slow, too many messages)",
        1009 => "message too big",
        1010 => "a required extension was not negotiated",
        1011 => "unexpected condition on the server",
        // Registered with IANA after RFC 6455 (section 11.7's registry).
        1012 => "service restart",
        1013 => "try again later (the server is overloaded: its memory budget is full)",
        1004 | 1005 | 1006 | 1015 => "reserved: must never be sent in a frame",
        3000..=3999 => "registered for libraries and frameworks",
        4000..=4999 => "private use by applications",
        _ => "not a valid close code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_are_named() {
        assert!(close_meaning(1009).contains("too big"));
        assert!(close_meaning(1013).contains("try again later"));
        assert!(close_meaning(1005).contains("never be sent"));
    }

    #[test]
    fn headers_in_all_three_forms() {
        assert_eq!(
            parse_header(&[0x81, 5]).map(|f| (f.len, f.form)),
            Some((5, "7-bit"))
        );
        assert_eq!(
            parse_header(&[0x82, 126, 1, 44]).map(|f| (f.len, f.form)),
            Some((300, "16-bit"))
        );
        let h = [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70];
        assert_eq!(
            parse_header(&h).map(|f| (f.len, f.form)),
            Some((70_000, "64-bit"))
        );
        assert!(
            parse_header(&[0x81, 0x85, 1, 2]).is_none(),
            "needs the mask too"
        );
    }

    #[test]
    fn text_cut_inside_a_character_ends_before_it() {
        let mut f = parse_header(&[0x81, 126, 0, 200]).unwrap();
        f.plain = "ab\u{e9}".as_bytes()[..3].to_vec();
        assert_eq!(f.text(), ("ab".to_string(), true));
        f.plain = b"ab".to_vec();
        f.len = 2;
        assert_eq!(f.text(), ("ab".to_string(), false));
    }
}
