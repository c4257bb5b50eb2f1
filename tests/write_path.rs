//! The write path's guarantees, now that a connection thread writes its own
//! replies when nothing is owed to its socket and the hub writes the rest:
//! one writer per socket at a time, each sender's frames in order, nothing
//! after a close frame, pongs in order with everything else.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use common::*;
use crossbeam_channel::unbounded;
use tungstenite::Message as WsMessage;
use wshub::{Client, ClientId, Handler, Message, Request, Server};

const MASK: Option<[u8; 4]> = Some([1, 2, 3, 4]);

#[test]
fn replies_racing_broadcasts_to_one_client_never_interleave_and_keep_their_order() {
    let server = Server::new("127.0.0.1:0");
    race_replies_against_broadcasts(server, 400, 16 * 1024, |addr| connect(addr, "/ws"));
}

#[test]
fn a_broadcast_from_the_handler_reaches_its_own_client_before_its_next_reply() {
    // The broadcast goes through the hub; the reply could be written at
    // once by this thread, and must not overtake it.
    let handler = |client: &Client, m: Message| {
        let k = m.as_text().unwrap().to_string();
        client.hub().broadcast(format!("b{k}")).unwrap();
        client.send(format!("r{k}")).unwrap();
    };
    let s = Server::new("127.0.0.1:0").start(handler).unwrap();
    let mut ws = connect(s.local_addr(), "/ws");
    for k in 0..300 {
        ws.send(WsMessage::text(k.to_string())).unwrap();
        assert_eq!(next_text(&mut ws), format!("b{k}"));
        assert_eq!(next_text(&mut ws), format!("r{k}"));
    }
}

#[test]
fn pongs_keep_their_place_among_replies_that_went_through_the_hub() {
    // Every message is echoed through the hub (as a broadcast); the pongs
    // are written by the connection thread, after them.
    let handler = |client: &Client, m: Message| {
        client.hub().broadcast(m).unwrap();
    };
    let s = Server::new("127.0.0.1:0").start(handler).unwrap();
    let mut raw = raw_ws(s.local_addr());
    let mut burst = Vec::new();
    for k in 0..50 {
        burst.extend(client_frame(0x81, format!("t{k}").as_bytes(), MASK));
        burst.extend(client_frame(0x89, format!("p{k}").as_bytes(), MASK));
    }
    burst.extend(client_frame(0x88, &1000u16.to_be_bytes(), MASK));
    raw.write_all(&burst).unwrap();
    for k in 0..50 {
        assert_eq!(
            read_frame(&mut raw),
            Some((0x81, format!("t{k}").into_bytes()))
        );
        assert_eq!(
            read_frame(&mut raw),
            Some((0x8A, format!("p{k}").into_bytes()))
        );
    }
    assert_eq!(raw_close_code(&mut raw), 1000);
}

/// Reads echoes until the server's close frame; asserts that nothing
/// comes after it but the end of the connection. Returns the close code
/// and how many echoes came before it.
fn echoes_then_close(raw: &mut TcpStream) -> (u16, usize) {
    let mut echoes = 0;
    loop {
        let (first, payload) = read_frame(raw).expect("a close frame before the end");
        match first {
            0x81 => echoes += 1,
            0x88 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                // Answer it, so the server ends the connection at once.
                let _ = raw.write_all(&client_frame(0x88, &payload[..2], MASK));
                let mut rest = Vec::new();
                let _ = std::io::Read::read_to_end(raw, &mut rest);
                assert!(
                    rest.is_empty(),
                    "{} bytes after the close frame",
                    rest.len()
                );
                return (code, echoes);
            }
            other => panic!("unexpected frame {other:#x}"),
        }
    }
}

#[test]
fn nothing_follows_a_close_frame_whoever_queues_it() {
    struct Echo(crossbeam_channel::Sender<ClientId>);
    impl Handler for Echo {
        fn on_open(&self, client: &Client, _: &Request) {
            self.0.send(client.id()).unwrap();
        }
        fn on_message(&self, client: &Client, m: Message) {
            if m.as_text() == Some("close") {
                // Closed by its own thread, then more replies: dropped.
                client.close(4001, "asked to").unwrap();
                for _ in 0..10 {
                    client.send("after").unwrap();
                }
            } else {
                client.send(m).unwrap();
            }
        }
    }
    let (ids_tx, ids) = unbounded();
    let s = Server::new("127.0.0.1:0").start(Echo(ids_tx)).unwrap();

    // 1. The handler closes and goes on sending.
    let mut raw = raw_ws(s.local_addr());
    ids.recv_timeout(WAIT).unwrap();
    let mut burst = Vec::new();
    for k in 0..100 {
        burst.extend(client_frame(0x81, format!("m{k}").as_bytes(), MASK));
    }
    burst.extend(client_frame(0x81, b"close", MASK));
    raw.write_all(&burst).unwrap();
    assert_eq!(echoes_then_close(&mut raw), (4001, 100));

    // 2. Another thread closes the client while its thread is busy writing
    // replies to a stream of messages.
    let mut raw = raw_ws(s.local_addr());
    let id = ids.recv_timeout(WAIT).unwrap();
    let writer = raw.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let pump = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut w = writer;
            let frame = client_frame(0x81, b"ping-pong", MASK);
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < WAIT {
                if w.write_all(&frame).is_err() {
                    break;
                }
            }
        })
    };
    for _ in 0..200 {
        assert_eq!(read_frame(&mut raw).map(|f| f.0), Some(0x81));
    }
    s.hub().close(id, 4002, "from elsewhere").unwrap();
    let (code, _) = echoes_then_close(&mut raw);
    stop.store(true, Ordering::Relaxed);
    pump.join().unwrap();
    assert_eq!(code, 4002);
}

#[test]
fn a_client_is_judged_by_the_count_only_once_the_hub_could_write_to_it() {
    // Frames broadcast while a client's `on_open` runs wait for it; the
    // client was offered none of them, so more of them than the queue
    // bound must not close it.
    const QUEUE: usize = 8;
    const SENT: usize = 5 * QUEUE;
    struct SlowOpen(crossbeam_channel::Receiver<()>);
    impl Handler for SlowOpen {
        fn on_open(&self, _: &Client, _: &Request) {
            self.0.recv_timeout(WAIT).expect("the test lets it open");
        }
        fn on_message(&self, _: &Client, _: Message) {}
    }
    let (go, gate) = unbounded();
    let s = Server::new("127.0.0.1:0")
        .queue_size(QUEUE)
        .start(SlowOpen(gate))
        .unwrap();
    go.send(()).unwrap();
    let mut first = connect(s.local_addr(), "/ws");
    // The 101 is written before `on_open`, so this returns while the
    // second client's `on_open` waits.
    let mut second = connect(s.local_addr(), "/ws");
    for k in 0..SENT {
        s.hub().broadcast(format!("m{k}")).unwrap();
    }
    // The hub applies events in order: once the first client has them
    // all, the second one's are all waiting for it.
    for k in 0..SENT {
        assert_eq!(next_text(&mut first), format!("m{k}"));
    }
    go.send(()).unwrap();
    for k in 0..SENT {
        assert_eq!(next_text(&mut second), format!("m{k}"));
    }
    // Still open: a ping is answered, not met with a close.
    second
        .send(WsMessage::Ping(b"still".to_vec().into()))
        .unwrap();
    let pong = second.read().expect("an answer to the ping");
    assert_eq!(pong, WsMessage::Pong(b"still".to_vec().into()));
}
