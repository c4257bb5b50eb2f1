//! The measurements. Each is bounded in time and count: every wait has a
//! deadline, and a run that misses one reports an error instead of hanging.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::server::ServerProc;
use crate::util::{self, Epoll, Errors, MS, SEC, now_ns};
use crate::ws::{self, Conn, OP_BINARY, OP_CLOSE, OP_PING};

pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a run lasts: a warm-up, then a measured window; or a fixed
/// number of messages (`count`), whichever ends first.
#[derive(Clone, Copy)]
pub struct Plan {
    pub warmup: Duration,
    pub measure: Duration,
    pub count: u64,
}

/// The figures of one throughput run.
#[derive(Default, Clone)]
pub struct Run {
    /// Operations per second in the measured window.
    pub rate: f64,
    /// Operations in the measured window.
    pub ops: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// Deliveries that never came (a fan-out's).
    pub lost: u64,
    /// Messages that came after a later one of the same publisher: moved
    /// or repeated (a gap alone is a loss, not counted here).
    pub out_of_order: u64,
    pub errors: Errors,
    /// Server CPU time over the window, as a share of the window.
    pub server_cpu: f64,
    /// The generator's CPU time over the window, as a share of the window.
    pub gen_cpu: f64,
}

/// CPU readings at the start of a measured window.
struct CpuMark {
    at: u64,
    server: Duration,
    generator: Duration,
}

/// The CPU time of the servers of a run, all together (the nodes of a
/// multi-node run and their Redis).
fn servers_cpu(servers: &[&ServerProc]) -> Duration {
    servers.iter().map(|s| s.cpu()).sum()
}

impl CpuMark {
    fn take(servers: &[&ServerProc]) -> CpuMark {
        CpuMark {
            at: now_ns(),
            server: servers_cpu(servers),
            generator: util::self_cpu(),
        }
    }

    /// (servers, generator) CPU shares since the mark; NaN when the window
    /// is too short for /proc's 10 ms ticks.
    fn shares(&self, servers: &[&ServerProc]) -> (f64, f64) {
        let wall = (now_ns() - self.at).max(1) as f64;
        if wall < 0.25 * SEC as f64 {
            return (f64::NAN, f64::NAN);
        }
        (
            servers_cpu(servers).saturating_sub(self.server).as_nanos() as f64 / wall,
            (util::self_cpu() - self.generator).as_nanos() as f64 / wall,
        )
    }
}

/// Opening connections gives up after this long in all.
const OPEN_LIMIT: Duration = Duration::from_secs(60);

/// The endpoint every connection upgrades on, when no topic is named.
pub const PATH: &str = "/ws";

/// Opens `n` WebSocket connections to [`PATH`] one after the other (over
/// TLS to a server started with TLS).
pub fn open(server: &ServerProc, n: usize, seed: u64) -> Result<Vec<Conn>, String> {
    open_at(n, seed, |_| (server, PATH.to_string()))
}

/// Opens `n` WebSocket connections one after the other, connection `i` to
/// the server `at(i)` names, upgrading on the path it names
/// (`/ws?topic=NAME`, say).
pub fn open_at<'s>(
    n: usize,
    seed: u64,
    at: impl Fn(usize) -> (&'s ServerProc, String),
) -> Result<Vec<Conn>, String> {
    let mut conns = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        if started.elapsed() > OPEN_LIMIT {
            return Err(format!(
                "opened only {i} of {n} connections in {OPEN_LIMIT:?}"
            ));
        }
        let (server, path) = at(i);
        let conn = ws::connect(
            server.addr,
            server.tls.as_ref(),
            &path,
            seed + i as u64,
            IO_TIMEOUT,
        )
        .map_err(|e| format!("connection {} of {n}: {e}", i + 1))?;
        conns.push(conn);
    }
    Ok(conns)
}

pub fn register(conns: &[Conn]) -> Result<Epoll, String> {
    let ep = Epoll::new().map_err(|e| format!("epoll: {e}"))?;
    for (i, c) in conns.iter().enumerate() {
        c.stream
            .set_nonblocking(true)
            .map_err(|e| format!("nonblocking: {e}"))?;
        ep.add(c.stream.as_raw_fd(), i as u64)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
    }
    Ok(ep)
}

