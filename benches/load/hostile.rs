//! The hostile scenario: clients that send huge messages and never read
//! what the server sends them, beside a well-behaved client whose round
//! trips are timed, while the server's RSS is sampled every 10 ms. It
//! shows what such an attack costs the server in memory and its other
//! clients in latency, and how (if at all) the server ends the hostile
//! connections.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::scenarios::{self, IO_TIMEOUT};
use crate::server::ServerProc;
use crate::util::{self, Epoll, Errors, now_ns};
use crate::ws::{self, Conn, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT};

/// What the hostile clients do.
#[derive(Clone, Copy)]
pub struct Attack {
    /// Clients that send `messages` messages each, then wait.
    pub senders: usize,
    pub messages: usize,
    /// Frames per message, and the payload bytes of each.
    pub fragments: usize,
    pub fragment: usize,
    /// Clients that only connect (broadcast subscribers that never read).
    pub silent: usize,
    /// Broadcast mode: a message goes to everyone else, so the normal
    /// client's messages are timed to a second normal client.
    pub broadcast: bool,
    /// The normal client's pause between round trips. In broadcast mode
    /// its messages go to the silent subscribers too, and must stay fewer
    /// than a queue holds (1,024 frames by default) over the attack, or
    /// they, not the attack, get the subscribers closed as too slow.
    pub pause: Duration,
    /// The attack ends when the server has closed every hostile
    /// connection, or after this long.
    pub limit: Duration,
}

impl Attack {
    /// `40x15MiB`, `4x4x4MiB`: senders, messages (if more than one),
    /// message size.
    pub fn describe(&self) -> String {
        let size = format!("{}MiB", (self.fragments * self.fragment) >> 20);
        if self.messages == 1 {
            format!("{}x{size}", self.senders)
        } else {
            format!("{}x{}x{size}", self.senders, self.messages)
        }
    }
}

/// How a hostile connection's TCP ended.
enum Tcp {
    Eof,
    Reset,
    Open,
}

/// The figures of one attack.
#[derive(Default)]
pub struct Outcome {
    pub rss_start: u64,
    pub rss_peak: u64,
    /// The normal client's completed round trips.
    pub round_trips: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// The longest round trip, or the one still unanswered at the end if
    /// it waited longer.
    pub max_ns: u64,
    /// Hostile connections the server closed after a close frame, by code.
    pub codes: BTreeMap<u16, usize>,
    /// Closed without a close frame: with a FIN, with a reset.
    pub eof: usize,
    pub reset: usize,
    /// Still open at the end; of them, how many had sent a close frame.
    pub open: usize,
    pub open_after_close: usize,
    /// From the start of the attack until the server held none of the
    /// hostile connections, or the limit.
    pub took: Duration,
    /// The normal client's failures, and connections that failed to open.
    pub errors: Errors,
}

impl Outcome {
    /// `1013 x38, 1009 x0, 1008 x0, eof x2, reset x0, still open 0`: the
    /// codes a server under attack should use are always shown.
    pub fn endings(&self) -> String {
        let mut codes = self.codes.clone();
        for c in [1013, 1009, 1008] {
            codes.entry(c).or_insert(0);
        }
        let mut parts: Vec<String> = codes
            .iter()
            .rev()
            .map(|(c, n)| format!("{c} x{n}"))
            .collect();
        parts.push(format!("eof x{}", self.eof));
        parts.push(format!("reset x{}", self.reset));
        parts.push(format!("still open {}", self.open));
        if self.open_after_close > 0 {
            parts.push(format!(
                "{} of them after a close frame",
                self.open_after_close
            ));
        }
        parts.join(", ")
    }

    fn record(&mut self, code: Option<u16>, tcp: Tcp) {
        match (tcp, code) {
            (Tcp::Open, c) => {
                self.open += 1;
                self.open_after_close += usize::from(c.is_some());
            }
            (_, Some(c)) => *self.codes.entry(c).or_insert(0) += 1,
            (Tcp::Eof, None) => self.eof += 1,
            (Tcp::Reset, None) => self.reset += 1,
        }
    }
}

