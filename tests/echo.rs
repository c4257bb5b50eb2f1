//! Echo mode end to end, with a real tungstenite client.

mod common;

use std::io::Write;
use std::net::TcpStream;

use common::*;
use tungstenite::Message as WsMessage;
use wshub::{Running, Server, modes::Echo};

fn server() -> Running {
    Server::new("127.0.0.1:0")
        .max_message_size(16 << 20)
        .start(Echo)
        .unwrap()
}

#[test]
fn text_and_binary_come_back_exactly() {
    let s = server();
    let mut ws = connect(s.local_addr(), "/ws");
    let big: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let messages = [
        WsMessage::text("hello"),
        WsMessage::text(""),
        WsMessage::text("é ü 😀 ✓"),
        WsMessage::binary(vec![0u8, 1, 2, 255]),
        WsMessage::binary(Vec::new()),
        WsMessage::binary(big),
        WsMessage::text("x".repeat(70_000)),
    ];
    for m in messages {
        ws.send(m.clone()).unwrap();
        assert_eq!(next(&mut ws), m);
    }
}

#[test]
fn ping_is_answered_with_pong() {
    let s = server();
    let mut ws = connect(s.local_addr(), "/ws");
    ws.send(WsMessage::Ping(b"are you there".to_vec().into()))
        .unwrap();
    match ws.read().unwrap() {
        WsMessage::Pong(p) => assert_eq!(&p[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[test]
fn client_close_is_answered_with_the_same_code() {
    let s = server();
    let mut ws = connect(s.local_addr(), "/ws");
    assert_eq!(close_with(&mut ws, 1000), 1000);
    let mut ws = connect(s.local_addr(), "/ws");
    assert_eq!(close_with(&mut ws, 4001), 4001);
}

#[test]
fn a_second_client_works_while_the_first_is_mid_message() {
    let s = server();
    let mut raw = TcpStream::connect(s.local_addr()).unwrap();
    raw.write_all(upgrade_request(s.local_addr(), "/ws", "").as_bytes())
        .unwrap();
    // The head of a masked 1000-byte text frame, and only 10 bytes of it.
    raw.write_all(&[0x81, 0xFE, 0x03, 0xE8, 1, 2, 3, 4])
        .unwrap();
    raw.write_all(&[b'a' ^ 1; 10]).unwrap();

    let mut ws = connect(s.local_addr(), "/ws");
    ws.send(WsMessage::text("still here")).unwrap();
    assert_eq!(next_text(&mut ws), "still here");
}

#[test]
fn the_server_survives_a_client_that_vanishes() {
    let s = server();
    for _ in 0..20 {
        let mut ws = connect(s.local_addr(), "/ws");
        ws.send(WsMessage::text("bye")).unwrap();
        drop(ws); // no close frame: the TCP connection just ends
    }
    let mut ws = connect(s.local_addr(), "/ws");
    ws.send(WsMessage::text("ok")).unwrap();
    assert_eq!(next_text(&mut ws), "ok");
}

#[test]
fn frames_sent_with_the_request_head_pass_the_gate_too() {
    use std::io::Read;
    let s = server();
    let mut raw = TcpStream::connect(s.local_addr()).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    // The head, a small frame and the start of a 100 KiB one, in one write;
    // the rest of the large frame afterwards.
    let big = vec![b'x'; 100 * 1024];
    let large = client_frame(0x81, &big, Some([9, 8, 7, 6]));
    let mut first = upgrade_request(s.local_addr(), "/ws", "").into_bytes();
    first.extend(client_frame(0x81, b"early", Some([1, 2, 3, 4])));
    first.extend(&large[..1000]);
    raw.write_all(&first).unwrap();
    raw.write_all(&large[1000..]).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(raw.read(&mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    assert_eq!(read_frame(&mut raw), Some((0x81, b"early".to_vec())));
    assert_eq!(read_frame(&mut raw), Some((0x81, big)));
}
