//! Load and faults: slow heads, dropped handshakes, abrupt resets, the
//! connection limit, keepalive. Each is bounded in count and time, and each
//! checks that the server is healthy afterwards and that its threads return
//! to the baseline. The tests take turns (one lock), so the thread counts
//! are theirs alone.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message as WsMessage;
use wshub::{Running, Server, modes::Echo};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn round_trip(s: &Running) -> Duration {
    let started = Instant::now();
    let mut ws = connect(s.local_addr(), "/ws");
    ws.send(WsMessage::text("ping?")).unwrap();
    assert_eq!(next_text(&mut ws), "ping?");
    started.elapsed()
}

/// The server's thread count once it has served one client: its listener
/// and hub are running (a thread takes its name when it first runs).
fn settled(s: &Running) -> usize {
    round_trip(s);
    wait_until("the last client's thread to end", || threads() == 2);
    FDS.store(fds(), Ordering::SeqCst);
    threads()
}

/// The process's descriptors when the server settled (the tests take
/// turns, so this is the running test's).
static FDS: AtomicUsize = AtomicUsize::new(0);

/// The server's threads and the process's descriptors return to what they
/// were before the load.
fn back_to(baseline: usize) {
    wait_until(&format!("threads back to {baseline}"), || {
        threads() <= baseline
    });
    let fds_before = FDS.load(Ordering::SeqCst);
    wait_until(&format!("descriptors back to {fds_before}"), || {
        fds() <= fds_before
    });
}

#[test]
fn slowloris_heads_do_not_stop_a_normal_client() {
    let _turn = serial();
    let s = Server::new("127.0.0.1:0").start(Echo).unwrap();
    let baseline = settled(&s);
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(s.local_addr()).unwrap())
        .collect();
    // A header byte every 2 s, twice, while a normal client comes and goes.
    let head = b"GET / HTTP/1.1\r\nX";
    for round in 0..2 {
        for c in &mut slow {
            let _ = c.write_all(&head[round..round + 1]);
        }
        assert!(round_trip(&s) < Duration::from_secs(1));
        if round == 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    drop(slow);
    back_to(baseline);
}

#[test]
fn a_slow_head_gets_408_and_a_silent_one_a_plain_close() {
    let _turn = serial();
    let s = Server::new("127.0.0.1:0")
        .head_timeout(Duration::from_millis(500))
        .start(Echo)
        .unwrap();
    let mut partial = TcpStream::connect(s.local_addr()).unwrap();
    partial.set_read_timeout(Some(WAIT)).unwrap();
    partial.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut resp = String::new();
    let _ = partial.read_to_string(&mut resp);
    assert_eq!(status(&resp), 408, "{resp}");

    // Nothing sent (a browser's pre-opened connection): no response at all.
    let mut silent = TcpStream::connect(s.local_addr()).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = Vec::new();
    let _ = silent.read_to_end(&mut buf);
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
}

#[test]
fn connections_dropped_mid_handshake_leave_no_threads() {
    let _turn = serial();
    let s = Server::new("127.0.0.1:0").start(Echo).unwrap();
    let baseline = settled(&s);
    let request = upgrade_request(s.local_addr(), "/ws", "");
    for i in 0..2000 {
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        // Cut the head at a different place each time.
        let _ = c.write_all(&request.as_bytes()[..i % request.len()]);
    }
    round_trip(&s);
    back_to(baseline);
}

#[test]
fn clients_reset_abruptly_free_their_threads_and_memory() {
    let _turn = serial();
    let s = Server::new("127.0.0.1:0").start(Echo).unwrap();
    let baseline = settled(&s);
    // The first round leaves the allocator's caches warm (glibc keeps freed
    // thread stacks for reuse); the second must then cost nothing more.
    let mut rss = Vec::new();
    for _ in 0..2 {
        reset_200_clients(&s, baseline);
        back_to(baseline);
        round_trip(&s);
        rss.push(rss_kib());
    }
    let grown = rss[1].saturating_sub(rss[0]);
    eprintln!("RSS after rounds of 200 resets: {rss:?} KiB");
    assert!(
        grown < 1024,
        "RSS grew by {grown} KiB in a second round of 200 resets"
    );
}