/// Ends every connection with the closing handshake: sends a close frame,
/// waits for the server's close frame and then for it to close the TCP
/// connection. Whatever does not finish within 5 s is an error.
pub fn close_all(conns: &mut [Conn], errors: &mut Errors) {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut frame = Vec::new();
    ws::encode(&mut frame, OP_CLOSE, &1000u16.to_be_bytes());
    let Ok(ep) = register(conns) else {
        errors.add("closing: cannot set up epoll");
        return;
    };
    let mut open = 0;
    let mut state = vec![0u8; conns.len()]; // 0 open, 1 close received, 2 ended
    for c in conns.iter_mut() {
        if c.send(&frame, deadline).is_ok() {
            open += 1;
        }
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut tokens = Vec::new();
    while open > 0 && Instant::now() < deadline {
        ep.wait(&mut events, &mut tokens, 50);
        for &t in &tokens {
            let i = t as usize;
            let c = &mut conns[i];
            let ended = match c.fill() {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => true,
            };
            while let Ok(Some(f)) = c.next_frame() {
                if f.opcode == OP_CLOSE && state[i] == 0 {
                    state[i] = 1;
                }
            }
            if ended {
                if state[i] == 0 {
                    errors.add("closing: the server ended the connection without a close frame");
                }
                state[i] = 2;
                open -= 1;
                ep.delete(c.stream.as_raw_fd());
            }
        }
    }
    if open > 0 {
        errors.add(format!(
            "closing: {open} connection(s) not closed by the server within 5 s of a close frame"
        ));
    }
}

pub fn latencies(mut samples: Vec<u64>) -> (u64, u64) {
    samples.sort_unstable();
    (
        util::percentile(&samples, 50.0),
        util::percentile(&samples, 99.0),
    )
}

/// Closed-loop echo: each client sends a 32-byte binary message and waits
/// for it to come back before sending the next.
pub fn echo(server: &ServerProc, clients: usize, plan: Plan) -> Run {
    let mut run = Run::default();
    util::trace(format_args!("{} echo {clients}: opening", server.name));
    let mut conns = match open(server, clients, 1) {
        Ok(c) => c,
        Err(e) => {
            run.errors.add(e);
            return run;
        }
    };
    let ep = match register(&conns) {
        Ok(ep) => ep,
        Err(e) => {
            run.errors.add(e);
            return run;
        }
    };
    struct State {
        seq: u64,
        sent_at: u64,
        waiting: bool,
    }
    let payload = |i: usize, seq: u64| {
        let mut p = [0xabu8; 32];
        p[..4].copy_from_slice(&(i as u32).to_le_bytes());
        p[4..12].copy_from_slice(&seq.to_le_bytes());
        p
    };
    let start = now_ns();
    let warm = start + plan.warmup.as_nanos() as u64;
    let end = warm + plan.measure.as_nanos() as u64;
    let hard = end + 5 * SEC;
    let mut states: Vec<State> = Vec::with_capacity(clients);
    let mut out = Vec::with_capacity(64);
    let mut active = 0usize;
    for (i, c) in conns.iter_mut().enumerate() {
        out.clear();
        ws::encode(&mut out, OP_BINARY, &payload(i, 0));
        let sent_at = now_ns();
        let ok = c.send(&out, Instant::now() + IO_TIMEOUT).is_ok();
        if !ok {
            run.errors.add("sending the first message failed");
        }
        active += usize::from(ok);
        states.push(State {
            seq: 0,
            sent_at,
            waiting: ok,
        });
    }
    let mut samples = Vec::with_capacity(1 << 20);
    let mut mark: Option<CpuMark> = None;
    let mut window_end = end;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut tokens = Vec::new();
    while active > 0 {
        let now = now_ns();
        if mark.is_none() && now >= warm {
            mark = Some(CpuMark::take(&[server]));
        }
        if now >= hard {
            run.errors
                .add(format!("{active} client(s) got no reply within 5 s"));
            break;
        }
        ep.wait(&mut events, &mut tokens, 20);
        for &t in &tokens {
            let i = t as usize;
            if !states[i].waiting {
                continue;
            }
            let c = &mut conns[i];
            let st = &mut states[i];
            let failed = match c.fill() {
                Ok(0) => Some("the server closed the connection".to_string()),
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => Some(format!("read: {e}")),
            };
            let mut failed = failed;
            while failed.is_none() {
                let f = match c.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                let now = now_ns();
                match f.opcode {
                    OP_BINARY => {
                        if !st.waiting {
                            failed = Some("a message nobody asked for".into());
                            continue;
                        }
                        if c.payload(&f) != payload(i, st.seq) {
                            failed = Some(format!("wrong echo for message {}", st.seq));
                            continue;
                        }
                        if now >= warm && now <= end {
                            run.ops += 1;
                            samples.push(now - st.sent_at);
                        }
                        st.seq += 1;
                        if now < end && st.seq < plan.count {
                            out.clear();
                            ws::encode(&mut out, OP_BINARY, &payload(i, st.seq));
                            st.sent_at = now_ns();
                            if let Err(e) = c.send(&out, Instant::now() + IO_TIMEOUT) {
                                failed = Some(format!("send: {e}"));
                            }
                        } else {
                            st.waiting = false;
                            active -= 1;
                            if active == 0 && now < end {
                                window_end = now;
                            }
                        }
                    }
                    OP_PING => c.pong(&f, IO_TIMEOUT),
                    OP_CLOSE => failed = Some(ws::describe_close(c.payload(&f))),
                    op => failed = Some(format!("unexpected frame, opcode {op}")),
                }
            }
            if let Some(e) = failed {
                run.errors.add(format!("client {i}: {e}"));
                if st.waiting {
                    st.waiting = false;
                    active -= 1;
                }
                ep.delete(c.stream.as_raw_fd());
            }
        }
    }
    if let Some(m) = &mark {
        (run.server_cpu, run.gen_cpu) = m.shares(&[server]);
    }
    let window = window_end.saturating_sub(warm).max(1);
    run.rate = run.ops as f64 * SEC as f64 / window as f64;
    (run.p50_ns, run.p99_ns) = latencies(samples);
    util::trace(format_args!("{} echo {clients}: closing", server.name));
    drop(ep);
    close_all(&mut conns, &mut run.errors);
    util::trace(format_args!("{} echo {clients}: closed", server.name));
    run
}

/// The marker of probe messages, sent until every subscriber is known to
/// the server.
const PROBE: u64 = u64::MAX;

/// How long after the publishers stop every message must have reached
/// every subscriber.
const DRAIN: u64 = 10 * SEC;

/// Where a fan-out's subscribers are: on one topic or several, each named
/// in the URL (`/ws?topic=NAME`) or, for `None`, the one of those who name
/// none (`/ws`).
pub type Topics<'t> = &'t [Option<&'t str>];

/// The endpoint's path for a topic: `/ws?topic=NAME`, or `/ws` for `None`.
pub fn topic_path(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{PATH}?topic={name}"),
        None => PATH.to_string(),
    }
}

/// Fan-out: subscribers spread evenly over one or more topics (subscriber
/// `i` on topic `i % topics`), and one publisher per topic, on a server in
/// broadcast mode (or on several nodes sharing topics: see
/// [`Fanout::open_on`]), opened once for several runs. Each 64-byte
/// payload holds a sequence number (its topic's, continuing across runs),
/// the send time and the topic's index, so that a subscriber can tell a
/// message of another topic from its own.
pub struct Fanout<'a> {
    /// As traces name it: the first node's name.
    name: &'static str,
    /// The servers whose CPU time a run's `server_cpu` counts.
    cpu_of: Vec<&'a ServerProc>,
    subs: usize,
    /// Subscribers, then the publishers in the order of their topics.
    conns: Vec<Conn>,
    ep: Epoll,
    dead: Vec<bool>,
    topics: Vec<Topic>,
    /// Per subscriber, the next sequence number expected from its topic.
    next: Vec<u64>,
    events: Vec<libc::epoll_event>,
    tokens: Vec<u64>,
}

