//! The gate fed to a real tungstenite, with reads split every which way.

use super::*;
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};

/// A client frame, masked.
fn frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Feeds `wire` through a gate to tungstenite, `split` bytes per
/// socket read, with tungstenite's buffer as small as wshub's.
struct Fed {
    wire: Vec<u8>,
    at: usize,
    split: usize,
    gate: Gate,
    /// At the end of `wire`, time out (as a silent peer does) instead
    /// of ending the stream.
    quiet: bool,
}

impl io::Read for Fed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (wire, at, split, quiet) = (&self.wire, &mut self.at, self.split, self.quiet);
        self.gate.read(buf, |b| {
            if quiet && *at == wire.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(split).min(wire.len() - *at);
            b[..n].copy_from_slice(&wire[*at..*at + n]);
            *at += n;
            Ok(n)
        })
    }
}

impl io::Write for Fed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn run(wire: Vec<u8>, split: usize, budget: &Arc<Budget>) -> (Vec<Message>, Option<String>) {
    feed(wire, split, false, budget)
}

fn run_until_quiet(wire: Vec<u8>, budget: &Arc<Budget>) -> (Vec<Message>, Option<String>) {
    feed(wire, 4096, true, budget)
}

fn feed(
    wire: Vec<u8>,
    split: usize,
    quiet: bool,
    budget: &Arc<Budget>,
) -> (Vec<Message>, Option<String>) {
    let gate = Gate::new(budget.clone(), 1 << 20, Duration::from_millis(50));
    let fed = Fed {
        wire,
        at: 0,
        split,
        gate,
        quiet,
    };
    let config = WebSocketConfig::default().read_buffer_size(1024);
    let mut ws = WebSocket::from_raw_socket(fed, Role::Server, Some(config));
    let mut got = Vec::new();
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                got.push(m);
                ws.get_mut().gate.handled();
            }
            Ok(_) => {}
            Err(e) => {
                let refused = match &e {
                    tungstenite::Error::Io(io) => Refused::find(io).map(|r| r.code),
                    _ => None,
                };
                let why = match refused {
                    Some(code) => Some(code.to_string()),
                    None if matches!(e, tungstenite::Error::ConnectionClosed)
                        || matches!(&e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof)
                        || matches!(
                            &e,
                            tungstenite::Error::Protocol(
                                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
                            )
                        ) =>
                    {
                        None
                    }
                    None => Some(e.to_string()),
                };
                assert!(ws.get_ref().gate.holds_nothing() || why.is_some());
                return (got, why);
            }
        }
    }
}

#[test]
fn messages_pass_whole_whatever_the_reads() {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let text = "héllo wörld ".repeat(500);
    let mut wire = frame(0x81, b"hi", [1, 2, 3, 4]);
    wire.extend(frame(0x82, &big, [9, 8, 7, 6]));
    wire.extend(frame(0x01, &text.as_bytes()[..3001], [5, 5, 5, 5]));
    wire.extend(frame(0x89, b"ping", [1, 1, 1, 1]));
    wire.extend(frame(0x80, &text.as_bytes()[3001..], [2, 3, 4, 5]));
    wire.extend(frame(0x82, &[], [0, 0, 0, 0]));
    for split in [1, 2, 3, 7, 13, 100, 1000, 5000, 100_000] {
        let budget = Budget::new(1 << 20);
        let (got, why) = run(wire.clone(), split, &budget);
        assert_eq!(why, None, "split {split}");
        assert_eq!(
            got,
            vec![
                Message::Text(Utf8Bytes::from_static("hi")),
                Message::Binary(big.clone().into()),
                Message::Text(text.clone().into()),
                Message::Binary(Vec::new().into()),
            ],
            "split {split}"
        );
        assert_eq!(budget.used(), 0, "split {split}: all given back");
    }
}

#[test]
fn invalid_utf8_fails_when_it_arrives_not_at_the_frame_end() {
    // A 10 KiB text frame whose second byte is invalid: the gate hands
    // tungstenite the first read as a frame of its own, which fails.
    let mut payload = vec![b'a'; 10_000];
    payload[1] = 0xFF;
    let wire = frame(0x81, &payload, [1, 2, 3, 4]);
    let budget = Budget::new(1 << 20);
    // Only the first 100 bytes exist: failing needs no more.
    let (_, why) = run(wire[..100].to_vec(), 50, &budget);
    let why = why.expect("fails");
    assert!(why.contains("UTF-8") || why.contains("utf-8"), "{why}");
}

#[test]
fn refusals_come_from_the_header() {
    let budget = Budget::new(1 << 20);
    let mut too_big = frame(0x82, &[], [0; 4]);
    too_big[1] = 0x80 | 127;
    too_big.splice(2..2, (2u64 << 20).to_be_bytes());
    assert_eq!(run(too_big, 1000, &budget).1.as_deref(), Some("1009"));

    let mut long_ping = frame(0x89, &[0u8; 126], [0; 4]);
    long_ping.truncate(8);
    assert_eq!(run(long_ping, 1000, &budget).1.as_deref(), Some("1002"));
}

#[test]
fn whole_messages_before_a_refusal_still_reach_the_handler() {
    let budget = Budget::new(1 << 20);
    let mut wire = frame(0x81, b"hello", [1, 2, 3, 4]);
    let mut too_big = frame(0x82, &[], [0; 4]);
    too_big[1] = 0x80 | 127;
    too_big.splice(2..2, (2u64 << 20).to_be_bytes());
    wire.extend(too_big);
    let (got, why) = run(wire, 1000, &budget);
    assert_eq!(got, vec![Message::Text(Utf8Bytes::from_static("hello"))]);
    assert_eq!(why.as_deref(), Some("1009"));
}

#[test]
fn the_budget_counts_what_arrives_and_waits_then_refuses() {
    // 900 KiB fits the limit but not a budget of 512 KiB: 1013 once
    // the arrived bytes pass it and the wait is over.
    let small_budget = Budget::new(512 << 10);
    let big = frame(0x82, &vec![1u8; 900 << 10], [0; 4]);
    assert_eq!(run(big, 4096, &small_budget).1.as_deref(), Some("1013"));
    assert_eq!(small_budget.used(), 0);
}

#[test]
fn a_header_alone_holds_nothing_a_stalled_message_is_refused() {
    let budget = Budget::new(1 << 20);
    let whole = frame(0x82, &vec![1u8; 100_000], [0; 4]);
    // Only the header came, then silence: nothing is held, and the
    // timeout is the keepalive's (tungstenite reports it).
    let (_, why) = run_until_quiet(whole[..14].to_vec(), &budget);
    assert!(why.is_some_and(|w| w.contains("timed out") || w.contains("would block")));
    // Half came, then silence: the half is held, so 1008.
    let (_, why) = run_until_quiet(whole[..50_000].to_vec(), &budget);
    assert_eq!(why.as_deref(), Some("1008"));
    assert_eq!(budget.used(), 0);
}

#[test]
fn fragments_add_up_against_the_limit_and_the_budget() {
    // Two 600 KiB fragments: the second takes the message past 1 MiB.
    let part = vec![7u8; 600 << 10];
    let mut wire = frame(0x02, &part, [1, 2, 3, 4]);
    wire.extend(frame(0x80, &part, [1, 2, 3, 4]));
    let budget = Budget::new(4 << 20);
    assert_eq!(run(wire, 4096, &budget).1.as_deref(), Some("1009"));
    assert_eq!(budget.used(), 0, "the gate gives back what it took");
}
