//! The terminal's side of `--explain`: each step as a block of plain
//! text, in colour on a terminal, printed at once so that the blocks of
//! concurrent connections do not mix.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use super::Side;
use super::decode::{Frame, HEX_BYTES, close_meaning, opcode_name};
use crate::handshake::{Accept, GUID};
use crate::hub::ClientId;

/// Prints one block at once.
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

pub(super) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Step 1: the request head as received, hidden values replaced; the
/// headers that make it a WebSocket request are pointed out.
pub(super) fn request(id: ClientId, lines: &[String]) {
    let mut b = format!(
        "\n{}\n",
        title(&format!("#{id} 1. HTTP request, as received:"))
    );
    for line in lines {
        match super::why_header(line) {
            Some(why) => {
                let _ = writeln!(b, "   > {}   <- {why}", hi(line));
            }
            None => {
                let _ = writeln!(b, "   > {line}");
            }
        }
    }
    emit(&b);
}

/// Step 2: the accept computation, with the real values.
pub(super) fn accept(id: ClientId, a: &Accept) {
    emit(&accept_steps(&format!("#{id} 2. "), a));
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

/// Step 3 (or an HTTP answer): a response head as sent.
pub(super) fn response(id: ClientId, head: &str) {
    let upgraded = head.starts_with("HTTP/1.1 101");
    let step = if upgraded {
        "3. the 101 response"
    } else {
        "response"
    };
    let mut b = format!("{}\n", title(&format!("#{id} {step}, as sent:")));
    for line in head.split("\r\n") {
        let _ = writeln!(b, "   < {line}");
    }
    if upgraded {
        let _ = writeln!(
            b,
            "   From here on both sides speak in WebSocket frames (step 4)."
        );
    }
    emit(&b);
}

/// Step 5's end: the TCP connection is closed.
pub(super) fn tcp_closed(id: ClientId) {
    emit(&format!(
        "{}\n",
        title(&format!("#{id} 5. TCP connection closed by the server."))
    ));
}

/// Step 4: one frame, as it went on the wire.
pub(super) fn frame(id: ClientId, side: Side, f: &Frame, remarks: &[String]) {
    let opcode = f.opcode();
    let rsv = f.rsv();
    let who = match side {
        Side::Client => "client -> server",
        Side::Server => "server -> client",
    };
    let mut b = format!(
        "{}\n",
        title(&format!("#{id} 4. frame {who}: {}", opcode_name(opcode)))
    );
    let _ = writeln!(b, "   header bytes   {}", hex(&f.header()));
    let _ = writeln!(
        b,
        "   FIN={} RSV1={} RSV2={} RSV3={} opcode=0x{opcode:x} ({}) MASK={}",
        f.fin(),
        rsv[0],
        rsv[1],
        rsv[2],
        opcode_name(opcode),
        u8::from(f.mask.is_some())
    );
    let _ = writeln!(b, "   payload length {} bytes ({})", f.len, f.form_why());
    let more = if f.cut(HEX_BYTES) { " ..." } else { "" };
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
            let (text, cut) = f.text();
            let cut = if cut { " ..." } else { "" };
            let _ = writeln!(b, "   text           {text:?}{cut}");
        }
        0x8 => match f.close() {
            (Some(code), reason) => {
                let _ = writeln!(b, "   close code     {code}: {}", close_meaning(code));
                if !reason.is_empty() {
                    let _ = writeln!(b, "   reason         {reason:?}");
                }
            }
            (None, _) => {
                let _ = writeln!(b, "   no close code (the receiver reports 1005)");
            }
        },
        _ => {}
    }
    for r in remarks {
        let _ = writeln!(b, "   {r}");
    }
    emit(&b);
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
}