/// A topic of a fan-out set and its publisher's progress.
struct Topic {
    /// As errors name it.
    name: String,
    subs: usize,
    /// Messages its publisher sent so far: sequence numbers `0..sent`.
    sent: u64,
    /// Messages every subscriber of the topic has received: `0..acked`.
    acked: u64,
}

fn fan_payload(out: &mut Vec<u8>, topic: usize, seq: u64) {
    let mut p = [0x5au8; 64];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p[8..16].copy_from_slice(&now_ns().to_le_bytes());
    p[16..20].copy_from_slice(&(topic as u32).to_le_bytes());
    ws::encode(out, OP_BINARY, &p);
}

/// What a subscriber's socket had for us (always of its own topic: one of
/// another topic is an error).
enum Got {
    Message {
        topic: usize,
        seq: u64,
        sent_at: u64,
    },
    Probe,
}

impl<'a> Fanout<'a> {
    /// Opens the connections, then sends probes from every publisher until
    /// every subscriber has received one (so every subscriber is known to
    /// the server before the first counted message).
    pub fn open(
        server: &'a ServerProc,
        subs: usize,
        topics: Topics<'_>,
    ) -> Result<Fanout<'a>, String> {
        Fanout::open_on(&[server], subs, topics)
    }

    /// [`Fanout::open`] over several nodes that share their topics: each
    /// topic's subscribers split evenly over `nodes` (subscriber `i` on
    /// node `(i / topics) % nodes`), every publisher on the first node.
    /// The probes then also wait until every node relays the topics.
    pub fn open_on(
        nodes: &[&'a ServerProc],
        subs: usize,
        topics: Topics<'_>,
    ) -> Result<Fanout<'a>, String> {
        let k = topics.len();
        if k == 0 || subs < k {
            return Err(format!("{subs} subscribers cannot fill {k} topic(s)"));
        }
        let (n, server) = match nodes {
            [first, ..] => (nodes.len(), *first),
            [] => return Err("no server to open a fan-out on".into()),
        };
        let mut desc = if k == 1 {
            format!("{subs}")
        } else {
            format!("{subs} on {k} topics")
        };
        if n > 1 {
            desc += &format!(" over {n} nodes");
        }
        util::trace(format_args!("{} fan-out {desc}: opening", server.name));
        // Subscriber i on topic i % k, then publisher t on topic t.
        let conns = open_at(subs + k, 1_000_000, |i| {
            if i < subs {
                (nodes[(i / k) % n], topic_path(topics[i % k]))
            } else {
                (server, topic_path(topics[i - subs]))
            }
        })?;
        let ep = register(&conns)?;
        let mut f = Fanout {
            name: server.name,
            cpu_of: nodes.to_vec(),
            subs,
            conns,
            ep,
            dead: vec![false; subs + k],
            topics: topics
                .iter()
                .enumerate()
                .map(|(t, name)| Topic {
                    name: name.map_or_else(|| "(none)".to_string(), str::to_string),
                    subs: (t..subs).step_by(k).count(),
                    sent: 0,
                    acked: 0,
                })
                .collect(),
            next: vec![0; subs],
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 2048],
            tokens: Vec::new(),
        };
        let mut seen = vec![false; subs];
        let mut probed = 0;
        let deadline = now_ns() + 10 * SEC;
        let mut last_probe = 0;
        let mut out = Vec::new();
        let mut errors = Errors::default();
        while probed < subs {
            let now = now_ns();
            if now >= deadline {
                return Err(format!(
                    "only {probed} of {subs} subscribers received a probe within 10 s"
                ));
            }
            if now - last_probe >= 20 * MS {
                for t in 0..k {
                    out.clear();
                    fan_payload(&mut out, t, PROBE);
                    f.publish(t, &out)?;
                }
                last_probe = now;
            }
            f.poll(&mut errors, |i, got| {
                if matches!(got, Got::Probe) && !seen[i] {
                    seen[i] = true;
                    probed += 1;
                }
            });
            if errors.count > 0 {
                return Err(errors.first.join("; "));
            }
        }
        util::trace(format_args!(
            "{} fan-out {desc}: all subscribed",
            server.name
        ));
        Ok(f)
    }

    /// Counts `other`'s CPU time too in the runs' `server_cpu` (the Redis
    /// of nodes sharing topics).
    pub fn count_cpu_of(&mut self, other: &'a ServerProc) {
        self.cpu_of.push(other);
    }

    /// Sends `bytes` from topic `t`'s publisher.
    fn publish(&mut self, t: usize, bytes: &[u8]) -> Result<(), String> {
        let deadline = Instant::now() + IO_TIMEOUT;
        self.conns[self.subs + t]
            .send(bytes, deadline)
            .map_err(|e| format!("publisher of topic {}: send: {e}", self.topics[t].name))
    }

    /// Waits up to 10 ms for input and hands each message to `seen` with
    /// the subscriber's index; protocol trouble, and a message of another
    /// topic than the subscriber's, go to `errors`.
    fn poll(&mut self, errors: &mut Errors, mut seen: impl FnMut(usize, Got)) {
        self.ep.wait(&mut self.events, &mut self.tokens, 10);
        let k = self.topics.len();
        for &t in &self.tokens {
            let i = t as usize;
            if self.dead[i] {
                continue;
            }
            let c = &mut self.conns[i];
            let mut failed = match c.fill() {
                Ok(0) => Some("the server closed the connection".to_string()),
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => Some(format!("read: {e}")),
            };
            while failed.is_none() {
                let f = match c.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                match f.opcode {
                    OP_BINARY if i < self.subs => {
                        let p = c.payload(&f);
                        if p.len() != 64 {
                            failed = Some(format!("a {}-byte message", p.len()));
                            continue;
                        }
                        let seq = u64::from_le_bytes(p[..8].try_into().expect("8 bytes"));
                        let sent_at = u64::from_le_bytes(p[8..16].try_into().expect("8 bytes"));
                        let topic =
                            u32::from_le_bytes(p[16..20].try_into().expect("4 bytes")) as usize;
                        if topic >= k {
                            failed = Some(format!("a message of unknown topic #{topic}"));
                        } else if topic != i % k {
                            failed = Some(format!(
                                "a message of another topic: {} (message {}) on topic {}",
                                self.topics[topic].name,
                                if seq == PROBE {
                                    "probe".to_string()
                                } else {
                                    seq.to_string()
                                },
                                self.topics[i % k].name
                            ));
                        } else if seq == PROBE {
                            seen(i, Got::Probe);
                        } else if seq >= self.topics[topic].sent {
                            failed = Some(format!("message {seq} was never sent"));
                        } else {
                            seen(
                                i,
                                Got::Message {
                                    topic,
                                    seq,
                                    sent_at,
                                },
                            );
                        }
                    }
                    OP_BINARY => {
                        // One publisher per topic: whatever it gets is
                        // another topic's (or its own message back).
                        let p = c.payload(&f);
                        let topic = p
                            .get(16..20)
                            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
                        failed = Some(match topic.and_then(|t| self.topics.get(t)) {
                            Some(t) => format!("got a message of topic {}", t.name),
                            None => "got a message".into(),
                        });
                    }
                    OP_PING => c.pong(&f, IO_TIMEOUT),
                    OP_CLOSE => failed = Some(ws::describe_close(c.payload(&f))),
                    op => failed = Some(format!("unexpected frame, opcode {op}")),
                }
            }
            if let Some(e) = failed {
                let who = if i >= self.subs {
                    format!("publisher of topic {}", self.topics[i - self.subs].name)
                } else if k > 1 {
                    format!("subscriber {i} (topic {})", self.topics[i % k].name)
                } else {
                    format!("subscriber {i}")
                };
                errors.add(format!("{who}: {e}"));
                self.dead[i] = true;
                self.ep.delete(c.stream.as_raw_fd());
            }
        }
    }

    /// One run: each publisher keeps at most `window` messages not yet
    /// received by every subscriber of its topic, for `plan`'s time or
    /// count (of messages per publisher); then every message must reach
    /// every subscriber of its topic within 10 s. The publishers take
    /// turns on this one thread, each sending what its window allows, so
    /// that the server reads them all at once.
    pub fn run(&mut self, window: usize, plan: Plan) -> Run {
        let mut run = Run::default();
        if self.dead.iter().any(|d| *d) {
            run.errors.add("a connection was lost in an earlier run");
            return run;
        }
        let k = self.topics.len();
        let w = window as u64;
        let first: Vec<u64> = self.topics.iter().map(|t| t.sent).collect();
        let subs_of: Vec<usize> = self.topics.iter().map(|t| t.subs).collect();
        // Per topic, the deliveries of each message in flight.
        let mut rings = vec![vec![0u32; window]; k];
        let mut acked = vec![0u64; k];
        let mut delivered = 0u64;
        let mut samples = Vec::with_capacity(1 << 22);
        let mut out = Vec::with_capacity(window * 72);
        let warm = now_ns() + plan.warmup.as_nanos() as u64;
        let end = warm + plan.measure.as_nanos() as u64;
        let mut mark: Option<CpuMark> = None;
        let mut window_end = end;
        let mut stopped_at = None;
        let mut errors = Errors::default();
        'run: loop {
            let now = now_ns();
            if mark.is_none() && now >= warm {
                mark = Some(CpuMark::take(&self.cpu_of));
            }
            let count_done = self
                .topics
                .iter()
                .zip(&first)
                .all(|(t, f)| t.sent - f >= plan.count);
            if (now >= end || count_done) && stopped_at.is_none() {
                stopped_at = Some(now);
            }
            if stopped_at.is_none() {
                for (t, first) in first.iter().enumerate() {
                    let topic = &mut self.topics[t];
                    let left = plan.count - (topic.sent - first);
                    let room = (topic.acked + w - topic.sent).min(left);
                    if room == 0 {
                        continue;
                    }
                    out.clear();
                    for seq in topic.sent..topic.sent + room {
                        fan_payload(&mut out, t, seq);
                    }
                    topic.sent += room;
                    if let Err(e) = self.publish(t, &out) {
                        errors.add(e);
                        break 'run;
                    }
                }
            }
            if let Some(at) = stopped_at {
                let missing: u64 = self.topics.iter().map(|t| t.sent - t.acked).sum();
                if missing == 0 {
                    // The last delivery (or the window's end, whichever
                    // came first) ends the measured time.
                    window_end = now.min(end);
                    break;
                }
                if now >= at + DRAIN {
                    errors.add(format!(
                        "{missing} message(s) not received by every subscriber of their topic \
                         within {} s after the publishers stopped",
                        DRAIN / SEC
                    ));
                    break;
                }
            }
            if errors.count > 0 {
                break;
            }
            for (a, t) in acked.iter_mut().zip(&self.topics) {
                *a = t.acked;
            }
            let mut next = std::mem::take(&mut self.next);
            let mut ooo = 0;
            self.poll(&mut errors, |i, got| {
                let Got::Message {
                    topic,
                    seq,
                    sent_at,
                } = got
                else {
                    return;
                };
                let now = now_ns();
                if seq < first[topic] {
                    // Given up on in an earlier run: not counted again.
                    next[i] = next[i].max(seq + 1);
                    return;
                }
                if seq < next[i] {
                    ooo += 1;
                }
                next[i] = next[i].max(seq + 1);
                delivered += 1;
                if now >= warm && now <= end {
                    run.ops += 1;
                    samples.push(now.saturating_sub(sent_at));
                }
                if seq >= acked[topic] && seq < acked[topic] + w {
                    rings[topic][(seq % w) as usize] += 1;
                }
            });
            self.next = next;
            run.out_of_order += ooo;
            for ((topic, ring), subs) in self.topics.iter_mut().zip(&mut rings).zip(&subs_of) {
                while topic.acked < topic.sent && ring[(topic.acked % w) as usize] as usize == *subs
                {
                    ring[(topic.acked % w) as usize] = 0;
                    topic.acked += 1;
                }
            }
        }
        if let Some(m) = &mark {
            (run.server_cpu, run.gen_cpu) = m.shares(&self.cpu_of);
        }
        run.rate = run.ops as f64 * SEC as f64 / window_end.saturating_sub(warm).max(1) as f64;
        let expected: u64 = self
            .topics
            .iter()
            .zip(&first)
            .map(|(t, f)| (t.sent - f) * t.subs as u64)
            .sum();
        run.lost = expected.saturating_sub(delivered);
        (run.p50_ns, run.p99_ns) = latencies(samples);
        run.errors = errors;
        util::trace(format_args!(
            "{} fan-out {} on {k} topic(s): {} sent, {delivered} delivered",
            self.name,
            self.subs,
            self.topics
                .iter()
                .zip(&first)
                .map(|(t, f)| t.sent - f)
                .sum::<u64>()
        ));
        // Later runs start from a clean slate: whatever is missing now is
        // counted as lost here and no longer waited for.
        for t in &mut self.topics {
            t.acked = t.sent;
        }
        run
    }

    /// Closes every connection with the closing handshake.
    pub fn close(self) -> Errors {
        let mut errors = Errors::default();
        let Fanout {
            mut conns,
            ep,
            name,
            ..
        } = self;
        drop(ep);
        close_all(&mut conns, &mut errors);
        util::trace(format_args!("{name} fan-out: closed"));
        errors
    }
}