fn reset_200_clients(s: &Running, baseline: usize) {
    // Hand-made clients, so that the memory measured is the server's.
    let mut clients: Vec<TcpStream> = (0..200).map(|_| raw_ws(s.local_addr())).collect();
    for c in &mut clients {
        c.write_all(&client_frame(0x81, b"hello", Some([1, 2, 3, 4])))
            .unwrap();
        assert_eq!(read_frame(c), Some((0x81, b"hello".to_vec())));
    }
    assert_eq!(threads(), baseline + 200);
    for c in clients {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setting SO_LINGER on a socket we own; closing it then
        // sends a reset instead of a FIN.
        unsafe {
            libc::setsockopt(
                c.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}

#[test]
fn over_the_connection_limit_is_503_with_retry_after() {
    let _turn = serial();
    let s = Server::new("127.0.0.1:0")
        .max_connections(3)
        .start(Echo)
        .unwrap();
    let baseline = settled(&s);
    let held: Vec<Ws> = (0..3).map(|_| connect(s.local_addr(), "/ws")).collect();
    let resp = get(s.local_addr(), "/");
    assert_eq!(status(&resp), 503, "{resp}");
    assert!(resp.contains("Retry-After: "));
    assert_eq!(
        threads(),
        baseline + 3,
        "a refused connection must not get a thread"
    );
    drop(held);
    back_to(baseline);
    round_trip(&s);
}

#[test]
fn silent_clients_are_pinged_and_dead_ones_closed() {
    let _turn = serial();
    let s = Server::new("127.0.0.1:0")
        .ping_interval(Duration::from_millis(300))
        .start(Echo)
        .unwrap();
    let baseline = settled(&s);
    // A peer that never answers: a ping comes, then a close with 1001.
    let mut dead = raw_ws(s.local_addr());
    let (first, _) = read_frame(&mut dead).unwrap();
    assert_eq!(first, 0x89, "expected a ping");
    assert_eq!(raw_close_code(&mut dead), 1001);
    // A live client (tungstenite answers pings as it reads) stays.
    let mut live = connect(s.local_addr(), "/ws");
    live.get_mut()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        match live.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("live client lost: {e}"),
        }
    }
    live.send(WsMessage::text("alive")).unwrap();
    live.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(next_text(&mut live), "alive");
    drop((dead, live));
    back_to(baseline);
}

#[test]
fn a_client_whose_output_stays_blocked_is_dropped_after_the_write_timeout() {
    let _turn = serial();
    // A queue too big to overflow, so only the write timeout can end it.
    let s = Server::new("127.0.0.1:0")
        .queue_size(1_000_000)
        .write_timeout(Duration::from_millis(500))
        .start(|c: &wshub::Client, m: wshub::Message| {
            // Text comes back (for `round_trip`); binary goes to the others.
            let _ = match m {
                wshub::Message::Text(_) => c.send(m),
                wshub::Message::Binary(_) => c.hub().broadcast_except(c.id(), m),
            };
        })
        .unwrap();
    let baseline = settled(&s);
    let mut stuck = raw_ws(s.local_addr()); // never reads
    let mut sender = connect(s.local_addr(), "/ws");
    let chunk = vec![b'x'; 64 * 1024];
    // Enough to fill both socket buffers many times over.
    for _ in 0..400 {
        sender.send(WsMessage::binary(chunk.clone())).unwrap();
    }
    // The server gives up on `stuck`: its thread ends, and it reads the
    // end of the stream after whatever had been buffered.
    wait_until("the stuck client's thread to end", || {
        threads() == baseline + 1
    });
    stuck.set_read_timeout(Some(WAIT)).unwrap();
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match stuck.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("expected the connection to end: {e}"),
        }
    }
    drop((sender, stuck));
    back_to(baseline);
    round_trip(&s);
}
