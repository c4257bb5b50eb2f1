//! A lean WebSocket client for the load generator: the HTTP upgrade by hand
//! on a plain `TcpStream` (or over a rustls client session on one, for
//! wss://), masked frames encoded in place, and an incremental parser for
//! the server's frames. It costs the generator far less per message than a
//! full client, so that the generator's one core is not what is measured.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::util;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The masking key of every frame the generator sends (RFC 6455 wants it
/// unpredictable to protect proxies; a server cannot tell).
const MASK: [u8; 4] = [0x5a, 0x13, 0xc7, 0x2e];

/// Appends one final, masked client frame to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    encode_frame(out, true, opcode, payload);
}

/// Appends one masked client frame to `out`; `fin` false for every frame
/// of a fragmented message but the last.
pub fn encode_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i & 3]));
}

/// Answers a ping with a pong carrying the same payload. A failure shows
/// up on the next read, so it is not reported here.
pub fn pong(stream: &TcpStream, ping_payload: &[u8], timeout: Duration) {
    let mut out = Vec::with_capacity(ping_payload.len() + 14);
    encode(&mut out, OP_PONG, ping_payload);
    let _ = write_all(stream, &out, Instant::now() + timeout);
}

/// Writes all of `data` to a socket, blocking or not, giving up at
/// `deadline`.
pub fn write_all(stream: &TcpStream, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    while !data.is_empty() {
        match (&*stream).write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the server took no output for too long",
                    ));
                }
                util::wait_writable(stream.as_raw_fd(), 10);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The standard base64 of `bytes`.
fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Connects and completes the WebSocket upgrade on `path` (`/ws`, or
/// `/ws?topic=NAME`). Returns the socket (blocking, with `timeout` on reads
/// and writes) and any bytes read past the response head.
pub fn handshake(
    addr: SocketAddr,
    path: &str,
    seed: u64,
    timeout: Duration,
) -> Result<(TcpStream, Vec<u8>), String> {
    let stream = tcp_connect(addr, timeout)?;
    let rest = upgrade(&mut &stream, addr, path, seed)?;
    Ok((stream, rest))
}

/// Connects, runs the TLS handshake (trusting what `config` trusts, the
/// bench's certificate for `localhost`) and the WebSocket upgrade over it.
/// The socket stays blocking, with `timeout` on reads and writes.
pub fn handshake_tls(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    path: &str,
    seed: u64,
    timeout: Duration,
) -> Result<Conn, String> {
    let stream = tcp_connect(addr, timeout)?;
    let name = ServerName::try_from("localhost").expect("a valid name");
    let mut tls =
        ClientConnection::new(Arc::clone(config), name).map_err(|e| format!("TLS session: {e}"))?;
    while tls.is_handshaking() {
        tls.complete_io(&mut &stream)
            .map_err(|e| format!("TLS handshake: {e}"))?;
    }
    let mut sock = &stream;
    let rest = upgrade(
        &mut rustls::Stream::new(&mut tls, &mut sock),
        addr,
        path,
        seed,
    )?;
    let mut conn = Conn::new(stream, rest);
    conn.tls = Some(Box::new(tls));
    Ok(conn)
}

/// Connects to `path`, plain or over TLS when `tls` is given.
pub fn connect(
    addr: SocketAddr,
    tls: Option<&Arc<ClientConfig>>,
    path: &str,
    seed: u64,
    timeout: Duration,
) -> Result<Conn, String> {
    match tls {
        None => handshake(addr, path, seed, timeout).map(|(stream, rest)| Conn::new(stream, rest)),
        Some(config) => handshake_tls(addr, config, path, seed, timeout),
    }
}

fn tcp_connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    Ok(stream)
}

/// The HTTP upgrade on a blocking stream (a socket, or a TLS session over
/// one); returns any bytes read past the response head.
fn upgrade(
    io: &mut (impl Read + Write),
    addr: SocketAddr,
    path: &str,
    seed: u64,
) -> Result<Vec<u8>, String> {
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&seed.to_le_bytes());
    nonce[8..].copy_from_slice(&(seed ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
    let key = base64(&nonce);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    io.write_all(request.as_bytes())
        .and_then(|()| io.flush())
        .map_err(|e| format!("sending the upgrade request: {e}"))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            return Err("the response head is over 16 KiB".into());
        }
        let n = io
            .read(&mut chunk)
            .map_err(|e| format!("waiting for the 101: {e}"))?;
        if n == 0 {
            let first = String::from_utf8_lossy(&buf);
            let first = first.lines().next().unwrap_or("nothing");
            return Err(format!("connection closed before the 101 (got {first:?})"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("upgrade refused: {status}"));
    }
    let expected = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let accepted = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == expected
        })
    });
    if !accepted {
        return Err("wrong or missing Sec-WebSocket-Accept".into());
    }
    Ok(buf[head_end..].to_vec())
}

/// One frame from the server; its payload stays in the connection's
/// buffer until the next `fill`.
pub struct Frame {
    pub opcode: u8,
    pub payload: Range<usize>,
}