/// The figures of one idle run.
#[derive(Default)]
pub struct Idle {
    pub opened: usize,
    pub open_secs: f64,
    pub rss_before: u64,
    pub rss_after: u64,
    pub threads_before: u64,
    pub threads_after: u64,
    pub cpu_idle: Duration,
    pub cpu_window: Duration,
    pub threads_after_close: u64,
    pub errors: Errors,
}

impl Idle {
    pub fn per_conn(&self) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64) / self.opened.max(1) as f64
    }
}

/// Opens `n` idle connections from a few threads (over TLS to a server
/// started with TLS: the TLS handshake, then the upgrade), then reads the
/// server's memory, threads, and CPU use over `cpu_window` while nothing
/// happens.
pub fn idle(server: &ServerProc, n: usize, cpu_window: Duration) -> Idle {
    let mut r = Idle::default();
    std::thread::sleep(Duration::from_millis(300));
    r.rss_before = server.rss();
    r.threads_before = server.threads();
    let threads = 8.min(n.max(1));
    let streams: Mutex<Vec<Conn>> = Mutex::new(Vec::with_capacity(n));
    let errors: Mutex<Errors> = Mutex::new(Errors::default());
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (streams, errors) = (&streams, &errors);
            let (addr, tls) = (server.addr, server.tls.as_ref());
            s.spawn(move || {
                let mut mine = Vec::new();
                let mut i = t;
                while i < n {
                    if started.elapsed() > OPEN_LIMIT {
                        errors
                            .lock()
                            .expect("errors")
                            .add(format!("gave up opening connections after {OPEN_LIMIT:?}"));
                        break;
                    }
                    match ws::connect(addr, tls, PATH, 5_000_000 + i as u64, IO_TIMEOUT) {
                        Ok(conn) if conn.pending() == 0 => mine.push(conn),
                        Ok(_) => errors
                            .lock()
                            .expect("errors")
                            .add("data after the 101 on an idle connection"),
                        Err(e) => {
                            errors.lock().expect("errors").add(e);
                            // A failure usually repeats: do not hammer.
                            if started.elapsed() > Duration::from_secs(30) {
                                break;
                            }
                        }
                    }
                    i += threads;
                }
                streams.lock().expect("streams").extend(mine);
            });
        }
    });
    r.open_secs = started.elapsed().as_secs_f64();
    let mut streams = streams.into_inner().expect("streams");
    r.errors = errors.into_inner().expect("errors");
    r.opened = streams.len();
    // Let every connection thread reach its read (a server without a
    // thread per connection has its tasks there once the 101 is out).
    let settle = Instant::now();
    while server.thread_per_connection
        && server.threads() < r.threads_before + r.opened as u64
        && settle.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    r.rss_after = server.rss();
    r.threads_after = server.threads();
    let cpu0 = server.cpu();
    let t0 = Instant::now();
    std::thread::sleep(cpu_window);
    r.cpu_idle = server.cpu() - cpu0;
    r.cpu_window = t0.elapsed();
    // Every connection must still be open, with nothing sent to it.
    let mut closed = 0;
    let mut spoke = 0;
    let mut byte = [0u8; 1];
    for c in &mut streams {
        let _ = c.stream.set_nonblocking(true);
        // Over TLS, what the socket holds may be records with no data for
        // the application (session tickets): only what they decrypt to
        // counts.
        let got = if c.is_tls() {
            c.fill()
        } else {
            c.stream.peek(&mut byte)
        };
        match got {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(1..) => spoke += 1,
            _ => closed += 1,
        }
    }
    if closed > 0 {
        r.errors
            .add(format!("{closed} idle connection(s) ended by the server"));
    }
    if spoke > 0 {
        r.errors.add(format!("{spoke} idle connection(s) got data"));
    }
    // Reset them all at once (no TIME_WAIT), then let the server notice.
    for c in &streams {
        util::set_linger_zero(c.stream.as_raw_fd());
    }
    drop(streams);
    let settle = Instant::now();
    while server.threads() > r.threads_before && settle.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    r.threads_after_close = server.threads();
    r
}

