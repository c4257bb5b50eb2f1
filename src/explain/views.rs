//! The wire views that are open, and which connections each one watches.
//!
//! A page opens its view socket first, at [`PATH`]`?wire=SECRET`, with a
//! secret it made itself (16 random bytes, 32 hex digits), then its main
//! connection with the same `wire=SECRET` in its URL. The view is claimed
//! here before its 101 is sent, so by the time the page can open the main
//! connection the server knows the secret; a main connection that names a
//! secret no open view holds is simply not watched, and nothing is kept
//! for it. A view holds its secret only while its socket is open.
//!
//! The secret is how a student watches their own connection and nobody
//! else's: the page never shows it, the server never prints it (see
//! `redact`), and it travels only inside the student's own two requests.

use std::sync::Mutex;

use crate::handler::{Client, Handler, Message};
use crate::http::Request;
use crate::hub::ClientId;

/// Where a view socket connects.
pub(crate) const PATH: &str = "/wshub-wire";

/// The query parameter that carries the secret, on both connections.
pub(crate) const PARAM: &str = "wire";

/// Hex digits in a secret: 16 bytes, as many as a WebSocket key, too many
/// to guess.
const SECRET_DIGITS: usize = 32;

/// A view's secret: 32 lowercase hex digits.
pub(crate) type Secret = [u8; SECRET_DIGITS];

/// The secret a request names, if it names a well-formed one.
pub(crate) fn secret(request: &Request) -> Option<Secret> {
    let value = request.query_param(PARAM)?;
    let well_formed = value
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (well_formed && value.len() == SECRET_DIGITS).then(|| {
        let mut s = [0u8; SECRET_DIGITS];
        s.copy_from_slice(value.as_bytes());
        s
    })
}

/// The open views. Also the handler of their sockets, which listen only.
#[derive(Debug, Default)]
pub(crate) struct Views {
    /// Each open view's connection and secret. Held only to look up,
    /// add or remove one entry, never while taking another lock or doing
    /// I/O, so it cannot deadlock. At most one entry per open connection.
    open: Mutex<Vec<(ClientId, Secret)>>,
}

impl Views {
    /// Records `view` as the holder of `secret`; false if another view
    /// holds it already.
    pub(crate) fn claim(&self, view: ClientId, secret: Secret) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.iter().any(|(_, s)| same(s, &secret)) {
            return false;
        }
        open.push((view, secret));
        true
    }

    /// The view that holds `secret`, if one is open.
    pub(crate) fn find(&self, secret: &Secret) -> Option<ClientId> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.iter()
            .find(|(_, s)| same(s, secret))
            .map(|(view, _)| *view)
    }

    /// Lets go of the secret of `view`, if it is one: its connection ended.
    pub(crate) fn forget(&self, view: ClientId) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|(v, _)| *v != view);
    }
}

/// Compares two secrets in time that does not depend on where they
/// differ, so that timing a refusal tells nothing of a secret.
fn same(a: &Secret, b: &Secret) -> bool {
    a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Handler for Views {
    /// A view only listens: what its page sends is dropped.
    fn on_message(&self, _client: &Client, _message: Message) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_held_by_one_view_until_it_goes() {
        let views = Views::default();
        let s = *b"0123456789abcdef0123456789abcdef";
        assert!(views.claim(7, s));
        assert!(!views.claim(8, s), "a second view cannot take it");
        assert_eq!(views.find(&s), Some(7));
        let mut other = s;
        other[31] = b'0';
        assert_eq!(views.find(&other), None);
        views.forget(7);
        assert_eq!(views.find(&s), None);
        assert!(views.claim(8, s));
    }
}
