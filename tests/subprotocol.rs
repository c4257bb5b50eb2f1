//! Subprotocols (RFC 6455 sections 4.1 and 4.2.2): what the client offers
//! reaches the handler, the pick reaches the 101, `on_open` and the
//! `Client`; bad offers and bad picks get a clear HTTP answer.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};

use common::*;
use crossbeam_channel::{Receiver, Sender, unbounded};
use tungstenite::Message as WsMessage;
use tungstenite::client::IntoClientRequest;
use wshub::{Accepted, Client, Error, Handler, Message, Refusal, Request, Server};

#[derive(Debug, PartialEq)]
enum Seen {
    /// What `on_handshake` saw offered.
    Offer(Vec<String>),
    /// What `client.protocol()` said in `on_open`.
    Open(Option<String>),
}

/// Picks the first offered name it speaks (or `pick`, if set, whatever the
/// offer), and echoes each message prefixed with `client.protocol()`.
struct Picker {
    speaks: &'static [&'static str],
    pick: Option<&'static str>,
    seen: Mutex<Sender<Seen>>,
}

impl Handler for Picker {
    fn on_handshake(&self, request: &Request) -> Result<Accepted, Refusal> {
        let offer = request.protocols().map(String::from).collect();
        self.seen.lock().unwrap().send(Seen::Offer(offer)).unwrap();
        if let Some(p) = self.pick {
            return Ok(Accepted::protocol(p));
        }
        Ok(
            match request.protocols().find(|p| self.speaks.contains(p)) {
                Some(p) => Accepted::protocol(p),
                None => Accepted::default(),
            },
        )
    }
    fn on_open(&self, client: &Client, _request: &Request) {
        let seen = Seen::Open(client.protocol().map(String::from));
        self.seen.lock().unwrap().send(seen).unwrap();
    }
    fn on_message(&self, client: &Client, message: Message) {
        let text = message.as_text().unwrap_or("");
        let _ = client.send(format!("{:?} {text}", client.protocol()));
    }
}

fn picker(
    server: Server,
    speaks: &'static [&'static str],
    pick: Option<&'static str>,
) -> (wshub::Running, Receiver<Seen>) {
    let (tx, rx) = unbounded();
    let handler = Picker {
        speaks,
        pick,
        seen: Mutex::new(tx),
    };
    (server.start(handler).unwrap(), rx)
}

fn server() -> Server {
    Server::new("127.0.0.1:0")
}

/// A real tungstenite client offering `offer` as one header; the socket
/// and the protocol the 101 named, or `HTTP <status>`, or the error.
fn connect_offering(addr: SocketAddr, offer: &str) -> Result<(Ws, Option<String>), String> {
    let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", offer.parse().unwrap());
    match tungstenite::client(request, stream) {
        Ok((ws, response)) => {
            let chosen = response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().unwrap().to_string());
            Ok((ws, chosen))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            Err(format!("HTTP {}", resp.status().as_u16()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The value of `name` in a response head, if present.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn offer(names: &[&str]) -> Seen {
    Seen::Offer(names.iter().map(|s| s.to_string()).collect())
}

/// Log lines from the library, for the lines a user must be able to act on.
/// Called first by a test that looks for one, so the logger is in place.
fn logs() -> &'static Mutex<Vec<String>> {
    struct Capture(Mutex<Vec<String>>);
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            if record.target().starts_with("wshub") {
                self.0.lock().unwrap().push(record.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).unwrap();
        log::set_max_level(log::LevelFilter::Info);
        c
    });
    &capture.0
}

/// The captured log line that mentions `peer` and contains `text`.
fn logged(peer: &str, text: &str) -> Option<String> {
    logs()
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains(peer) && l.contains(text))
        .cloned()
}

#[test]
fn a_client_offering_several_gets_the_handlers_pick_in_the_101_on_open_and_the_client() {
    let (s, rx) = picker(server(), &["chat.v1", "chat.v2"], None);
    let (mut ws, chosen) = connect_offering(s.local_addr(), "x, chat.v2, chat.v1").unwrap();
    // The client's order decides among the names the handler speaks.
    assert_eq!(chosen.as_deref(), Some("chat.v2"));
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        offer(&["x", "chat.v2", "chat.v1"])
    );
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Seen::Open(Some("chat.v2".into()))
    );
    // The Client keeps it after on_open, when the request is gone.
    ws.send(WsMessage::text("hi")).unwrap();
    assert_eq!(next_text(&mut ws), "Some(\"chat.v2\") hi");
}