/// Connection churn: `clients` threads each connect, upgrade, close (the
/// closing handshake, until the server closes TCP) and start over.
pub fn connect(server: &ServerProc, clients: usize, plan: Plan) -> Run {
    let mut run = Run::default();
    let started = AtomicU64::new(0);
    let samples: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    let errors: Mutex<Errors> = Mutex::new(Errors::default());
    let end = Instant::now() + plan.measure;
    let mark = CpuMark::take(&[server]);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..clients {
            let (started, samples, errors) = (&started, &samples, &errors);
            let addr = server.addr;
            s.spawn(move || {
                let mut mine = Vec::new();
                let mut failures = 0;
                while Instant::now() < end && started.fetch_add(1, Ordering::Relaxed) < plan.count {
                    let seed = 9_000_000 + (t as u64) * 1_000_000 + mine.len() as u64;
                    match cycle(addr, seed) {
                        Ok(ns) => mine.push(ns),
                        Err(e) => {
                            errors.lock().expect("errors").add(e);
                            failures += 1;
                            if failures > 20 {
                                break;
                            }
                        }
                    }
                }
                samples.lock().expect("samples").extend(mine);
            });
        }
    });
    let elapsed = t0.elapsed();
    (run.server_cpu, run.gen_cpu) = mark.shares(&[server]);
    let samples = samples.into_inner().expect("samples");
    run.errors = errors.into_inner().expect("errors");
    run.ops = samples.len() as u64;
    run.rate = run.ops as f64 / elapsed.as_secs_f64();
    (run.p50_ns, run.p99_ns) = latencies(samples);
    run
}

