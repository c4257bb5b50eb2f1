//! What `--explain` never shows: the values of the headers that carry
//! credentials, and a wire view's secret (see `views`).
//!
//! A terminal under `--explain` is often on a projector, and a page must
//! never be handed its own `HttpOnly` cookies: the view shows a student the
//! request their browser sent, so both get the head with these values
//! replaced. The debug log gets the same.

use super::views;
use crate::http;

/// What a hidden value is shown as.
pub(crate) const HIDDEN: &str = "(hidden)";

/// Headers whose values are credentials, in lower case.
const HIDDEN_HEADERS: [&str; 3] = ["cookie", "authorization", "proxy-authorization"];

/// The lines of a request head, as received, with the hidden values
/// replaced; empty lines (the head's end) left out.
pub(crate) fn head_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    // A line may end in a bare LF: "recipients MAY recognize a single LF
    // as a line terminator" (RFC 9112 section 2.2), and httparse does.
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty());
    let mut out = Vec::new();
    if let Some(first) = lines.next() {
        out.push(request_line(first));
    }
    out.extend(lines.map(header_line));
    out
}

/// The head as one text, for a log line.
pub(crate) fn head(raw: &[u8]) -> String {
    head_lines(raw).join("\n")
}

fn header_line(line: &str) -> String {
    match line.split_once(':') {
        Some((name, _)) if HIDDEN_HEADERS.contains(&name.trim().to_ascii_lowercase().as_str()) => {
            format!("{name}: {HIDDEN}")
        }
        _ => line.to_string(),
    }
}

/// The request line with the value of the secret's query parameter hidden,
/// however its name is spelled (`w%69re` is `wire` to the server, too).
fn request_line(line: &str) -> String {
    let mut parts = line.splitn(3, ' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return line.to_string();
    };
    let Some((path, query)) = target.split_once('?') else {
        return line.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (k, _) = pair.split_once('=').unwrap_or((pair, ""));
            // Decoded as `Request::query_param` decodes it, so that every
            // spelling the server takes for the secret is hidden.
            if http::query_decode(k).as_deref() == Some(views::PARAM) {
                format!("{k}={HIDDEN}")
            } else {
                pair.to_string()
            }
        })
        .collect();
    let rest = parts.next().map(|v| format!(" {v}")).unwrap_or_default();
    format!("{method} {path}?{}{rest}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_credentials_and_the_secret() {
        let raw = b"GET /ws?room=a&wire=0123&w%69re=4567 HTTP/1.1\r\nHost: h\r\n\
            cookie: session=abc\r\nAuthorization : Basic dXNlcg==\r\n\
            Sec-WebSocket-Key: k\r\n\r\n";
        let lines = head_lines(raw);
        assert_eq!(
            lines,
            [
                "GET /ws?room=a&wire=(hidden)&w%69re=(hidden) HTTP/1.1",
                "Host: h",
                "cookie: (hidden)",
                "Authorization : (hidden)",
                "Sec-WebSocket-Key: k",
            ]
        );
        let all = head(raw);
        for secret in ["0123", "4567", "abc", "dXNlcg"] {
            assert!(!all.contains(secret), "{secret} shown in {all}");
        }
    }

    #[test]
    fn hides_them_after_bare_line_feeds_too() {
        let raw = b"GET /ws?wire=0123 HTTP/1.1\nHost: h\r\nCookie: x=abc\nAuthorization: t\n\n";
        assert_eq!(
            head_lines(raw),
            [
                "GET /ws?wire=(hidden) HTTP/1.1",
                "Host: h",
                "Cookie: (hidden)",
                "Authorization: (hidden)",
            ]
        );
    }

    #[test]
    fn leaves_other_lines_alone() {
        let raw = b"GET /?x=1 HTTP/1.1\r\nX-Wire: 1\r\n\r\n";
        assert_eq!(head_lines(raw), ["GET /?x=1 HTTP/1.1", "X-Wire: 1"]);
    }
}
