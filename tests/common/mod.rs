//! Helpers shared by the integration tests: real sockets on loopback, a
//! real tungstenite client, and bounded waits.
#![allow(dead_code)]

pub mod explain;
pub mod redis;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message as WsMessage, WebSocket};

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub type Ws = WebSocket<TcpStream>;

/// The www directory shipped in the repository.
pub fn www() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www")
}

/// Opens a WebSocket to `addr` at `path`, with a bounded read timeout.
pub fn connect(addr: SocketAddr, path: &str) -> Ws {
    try_connect(addr, path).expect("WebSocket handshake")
}

pub fn try_connect(addr: SocketAddr, path: &str) -> Result<Ws, String> {
    let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    let url = format!("ws://{addr}{path}");
    match tungstenite::client(url.as_str(), stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            Err(format!("HTTP {}", resp.status().as_u16()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Reads the next data message (skipping pings and pongs).
pub fn next<S: Read + Write>(ws: &mut WebSocket<S>) -> WsMessage {
    loop {
        match ws.read().expect("read a message") {
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
            m => return m,
        }
    }
}

/// Reads the next text message.
pub fn next_text<S: Read + Write>(ws: &mut WebSocket<S>) -> String {
    match next(ws) {
        WsMessage::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Reads until the server's close frame and returns its code.
pub fn close_code<S: Read + Write>(ws: &mut WebSocket<S>) -> u16 {
    loop {
        match ws.read() {
            // tungstenite queues the reply; flushing sends it at once.
            Ok(WsMessage::Close(Some(f))) => {
                let _ = ws.flush();
                return u16::from(f.code);
            }
            Ok(WsMessage::Close(None)) => {
                let _ = ws.flush();
                return 1005;
            }
            Ok(_) => continue,
            Err(e) => panic!("connection ended without a close frame: {e}"),
        }
    }
}

/// Sends a close with `code` and waits for the server's reply; returns
/// the code the server replied with.
pub fn close_with<S: Read + Write>(ws: &mut WebSocket<S>, code: u16) -> u16 {
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: CloseCode::from(code),
        reason: "".into(),
    }))
    .expect("send close");
    close_code(ws)
}

/// Sends a raw HTTP request and returns the whole response (the server
/// closes after one response).
pub fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends a raw request and returns the response head only (for a 101,
/// after which the connection stays open).
pub fn http_head(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        out.push(byte[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A GET with the usual headers.
pub fn get(addr: SocketAddr, path: &str) -> String {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
}

/// The status code of a raw HTTP response.
pub fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Waits, bounded, until `cond` holds; panics with `what` if it never does.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How many of this process's threads are wshub's (named `ws-<id>`,
/// `wshub-hub`, `wshub-listener`), from /proc (Linux). Test-harness threads
/// come and go while a test runs, so they are not counted.
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("ws-") || name.starts_with("wshub-"))
        .count()
}

/// This process's resident memory in KiB, from /proc (Linux).
pub fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// This process's open descriptor count (Linux).
pub fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A key in the form the RFC asks for.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// An upgrade request with the usual headers plus `extra` lines.
pub fn upgrade_request(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A WebSocket opened by hand, for sending frames a polite client would not.
pub fn raw_ws(addr: SocketAddr) -> TcpStream {
    raw_ws_at(addr, "/ws")
}

/// [`raw_ws`] at any path; returns once the 101 is read.
pub fn raw_ws_at(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(upgrade_request(addr, path, "").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "connection closed during the handshake"
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// A client frame: masked (unless `mask` is None), with any first byte.
pub fn client_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![first];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(m | n as u8),
        n @ 126..=0xFFFF => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// Reads one server frame: (first byte, payload). `None` at end of stream.
pub fn read_frame(s: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    assert_eq!(h[1] & 0x80, 0, "server frames must not be masked");
    let len = match h[1] & 0x7F {
        126 => {
            let mut n = [0u8; 2];
            s.read_exact(&mut n).ok()?;
            u16::from_be_bytes(n) as usize
        }
        127 => {
            let mut n = [0u8; 8];
            s.read_exact(&mut n).ok()?;
            u64::from_be_bytes(n) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).ok()?;
    Some((h[0], payload))
}

/// Reads frames until a close frame; returns its code, and checks that the
/// server then closes the TCP connection.
pub fn raw_close_code(s: &mut impl Read) -> u16 {
    loop {
        let (first, payload) = read_frame(s).expect("a close frame before the end");
        if first & 0x0F == 0x8 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let mut rest = [0u8; 1];
            assert_eq!(
                s.read(&mut rest).unwrap_or(0),
                0,
                "data after the close frame"
            );
            return code;
        }
    }
}

/// Starts the `wshub` binary on a free port, run from the project folder
/// with `RUST_LOG=warn`; returns it, its address (read from the start
/// line) and that line.
pub fn start_binary(args: &[&str]) -> (Binary, SocketAddr, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wshub"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split("://")
        .nth(1)
        .expect(&line)
        .split('/')
        .next()
        .unwrap();
    (Binary(child), url.parse().unwrap(), line)
}

/// A server process that is killed when dropped, so that a failing test
/// (which unwinds past its own `kill`) leaves no server behind.
pub struct Binary(pub Child);

impl std::ops::Deref for Binary {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Binary {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A fresh directory under the system's temp directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wshub-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A message whose every byte says which sender it came from and which
/// one it is, so a frame cut into by another writer cannot pass.
pub fn numbered(tag: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend((5..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(seq) as u8 ^ tag));
    m
}

pub fn check_numbered(m: &[u8], len: usize) -> (u8, u32) {
    assert_eq!(m.len(), len, "a message of the wrong length");
    let seq = u32::from_be_bytes([m[1], m[2], m[3], m[4]]);
    assert_eq!(m, numbered(m[0], seq, len), "a message's bytes were mixed");
    (m[0], seq)
}

/// The write path's race: the handler answers "go" with `each` replies of
/// `len` bytes from the connection thread, while another thread broadcasts
/// `each` to everyone. There is room for everything at once, so the client
/// reads only once both senders are done: the socket fills up, and direct
/// writes are cut short and handed to the hub mid-frame. Every message must
/// arrive whole, each sender's in order, and the budget be given back.
pub fn race_replies_against_broadcasts<S: Read + Write>(
    server: wshub::Server,
    each: u32,
    len: usize,
    connect: impl FnOnce(SocketAddr) -> WebSocket<S>,
) {
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let replies = move |client: &wshub::Client, _m: wshub::Message| {
        for seq in 0..each {
            client.send(numbered(b'r', seq, len)).unwrap();
        }
        done_tx.send(()).unwrap();
    };
    let s = server
        .memory_budget(256 << 20)
        .queue_bytes(64 << 20)
        .queue_size(4 * each as usize)
        .start(replies)
        .unwrap();
    let mut ws = connect(s.local_addr());
    let hub = s.hub();
    let broadcaster = std::thread::spawn(move || {
        for seq in 0..each {
            hub.broadcast(numbered(b'b', seq, len)).unwrap();
        }
    });
    ws.send(WsMessage::text("go")).unwrap();
    broadcaster.join().unwrap();
    done_rx
        .recv_timeout(WAIT)
        .expect("the handler sent its replies");

    let mut next_seq = [0u32; 2];
    for _ in 0..2 * each {
        let WsMessage::Binary(m) = next(&mut ws) else {
            panic!("expected binary messages only");
        };
        let (tag, seq) = check_numbered(&m, len);
        let from = usize::from(tag == b'b');
        assert_eq!(seq, next_seq[from], "{} out of order", tag as char);
        next_seq[from] += 1;
    }
    assert_eq!(next_seq, [each, each]);
    wait_until("the budget is given back", || s.hub().memory_in_use() == 0);
}

/// Reads the next chat message and checks its type.
pub fn expect(ws: &mut Ws, kind: &str) -> String {
    let text = next_text(ws);
    assert!(
        text.starts_with(&format!(r#"{{"type":"{kind}""#)),
        "expected {kind}, got {text}"
    );
    text
}

/// The value of a string field in one of our flat JSON messages.
pub fn field(json: &str, name: &str) -> String {
    let start = json.find(&format!(r#""{name}":""#)).expect(name) + name.len() + 4;
    let end = start + json[start..].find('"').unwrap();
    json[start..end].to_string()
}
