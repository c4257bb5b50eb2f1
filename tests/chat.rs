//! Chat mode and broadcast mode through the hub, and a client too slow to
//! keep up.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message as WsMessage;
use wshub::{Running, Server, modes};

fn chat() -> Running {
    // These tests send faster than any person; the rate limit has its own.
    let room = modes::Chat::with_rate_limit(1e6, 1_000_000);
    Server::new("127.0.0.1:0").start(room).unwrap()
}

#[test]
fn names_welcome_join_message_rename_and_leave() {
    let s = chat();
    let a_addr = s.local_addr();
    let mut a = connect(a_addr, "/ws");
    let wa = expect(&mut a, "welcome");
    let name_a = field(&wa, "name");
    assert_eq!(
        field(&wa, "room"),
        "lobby",
        "no room in the URL is the lobby"
    );
    assert!(wa.contains(&format!(r#""online":["{name_a}"]"#)), "{wa}");

    let mut b = connect(a_addr, "/ws");
    let wb = expect(&mut b, "welcome");
    let name_b = field(&wb, "name");
    assert_ne!(name_a, name_b);
    assert_eq!(
        expect(&mut a, "join"),
        format!(r#"{{"type":"join","room":"lobby","name":"{name_b}"}}"#)
    );

    let mut c = connect(a_addr, "/ws");
    let wc = expect(&mut c, "welcome");
    let name_c = field(&wc, "name");
    assert!(
        wc.contains(&name_a) && wc.contains(&name_b) && wc.contains(&name_c),
        "{wc}"
    );
    assert!(name_c != name_a && name_c != name_b);
    expect(&mut a, "join");
    expect(&mut b, "join");

    // Every message goes to everyone, the sender included, escaped.
    a.send(WsMessage::text("hi \"all\" <b>\n")).unwrap();
    for ws in [&mut a, &mut b, &mut c] {
        let m = expect(ws, "message");
        assert!(m.contains(&format!(r#""from":"{name_a}""#)), "{m}");
        assert!(m.contains(r#""text":"hi \"all\" <b>\n""#), "{m}");
        assert!(m.contains(r#""ts":"#));
    }

    // Rename: to all; a taken name is an error to the asker only.
    b.send(WsMessage::text("/nick ada")).unwrap();
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(
            expect(ws, "rename"),
            format!(r#"{{"type":"rename","room":"lobby","from":"{name_b}","to":"ada"}}"#)
        );
    }
    c.send(WsMessage::text("/nick ada")).unwrap();
    expect(&mut c, "error");
    c.send(WsMessage::text("/nick has space")).unwrap();
    expect(&mut c, "error");
    c.send(WsMessage::text("/nick")).unwrap();
    assert!(expect(&mut c, "error").contains("usage: /nick NAME"));
    c.send(WsMessage::text(format!("/nick {name_c}"))).unwrap();
    assert!(expect(&mut c, "error").contains("already"));
    c.send(WsMessage::binary(vec![1, 2, 3])).unwrap();
    expect(&mut c, "error");
    // a and b saw none of c's errors: their next message is this one.
    c.send(WsMessage::text("after errors")).unwrap();
    for ws in [&mut a, &mut b, &mut c] {
        assert!(expect(ws, "message").contains("after errors"));
    }

    // Leave.
    assert_eq!(close_with(&mut b, 1000), 1000);
    for ws in [&mut a, &mut c] {
        assert_eq!(
            expect(ws, "leave"),
            r#"{"type":"leave","room":"lobby","name":"ada"}"#
        );
    }
}

#[test]
fn each_senders_messages_arrive_in_order_at_everyone() {
    let s = chat();
    // Each client has its welcome before the next connects: a 101 comes
    // before on_open, so two quick connects could otherwise open in either
    // order (the README's join race), and the counts below would differ.
    let mut clients: Vec<Ws> = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(s.local_addr(), "/ws");
        expect(&mut ws, "welcome");
        clients.push(ws);
    }
    // Drain the joins: client i sees (2 - i) of them.
    for (i, ws) in clients.iter_mut().enumerate() {
        for _ in 0..(2 - i) {
            expect(ws, "join");
        }
    }
    let n = 200;
    for i in 0..n {
        for (k, ws) in clients.iter_mut().enumerate() {
            ws.send(WsMessage::text(format!("{k}:{i}"))).unwrap();
        }
    }
    for ws in clients.iter_mut() {
        let mut seen = [0usize; 3];
        for _ in 0..3 * n {
            let m = expect(ws, "message");
            let text = field(&m, "text");
            let (k, i) = text.split_once(':').unwrap();
            let (k, i): (usize, usize) = (k.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, seen[k], "sender {k} out of order");
            seen[k] += 1;
        }
    }
}

#[test]
fn broadcast_mode_relays_text_and_binary_to_others_only() {
    let s = Server::new("127.0.0.1:0")
        .start(modes::Relay::new())
        .unwrap();
    let mut a = connect(s.local_addr(), "/ws");
    let mut b = connect(s.local_addr(), "/ws");
    let mut c = connect(s.local_addr(), "/ws");
    let msgs = [
        WsMessage::text("from a"),
        WsMessage::binary(vec![0u8, 255, 7]),
    ];
    for m in &msgs {
        a.send(m.clone()).unwrap();
    }
    for ws in [&mut b, &mut c] {
        for m in &msgs {
            assert_eq!(&next(ws), m);
        }
    }
    // a got nothing back: its next message is b's.
    b.send(WsMessage::text("from b")).unwrap();
    assert_eq!(next_text(&mut a), "from b");
    assert_eq!(next_text(&mut c), "from b");
}

#[test]
fn a_client_that_never_reads_is_closed_with_1008_and_others_keep_up() {
    let s = Server::new("127.0.0.1:0")
        .queue_size(256)
        .start(modes::Relay::new())
        .unwrap();
    let addr = s.local_addr();
    let mut sender = connect(addr, "/ws");
    let mut reader = connect(addr, "/ws");
    let mut slow = connect(addr, "/ws");
    let rss_before = rss_kib();
    let payload = vec![b'x'; 1024];
    let mut worst = Duration::ZERO;
    for i in 0..10_000u32 {
        let mut m = payload.clone();
        m[..4].copy_from_slice(&i.to_be_bytes());
        let sent = Instant::now();
        sender.send(WsMessage::binary(m)).unwrap();
        match next(&mut reader) {
            WsMessage::Binary(b) => assert_eq!(&b[..4], &i.to_be_bytes()),
            other => panic!("unexpected {other:?}"),
        }
        worst = worst.max(sent.elapsed());
    }
    // Bounded latency for the reader even while `slow` was stuck.
    assert!(worst < Duration::from_secs(2), "a delivery took {worst:?}");
    // 10 MiB went past `slow`; what the server kept for it is its queue
    // bound (256 KiB here), not the flood.
    let grown = rss_kib().saturating_sub(rss_before);
    eprintln!("RSS grew by {grown} KiB during the flood");
    assert!(grown < 3 * 1024, "memory grew by {grown} KiB");
    // `slow` now reads: what was buffered, then a close with 1008.
    let code = close_code(&mut slow);
    assert_eq!(code, 1008);
}

#[test]
fn a_flooding_chat_client_is_warned_then_closed_with_1008() {
    let s = Server::new("127.0.0.1:0")
        .start(modes::Chat::with_rate_limit(0.001, 5))
        .unwrap();
    // One welcome before the next connect, so they open in this order.
    let mut flood = connect(s.local_addr(), "/ws");
    expect(&mut flood, "welcome");
    let mut other = connect(s.local_addr(), "/ws");
    expect(&mut flood, "join");
    expect(&mut other, "welcome");
    for i in 0..5 {
        flood.send(WsMessage::text(format!("m{i}"))).unwrap();
        expect(&mut flood, "message");
        expect(&mut other, "message");
    }
    flood.send(WsMessage::text("one too many")).unwrap();
    assert!(expect(&mut flood, "error").contains("slow down"));
    flood.send(WsMessage::text("and another")).unwrap();
    assert_eq!(close_code(&mut flood), 1008);
    // The other client saw neither, then the leave.
    assert!(expect(&mut other, "leave").contains("guest-1"));
}

#[test]
fn a_burst_bigger_than_the_queue_does_not_close_clients_that_read() {
    // Each of 40 clients sends one message at once: every client is sent 39
    // in one burst, far over a queue of 8, yet all read promptly.
    let s = Server::new("127.0.0.1:0")
        .queue_size(8)
        .start(modes::Relay::new())
        .unwrap();
    let mut clients: Vec<Ws> = (0..40).map(|_| connect(s.local_addr(), "/ws")).collect();
    for (i, ws) in clients.iter_mut().enumerate() {
        ws.send(WsMessage::text(format!("from {i}"))).unwrap();
    }
    for ws in &mut clients {
        for _ in 0..39 {
            assert!(next_text(ws).starts_with("from "));
        }
    }
}
