//! The wire view's side of `--explain`: each step as one JSON object, a
//! note, sent to the view watching the connection. The page draws them;
//! the facts and the words come from here, so that the terminal, the view
//! and docs/handshake.md say the same thing.
//!
//! Every note has `conn` (the connection's number, as in the terminal),
//! `step` (`request`, `accept`, `response`, `frame` or `closed`) and
//! `refs`: the RFC 6455 sections it illustrates, each with the title
//! docs/handshake.md gives it.

use std::fmt::Write as _;

use super::decode::{Frame, HEX_BYTES, close_meaning, opcode_name};
use super::terminal::hex;
use super::{Side, why_header};
use crate::handshake::{Accept, GUID};
use crate::hub::ClientId;
use crate::json::string;

/// An RFC 6455 section and its title in docs/handshake.md.
type Ref = (&'static str, &'static str);

const REQUEST: Ref = ("4.1", "The opening request");
const ACCEPT: Ref = ("4.2.2", "The accept key");
const RESPONSE: Ref = ("4.2.2", "The 101 response");
const FRAMES: Ref = ("5.2", "Frames");
const MASKING: Ref = ("5.3", "Masking");
const FRAGMENTS: Ref = ("5.4", "Fragmentation");
const CONTROL: Ref = ("5.5", "Control frames");
const CLOSING: Ref = ("5.5.1", "Closing");
const CLOSE_CODES: Ref = ("7.4.1", "Close codes");
const TCP_CLOSE: Ref = ("7.1.1", "Closing");

/// Every title a note can carry, for the test that docs/handshake.md
/// uses the same words.
#[cfg(test)]
const ALL: [Ref; 10] = [
    REQUEST,
    ACCEPT,
    RESPONSE,
    FRAMES,
    MASKING,
    FRAGMENTS,
    CONTROL,
    CLOSING,
    CLOSE_CODES,
    TCP_CLOSE,
];

/// The start of a note: `{"conn":N,"step":"..","refs":[..]`, unclosed.
fn start(id: ClientId, step: &str, refs: &[Ref]) -> String {
    let refs: Vec<String> = refs
        .iter()
        .map(|(section, title)| {
            format!(
                "{{\"section\":{},\"title\":{}}}",
                string(section),
                string(title)
            )
        })
        .collect();
    format!(
        "{{\"conn\":{id},\"step\":{},\"refs\":[{}]",
        string(step),
        refs.join(",")
    )
}

fn strings(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(","))
}

/// Step 1: the request head's lines, hidden values replaced, each
/// WebSocket header with why it is there.
pub(super) fn request(id: ClientId, lines: &[String]) -> String {
    let lines: Vec<String> = lines
        .iter()
        .map(|line| match why_header(line) {
            Some(why) => format!("{{\"text\":{},\"why\":{}}}", string(line), string(why)),
            None => format!("{{\"text\":{}}}", string(line)),
        })
        .collect();
    format!(
        "{},\"lines\":[{}]}}",
        start(id, "request", &[REQUEST]),
        lines.join(",")
    )
}

/// Step 2: the accept computation.
pub(super) fn accept(id: ClientId, a: &Accept) -> String {
    format!(
        "{},\"key\":{},\"guid\":{},\"concatenated\":{},\"sha1\":{},\"accept\":{}}}",
        start(id, "accept", &[ACCEPT]),
        string(&a.key),
        string(GUID),
        string(&a.concatenated),
        string(&hex(&a.sha1).replace(' ', "")),
        string(&a.accept)
    )
}

/// Step 3: the 101 response's head, as sent.
pub(super) fn response(id: ClientId, head: &str) -> String {
    let lines: Vec<String> = head.split("\r\n").map(str::to_string).collect();
    format!(
        "{},\"lines\":{}}}",
        start(id, "response", &[RESPONSE]),
        strings(&lines)
    )
}

/// The end: the server closed the TCP connection.
pub(super) fn tcp_closed(id: ClientId) -> String {
    format!(
        "{},\"text\":\"TCP connection closed by the server.\"}}",
        start(id, "closed", &[TCP_CLOSE])
    )
}

/// Step 4: one frame, as it went on the wire.
pub(super) fn frame(id: ClientId, side: Side, f: &Frame, remarks: &[String]) -> String {
    let opcode = f.opcode();
    let mut refs = vec![FRAMES, MASKING];
    if f.fin() == 0 || opcode == 0 {
        refs.push(FRAGMENTS);
    }
    if opcode >= 0x8 {
        refs.push(CONTROL);
    }
    if opcode == 0x8 {
        refs.extend([CLOSING, CLOSE_CODES]);
    }
    let rsv = f.rsv();
    let header: Vec<String> = f.header().iter().map(u8::to_string).collect();
    let mut b = start(id, "frame", &refs);
    let from = match side {
        Side::Client => "client",
        Side::Server => "server",
    };
    let _ = write!(
        b,
        ",\"from\":\"{from}\",\"fin\":{},\"rsv\":[{},{},{}],\"opcode\":{opcode},\"name\":{}",
        f.fin(),
        rsv[0],
        rsv[1],
        rsv[2],
        string(opcode_name(opcode))
    );
    let _ = write!(
        b,
        ",\"masked\":{},\"len7\":{},\"length\":{},\"form\":{},\"form_why\":{},\"header\":[{}]",
        f.mask.is_some(),
        f.second & 0x7F,
        f.len,
        string(f.form),
        string(f.form_why()),
        header.join(",")
    );
    let shown = f.wire.len();
    let _ = write!(
        b,
        ",\"payload\":{},\"shown\":{shown},\"cut\":{}",
        string(&hex(&f.wire)),
        f.cut(shown)
    );
    if let Some(m) = f.mask {
        let unmasked = &f.plain[..f.plain.len().min(HEX_BYTES)];
        let _ = write!(
            b,
            ",\"key\":{},\"unmasked\":{}",
            string(&hex(&m)),
            string(&hex(unmasked))
        );
    }
    match opcode {
        0x0 | 0x1 => {
            let (text, cut) = f.text();
            let _ = write!(b, ",\"text\":{},\"text_cut\":{cut}", string(&text));
        }
        0x8 => {
            let (code, reason) = f.close();
            let (code, meaning) = match code {
                Some(c) => (c.to_string(), close_meaning(c)),
                None => ("null".into(), "no close code (the receiver reports 1005)"),
            };
            let _ = write!(
                b,
                ",\"close\":{{\"code\":{code},\"meaning\":{},\"reason\":{}}}",
                string(meaning),
                string(&reason)
            );
        }
        _ => {}
    }
    let _ = write!(b, ",\"notes\":{}}}", strings(remarks));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_words_of_the_students_guide() {
        let doc = include_str!("../../docs/handshake.md").to_lowercase();
        for (section, title) in ALL {
            assert!(
                doc.contains(&title.to_lowercase()),
                "docs/handshake.md never says {title:?} (section {section})"
            );
        }
    }

    #[test]
    fn notes_are_json_objects_with_their_step() {
        let a = Accept::compute("dGhlIHNhbXBsZSBub25jZQ==");
        let n = accept(3, &a);
        assert!(n.starts_with(r#"{"conn":3,"step":"accept","refs":[{"section":"4.2.2""#));
        assert!(n.contains(r#""accept":"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=""#));
        assert!(n.ends_with('}'));
        let r = request(3, &["GET / HTTP/1.1".into(), "Upgrade: websocket".into()]);
        assert!(r.contains(r#"{"text":"GET / HTTP/1.1"}"#));
        assert!(r.contains(r#"{"text":"Upgrade: websocket","why":"#));
    }
}