/// How long a hostile client reads, once the server has ended its
/// connection (or the attack is over), to find the server's close frame.
const DRAIN: Duration = Duration::from_secs(1);

/// Runs one attack against `server` and measures it.
pub fn run(server: &ServerProc, attack: Attack) -> Outcome {
    let mut out = Outcome::default();
    std::thread::sleep(Duration::from_millis(300));
    out.rss_start = server.rss();
    util::trace(format_args!("hostile {}: opening", attack.describe()));
    let pair = if attack.broadcast { 2 } else { 1 };
    let mut normal = match scenarios::open(server, pair, 20_000_000).and_then(Normal::new) {
        Ok(n) => n,
        Err(e) => {
            out.errors.add(format!("normal client: {e}"));
            return out;
        }
    };
    // Every normal client must be known to the server before the attack.
    if let Err(e) = normal.probe() {
        out.errors.add(format!("normal client: {e}"));
        return out;
    }
    let before = server.sockets();
    let hostile = match scenarios::open(server, attack.senders + attack.silent, 21_000_000) {
        Ok(c) => c,
        Err(e) => {
            out.errors.add(format!("hostile clients: {e}"));
            return out;
        }
    };
    // The server's ends of the hostile connections: a client that never
    // reads cannot see the server close (its FIN waits behind the unread
    // data), but the server's descriptor table shows it.
    let theirs: HashSet<u64> = server.sockets().difference(&before).copied().collect();
    if theirs.len() != hostile.len() {
        out.errors.add(format!(
            "the server holds {} new sockets for {} hostile connections",
            theirs.len(),
            hostile.len()
        ));
        return out;
    }
    let frames = message_frames(attack.fragments, attack.fragment);
    let over = AtomicBool::new(false);
    let started = Instant::now();
    let deadline = started + attack.limit;
    util::trace(format_args!("hostile {}: attacking", attack.describe()));
    std::thread::scope(|s| {
        let watcher = s.spawn(|| watch(server, &theirs, &over, deadline));
        let attackers: Vec<_> = hostile
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                let messages = if i < attack.senders {
                    attack.messages
                } else {
                    0
                };
                let (frames, over) = (&frames, &over);
                s.spawn(move || attacker(conn.stream, frames, messages, over, deadline))
            })
            .collect();
        normal.run(attack.pause, &over, deadline, &mut out);
        let (peak, ended) = watcher.join().expect("watcher thread");
        out.rss_peak = peak.max(out.rss_start);
        out.took = ended - started;
        for a in attackers {
            let (code, tcp) = a.join().expect("attacker thread");
            out.record(code, tcp);
        }
    });
    util::trace(format_args!("hostile {}: over", attack.describe()));
    normal.close(&mut out.errors);
    out
}

/// The frames of one hostile message: `fragments` masked frames of `size`
/// bytes, binary then continuations, FIN on the last only. Shared by every
/// sender: 15 MiB for the echo attack rather than 600.
fn message_frames(fragments: usize, size: usize) -> Vec<Vec<u8>> {
    let payload = vec![0x68u8; size];
    (0..fragments)
        .map(|i| {
            let opcode = if i == 0 { OP_BINARY } else { OP_CONTINUATION };
            let mut f = Vec::with_capacity(size + 14);
            ws::encode_frame(&mut f, i + 1 == fragments, opcode, &payload);
            f
        })
        .collect()
}

