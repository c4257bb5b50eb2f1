//! Subprotocols (RFC 6455 sections 1.9, 4.1 and 4.2.2): the client offers
//! names in `Sec-WebSocket-Protocol`, by preference; the server picks one
//! of them, or none, and names its pick in the 101.

use log::{info, warn};

use crate::handshake::Refused;
use crate::http::Request;
use crate::hub::ClientId;

/// The header that carries the offer, and the choice in the 101.
pub(crate) const HEADER: &str = "Sec-WebSocket-Protocol";

/// True for a name a client may offer. RFC 6455 section 4.1: "elements
/// that comprise this value MUST be non-empty strings with characters in
/// the range U+0021 to U+007E not including separator characters as
/// defined in [RFC2616]".
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// Checks the client's offer; the reason to send with a 400 if it is bad.
/// Empty list elements (`a, , b`) are skipped, as RFC 9110 section 5.6.1
/// asks of a list's recipient; everything else must be a valid, unique name.
pub(crate) fn check_offer(req: &Request) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    for name in req.protocols() {
        if !is_token(name) {
            return Err(format!(
                "{HEADER}: {name:?} is not a valid subprotocol name (RFC 6455 section 4.1: printable ASCII, no spaces or separators)"
            ));
        }
        seen.push(name);
    }
    // Sorted rather than compared pairwise: a 16 KiB head holds thousands
    // of short names.
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "{HEADER} offers {:?} twice; the offered names must be unique (RFC 6455 section 4.1)",
            w[0]
        ));
    }
    Ok(())
}

/// Settles the subprotocol for an accepted upgrade and records it on the
/// request: the handler's pick if it made one, else the first name the
/// client offered that the server supports (the client lists them by
/// preference), else none. A handler's pick the client did not offer
/// refuses the handshake: a 101 naming it would be failed by the client.
pub(crate) fn settle(
    id: ClientId,
    request: &mut Request,
    picked: Option<&str>,
    supported: &[String],
) -> Result<(), Refused> {
    let peer = request.peer();
    // Borrowed from the pick or the server's list, not from the request,
    // which is then changed to record it.
    let choice = match picked {
        Some(name) => Some(name),
        None => request
            .protocols()
            .find_map(|p| supported.iter().find(|s| *s == p))
            .map(String::as_str),
    };
    let Some(choice) = choice else {
        if request.protocols().next().is_some() {
            info!(
                "#{id} {peer}: the client offered subprotocols [{}] and none was chosen; the 101 names none, and browsers fail such a connection (to accept one: --protocol NAME, Server::protocols, or Accepted::protocol in on_handshake)",
                offer(request)
            );
        }
        return Ok(());
    };
    if request.choose_protocol(choice) {
        return Ok(());
    }
    warn!(
        "#{id} {peer}: the handler chose subprotocol {choice:?}, which the client did not offer (it offered [{}]); refusing with 500",
        offer(request)
    );
    Err(Refused {
        status: 500,
        extra: "",
        reason: "the server chose a subprotocol the client did not offer".into(),
    })
}

/// The offer, for a log line.
fn offer(request: &Request) -> String {
    request.protocols().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        for ok in [
            "chat.v2",
            "mqtt",
            "graphql-transport-ws",
            "v12.stomp",
            "a!#$%&'*+-.^_`|~",
        ] {
            assert!(is_token(ok), "{ok}");
        }
        for bad in [
            "", "a b", "a,b", "chat/1", "x=y", "\"q\"", "é", "a\tb", "{}",
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
