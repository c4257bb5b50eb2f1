//! The memory budget under hostile load: clients that send huge messages
//! and never read, subscribers that never read, and the guarantees that
//! hold meanwhile (a normal client's round trip, the byte count returning
//! to zero, readers never cut off for being sent a lot).
//!
//! The binary's tests read the server process's own RSS; the tests take
//! turns (one lock) so that their loads do not overlap.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message as WsMessage;
use wshub::{Error, Server, modes::Echo};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const MIB: usize = 1 << 20;

/// The binary, started with `args`, and the address it serves.
struct Binary {
    /// Killed when dropped.
    child: common::Binary,
    addr: SocketAddr,
}

impl Binary {
    fn start(args: &[&str]) -> Binary {
        let (child, addr, _) = start_binary(args);
        Binary { child, addr }
    }

    fn rss_kib(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Samples a process's RSS every few milliseconds until stopped; returns
/// the peak in KiB.
fn sample_peak(server: &Binary, stop: &AtomicBool) -> usize {
    let mut peak = 0;
    while !stop.load(Ordering::SeqCst) {
        peak = peak.max(server.rss_kib());
        std::thread::sleep(Duration::from_millis(5));
    }
    peak.max(server.rss_kib())
}

/// How a hostile connection ended.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Ending {
    Code(u16),
    Dropped,
}

/// A client that sends one `total`-byte binary message in fragments of
/// `fragment` bytes and reads nothing until it can send no more; then it
/// reads what the server sent until the end.
fn hostile(
    addr: SocketAddr,
    total: usize,
    fragment: usize,
    go: Arc<Barrier>,
) -> JoinHandle<Ending> {
    std::thread::spawn(move || {
        let mut s = raw_ws(addr);
        go.wait();
        // Blocked writes give up: the server is expected to stop reading.
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let part = vec![0x5Au8; fragment];
        let mut sent = 0;
        while sent < total {
            let n = fragment.min(total - sent);
            let first = if sent == 0 { 0x02 } else { 0x00 };
            let fin = if sent + n == total { 0x80 } else { 0 };
            let frame = client_frame(first | fin, &part[..n], Some([1, 2, 3, 4]));
            if s.write_all(&frame).is_err() {
                break;
            }
            sent += n;
        }
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        loop {
            match read_frame(&mut s) {
                Some((first, payload)) if first & 0x0F == 0x8 => {
                    return Ending::Code(u16::from_be_bytes([payload[0], payload[1]]));
                }
                Some(_) => continue,
                None => return Ending::Dropped,
            }
        }
    })
}

/// Round trips of a short message until `stop`; returns the slowest.
fn normal_client(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<(usize, Duration)> {
    std::thread::spawn(move || {
        let mut ws = connect(addr, "/ws");
        let (mut count, mut worst) = (0, Duration::ZERO);
        while !stop.load(Ordering::SeqCst) {
            let t = Instant::now();
            ws.send(WsMessage::text("a short chat line of 32 bytes..."))
                .unwrap();
            assert_eq!(next_text(&mut ws), "a short chat line of 32 bytes...");
            worst = worst.max(t.elapsed());
            count += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        (count, worst)
    })
}

/// 40 clients each send one 15 MiB message in 1 MiB fragments and never
/// read, while a normal client talks. Returns the peak RSS in KiB and how
/// the hostile connections ended.
fn attack(args: &[&str]) -> (usize, usize, Vec<Ending>) {
    let server = Binary::start(args);
    let start = server.rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let normal = normal_client(server.addr, stop.clone());
    let go = Arc::new(Barrier::new(41));
    let attackers: Vec<_> = (0..40)
        .map(|_| hostile(server.addr, 15 * MIB, MIB, go.clone()))
        .collect();
    go.wait();
    let sampling = AtomicBool::new(false);
    let (peak, endings) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| sample_peak(&server, &sampling));
        let endings: Vec<Ending> = attackers.into_iter().map(|a| a.join().unwrap()).collect();
        sampling.store(true, Ordering::SeqCst);
        (sampler.join().unwrap(), endings)
    });
    stop.store(true, Ordering::SeqCst);
    let (count, worst) = normal.join().expect("the normal client never failed");
    assert!(
        count > 10,
        "the normal client made only {count} round trips"
    );
    assert!(
        worst < Duration::from_secs(1),
        "{args:?}: a normal round trip took {worst:?} under attack"
    );
    // Still serving.
    let mut ws = connect(server.addr, "/ws");
    ws.send(WsMessage::text("after")).unwrap();
    assert_eq!(next_text(&mut ws), "after");
    (start, peak, endings)
}

