//! What goes on a channel: the sender's node id, one byte saying what it
//! is, and the body. A node reads its own id at the front to skip what
//! it sent itself.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use super::NodeId;

/// Characters of a node id.
pub(crate) const ID_LEN: usize = 5;

/// What a message on a channel is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A text message on a topic.
    Text,
    /// A binary message on a topic.
    Binary,
    /// The node is alive (on the beat channel).
    Alive,
    /// The node is stopping (on the beat channel).
    Bye,
    /// Chat: a message said in a room, numbered.
    Said,
    /// Chat: someone entered a room.
    Joined,
    /// Chat: someone left a room.
    Left,
    /// Chat: someone took a new name.
    Renamed,
    /// Chat: every member of the node, in place of what was known.
    Members,
    /// Chat: a node asks the others to send their members.
    Hello,
}

const KINDS: [(Kind, u8); 10] = [
    (Kind::Text, b'T'),
    (Kind::Binary, b'B'),
    (Kind::Alive, b'+'),
    (Kind::Bye, b'-'),
    (Kind::Said, b'S'),
    (Kind::Joined, b'J'),
    (Kind::Left, b'L'),
    (Kind::Renamed, b'R'),
    (Kind::Members, b'M'),
    (Kind::Hello, b'H'),
];

impl Kind {
    fn byte(self) -> u8 {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map_or(b'?', |(_, b)| *b)
    }

    fn from_byte(b: u8) -> Option<Kind> {
        KINDS.iter().find(|(_, x)| *x == b).map(|(k, _)| *k)
    }
}

pub(crate) fn encode(node: &str, kind: Kind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ID_LEN + 1 + body.len());
    out.extend_from_slice(node.as_bytes());
    out.push(kind.byte());
    out.extend_from_slice(body);
    out
}

/// The sender, the kind and the body; `None` for what no wshub sent.
pub(crate) fn decode(payload: &[u8]) -> Option<(&str, Kind, &[u8])> {
    if payload.len() < ID_LEN + 1 {
        return None;
    }
    let node = std::str::from_utf8(&payload[..ID_LEN]).ok()?;
    let kind = Kind::from_byte(payload[ID_LEN])?;
    Some((node, kind, &payload[ID_LEN + 1..]))
}

/// A random node id. `RandomState` is seeded from the operating system's
/// random source; the time and process id are mixed in besides.
pub(crate) fn new_node_id() -> NodeId {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    let mut n = h.finish();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..ID_LEN)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = new_node_id();
        assert_eq!(id.len(), ID_LEN);
        assert_ne!(id, new_node_id(), "two nodes, two ids");
        let wire = encode(&id, Kind::Said, b"7 hello");
        assert_eq!(
            decode(&wire),
            Some((id.as_str(), Kind::Said, &b"7 hello"[..]))
        );
        assert_eq!(decode(b"abc"), None);
        assert_eq!(decode(b"abcde?x"), None);
    }
}
