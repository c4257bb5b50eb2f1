//! The HTTP/1.1 request head: read once under a size and a time limit,
//! parsed by `httparse`, and the few responses wshub sends.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

/// The most headers a request may carry.
const MAX_HEADERS: usize = 64;

/// An HTTP request head, as the handler sees it in
/// [`Handler::on_handshake`](crate::Handler::on_handshake) and
/// [`Handler::on_open`](crate::Handler::on_open).
#[derive(Clone, Debug)]
pub struct Request {
    /// The head exactly as received (valid UTF-8), for `--explain`; every
    /// other field is a range into it, so a request is two allocations.
    pub(crate) raw: Vec<u8>,
    method: (u32, u32),
    path: (u32, u32),
    query: Option<(u32, u32)>,
    headers: Vec<((u32, u32), (u32, u32))>,
    peer: SocketAddr,
    /// The subprotocol the handshake chose: one of the offered names, so a
    /// range into the head like the rest.
    protocol: Option<(u32, u32)>,
}

impl Request {
    fn slice(&self, (a, b): (u32, u32)) -> &str {
        // The ranges were cut by httparse at ASCII delimiters of a head
        // checked to be UTF-8, so this always succeeds; checking again
        // costs a few nanoseconds on a few short strings per handshake.
        let bytes = self.raw.get(a as usize..b as usize).unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        self.slice(self.method)
    }

    /// The path part of the request target, still percent-encoded, e.g. `/ws`.
    pub fn path(&self) -> &str {
        self.slice(self.path)
    }

    /// The query string after `?`, if any, still percent-encoded.
    pub fn query(&self) -> Option<&str> {
        self.query.map(|r| self.slice(r))
    }

    /// The value of the first query parameter called `name`, decoded
    /// (`+` and `%XX`). `None` if absent or not valid UTF-8.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if query_decode(k)? == name {
                query_decode(v)
            } else {
                None
            }
        })
    }

    /// Whether the query has a parameter called `name` (as written, not
    /// decoded), whatever its value: with [`query_param`](Self::query_param)
    /// it tells a value that is not valid UTF-8 from one that is absent.
    pub fn has_query_param(&self, name: &str) -> bool {
        self.query().is_some_and(|q| {
            q.split('&')
                .any(|pair| pair.split_once('=').map_or(pair, |(k, _)| k) == name)
        })
    }

    /// The first header called `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All headers in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|&(k, v)| (self.slice(k), self.slice(v)))
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The subprotocols the client offers, in its order of preference:
    /// every `Sec-WebSocket-Protocol` header's comma-separated names,
    /// trimmed, empty ones skipped. Before a handler sees a request the
    /// server has checked them (valid names, none twice; else `400`).
    ///
    /// ```
    /// # fn check(request: &wshub::Request) {
    /// let speaks_chat_v2 = request.protocols().any(|p| p == "chat.v2");
    /// # }
    /// ```
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.headers()
            .filter(|(k, _)| k.eq_ignore_ascii_case(crate::subprotocol::HEADER))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// The subprotocol chosen for this connection, once the handshake has
    /// chosen one.
    pub(crate) fn protocol(&self) -> Option<&str> {
        self.protocol.map(|r| self.slice(r))
    }

    /// Records `name` as the chosen subprotocol if the client offered it
    /// (exactly: names are compared as the browser does); false if not.
    pub(crate) fn choose_protocol(&mut self, name: &str) -> bool {
        let base = self.raw.as_ptr() as usize;
        let at = self.protocols().find(|p| *p == name).map(|p| {
            let a = p.as_ptr() as usize - base;
            (a as u32, (a + p.len()) as u32)
        });
        self.protocol = at;
        at.is_some()
    }

    /// True if a header's comma-separated list holds `token`
    /// (case-insensitive), as `Connection: keep-alive, Upgrade` holds `upgrade`.
    pub(crate) fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Why a head could not be read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The peer closed or sent nothing before the deadline: say nothing
    /// (a browser may pre-open a connection it never uses).
    Silent,
    /// Part of a head came, then the deadline passed: 408.
    TooSlow,
    /// Over the size limit: 431.
    TooLarge,
    /// Not HTTP: 400.
    Malformed(String),
}

/// Reads one request head. Returns it and the bytes that followed it (the
/// first WebSocket frames, if the client did not wait for the 101).
///
/// `read` reads from `stream` (through its TLS session, on a TLS port);
/// `stream` itself only carries the read timeout.
pub(crate) fn read_head(
    stream: &TcpStream,
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    peer: SocketAddr,
    max_size: usize,
    deadline: Instant,
) -> Result<(Request, Vec<u8>), HeadError> {
    // On the heap: once freed, this 1 KiB is what tungstenite's read
    // buffer of the same size is given (measured: 512-byte read buffers
    // cost more per idle connection than 1 KiB ones, for that reason).
    let mut buf = Vec::with_capacity(1024.min(max_size + 1));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(if buf.is_empty() {
                HeadError::Silent
            } else {
                HeadError::TooSlow
            });
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| HeadError::Silent)?;
        let filled = buf.len();
        let want = 1024.min(max_size + 1 - filled);
        buf.resize(filled + want, 0);
        let got = read(&mut buf[filled..]);
        buf.truncate(filled + *got.as_ref().unwrap_or(&0));
        match got {
            Ok(0) => return Err(HeadError::Silent),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(HeadError::Silent),
        }
        if let Some((request, len)) = parse_head(&buf, peer, max_size)? {
            let rest = buf.split_off(len);
            return Ok((request, rest));
        }
    }
}