#[test]
fn the_offer_spans_every_header_in_order_and_skips_empty_elements() {
    let (s, rx) = picker(server(), &["chat.v2"], None);
    let extra = "Sec-WebSocket-Protocol: a, ,b,\r\nSec-WebSocket-Protocol: chat.v2\r\n";
    let head = http_head(
        s.local_addr(),
        &upgrade_request(s.local_addr(), "/ws", extra),
    );
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Protocol"), Some("chat.v2"));
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        offer(&["a", "b", "chat.v2"])
    );
}

#[test]
fn a_client_offering_none_is_served_as_before() {
    let (s, rx) = picker(server().protocols(["chat.v2"]), &["chat.v2"], None);
    let mut ws = connect(s.local_addr(), "/ws");
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), offer(&[]));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Seen::Open(None));
    ws.send(WsMessage::text("hi")).unwrap();
    assert_eq!(next_text(&mut ws), "None hi");
    let head = http_head(s.local_addr(), &upgrade_request(s.local_addr(), "/ws", ""));
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Protocol"), None, "{head}");
}

#[test]
fn a_handler_picking_a_name_the_client_did_not_offer_gets_500_and_a_log_line_naming_both() {
    logs();
    let (s, rx) = picker(server(), &[], Some("not.offered"));
    assert_eq!(
        connect_offering(s.local_addr(), "a, b").unwrap_err(),
        "HTTP 500"
    );
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), offer(&["a", "b"]));
    // Offering nothing at all, the pick is just as wrong.
    let mut probe = TcpStream::connect(s.local_addr()).unwrap();
    let peer = probe.local_addr().unwrap().to_string();
    probe.set_read_timeout(Some(WAIT)).unwrap();
    std::io::Write::write_all(
        &mut probe,
        upgrade_request(s.local_addr(), "/ws", "").as_bytes(),
    )
    .unwrap();
    let mut response = String::new();
    let _ = std::io::Read::read_to_string(&mut probe, &mut response);
    assert_eq!(status(&response), 500, "{response}");
    assert!(
        response.contains("a subprotocol the client did not offer"),
        "{response}"
    );
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), offer(&[]));
    // The 500 was sent after the decision, so on_open would have come first.
    assert!(
        rx.try_recv().is_err(),
        "on_open ran for a refused handshake"
    );
    wait_until("the log line about the bad pick", || {
        logged(&peer, "\"not.offered\"").is_some()
    });
    let line = logged(&peer, "\"not.offered\"").unwrap();
    assert!(line.contains("did not offer"), "{line}");
}

#[test]
fn malformed_or_repeated_offers_get_400_before_the_handler_sees_them() {
    let (s, rx) = picker(server(), &["chat"], None);
    let addr = s.local_addr();
    for (extra, why) in [
        (
            "Sec-WebSocket-Protocol: chat v2\r\n",
            "not a valid subprotocol name",
        ),
        (
            "Sec-WebSocket-Protocol: chat/1\r\n",
            "not a valid subprotocol name",
        ),
        ("Sec-WebSocket-Protocol: chat, chat\r\n", "twice"),
        (
            "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: x, chat\r\n",
            "twice",
        ),
    ] {
        let response = http(addr, &upgrade_request(addr, "/ws", extra));
        assert_eq!(status(&response), 400, "{extra}: {response}");
        assert!(response.contains(why), "{extra}: {response}");
    }
    assert!(rx.try_recv().is_err(), "the handler saw a malformed offer");
    // The server is unharmed.
    assert_eq!(
        connect_offering(addr, "chat").unwrap().1.as_deref(),
        Some("chat")
    );
}

