//! Server-to-client frames, encoded once and shared.
//!
//! A server frame is never masked, so the same bytes are right for every
//! client: a broadcast is encoded here once, counted against the memory
//! budget once (see `budget`), and the hub hands the one buffer to every
//! socket (`Bytes` clones are reference counts, not copies).
//! Reading client frames is tungstenite's job; see `connection`.

/// The opcodes wshub sends (RFC 6455 section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Opcode {
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
}

/// Encodes one unfragmented, unmasked frame.
pub(crate) fn encode(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    // FIN set, no RSV bits: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless
    // an extension is negotiated that defines meanings for non-zero values."
    out.push(0x80 | opcode as u8);
    // "A server MUST NOT mask any frames that it sends to the client."
    // Length: 7 bits, or 126 + 16 bits, or 127 + 64 bits, "the minimal
    // number of bytes MUST be used to encode the length".
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Encodes a close frame: a 2-byte status code and a UTF-8 reason.
/// "All control frames MUST have a payload length of 125 bytes or less", so
/// the reason is cut, on a character boundary, to fit in 123 bytes.
pub(crate) fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode(Opcode::Close, &payload)
}

/// The payload length of `wire` if it is a data frame (text or binary) as
/// the server encodes them: one whole, unfragmented frame. `None` for a
/// control frame, or for a connection thread's control replies, which may
/// be several frames in one buffer but never begin with a data frame.
pub(crate) fn data_payload_len(wire: &[u8]) -> Option<usize> {
    let opcode = wire.first()? & 0x0F;
    if opcode != Opcode::Text as u8 && opcode != Opcode::Binary as u8 {
        return None;
    }
    let header = match wire.get(1)? & 0x7F {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    wire.len().checked_sub(header)
}

/// True if `wire` (whole unmasked server frames, as tungstenite writes its
/// automatic replies) contains a close frame.
pub(crate) fn contains_close(mut wire: &[u8]) -> bool {
    while wire.len() >= 2 {
        if wire[0] & 0x0F == Opcode::Close as u8 {
            return true;
        }
        let (header, len): (usize, usize) = match wire[1] & 0x7F {
            126 if wire.len() >= 4 => (4, u16::from_be_bytes([wire[2], wire[3]]) as usize),
            127 if wire.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&wire[2..10]);
                (10, u64::from_be_bytes(n) as usize)
            }
            126 | 127 => return false,
            n => (2, n as usize),
        };
        wire = wire.get(header.saturating_add(len)..).unwrap_or(&[]);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_forms_follow_the_rfc() {
        assert_eq!(&encode(Opcode::Text, b"Hello")[..], b"\x81\x05Hello");
        let medium = encode(Opcode::Binary, &[0u8; 300]);
        assert_eq!(&medium[..4], &[0x82, 126, 0x01, 0x2C]);
        assert_eq!(medium.len(), 304);
        let large = encode(Opcode::Binary, &vec![0u8; 70_000]);
        assert_eq!(&large[..10], &[0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let frame = close(1008, &"é".repeat(100));
        assert!(frame.len() - 2 <= 125);
        assert_eq!(&frame[2..4], &1008u16.to_be_bytes());
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }

    #[test]
    fn finds_a_close_after_a_pong() {
        let mut wire = encode(Opcode::Ping, b"abc").to_vec();
        wire[0] = 0x8A; // pong
        assert!(!contains_close(&wire));
        wire.extend_from_slice(&close(1000, ""));
        assert!(contains_close(&wire));
    }
}