/// Reads the server's RSS every 10 ms, keeping the peak, until the server
/// holds none of the hostile connections (`theirs`) or the deadline; then
/// sets `over`. Returns the peak and when the attack ended.
fn watch(
    server: &ServerProc,
    theirs: &HashSet<u64>,
    over: &AtomicBool,
    deadline: Instant,
) -> (u64, Instant) {
    let mut peak = 0;
    loop {
        peak = peak.max(server.rss());
        let now = Instant::now();
        let held = server.sockets().intersection(theirs).count();
        if held == 0 || now >= deadline {
            over.store(true, Ordering::Relaxed);
            return (peak, now.min(deadline));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One hostile client: sends its messages and never reads, until the
/// attack is over; then reads, briefly, what the server sent, for its
/// close frame. Returns the close code and how TCP ended.
fn attacker(
    stream: TcpStream,
    frames: &[Vec<u8>],
    messages: usize,
    over: &AtomicBool,
    deadline: Instant,
) -> (Option<u16>, Tcp) {
    // Non-blocking: a server that stops reading must not hang the writer
    // past the deadline (`write_all` gives up then).
    let _ = stream.set_nonblocking(true);
    let mut hung_up = false;
    'send: for _ in 0..messages {
        for f in frames {
            if let Err(e) = ws::write_all(&stream, f, deadline) {
                // A timeout: the server took nothing more until the
                // deadline. Anything else (reset, broken pipe): it hung up.
                hung_up = e.kind() != io::ErrorKind::TimedOut;
                break 'send;
            }
        }
    }
    if !hung_up {
        wait_over(&stream, over, deadline);
    }
    let ending = drain(&stream, Instant::now() + DRAIN);
    // A reset: no TIME_WAIT, and a server that still holds the connection
    // lets go of it at once.
    util::set_linger_zero(stream.as_raw_fd());
    ending
}

/// Waits, without reading, until the attack is over or the server resets
/// this connection.
fn wait_over(stream: &TcpStream, over: &AtomicBool, deadline: Instant) {
    let ended = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
    while !over.load(Ordering::Relaxed) && Instant::now() < deadline {
        // POLLRDHUP, unlike POLLIN, does not fire for the echo piling up
        // unread.
        if util::wait_for(stream.as_raw_fd(), libc::POLLRDHUP, 20) & ended != 0 {
            return;
        }
    }
}

/// Reads what the server sent until it ends the connection or `until`,
/// looking for its close frame (behind up to a whole echoed message).
fn drain(stream: &TcpStream, until: Instant) -> (Option<u16>, Tcp) {
    let mut scan = Scanner::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // A server still streaming its echo must not keep us here.
        if Instant::now() >= until {
            return (scan.code, Tcp::Open);
        }
        match (&*stream).read(&mut buf) {
            Ok(0) => return (scan.code, Tcp::Eof),
            Ok(n) => scan.feed(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                util::wait_for(stream.as_raw_fd(), libc::POLLIN | libc::POLLRDHUP, 10);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // ECONNRESET, in practice: the server closed with our data
            // still unread on its side.
            Err(_) => return (scan.code, Tcp::Reset),
        }
    }
}

/// Follows the server's frames through a byte stream without keeping
/// their payloads, to find a close frame behind megabytes of echo.
#[derive(Default)]
struct Scanner {
    /// The start of the current frame: enough for any header and a whole
    /// close frame (its payload is at most 125 bytes).
    head: Vec<u8>,
    /// Payload bytes of the current frame still to pass over.
    skip: usize,
    /// The code of the first close frame seen (1005 if it had none).
    code: Option<u16>,
}

const HEAD_MAX: usize = 14 + 125;

impl Scanner {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let take = data.len().min(HEAD_MAX - self.head.len());
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
            while let Some((at, len)) = ws::frame_head(&self.head) {
                let total = at.saturating_add(len);
                let close = self.head[0] & 0x0f == OP_CLOSE;
                if self.head.len() >= total {
                    if close && self.code.is_none() {
                        let p = &self.head[at..total];
                        self.code = Some(if p.len() >= 2 {
                            u16::from_be_bytes([p[0], p[1]])
                        } else {
                            1005
                        });
                    }
                    self.head.drain(..total);
                } else if close {
                    // Wait for the rest: a close frame fits in `head`.
                    break;
                } else {
                    self.skip = total - self.head.len();
                    self.head.clear();
                    break;
                }
            }
        }
    }
}

/// The well-behaved client: 32-byte text messages in closed loop, from
/// the first connection to the last (the same one in echo mode).
struct Normal {
    conns: Vec<Conn>,
    ep: Epoll,
    events: Vec<libc::epoll_event>,
    tokens: Vec<u64>,
}

/// Far more than 20 s of round trips at loopback speed: a bound on
/// the count as well as the time.
const MAX_ROUND_TRIPS: u64 = 2_000_000;

/// The normal client's message `seq`; 0 is the probe.
fn text(seq: u64) -> String {
    format!("normal {seq:025}")
}