/// The bound the README documents, in KiB: what the process had at start,
/// the 64 MiB budget and a quarter more for the allocator's own keeping,
/// plus per connection its idle cost and one small message (under 64 KiB
/// in all).
fn bound_kib(start: usize, connections: usize) -> usize {
    start + 64 * 1024 * 5 / 4 + connections * 64
}

fn assert_bounded(args: &[&str], start: usize, peak: usize, endings: &[Ending]) {
    eprintln!("{args:?}: RSS {start} KiB at start, peak {peak} KiB; endings {endings:?}");
    let bound = bound_kib(start, 41);
    assert!(
        peak < bound && peak < 128 * 1024,
        "{args:?}: peak RSS {peak} KiB over the bound {bound} KiB"
    );
}

#[test]
fn huge_messages_from_clients_that_never_read_stay_within_the_budget() {
    let _turn = serial();
    // Default flags: the 1 MiB message limit refuses them from the header
    // of the second fragment.
    let args = ["--mode", "echo"];
    let (start, peak, endings) = attack(&args);
    assert_bounded(&args, start, peak, &endings);
    assert!(
        endings.iter().all(|e| *e == Ending::Code(1009)),
        "{endings:?}"
    );

    // Raised to 16 MiB, they fit the limit but not the budget: some are
    // echoed, the rest wait, then are told to try again later.
    let args = ["--mode", "echo", "--max-message", "16M"];
    let (start, peak, endings) = attack(&args);
    assert_bounded(&args, start, peak, &endings);
    assert!(
        endings.contains(&Ending::Code(1013)),
        "someone is told to try again later: {endings:?}"
    );
}

#[test]
fn large_broadcasts_to_subscribers_that_never_read_stay_within_the_budget() {
    let _turn = serial();
    let args = ["--mode", "broadcast", "--max-message", "16M"];
    let server = Binary::start(&args);
    let start = server.rss_kib();
    // Subscribers that never read.
    let deaf: Vec<TcpStream> = (0..10).map(|_| raw_ws(server.addr)).collect();
    // A pair of normal clients: A sends, B receives.
    let mut a = connect(server.addr, "/ws");
    let mut b = connect(server.addr, "/ws");
    let stop = AtomicBool::new(false);
    let refused = AtomicUsize::new(0);
    let (peak, worst) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| sample_peak(&server, &stop));
        let publishers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut ws = connect(server.addr, "/ws");
                    for _ in 0..4 {
                        if ws.send(WsMessage::binary(vec![7u8; 4 * MIB])).is_err() {
                            refused.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                })
            })
            .collect();
        let mut worst = Duration::ZERO;
        let until = Instant::now() + Duration::from_secs(6);
        while Instant::now() < until {
            let t = Instant::now();
            a.send(WsMessage::text("hello B")).unwrap();
            // B also gets the publishers' large messages: skip those.
            loop {
                match next(&mut b) {
                    WsMessage::Text(t) if t.as_str() == "hello B" => break,
                    _ => continue,
                }
            }
            worst = worst.max(t.elapsed());
            while let Ok(Some(_)) = peek(&mut a) {}
        }
        for p in publishers {
            p.join().unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        (sampler.join().unwrap(), worst)
    });
    eprintln!("broadcast: RSS {start} KiB at start, peak {peak} KiB, normal worst {worst:?}");
    let bound = bound_kib(start, 20);
    assert!(
        peak < bound && peak < 128 * 1024,
        "peak {peak} KiB over the bound {bound} KiB"
    );
    assert!(
        worst < Duration::from_secs(1),
        "normal round trip {worst:?}"
    );
    drop(deaf);
}

