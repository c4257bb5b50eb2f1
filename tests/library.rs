//! The public API, as a program embedding wshub uses it.

mod common;

use std::sync::Mutex;

use common::*;
use crossbeam_channel::{Sender, unbounded};
use tungstenite::Message as WsMessage;
use wshub::{Accepted, Client, ClientId, CloseInfo, Handler, Message, Refusal, Request, Server};

#[derive(Debug, PartialEq)]
enum Seen {
    Open(ClientId, String, Option<String>),
    Message(ClientId, Message),
    Close(ClientId, u16, String),
}

struct Recorder(Mutex<Sender<Seen>>);

impl Handler for Recorder {
    fn on_handshake(&self, request: &Request) -> Result<Accepted, Refusal> {
        match request.query_param("token").as_deref() {
            Some("secret") => Ok(Accepted::default()),
            _ => Err(Refusal::new(401, "a token is required")),
        }
    }
    fn on_open(&self, client: &Client, request: &Request) {
        let seen = Seen::Open(
            client.id(),
            request.path().into(),
            request.header("x-test").map(Into::into),
        );
        self.0.lock().unwrap().send(seen).unwrap();
    }
    fn on_message(&self, client: &Client, message: Message) {
        if message.as_text() == Some("panic") {
            panic!("the handler was asked to panic");
        }
        self.0
            .lock()
            .unwrap()
            .send(Seen::Message(client.id(), message))
            .unwrap();
    }
    fn on_close(&self, client: &Client, close: &CloseInfo) {
        let seen = Seen::Close(client.id(), close.code, close.reason.clone());
        self.0.lock().unwrap().send(seen).unwrap();
    }
}

fn connect_with_token(addr: std::net::SocketAddr) -> Ws {
    connect(addr, "/ws?token=secret")
}

#[test]
fn handler_sees_open_message_and_close_with_ids_and_codes() {
    let (tx, rx) = unbounded();
    let s = Server::new("127.0.0.1:0")
        .start(Recorder(Mutex::new(tx)))
        .unwrap();
    let mut ws = connect_with_token(s.local_addr());
    let Seen::Open(id, path, _) = rx.recv_timeout(WAIT).unwrap() else {
        panic!("no open")
    };
    assert_eq!(path, "/ws");
    ws.send(WsMessage::text("one")).unwrap();
    ws.send(WsMessage::binary(vec![2u8])).unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Seen::Message(id, Message::from("one"))
    );
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Seen::Message(id, Message::from(vec![2u8]))
    );
    assert_eq!(close_with(&mut ws, 4000), 4000);
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Seen::Close(id, 4000, String::new())
    );

    let mut second = connect_with_token(s.local_addr());
    let Seen::Open(id2, ..) = rx.recv_timeout(WAIT).unwrap() else {
        panic!("no open")
    };
    assert_ne!(id, id2);
    drop(second.get_mut().shutdown(std::net::Shutdown::Both));
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Seen::Close(id2, 1006, String::new())
    );
}

#[test]
fn refusal_from_the_handler_gives_its_status() {
    let (tx, _rx) = unbounded();
    let s = Server::new("127.0.0.1:0")
        .start(Recorder(Mutex::new(tx)))
        .unwrap();
    assert_eq!(try_connect(s.local_addr(), "/ws").unwrap_err(), "HTTP 401");
    assert_eq!(
        try_connect(s.local_addr(), "/ws?token=wrong").unwrap_err(),
        "HTTP 401"
    );
    assert!(try_connect(s.local_addr(), "/ws?token=secret").is_ok());
}

#[test]
fn broadcast_from_a_foreign_thread_reaches_all_and_send_reaches_one() {
    let (tx, rx) = unbounded();
    let s = Server::new("127.0.0.1:0")
        .start(Recorder(Mutex::new(tx)))
        .unwrap();
    let mut a = connect_with_token(s.local_addr());
    let mut b = connect_with_token(s.local_addr());
    let mut ids = Vec::new();
    for _ in 0..2 {
        let Seen::Open(id, ..) = rx.recv_timeout(WAIT).unwrap() else {
            panic!("no open")
        };
        ids.push(id);
    }
    let hub = s.hub();
    std::thread::spawn(move || hub.broadcast("to everyone").unwrap())
        .join()
        .unwrap();
    assert_eq!(next_text(&mut a), "to everyone");
    assert_eq!(next_text(&mut b), "to everyone");

    // Find which id is `a`: send to ids[0] and see who gets it.
    s.hub().send(ids[0], "just you").unwrap();
    s.hub().broadcast_except(ids[0], "not you").unwrap();
    let (first, second) = (next_text(&mut a), next_text(&mut b));
    let mut got = [first, second];
    got.sort();
    assert_eq!(got, ["just you".to_string(), "not you".to_string()]);

    // Closing one client with a code of our choosing.
    s.hub().close(ids[0], 4100, "bye").unwrap();
    s.hub().close(ids[1], 4100, "bye").unwrap();
    assert_eq!(close_code(&mut a), 4100);
    assert_eq!(close_code(&mut b), 4100);
}

#[test]
fn a_panicking_handler_closes_its_client_with_1011_and_others_carry_on() {
    let (tx, _rx) = unbounded();
    let s = Server::new("127.0.0.1:0")
        .start(Recorder(Mutex::new(tx)))
        .unwrap();
    let mut bad = connect_with_token(s.local_addr());
    bad.send(WsMessage::text("panic")).unwrap();
    assert_eq!(close_code(&mut bad), 1011);

    let echo = Server::new("127.0.0.1:0")
        .start(|c: &Client, m: Message| {
            if m.as_text() == Some("panic") {
                panic!("boom");
            }
            let _ = c.send(m);
        })
        .unwrap();
    let mut good = connect(echo.local_addr(), "/ws");
    let mut bad = connect(echo.local_addr(), "/ws");
    bad.send(WsMessage::text("panic")).unwrap();
    assert_eq!(close_code(&mut bad), 1011);
    good.send(WsMessage::text("fine")).unwrap();
    assert_eq!(next_text(&mut good), "fine");
}

#[test]
fn errors_read_like_sentences() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = Server::new(addr.clone())
        .start(wshub::modes::Echo)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot listen on {addr}: the address is already in use (is another server running? choose another port with --addr)"
        )
    );
    let err = Server::new("127.0.0.1:0")
        .www(Some("/no/such/dir"))
        .start(wshub::modes::Echo)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the www directory /no/such/dir does not exist"),
        "{err}"
    );
}
