//! `wshub --explain` and `wshub accept`: each step of a scripted
//! connection shows up with its real values; without the flag, nothing.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;

use common::explain::{collect_until, start_printing};
use common::*;
use crossbeam_channel::Receiver;

const BIN: &str = env!("CARGO_BIN_EXE_wshub");
const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

/// Starts the binary in echo mode, with `--explain` or not.
fn start(explain: bool) -> (Binary, SocketAddr, Receiver<String>) {
    let args: &[&str] = if explain {
        &["--mode", "echo", "--explain"]
    } else {
        &["--mode", "echo"]
    };
    start_printing(args)
}

/// The scripted connection: three sizes of text, a ping, a close.
fn script(addr: SocketAddr) {
    let mut ws = raw_ws(addr);
    for n in [5usize, 300, 70_000] {
        let text: Vec<u8> = b"Hello".iter().cycle().take(n).copied().collect();
        ws.write_all(&client_frame(0x81, &text, MASK)).unwrap();
        assert_eq!(read_frame(&mut ws).unwrap().1.len(), n);
    }
    ws.write_all(&client_frame(0x89, b"hi", MASK)).unwrap();
    assert_eq!(read_frame(&mut ws).unwrap(), (0x8A, b"hi".to_vec()));
    ws.write_all(&client_frame(0x88, &1000u16.to_be_bytes(), MASK))
        .unwrap();
    assert_eq!(raw_close_code(&mut ws), 1000);
}

#[test]
fn explain_shows_every_step_with_the_real_values() {
    let (mut child, addr, rx) = start(true);
    script(addr);
    let out = collect_until(&rx, "5. TCP connection closed");
    let expect = [
        "1. HTTP request, as received:",
        "> Upgrade: websocket",
        &format!("> Sec-WebSocket-Key: {KEY}"),
        "> Sec-WebSocket-Version: 13",
        "2. Computing Sec-WebSocket-Accept:",
        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
        "b37a4f2cc0624f1690f64606cf385945b2bec4ea",
        "3. the 101 response, as sent:",
        "< Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "4. frame client -> server: text",
        "payload length 5 bytes (7-bit form",
        "payload length 300 bytes (16-bit form",
        "payload length 70000 bytes (64-bit form",
        "masking key    37 fa 21 3d",
        "text           \"Hello\"",
        "4. frame server -> client: text",
        "(not masked: server frames never are)",
        "4. frame client -> server: ping",
        "4. frame server -> client: pong",
        "close code     1000: normal closure",
        "the client starts the closing handshake",
        "the server answers the Close: the closing handshake is complete",
    ];
    for e in expect {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    // The 70,000-byte payload is shown in part, not in full.
    assert!(out.len() < 20_000, "explain printed {} bytes", out.len());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn without_explain_nothing_of_it_is_printed() {
    let (mut child, addr, rx) = start(false);
    script(addr);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.is_empty(), "printed: {rest:?}");
}

#[test]
fn accept_subcommand_gives_the_rfc_value() {
    let out = Command::new(BIN).args(["accept", KEY]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("-> Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{text}"
    );
    assert!(text.contains(&format!("{KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
}

#[test]
fn the_classroom_walkthrough_shows_what_wshub_prints_today() {
    let out = Command::new("bash")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/docs/capture.sh"),
            "--check",
        ])
        .env("WSHUB_BIN", BIN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
