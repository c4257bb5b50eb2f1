//! https:// and wss:// on one port: a real rustls client against the
//! server, with a certificate made for each run.
#![cfg(feature = "tls")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::tls::TestCert;
use common::*;
use tungstenite::Message as WsMessage;
use wshub::{Error, Server, modes};

fn tls_server(cert: &TestCert) -> Server {
    Server::new("127.0.0.1:0").tls(&cert.cert, &cert.key)
}

#[test]
fn echo_over_wss_text_binary_and_a_1_mib_message() {
    let cert = TestCert::new();
    let s = tls_server(&cert)
        .max_message_size(2 << 20)
        .start(modes::Echo)
        .unwrap();
    let mut ws = cert.connect(s.local_addr(), "/ws");
    ws.send(WsMessage::text("hello over TLS")).unwrap();
    assert_eq!(next_text(&mut ws), "hello over TLS");
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + i / 251) as u8).collect();
    ws.send(WsMessage::binary(big.clone())).unwrap();
    match next(&mut ws) {
        WsMessage::Binary(b) => assert!(b[..] == big[..], "the 1 MiB echo differs"),
        other => panic!("expected the 1 MiB echo, got {other:?}"),
    }
    // The closing handshake: the server answers with the same code.
    assert_eq!(close_with(&mut ws, 1000), 1000);
    wait_until("the budget is given back", || s.hub().memory_in_use() == 0);
}

#[test]
fn the_page_and_the_chat_over_https_and_wss() {
    let cert = TestCert::new();
    let s = tls_server(&cert)
        .www(Some(www()))
        .start(modes::Chat::default())
        .unwrap();
    let addr = s.local_addr();
    let response = https_get(&cert, addr, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("<!doctype html>"));
    // A plain GET on the endpoint names the wss:// address.
    let response = https_get(&cert, addr, "/ws");
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(response.contains("wss://localhost/ws"), "{response}");

    let mut a = cert.connect(addr, "/ws");
    assert!(next_text(&mut a).contains("\"welcome\""));
    let mut b = cert.connect(addr, "/ws");
    assert!(next_text(&mut b).contains("\"welcome\""));
    assert!(next_text(&mut a).contains("\"join\""));
    a.send(WsMessage::text("hi from a")).unwrap();
    for ws in [&mut a, &mut b] {
        let m = next_text(ws);
        assert!(m.contains("\"message\"") && m.contains("hi from a"), "{m}");
    }
    drop(b);
    assert!(next_text(&mut a).contains("\"leave\""));
}

/// A GET over TLS; the whole response.
fn https_get(cert: &TestCert, addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = cert.tls_stream(addr);
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    // The server ends with close_notify; a read error after the response
    // would only mean it closed without one.
    let _ = s.read_to_string(&mut response);
    response
}

/// A WebSocket over TLS opened by hand, for frames a polite client would
/// not send.
fn raw_wss(cert: &TestCert, addr: std::net::SocketAddr) -> common::tls::TlsStream {
    let mut s = cert.tls_stream(addr);
    s.write_all(upgrade_request(addr, "/ws", "").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed during the handshake");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

#[test]
fn protocol_errors_get_their_close_codes_over_tls() {
    let cert = TestCert::new();
    let s = tls_server(&cert).start(modes::Echo).unwrap();
    // "The server MUST close the connection upon receiving a frame that is
    // not masked": 1002.
    let mut raw = raw_wss(&cert, s.local_addr());
    raw.write_all(&client_frame(0x81, b"unmasked", None))
        .unwrap();
    assert_eq!(raw_close_code(&mut raw), 1002);
    // Invalid UTF-8 in a text message: 1007.
    let mut raw = raw_wss(&cert, s.local_addr());
    raw.write_all(&client_frame(0x81, &[0xC3, 0x28], Some([9, 8, 7, 6])))
        .unwrap();
    assert_eq!(raw_close_code(&mut raw), 1007);
}

#[test]
fn plain_http_to_the_tls_port_is_told_where_to_go() {
    let cert = TestCert::new();
    let s = tls_server(&cert).start(modes::Echo).unwrap();
    let addr = s.local_addr();
    let response = http(addr, "GET /app.js HTTP/1.1\r\nHost: pi.local:8443\r\n\r\n");
    assert_eq!(status(&response), 400, "{response}");
    assert!(
        response.contains("https://pi.local:8443/app.js"),
        "{response}"
    );
    let response = http(addr, &upgrade_request(addr, "/ws", ""));
    assert_eq!(status(&response), 400, "{response}");
    assert!(response.contains(&format!("wss://{addr}/ws")), "{response}");
}

#[test]
fn a_stalled_tls_handshake_is_dropped_at_the_head_deadline() {
    let cert = TestCert::new();
    let s = tls_server(&cert)
        .head_timeout(Duration::from_millis(500))
        .start(modes::Echo)
        .unwrap();
    // The start of a TLS record, then nothing.
    let mut stalled = TcpStream::connect(s.local_addr()).unwrap();
    stalled.set_read_timeout(Some(WAIT)).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x00]).unwrap();
    let began = Instant::now();
    let mut sink = [0u8; 64];
    // The server gives up and closes: end of stream, not our timeout. The
    // socket is closed once its thread has ended and the hub let it go.
    assert_eq!(stalled.read(&mut sink).unwrap_or(usize::MAX), 0);
    assert!(began.elapsed() < Duration::from_secs(5));
    // Others are served meanwhile and after.
    let mut ws = cert.connect(s.local_addr(), "/ws");
    ws.send(WsMessage::text("still here")).unwrap();
    assert_eq!(next_text(&mut ws), "still here");
}