#[test]
fn server_protocols_pick_the_clients_first_listed_name_and_a_handlers_pick_wins() {
    let echo = |client: &Client, msg: Message| {
        let _ = client.send(msg);
    };
    let s = server()
        .protocols(["chat.v1", "chat.v2"])
        .start(echo)
        .unwrap();
    let (_ws, chosen) = connect_offering(s.local_addr(), "chat.v2, chat.v1").unwrap();
    assert_eq!(chosen.as_deref(), Some("chat.v2"));

    let (s, rx) = picker(server().protocols(["chat.v2"]), &[], Some("chat.v1"));
    let (_ws, chosen) = connect_offering(s.local_addr(), "chat.v2, chat.v1").unwrap();
    assert_eq!(chosen.as_deref(), Some("chat.v1"));
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        offer(&["chat.v2", "chat.v1"])
    );
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Seen::Open(Some("chat.v1".into()))
    );
}

#[test]
fn an_offer_nothing_matches_gets_a_101_without_the_header_and_a_log_line_saying_how_to_allow_it() {
    logs();
    let s = server()
        .protocols(["chat.v2"])
        .start(|_: &Client, _: Message| {})
        .unwrap();
    let addr = s.local_addr();
    let mut probe = TcpStream::connect(addr).unwrap();
    let peer = probe.local_addr().unwrap().to_string();
    probe.set_read_timeout(Some(WAIT)).unwrap();
    let request = upgrade_request(addr, "/ws", "Sec-WebSocket-Protocol: mqtt\r\n");
    std::io::Write::write_all(&mut probe, request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(std::io::Read::read(&mut probe, &mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    // RFC 6455 allows it; the client decides (a browser fails it).
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Protocol"), None, "{head}");
    wait_until("the log line about the unanswered offer", || {
        logged(&peer, "[mqtt]").is_some()
    });
    let line = logged(&peer, "[mqtt]").unwrap();
    assert!(line.contains("--protocol NAME"), "{line}");
    assert!(line.contains("Server::protocols"), "{line}");
}

#[test]
fn an_invalid_name_in_server_protocols_is_refused_at_start() {
    let err = server()
        .protocols(["chat.v2", "chat v3"])
        .start(|_: &Client, _: Message| {})
        .unwrap_err();
    match err {
        Error::Config(why) => assert!(why.contains("\"chat v3\""), "{why}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn the_binary_accepts_the_protocols_given_with_the_flag() {
    let (mut child, addr, _) = start_binary(&[
        "--mode",
        "echo",
        "--protocol",
        "chat.v1",
        "--protocol",
        "chat.v2",
    ]);
    let result = connect_offering(addr, "x, chat.v2");
    let (mut ws, chosen) = result.unwrap();
    assert_eq!(chosen.as_deref(), Some("chat.v2"));
    ws.send(WsMessage::text("hi")).unwrap();
    assert_eq!(next_text(&mut ws), "hi");
    // Without the flag nothing is chosen, and the client fails the
    // connection as a browser does.
    let (mut plain, addr, _) = start_binary(&["--mode", "echo"]);
    let err = connect_offering(addr, "chat.v2").unwrap_err();
    assert!(err.contains("subprotocol"), "{err}");
    for c in [&mut child, &mut plain] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

#[test]
fn explain_shows_the_offer_and_the_101_naming_the_choice() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wshub"))
        .args(["--addr", "127.0.0.1:0", "--mode", "echo", "--explain"])
        .args(["--protocol", "chat.v2"])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = unbounded();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines.recv_timeout(WAIT).unwrap();
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .expect(&first);
    let (_ws, chosen) = connect_offering(addr, "x, chat.v2").unwrap();
    assert_eq!(chosen.as_deref(), Some("chat.v2"));
    let mut seen = Vec::new();
    let wanted = [
        "> Sec-WebSocket-Protocol: x, chat.v2   <- subprotocols the client speaks",
        "< Sec-WebSocket-Protocol: chat.v2",
        "From here on both sides speak in WebSocket frames",
    ];
    while !wanted
        .iter()
        .all(|w| seen.iter().any(|l: &String| l.contains(w)))
    {
        match lines.recv_timeout(WAIT) {
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "--explain never showed {wanted:?}; it showed:\n{}",
                seen.join("\n")
            ),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