impl Normal {
    fn new(conns: Vec<Conn>) -> Result<Normal, String> {
        let ep = scenarios::register(&conns)?;
        Ok(Normal {
            conns,
            ep,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 8],
            tokens: Vec::new(),
        })
    }

    fn send(&self, seq: u64) -> Result<(), String> {
        let mut out = Vec::with_capacity(64);
        ws::encode(&mut out, OP_TEXT, text(seq).as_bytes());
        ws::write_all(&self.conns[0].stream, &out, Instant::now() + IO_TIMEOUT)
            .map_err(|e| format!("send: {e}"))
    }

    /// Waits up to 10 ms for input; returns whether the last connection
    /// got message `seq`. Everything else the server may send (the
    /// attack's messages in broadcast mode, pings, late probes) is passed
    /// over; a close or a protocol error is an error.
    fn poll(&mut self, seq: u64) -> Result<bool, String> {
        self.ep.wait(&mut self.events, &mut self.tokens, 10);
        let last = self.conns.len() - 1;
        let mut got = false;
        for &t in &self.tokens {
            let i = t as usize;
            let c = &mut self.conns[i];
            match c.fill() {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
            while let Some(f) = c.next_frame()? {
                match f.opcode {
                    OP_TEXT if i == last && c.payload(&f) == text(seq).as_bytes() => got = true,
                    OP_TEXT if i == last && c.payload(&f) == text(0).as_bytes() => {}
                    OP_TEXT => {
                        let p = String::from_utf8_lossy(c.payload(&f));
                        return Err(format!("unexpected text {p:?} waiting for {seq}"));
                    }
                    OP_BINARY => {}
                    OP_PING => ws::pong(&c.stream, c.payload(&f), IO_TIMEOUT),
                    OP_CLOSE => return Err(ws::describe_close(c.payload(&f))),
                    op => return Err(format!("unexpected frame, opcode {op}")),
                }
            }
        }
        Ok(got)
    }

    /// Sends probes until one arrives, so that in broadcast mode the
    /// receiving connection is known to the server.
    fn probe(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut last_probe: Option<Instant> = None;
        while Instant::now() < deadline {
            if last_probe.is_none_or(|t| t.elapsed() >= Duration::from_millis(20)) {
                self.send(0)?;
                last_probe = Some(Instant::now());
            }
            if self.poll(0)? {
                return Ok(());
            }
        }
        Err(format!("no probe came through in {IO_TIMEOUT:?}"))
    }

    /// Round trips, `pause` apart, while the attack lasts (at most
    /// `MAX_ROUND_TRIPS`); the figures and any error go to `out`.
    fn run(&mut self, pause: Duration, over: &AtomicBool, deadline: Instant, out: &mut Outcome) {
        let mut samples = Vec::with_capacity(1 << 16);
        let mut seq = 1;
        let mut sent_at = 0;
        let mut next = Some(Instant::now());
        let mut failed = None;
        while failed.is_none()
            && !over.load(Ordering::Relaxed)
            && Instant::now() < deadline
            && seq <= MAX_ROUND_TRIPS
        {
            if next.is_some_and(|t| Instant::now() >= t) {
                next = None;
                sent_at = now_ns();
                if let Err(e) = self.send(seq) {
                    failed = Some(e);
                    break;
                }
            }
            match self.poll(seq) {
                Ok(false) => {}
                Ok(true) => {
                    samples.push(now_ns() - sent_at);
                    seq += 1;
                    next = Some(Instant::now() + pause);
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            out.errors.add(format!("normal client: {e}"));
        }
        // A round trip still waiting counts toward the longest.
        let waiting = if next.is_none() {
            now_ns() - sent_at
        } else {
            0
        };
        out.max_ns = samples.iter().copied().max().unwrap_or(0).max(waiting);
        out.round_trips = samples.len() as u64;
        (out.p50_ns, out.p99_ns) = scenarios::latencies(samples);
    }

    /// Ends the normal connections with the closing handshake.
    fn close(self, errors: &mut Errors) {
        let Normal { mut conns, ep, .. } = self;
        drop(ep);
        scenarios::close_all(&mut conns, errors);
    }
}