/// A client connection: the socket, its TLS session for a wss://
/// connection, and what was read (and decrypted) but not parsed yet.
pub struct Conn {
    pub stream: TcpStream,
    /// The TLS session over `stream`; boxed, so that a plain `Conn` stays
    /// small.
    tls: Option<Box<ClientConnection>>,
    /// Allocated on the first `fill` when nothing was left over from the
    /// upgrade, so that idle connections cost the generator no buffer.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// The read buffer's first size.
const BUF: usize = 16 * 1024;

impl Conn {
    pub fn new(stream: TcpStream, leftover: Vec<u8>) -> Conn {
        let mut buf = Vec::new();
        if !leftover.is_empty() {
            buf = vec![0u8; BUF.max(leftover.len() * 2)];
            buf[..leftover.len()].copy_from_slice(&leftover);
        }
        Conn {
            stream,
            tls: None,
            end: leftover.len(),
            buf,
            start: 0,
        }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// For a wss:// connection: its TLS version, cipher suite, key
    /// exchange group and handshake kind, as rustls names them.
    pub fn tls_summary(&self) -> Option<String> {
        let tls = self.tls.as_ref()?;
        let name = |v: Option<String>| v.unwrap_or_else(|| "?".into());
        Some(format!(
            "{} {} {}, {} handshake",
            name(tls.protocol_version().map(|v| format!("{v:?}"))),
            name(
                tls.negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()))
            ),
            name(
                tls.negotiated_key_exchange_group()
                    .map(|g| format!("{:?}", g.name()))
            ),
            name(
                tls.handshake_kind()
                    .map(|k| format!("{k:?}").to_lowercase())
            ),
        ))
    }

    /// Bytes read but not parsed yet.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Reads what the socket has (one `read`; over TLS, what one
    /// `read_tls` decrypts, or `WouldBlock` if that is no whole record
    /// yet). `Ok(0)` is end of stream.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let len = self.buf.len();
                self.buf.resize((len * 2).max(BUF), 0);
            }
        }
        if self.tls.is_some() {
            return self.fill_tls();
        }
        let n = (&self.stream).read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// `fill` over TLS: decrypted bytes first (all of them, so that none
    /// wait in the session while epoll reports nothing), else one
    /// `read_tls` and again.
    fn fill_tls(&mut self) -> io::Result<usize> {
        let Conn {
            stream,
            tls,
            buf,
            end,
            ..
        } = self;
        let tls = tls.as_mut().expect("a TLS connection");
        loop {
            let mut got = 0;
            let ended = loop {
                if *end == buf.len() {
                    let len = buf.len();
                    buf.resize(len * 2, 0);
                }
                match tls.reader().read(&mut buf[*end..]) {
                    Ok(0) => break true,
                    Ok(n) => {
                        *end += n;
                        got += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    // TCP ended without a close_notify: the end all the same.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break true,
                    Err(e) => return Err(e),
                }
            };
            if got > 0 {
                return Ok(got);
            }
            if ended {
                return Ok(0);
            }
            // WouldBlock (non-blocking) or a timeout (blocking) goes up.
            tls.read_tls(&mut &*stream)?;
            tls.process_new_packets().map_err(io::Error::other)?;
            // Records the session makes on its own (a key update's answer):
            // out now if the socket takes them, else with the next send.
            while tls.wants_write() {
                if tls.write_tls(&mut &*stream).is_err() {
                    break;
                }
            }
        }
    }

    /// Sends all of `data` (a socket blocking or not), giving up at
    /// `deadline`.
    pub fn send(&mut self, data: &[u8], deadline: Instant) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else {
            return write_all(&self.stream, data, deadline);
        };
        let mut data = data;
        loop {
            if !data.is_empty() {
                // Takes what fits under the session's buffer limit.
                let n = tls.writer().write(data)?;
                data = &data[n..];
            }
            if !tls.wants_write() {
                if data.is_empty() {
                    return Ok(());
                }
                return Err(io::Error::other("the TLS session took no data"));
            }
            match tls.write_tls(&mut &self.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the server took no output for too long",
                        ));
                    }
                    util::wait_writable(self.stream.as_raw_fd(), 10);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Answers a ping with a pong carrying the same payload. A failure
    /// shows up on the next read, so it is not reported here.
    pub fn pong(&mut self, ping: &Frame, timeout: Duration) {
        let payload = &self.buf[ping.payload.clone()];
        let mut out = Vec::with_capacity(payload.len() + 14);
        encode(&mut out, OP_PONG, payload);
        let _ = self.send(&out, Instant::now() + timeout);
    }

    /// The next complete frame already read, if any.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return Ok(None);
        }
        if b[0] & 0x70 != 0 {
            return Err(format!("frame with reserved bits set (0x{:02x})", b[0]));
        }
        if b[0] & 0x80 == 0 {
            return Err("fragmented message from the server (unexpected here)".into());
        }
        if b[1] & 0x80 != 0 {
            return Err("masked frame from the server".into());
        }
        let Some((head, len)) = frame_head(b) else {
            return Ok(None);
        };
        if b.len() < head + len {
            return Ok(None);
        }
        let opcode = b[0] & 0x0f;
        let from = self.start + head;
        self.start = from + len;
        Ok(Some(Frame {
            opcode,
            payload: from..from + len,
        }))
    }

    pub fn payload(&self, f: &Frame) -> &[u8] {
        &self.buf[f.payload.clone()]
    }
}

/// The header length and payload length of the unmasked frame at the
/// start of `b`, once its header is complete.
pub fn frame_head(b: &[u8]) -> Option<(usize, usize)> {
    match *b.get(1)? & 0x7f {
        126 if b.len() >= 4 => Some((4, usize::from(u16::from_be_bytes([b[2], b[3]])))),
        127 if b.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&b[2..10]);
            Some((10, u64::from_be_bytes(n) as usize))
        }
        126 | 127 => None,
        n => Some((2, usize::from(n))),
    }
}

/// A close frame's code and reason, for error messages.
pub fn describe_close(payload: &[u8]) -> String {
    if payload.len() < 2 {
        return "close frame without a code".into();
    }
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    let reason = String::from_utf8_lossy(&payload[2..]);
    format!("closed by the server with {code} {reason}")
        .trim_end()
        .to_string()
}
