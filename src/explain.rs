//! `--explain`: the handshake and every frame of every connection, printed
//! in plain words as they really are on the wire, for a class to follow.
//!
//! Incoming bytes are decoded here from what the socket delivered (see
//! `connection::Wire`); outgoing frames are decoded from the exact bytes the
//! hub queues for the socket. Nothing is re-derived from decoded messages.
//! When `--explain` is off none of this runs: every hook is behind an
//! `Option` that is `None`.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::handshake::{Accept, GUID};
use crate::hub::ClientId;

/// Payload bytes shown in hex, at most.
const HEX_BYTES: usize = 16;
/// Text shown, at most, in bytes.
const TEXT_BYTES: usize = 120;

/// Which side sent a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// One connection's shared explain state: who sent the first close frame.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    first_close: AtomicU8,
}

/// Prints one block at once, so the blocks of concurrent connections do
/// not mix.
fn emit(block: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(block.as_bytes());
    let _ = out.flush();
}

fn colour() -> bool {
    std::io::stdout().is_terminal()
}

/// Bold cyan on a terminal, plain otherwise.
fn hi(s: &str) -> String {
    if colour() {
        format!("\x1b[1;36m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn title(s: &str) -> String {
    if colour() {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

const HIGHLIGHTED: [&str; 6] = [
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "origin",
];

/// Step 1: the request head exactly as received.
pub(crate) fn request(id: ClientId, raw: &[u8]) {
    let mut b = format!(
        "\n{}\n",
        title(&format!("#{id} 1. HTTP request, as received:"))
    );
    for line in String::from_utf8_lossy(raw)
        .split("\r\n")
        .filter(|l| !l.is_empty())
    {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if HIGHLIGHTED.contains(&name.as_str()) {
            let _ = writeln!(b, "   > {}   <- {}", hi(line), why_header(&name));
        } else {
            let _ = writeln!(b, "   > {line}");
        }
    }
    emit(&b);
}

fn why_header(name: &str) -> &'static str {
    match name {
        "upgrade" => "asks to switch from HTTP to the websocket protocol",
        "connection" => "must include Upgrade",
        "sec-websocket-key" => "a random 16-byte nonce in base64; the server must prove it read it",
        "sec-websocket-version" => "must be 13 (RFC 6455)",
        "sec-websocket-protocol" => {
            "subprotocols the client speaks, by preference; the 101 names the one chosen, if any"
        }
        _ => "the page's origin: the server checks it against the Host",
    }
}

/// Step 2: the accept computation, with the real values.
pub(crate) fn accept(id: ClientId, key: &str) {
    emit(&accept_steps(&format!("#{id} 2. "), &Accept::compute(key)));
}

/// The accept computation as text; also what `wshub accept KEY` prints.
pub fn accept_steps(prefix: &str, a: &Accept) -> String {
    let mut b = format!(
        "{}\n",
        title(&format!("{prefix}Computing Sec-WebSocket-Accept:"))
    );
    let _ = writeln!(b, "   key (from the client)      {}", hi(&a.key));
    let _ = writeln!(b, "   + GUID (fixed by RFC 6455) {GUID}");
    let _ = writeln!(b, "   = concatenation            {}", a.concatenated);
    let _ = writeln!(
        b,
        "   SHA-1 of that (20 bytes)   {}",
        hex(&a.sha1).replace(' ', "")
    );
    let _ = writeln!(b, "   base64 of the digest       {}", hi(&a.accept));
    let _ = writeln!(b, "   -> Sec-WebSocket-Accept: {}", a.accept);
    b
}

/// Step 3 (or an HTTP answer): a response head exactly as sent.
pub(crate) fn response(id: ClientId, raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let step = if head.starts_with("HTTP/1.1 101") {
        "3. the 101 response"
    } else {
        "response"
    };
    let mut b = format!("{}\n", title(&format!("#{id} {step}, as sent:")));
    for line in head.split("\r\n") {
        let _ = writeln!(b, "   < {line}");
    }
    if head.starts_with("HTTP/1.1 101") {
        let _ = writeln!(
            b,
            "   From here on both sides speak in WebSocket frames (step 4)."
        );
    }
    emit(&b);
}

/// Step 5's end: the TCP connection is closed.
pub(crate) fn tcp_closed(id: ClientId) {
    emit(&format!(
        "{}\n",
        title(&format!("#{id} 5. TCP connection closed by the server."))
    ));
}

/// Decodes a stream of frame bytes as they pass, printing each frame when
/// it is complete. Keeps only a frame's header and first bytes, so a large
/// payload costs no memory here.
pub(crate) struct Decoder {
    id: ClientId,
    side: Side,
    conn: std::sync::Arc<Conn>,
    header: Vec<u8>,
    frame: Option<Frame>,
}

struct Frame {
    first: u8,
    second: u8,
    len: u64,
    form: &'static str,
    mask: Option<[u8; 4]>,
    seen: u64,
    wire: Vec<u8>,
    plain: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new(id: ClientId, side: Side, conn: std::sync::Arc<Conn>) -> Decoder {
        Decoder {
            id,
            side,
            conn,
            header: Vec::new(),
            frame: None,
        }
    }

    /// Feeds bytes in wire order.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
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
                if at < TEXT_BYTES.max(HEX_BYTES) {
                    f.plain.push(f.mask.map_or(b, |m| b ^ m[at % 4]));
                }
            }
            f.seen += take as u64;
            bytes = &bytes[take..];
            self.finish_if_done();
        }
    }

    fn finish_if_done(&mut self) {
        if self.frame.as_ref().is_some_and(|f| f.seen == f.len)
            && let Some(f) = self.frame.take()
        {
            self.print(&f);
        }
    }

    fn print(&self, f: &Frame) {
        let (fin, opcode) = (f.first >> 7, f.first & 0x0F);
        let rsv = [(f.first >> 6) & 1, (f.first >> 5) & 1, (f.first >> 4) & 1];
        let who = match self.side {
            Side::Client => "client -> server",
            Side::Server => "server -> client",
        };
        let mut b = format!(
            "{}\n",
            title(&format!(
                "#{} 4. frame {who}: {}",
                self.id,
                opcode_name(opcode)
            ))
        );
        let mut header = vec![f.first, f.second];
        match f.form {
            "16-bit" => header.extend_from_slice(&(f.len as u16).to_be_bytes()),
            "64-bit" => header.extend_from_slice(&f.len.to_be_bytes()),
            _ => {}
        }
        if let Some(m) = f.mask {
            header.extend_from_slice(&m);
        }
        let _ = writeln!(b, "   header bytes   {}", hex(&header));
        let _ = writeln!(
            b,
            "   FIN={fin} RSV1={} RSV2={} RSV3={} opcode=0x{opcode:x} ({}) MASK={}",
            rsv[0],
            rsv[1],
            rsv[2],
            opcode_name(opcode),
            u8::from(f.mask.is_some())
        );
        let form_why = match f.form {
            "7-bit" => "7-bit form: 0-125 fits in the second byte",
            "16-bit" => "16-bit form: 126, then 2 bytes of length",
            _ => "64-bit form: 127, then 8 bytes of length",
        };
        let _ = writeln!(b, "   payload length {} bytes ({form_why})", f.len);
        let more = if f.len as usize > HEX_BYTES {
            " ..."
        } else {
            ""
        };
        match f.mask {
            Some(m) => {
                let _ = writeln!(b, "   masking key    {}", hex(&m));
                let _ = writeln!(b, "   masked         {}{more}", hex(&f.wire));
                let shown = &f.plain[..f.plain.len().min(HEX_BYTES)];
                let _ = writeln!(
                    b,
                    "   unmasked       {}{more}   (byte i XOR key[i % 4])",
                    hex(shown)
                );
            }
            None if f.len > 0 => {
                let _ = writeln!(
                    b,
                    "   payload        {}{more}   (not masked: server frames never are)",
                    hex(&f.wire)
                );
            }
            None => {}
        }
        match opcode {
            0x1 | 0x0 => {
                let text = String::from_utf8_lossy(&f.plain);
                let cut = if f.len as usize > f.plain.len() {
                    " ..."
                } else {
                    ""
                };
                let _ = writeln!(b, "   text           {text:?}{cut}");
            }
            0x8 => self.describe_close(&mut b, &f.plain),
            _ => {}
        }
        if fin == 0 {
            let _ = writeln!(
                b,
                "   FIN=0: more frames of this message follow (fragmentation)"
            );
        }
        emit(&b);
    }

    fn describe_close(&self, b: &mut String, payload: &[u8]) {
        if payload.len() >= 2 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let reason = String::from_utf8_lossy(&payload[2..]);
            let _ = writeln!(b, "   close code     {code}: {}", close_meaning(code));
            if !reason.is_empty() {
                let _ = writeln!(b, "   reason         {reason:?}");
            }
        } else {
            let _ = writeln!(b, "   no close code (the receiver reports 1005)");
        }
        let me = match self.side {
            Side::Client => 1,
            Side::Server => 2,
        };
        let first =
            self.conn
                .first_close
                .compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst);
        let who = if me == 1 { "client" } else { "server" };
        let _ = match first {
            Ok(_) => writeln!(
                b,
                "   the {who} starts the closing handshake; the other side must answer with a Close"
            ),
            Err(_) => writeln!(
                b,
                "   the {who} answers the Close: the closing handshake is complete"
            ),
        };
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

fn opcode_name(op: u8) -> &'static str {
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
fn close_meaning(code: u16) -> &'static str {
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
    fn rfc_accept_steps() {
        let a = Accept::compute("dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(a.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            hex(&a.sha1).replace(' ', ""),
            "b37a4f2cc0624f1690f64606cf385945b2bec4ea"
        );
        assert!(accept_steps("", &a).contains("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
    }

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
}