/// One connection's life; returns the time from connect to the 101.
fn cycle(addr: SocketAddr, seed: u64) -> Result<u64, String> {
    let t0 = now_ns();
    let (stream, rest) = ws::handshake(addr, PATH, seed, IO_TIMEOUT)?;
    let handshake = now_ns() - t0;
    let mut frame = Vec::new();
    ws::encode(&mut frame, OP_CLOSE, &1000u16.to_be_bytes());
    ws::write_all(&stream, &frame, Instant::now() + IO_TIMEOUT)
        .map_err(|e| format!("sending close: {e}"))?;
    let mut c = Conn::new(stream, rest);
    let mut got_close = false;
    loop {
        while let Some(f) = c.next_frame()? {
            if f.opcode != OP_CLOSE || got_close {
                return Err(format!("unexpected frame, opcode {}", f.opcode));
            }
            let p = c.payload(&f);
            if p.len() < 2 || u16::from_be_bytes([p[0], p[1]]) != 1000 {
                return Err(format!("close reply: {}", ws::describe_close(p)));
            }
            got_close = true;
        }
        match c.fill() {
            Ok(0) if got_close => return Ok(handshake),
            Ok(0) => return Err("the server closed TCP without a close frame".into()),
            Ok(_) => {}
            Err(e) => {
                let stage = if got_close {
                    "waiting for the server to close TCP"
                } else {
                    "waiting for the close reply"
                };
                return Err(format!("{stage}: {e}"));
            }
        }
    }
}
