//! A client frame's header, as the gate reads it and rewrites it.

/// The longest client frame header: 2 bytes, a 64-bit length, a mask.
pub(super) const MAX_HEADER: usize = 14;

/// One parsed frame header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub(super) fin: bool,
    pub(super) opcode: u8,
    pub(super) mask: Option<[u8; 4]>,
    pub(super) len: u64,
    /// Bytes the header takes on the wire.
    pub(super) size: usize,
}

impl Header {
    /// Parses a header at the start of `b`; `None` if it has not all come.
    pub(super) fn parse(b: &[u8]) -> Option<Header> {
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

    pub(super) fn is_data(&self) -> bool {
        self.opcode <= 0x2
    }

    pub(super) fn is_control(&self) -> bool {
        self.opcode >= 0x8
    }
}

/// Rewrites, in place, the header of a data frame of which only `have`
/// payload bytes are here: FIN cleared, length `have`, in the length form
/// the header already has (tungstenite reads a longer form than needed as
/// well), so nothing moves.
pub(super) fn cut_header(frame: &mut [u8], h: &Header, have: u64) {
    frame[0] &= 0x7F;
    match frame[1] & 0x7F {
        126 => frame[2..4].copy_from_slice(&(have as u16).to_be_bytes()),
        127 => frame[2..10].copy_from_slice(&have.to_be_bytes()),
        _ => frame[1] = (frame[1] & 0x80) | have as u8,
    }
    debug_assert!(have < h.len);
}