/// Parses a request head from the start of `buf`: `Ok(None)` while it is
/// incomplete, else the request and the head's length in bytes.
pub(crate) fn parse_head(
    buf: &[u8],
    peer: SocketAddr,
    max_size: usize,
) -> Result<Option<(Request, usize)>, HeadError> {
    // On the stack: a connection thread gives back the stack pages its
    // setup touched before it idles (see `sys::Stack`), while 2 KiB freed
    // on the heap would stay with the thread's allocator.
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Ok(Some((
            to_request(&req, peer, buf.as_ptr() as usize, buf[..len].to_vec())?,
            len,
        ))),
        Ok(httparse::Status::Partial) if buf.len() > max_size => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(e) => Err(HeadError::Malformed(e.to_string())),
    }
}

fn to_request(
    req: &httparse::Request<'_, '_>,
    peer: SocketAddr,
    base: usize,
    raw: Vec<u8>,
) -> Result<Request, HeadError> {
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HeadError::Malformed("incomplete request line".into()));
    };
    if req.version != Some(1) {
        return Err(HeadError::Malformed("only HTTP/1.1 is supported".into()));
    }
    if !target.starts_with('/') {
        return Err(HeadError::Malformed(
            "the request target must start with /".into(),
        ));
    }
    if std::str::from_utf8(&raw).is_err() {
        for h in req.headers.iter() {
            if std::str::from_utf8(h.value).is_err() {
                return Err(HeadError::Malformed(format!(
                    "header {} is not UTF-8",
                    h.name
                )));
            }
        }
        return Err(HeadError::Malformed("the request head is not UTF-8".into()));
    }
    // Where a piece httparse found lies in the head (the head is at most
    // `max_head_size`, far below u32::MAX).
    let at = |b: &[u8]| -> (u32, u32) {
        let a = (b.as_ptr() as usize).wrapping_sub(base);
        (a as u32, a.wrapping_add(b.len()) as u32)
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    Ok(Request {
        method: at(method.as_bytes()),
        path: at(path.as_bytes()),
        query: query.map(|q| at(q.as_bytes())),
        headers: req
            .headers
            .iter()
            .map(|h| {
                let v = std::str::from_utf8(h.value).unwrap_or("").trim();
                (at(h.name.as_bytes()), at(v.as_bytes()))
            })
            .collect(),
        peer,
        protocol: None,
        raw,
    })
}

/// Decodes a query parameter's name or value: `+` is a space, then `%XX`
/// escapes. `None` for a bad escape or bytes that are not UTF-8.
pub(crate) fn query_decode(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}

/// Decodes `%XX` escapes. `None` for a bad escape or bytes that are not
/// UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // from_str_radix would take a sign ("%+2"); RFC 3986 takes
            // exactly two hex digits.
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The reason phrase for the statuses wshub sends.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The header every response carries: a browser takes the Content-Type
/// as given instead of guessing one from the bytes.
pub(crate) const NOSNIFF: &str = "X-Content-Type-Options: nosniff\r\n";

/// The policy of what wshub itself writes (its own page, its settings and
/// its error pages): load only its own scripts and styles, talk only to its
/// own server. Not sent with a directory's files: see `page`.
pub(crate) const CSP: &str = "Content-Security-Policy: default-src 'self'; connect-src 'self'; img-src 'self' data:; \
style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'\r\n";

/// Builds a complete response head (and `body` unless `head_only`), closing
/// the connection afterwards. `extra` is more header lines, each ending in CRLF.
pub(crate) fn response(
    status: u16,
    content_type: &str,
    extra: &str,
    body: &[u8],
    head_only: bool,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{NOSNIFF}{extra}Connection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// A plain-text error response: the status and one line saying why.
pub(crate) fn error_response(status: u16, extra: &str, text: &str, head_only: bool) -> Vec<u8> {
    let body = format!("{status} {}: {text}\n", reason(status));
    response(
        status,
        "text/plain; charset=utf-8",
        &format!("{CSP}{extra}"),
        body.as_bytes(),
        head_only,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("%2e%2E").as_deref(), Some(".."));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("%ff"), None);
        // Found by the fuzzer: a sign is not a hex digit.
        assert_eq!(percent_decode("%+2"), None);
    }
}