/// Reads whatever is waiting for `ws` without blocking for long.
fn peek(ws: &mut Ws) -> Result<Option<WsMessage>, ()> {
    let stream = ws.get_ref();
    stream.set_nonblocking(true).map_err(|_| ())?;
    let got = match ws.read() {
        Ok(m) => Ok(Some(m)),
        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(_) => Err(()),
    };
    ws.get_ref().set_nonblocking(false).map_err(|_| ())?;
    got
}

#[test]
fn the_byte_count_returns_to_zero_after_an_attack() {
    let _turn = serial();
    let running = Server::new("127.0.0.1:0")
        .max_message_size(3 * MIB)
        .memory_budget(8 * MIB)
        .memory_wait(Duration::from_millis(500))
        .start(Echo)
        .unwrap();
    let hub = running.hub();
    let go = Arc::new(Barrier::new(11));
    let attackers: Vec<_> = (0..10)
        .map(|_| hostile(running.local_addr(), 3 * MIB, 256 * 1024, go.clone()))
        .collect();
    go.wait();
    let endings: Vec<Ending> = attackers.into_iter().map(|a| a.join().unwrap()).collect();
    assert!(endings.contains(&Ending::Code(1013)), "{endings:?}");
    wait_until("the budget to be all given back", || {
        hub.memory_in_use() == 0
    });
}

#[test]
fn a_reader_sent_many_large_messages_is_never_closed_a_stalled_one_is() {
    let _turn = serial();
    let running = Server::new("127.0.0.1:0")
        .max_message_size(MIB)
        .queue_bytes(64 * 1024)
        .start(Echo)
        .unwrap();
    let hub = running.hub();
    let mut reader = connect(running.local_addr(), "/ws");
    let mut stalled = raw_ws(running.local_addr());
    // Both are sent 8 MiB at once: 128 times their byte bound.
    let ids = (1, 2);
    for i in 0..8u8 {
        hub.send(ids.0, vec![i; MIB]).unwrap();
        hub.send(ids.1, vec![i; MIB]).unwrap();
    }
    for i in 0..8u8 {
        match next(&mut reader) {
            WsMessage::Binary(b) => assert!(b.len() == MIB && b[0] == i),
            other => panic!("expected message {i}, got {other:?}"),
        }
    }
    // The stalled one is closed with 1008 within the stall time and the
    // close timeout (it takes nothing, so the close frame may not reach
    // it: the connection is dropped instead).
    let t = Instant::now();
    stalled
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let mut ending = None;
    while t.elapsed() < Duration::from_secs(15) {
        match read_frame(&mut stalled) {
            Some((first, p)) if first & 0x0F == 0x8 => {
                ending = Some(u16::from_be_bytes([p[0], p[1]]));
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    assert!(matches!(ending, None | Some(1008)), "{ending:?}");
    wait_until("the stalled client's frames to be freed", || {
        hub.memory_in_use() == 0
    });
    // The reader is still there.
    reader.send(WsMessage::text("still here")).unwrap();
    assert_eq!(next_text(&mut reader), "still here");
}

#[test]
fn a_large_send_is_refused_at_once_when_the_budget_is_full_a_small_one_never() {
    let _turn = serial();
    let running = Server::new("127.0.0.1:0")
        .max_message_size(MIB)
        .memory_budget(4 * MIB)
        .start(Echo)
        .unwrap();
    let hub = running.hub();
    let _deaf = raw_ws(running.local_addr());
    let mut refused = None;
    // The deaf client's socket buffers take a few MiB before the budget
    // fills; 100 MiB is far more than both.
    for i in 0..100 {
        let t = Instant::now();
        match hub.send(1, vec![0u8; MIB]) {
            Ok(()) => {}
            Err(e @ Error::Busy { .. }) => {
                assert!(t.elapsed() < Duration::from_millis(100), "it did not wait");
                refused = Some((i, e.to_string()));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (_, text) = refused.expect("a send was refused");
    assert!(text.contains("--memory"), "{text}");
    hub.send(1, "a small one always goes").unwrap();
}
