//! Bad frames get the close code RFC 6455 asks for, sent before the TCP
//! connection is closed; the server stays healthy.

mod common;

use std::io::Write;

use common::*;
use tungstenite::Message as WsMessage;
use wshub::{Running, Server, modes::Echo};

const MASK: Option<[u8; 4]> = Some([0x11, 0x22, 0x33, 0x44]);

fn server() -> Running {
    Server::new("127.0.0.1:0")
        .max_message_size(64 * 1024)
        .start(Echo)
        .unwrap()
}

fn expect_close(s: &Running, bytes: &[u8], code: u16, what: &str) {
    let mut ws = raw_ws(s.local_addr());
    ws.write_all(bytes).unwrap();
    assert_eq!(raw_close_code(&mut ws), code, "{what}");
}

fn healthy(s: &Running) {
    let mut ws = connect(s.local_addr(), "/ws");
    ws.send(WsMessage::text("still fine")).unwrap();
    assert_eq!(next_text(&mut ws), "still fine");
}

#[test]
fn protocol_errors_close_with_1002() {
    let s = server();
    let cases: [(Vec<u8>, &str); 7] = [
        (client_frame(0x81, b"hi", None), "unmasked client frame"),
        (client_frame(0x83, b"hi", MASK), "reserved data opcode"),
        (client_frame(0x8B, b"", MASK), "reserved control opcode"),
        (
            client_frame(0xC1, b"hi", MASK),
            "RSV1 set without an extension",
        ),
        (client_frame(0x09, b"", MASK), "fragmented ping"),
        (client_frame(0x89, &[0u8; 126], MASK), "ping over 125 bytes"),
        (
            client_frame(0x80, b"more", MASK),
            "continuation without a start",
        ),
    ];
    for (bytes, what) in cases {
        expect_close(&s, &bytes, 1002, what);
    }
    // A close code no endpoint may send (1005, 999) is a protocol error.
    expect_close(
        &s,
        &client_frame(0x88, &1005u16.to_be_bytes(), MASK),
        1002,
        "close code 1005",
    );
    expect_close(
        &s,
        &client_frame(0x88, &999u16.to_be_bytes(), MASK),
        1002,
        "close code 999",
    );
    healthy(&s);
}

#[test]
fn invalid_utf8_closes_with_1007() {
    let s = server();
    expect_close(
        &s,
        &client_frame(0x81, &[0xC3, 0x28], MASK),
        1007,
        "text not UTF-8",
    );
    let mut reason = 1000u16.to_be_bytes().to_vec();
    reason.extend_from_slice(&[0xFF, 0xFE]);
    expect_close(
        &s,
        &client_frame(0x88, &reason, MASK),
        1007,
        "close reason not UTF-8",
    );
    // Split in a fragmented message, invalid only as a whole.
    let mut two = client_frame(0x01, &[0xE2, 0x82], MASK);
    two.extend(client_frame(0x80, &[0x28], MASK));
    expect_close(&s, &two, 1007, "fragmented text not UTF-8");
    healthy(&s);
}

#[test]
fn a_message_over_the_limit_closes_with_1009_from_its_header() {
    let s = server();
    // A header announcing 1 GiB, and not one byte of it: the server must
    // answer from the header alone, without waiting for or buffering data.
    let mut ws = raw_ws(s.local_addr());
    ws.write_all(&[0x82, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4])
        .unwrap();
    assert_eq!(raw_close_code(&mut ws), 1009);
    // The same limit for a message split into frames that are each small.
    let mut frames = client_frame(0x02, &[0u8; 40 * 1024], MASK);
    frames.extend(client_frame(0x80, &[0u8; 40 * 1024], MASK));
    expect_close(&s, &frames, 1009, "fragmented message over the limit");
    healthy(&s);
}