#[test]
fn unusable_certificate_or_key_files_fail_the_start_with_one_line() {
    let cert = TestCert::new();
    let other = TestCert::new();
    let missing = std::env::temp_dir().join("wshub-no-such-cert.pem");
    let start = |c: &std::path::Path, k: &std::path::Path| match Server::new("127.0.0.1:0")
        .tls(c, k)
        .start(modes::Echo)
    {
        Err(e @ Error::Tls(_)) => e.to_string(),
        Err(e) => panic!("expected a TLS error, got {e}"),
        Ok(_) => panic!("started with {c:?} and {k:?}"),
    };
    let errors = [
        start(&missing, &cert.key),
        // A key file given as the certificate: no CERTIFICATE in it.
        start(&cert.key, &cert.key),
        start(&cert.cert, &cert.cert),
        start(&cert.cert, &other.key),
    ];
    let [missing_cert, not_a_cert, not_a_key, mismatch] = &errors;
    assert!(
        missing_cert.contains("wshub-no-such-cert.pem"),
        "{missing_cert}"
    );
    assert!(missing_cert.contains("--tls-cert"), "{missing_cert}");
    assert!(not_a_cert.contains("no CERTIFICATE"), "{not_a_cert}");
    assert!(not_a_key.contains("private key"), "{not_a_key}");
    assert!(not_a_key.contains("--tls-key"), "{not_a_key}");
    assert!(mismatch.contains("does not fit"), "{mismatch}");
    for e in &errors {
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn replies_racing_broadcasts_over_tls_stay_whole_and_in_order() {
    // The connection thread encrypts its replies while the hub encrypts
    // broadcasts to the same socket: one session, records in the order it
    // made them, or the client's TLS layer fails outright.
    let cert = TestCert::new();
    let server = tls_server(&cert);
    race_replies_against_broadcasts(server, 150, 20 * 1024, |addr| cert.connect(addr, "/ws"));
}

#[test]
fn a_broadcast_reaches_every_tls_client_in_order() {
    let cert = TestCert::new();
    let s = tls_server(&cert).start(modes::Relay::new()).unwrap();
    let mut clients: Vec<_> = (0..8)
        .map(|_| cert.connect(s.local_addr(), "/ws"))
        .collect();
    let hub = s.hub();
    for k in 0..300 {
        hub.broadcast(format!("m{k}")).unwrap();
    }
    for ws in &mut clients {
        for k in 0..300 {
            assert_eq!(next_text(ws), format!("m{k}"));
        }
    }
}

#[test]
fn explain_works_over_tls() {
    // --explain decodes the frames as the session takes and gives them
    // (plaintext); the connection carries them as usual.
    let cert = TestCert::new();
    let s = tls_server(&cert).explain(true).start(modes::Echo).unwrap();
    let mut ws = cert.connect(s.local_addr(), "/ws");
    for k in 0..20 {
        ws.send(WsMessage::text(format!("explained {k}"))).unwrap();
        assert_eq!(next_text(&mut ws), format!("explained {k}"));
    }
    assert_eq!(close_with(&mut ws, 1000), 1000);
}

#[test]
fn a_forged_record_is_answered_with_an_alert_after_direct_replies() {
    // After direct replies the connection thread holds no token and the
    // hub has given it back: the alert the failing session queues must
    // still go out (and not be left for the hub to wait on).
    let cert = TestCert::new();
    let s = tls_server(&cert)
        .close_timeout(Duration::from_secs(5))
        .start(modes::Echo)
        .unwrap();
    let mut ws = cert.connect(s.local_addr(), "/ws");
    for k in 0..3 {
        ws.send(WsMessage::text(format!("m{k}"))).unwrap();
        assert_eq!(next_text(&mut ws), format!("m{k}"));
    }
    // An application-data record whose authentication cannot verify,
    // written under the client's TLS layer.
    let mut forged = vec![0x17, 0x03, 0x03, 0x00, 0x40];
    forged.extend([0xAB; 0x40]);
    ws.get_mut().sock.write_all(&forged).unwrap();
    let began = Instant::now();
    let err = match ws.read() {
        Err(tungstenite::Error::Io(e)) => e.to_string(),
        other => panic!("expected the server's alert, got {other:?}"),
    };
    assert!(err.contains("BadRecordMac"), "{err}");
    // Well before the close timeout: sent at once, not at the timeout.
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
}

#[test]
fn a_record_trickled_byte_by_byte_does_not_outlive_the_head_deadline() {
    let cert = TestCert::new();
    let s = tls_server(&cert)
        .head_timeout(Duration::from_secs(1))
        .start(modes::Echo)
        .unwrap();
    let mut tls = cert.tls_stream(s.local_addr());
    let rustls::StreamOwned { conn, sock } = &mut tls;
    while conn.is_handshaking() {
        conn.complete_io(sock).unwrap();
    }
    // The header of a 200-byte record, then one byte at a time, each well
    // inside the head timeout: never a whole record, never a request.
    sock.write_all(&[0x17, 0x03, 0x03, 0x00, 0xC8]).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let began = Instant::now();
    let mut buf = [0u8; 256];
    let closed = loop {
        assert!(
            began.elapsed() < Duration::from_secs(4),
            "still open after {:?} with a 1 s head timeout",
            began.elapsed()
        );
        if sock.write_all(&[0]).is_err() {
            break began.elapsed();
        }
        match sock.read(&mut buf) {
            // Session tickets may come first; the end is what counts.
            Ok(0) => break began.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break began.elapsed(),
        }
    };
    assert!(closed >= Duration::from_millis(500), "closed at {closed:?}");
}
