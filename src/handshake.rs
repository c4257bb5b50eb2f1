//! The opening handshake (RFC 6455 section 4.2): checking an upgrade
//! request and building the 101 response.

use crate::config::Origins;
use crate::http::Request;
use crate::subprotocol;

/// The GUID every server appends to the client's key (RFC 6455 section 1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The steps from a `Sec-WebSocket-Key` to its `Sec-WebSocket-Accept`
/// (RFC 6455 section 4.2.2, item 5.4): "concatenate ... the value of the
/// |Sec-WebSocket-Key| header field ... with the string
/// "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", taking the SHA-1 hash of this
/// concatenated value to obtain a 20-byte value and base64-encoding ... this
/// 20-byte hash."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accept {
    /// The client's key, as sent.
    pub key: String,
    /// The key followed by the GUID.
    pub concatenated: String,
    /// The SHA-1 digest of the concatenation.
    pub sha1: [u8; 20],
    /// The digest in base64: the `Sec-WebSocket-Accept` value.
    pub accept: String,
}

impl Accept {
    /// Computes every step for `key`.
    pub fn compute(key: &str) -> Accept {
        use sha1::Digest;
        let concatenated = format!("{key}{GUID}");
        let sha1: [u8; 20] = sha1::Sha1::digest(concatenated.as_bytes()).into();
        let accept = data_encoding::BASE64.encode(&sha1);
        Accept {
            key: key.to_string(),
            concatenated,
            sha1,
            accept,
        }
    }
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    Accept::compute(key).accept
}

/// True if the request asks to become a WebSocket: `Upgrade: websocket`.
pub(crate) fn is_upgrade(req: &Request) -> bool {
    req.header_has_token("Upgrade", "websocket")
}

/// A refused upgrade: status, extra header lines, and a one-line reason.
#[derive(Debug)]
pub(crate) struct Refused {
    pub status: u16,
    pub extra: &'static str,
    pub reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refused {
    Refused {
        status,
        extra: "",
        reason: reason.into(),
    }
}

/// Checks an upgrade request on the WebSocket path. Returns the client's key.
pub(crate) fn check(req: &Request, origins: &Origins) -> Result<String, Refused> {
    // "The method of the request MUST be GET, and the HTTP version MUST be
    // at least 1.1."
    if req.method() != "GET" {
        return Err(Refused {
            status: 405,
            extra: "Allow: GET\r\n",
            reason: "a WebSocket upgrade must use GET".into(),
        });
    }
    // "A |Connection| header field that includes the token "Upgrade"".
    if !req.header_has_token("Connection", "upgrade") {
        return Err(refuse(400, "the Connection header must include Upgrade"));
    }
    // "If this version does not match a version understood by the server,
    // the server MUST abort the WebSocket handshake ... and instead send an
    // appropriate HTTP error code (such as 426 Upgrade Required) and a
    // |Sec-WebSocket-Version| header field indicating the version(s) the
    // server is capable of understanding."
    if req.header("Sec-WebSocket-Version") != Some("13") {
        return Err(Refused {
            status: 426,
            extra: "Sec-WebSocket-Version: 13\r\n",
            reason: "only WebSocket version 13 is supported".into(),
        });
    }
    // "The request MUST include a header field with the name
    // |Sec-WebSocket-Key|. The value of this header field MUST be a nonce
    // consisting of a randomly selected 16-byte value that has been
    // base64-encoded."
    let key = req.header("Sec-WebSocket-Key").unwrap_or("");
    if !is_base64_of_16_bytes(key) {
        return Err(refuse(
            400,
            "Sec-WebSocket-Key must be 16 random bytes in base64",
        ));
    }
    if let Err(why) = subprotocol::check_offer(req) {
        return Err(refuse(400, why));
    }
    // Browsers send cookies with cross-site WebSocket requests, so the Origin
    // is the only thing that stops another site's page from connecting as
    // the user (Cross-Site WebSocket Hijacking).
    if let Some(origin) = req.header("Origin")
        && !origins.allows(origin, req.header("Host"))
    {
        return Err(refuse(403, format!("origin {origin} is not allowed")));
    }
    Ok(key.to_string())
}

/// A base64 string that decodes to exactly 16 bytes: 22 characters of the
/// alphabet and `==`.
fn is_base64_of_16_bytes(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b[22..] == *b"=="
        && b[..22].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        // The last character carries 2 bits, the other 4 must be zero.
        && matches!(b[21], b'A' | b'Q' | b'g' | b'w')
}

/// The 101 response that completes the handshake.
pub(crate) enum Response {
    /// Without a subprotocol, the common case: built on the stack, so no
    /// allocation is freed (and parked in the thread's malloc cache) for it.
    Bare([u8; 129]),
    /// Naming a subprotocol, whose length has no fixed bound.
    WithProtocol(Vec<u8>),
}

impl std::ops::Deref for Response {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Response::Bare(b) => b,
            Response::WithProtocol(v) => v,
        }
    }
}

/// The 101 for `key`, naming `protocol` if one was chosen.
pub(crate) fn response(key: &str, protocol: Option<&str>) -> Response {
    let bare = bare_response(key);
    let Some(protocol) = protocol else {
        return Response::Bare(bare);
    };
    // RFC 6455 section 4.2.2, /subprotocol/: "The value chosen MUST be
    // derived from the client's handshake, specifically by selecting one
    // of the values from the |Sec-WebSocket-Protocol| field that the server
    // is willing to use for this connection (if any)." `subprotocol::settle`
    // lets only an offered name reach here; with none, `Bare` sends no
    // header: "if the server does not wish to agree to one of the suggested
    // subprotocols, it MUST NOT send back a |Sec-WebSocket-Protocol| header
    // field in its response".
    let mut out = Vec::with_capacity(bare.len() + subprotocol::HEADER.len() + protocol.len() + 4);
    out.extend_from_slice(&bare[..bare.len() - 2]);
    for part in [subprotocol::HEADER, ": ", protocol, "\r\n\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    Response::WithProtocol(out)
}

/// The 101 without optional headers.
fn bare_response(key: &str) -> [u8; 129] {
    use sha1::Digest;
    const HEAD: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    let mut h = sha1::Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    let digest: [u8; 20] = h.finalize().into();
    let mut out = [0u8; 129];
    out[..HEAD.len()].copy_from_slice(HEAD);
    data_encoding::BASE64.encode_mut(&digest, &mut out[HEAD.len()..HEAD.len() + 28]);
    out[HEAD.len() + 28..].copy_from_slice(b"\r\n\r\n");
    debug_assert_eq!(
        &out[HEAD.len()..HEAD.len() + 28],
        accept_key(key).as_bytes()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_key() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(is_base64_of_16_bytes("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_base64_of_16_bytes("dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!is_base64_of_16_bytes("not a key"));
    }

    #[test]
    fn the_101_names_the_protocol_only_when_chosen() {
        let bare = response("dGhlIHNhbXBsZSBub25jZQ==", None);
        assert!(bare.ends_with(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
        assert!(!bare.windows(9).any(|w| w == b"-Protocol"));
        let named = response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat.v2"));
        assert!(
            named.ends_with(
                b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat.v2\r\n\r\n"
            )
        );
        assert_eq!(named[..bare.len() - 2], bare[..bare.len() - 2]);
    }
}
