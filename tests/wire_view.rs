//! The wire view under `--explain`: a view socket, linked by its secret,
//! gets the notes of its own connection and nobody else's; secrets and
//! credentials are never shown; the view is no client of the program and
//! a view that does not read never holds up what it watches.

mod common;

use std::net::{SocketAddr, TcpStream};

use common::explain::{collect_until, start_printing};
use common::*;
use tungstenite::client::IntoClientRequest;

const SECRET_A: &str = "0123456789abcdef0123456789abcdef";
const SECRET_B: &str = "fedcba9876543210fedcba9876543210";
const COOKIE: &str = "session=cookie-value-never-shown";
const BEARER: &str = "Bearer token-never-shown";

fn view(addr: SocketAddr, secret: &str) -> Ws {
    connect(addr, &format!("/wshub-wire?wire={secret}"))
}

/// A main connection naming `secret`, sending a cookie and a token.
fn watched(addr: SocketAddr, path: &str, secret: &str) -> Ws {
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!("ws://{addr}{path}{sep}wire={secret}");
    let mut req = url.into_client_request().unwrap();
    let headers = req.headers_mut();
    headers.insert("Cookie", COOKIE.parse().unwrap());
    headers.insert("Authorization", BEARER.parse().unwrap());
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    tungstenite::client(req, stream).expect("handshake").0
}

/// The view's notes up to and including the one that ends its
/// connection (bounded: each read waits at most `WAIT`).
fn notes_until_closed(view: &mut Ws) -> Vec<String> {
    let mut notes = Vec::new();
    while notes.len() < 10_000 {
        let note = next_text(view);
        let done = note.contains(r#""step":"closed""#);
        notes.push(note);
        if done {
            return notes;
        }
    }
    panic!("no end in {} notes", notes.len());
}

fn find<'a>(notes: &'a [String], parts: &[&str]) -> &'a str {
    notes
        .iter()
        .find(|n| parts.iter().all(|p| n.contains(p)))
        .unwrap_or_else(|| panic!("no note with {parts:?} in:\n{}", notes.join("\n")))
}

/// Closes normally; the server answers with the same code.
fn close(ws: &mut Ws) {
    assert_eq!(close_with(ws, 1000), 1000);
}

#[test]
fn a_view_shows_its_connection_step_by_step_and_never_a_secret() {
    let (_server, addr, terminal) = start_printing(&["--mode", "echo", "--explain"]);
    let mut v = view(addr, SECRET_A);
    let mut ws = watched(addr, "/ws", SECRET_A);
    let long: String = "0123456789".repeat(7_000);
    let texts = ["hello wire".to_string(), "x".repeat(300), long];
    for t in &texts {
        ws.send(t.as_str().into()).unwrap();
        assert_eq!(&next_text(&mut ws), t, "echo stays exact");
    }
    close(&mut ws);
    let notes = notes_until_closed(&mut v);
    let all = notes.join("\n");

    let step = field(&notes[0], "step");
    assert_eq!(step, "request", "the request comes first: {}", notes[0]);
    find(
        &notes,
        &[
            r#""step":"request""#,
            r#""text":"Upgrade: websocket","why":"#,
        ],
    );
    find(
        &notes,
        &[
            r#""text":"Sec-WebSocket-Key: "#,
            r#""why":"a random 16-byte"#,
        ],
    );
    // tungstenite sends these two header names in lower case.
    assert!(all.contains(r#""text":"cookie: (hidden)""#), "{all}");
    assert!(all.contains(r#""text":"authorization: (hidden)""#), "{all}");
    find(&notes, &["wire=(hidden)"]);
    let accept = find(&notes, &[r#""step":"accept""#, r#""section":"4.2.2""#]);
    let key = field(accept, "key");
    assert_eq!(field(accept, "accept"), wshub::accept_key(&key));
    find(
        &notes,
        &[r#""step":"response""#, "HTTP/1.1 101 Switching Protocols"],
    );

    // Each message, both ways, in its length form, with its text.
    for (len, form, start) in [
        (10, "7-bit", "hello wire"),
        (300, "16-bit", "xxxxxxxx"),
        (70_000, "64-bit", "0123456789"),
    ] {
        let length = format!(r#""length":{len},"#);
        let form = format!(r#""form":"{form}""#);
        let text = format!(r#""text":"{start}"#);
        let client = find(&notes, &[r#""from":"client""#, &length, &form, &text]);
        assert!(client.contains(r#""masked":true"#) && client.contains(r#""key":""#));
        assert!(client.contains(r#""opcode":1,"name":"text""#), "{client}");
        let server = find(&notes, &[r#""from":"server""#, &length, &form, &text]);
        assert!(server.contains(r#""masked":false"#), "{server}");
    }
    let cut = find(&notes, &[r#""length":70000,"#, r#""from":"client""#]);
    assert!(cut.contains(r#""cut":true"#) && cut.contains(r#""text_cut":true"#));
    assert!(cut.len() < 2_000, "a large payload is shown cut: {cut}");
    let first = find(&notes, &[r#""from":"client""#, r#""code":1000"#]);
    assert!(first.contains("starts the closing handshake"), "{first}");
    let answer = find(&notes, &[r#""from":"server""#, r#""code":1000"#]);
    assert!(answer.contains("closing handshake is complete"), "{answer}");

    // Nobody is shown a secret: not the view, not the terminal.
    let printed = collect_until(&terminal, "5. TCP connection closed");
    for hidden in [SECRET_A, "cookie-value-never-shown", "token-never-shown"] {
        assert!(!all.contains(hidden), "the view shows {hidden}");
        assert!(!printed.contains(hidden), "the terminal shows {hidden}");
    }
    assert!(printed.contains("> cookie: (hidden)"), "{printed}");
    // The view's own connection is not explained.
    assert!(!printed.contains("/wshub-wire"), "{printed}");
    assert_eq!(printed.matches("1. HTTP request").count(), 1, "{printed}");
}

#[test]
fn a_view_never_shows_another_connection() {
    let (_server, addr, _terminal) = start_printing(&["--mode", "echo", "--explain"]);
    let (mut va, mut vb) = (view(addr, SECRET_A), view(addr, SECRET_B));
    let mut a = watched(addr, "/ws", SECRET_A);
    let mut b = watched(addr, "/ws", SECRET_B);
    let mut plain = connect(addr, "/ws");
    for (ws, text) in [
        (&mut a, "from-a"),
        (&mut b, "from-b"),
        (&mut plain, "from-c"),
    ] {
        ws.send(text.into()).unwrap();
        assert_eq!(next_text(ws), text);
    }
    // B's traffic is all in before A ends, so it would show in A's view
    // before A's end if it leaked.
    close(&mut b);
    let b_notes = notes_until_closed(&mut vb);
    close(&mut a);
    let a_notes = notes_until_closed(&mut va);
    for (mine, theirs, notes) in [
        ("from-a", "from-b", &a_notes),
        ("from-b", "from-a", &b_notes),
    ] {
        let all = notes.join("\n");
        assert!(all.contains(mine), "{all}");
        assert!(!all.contains(theirs) && !all.contains("from-c"), "{all}");
        let conn = &notes[0][..notes[0].find(',').unwrap()];
        assert!(notes.iter().all(|n| n.starts_with(conn)), "{all}");
    }
}

#[test]
fn the_view_is_offered_only_with_explain_and_checks_its_secret() {
    let (_server, addr, _line) = start_binary(&["--mode", "echo"]);
    assert!(!get(addr, "/wshub.json").contains("wire"));
    let refused = try_connect(addr, &format!("/wshub-wire?wire={SECRET_A}"));
    assert_eq!(refused.err().as_deref(), Some("HTTP 404"));

    let (_server, addr, _terminal) = start_printing(&["--mode", "echo", "--explain"]);
    assert!(get(addr, "/wshub.json").contains(r#""wire":"/wshub-wire""#));
    for bad in ["", "?wire=short", "?wire=0123456789ABCDEF0123456789ABCDEF"] {
        let r = try_connect(addr, &format!("/wshub-wire{bad}"));
        assert_eq!(r.err().as_deref(), Some("HTTP 400"), "{bad}");
    }
    let _v = view(addr, SECRET_A);
    let taken = try_connect(addr, &format!("/wshub-wire?wire={SECRET_A}"));
    assert_eq!(taken.err().as_deref(), Some("HTTP 409"));
    // A connection naming a secret no view holds is simply not watched.
    let mut ws = watched(addr, "/ws", SECRET_B);
    ws.send("still echoed".into()).unwrap();
    assert_eq!(next_text(&mut ws), "still echoed");
}

#[test]
fn a_view_is_no_chat_member() {
    let (_server, addr, _terminal) = start_printing(&["--mode", "chat", "--explain"]);
    let mut other = connect(addr, "/ws");
    let welcome = expect(&mut other, "welcome");
    let mut v = view(addr, SECRET_A);
    let mut ws = watched(addr, "/ws", SECRET_A);
    let mine = expect(&mut ws, "welcome");
    let me = field(&mine, "name");
    // Only the two people are online, and the other hears of one join.
    let online = &mine[mine.find(r#""online""#).unwrap()..];
    assert_eq!(online.matches("guest-").count(), 2, "{mine}");
    let join = expect(&mut other, "join");
    assert_eq!(field(&join, "name"), me);
    ws.send("hi all".into()).unwrap();
    let heard = expect(&mut other, "message");
    assert_eq!(field(&heard, "text"), "hi all");
    assert!(!welcome.contains(&me));
    close(&mut ws);
    let left = expect(&mut other, "leave");
    assert_eq!(field(&left, "name"), me);
    let notes = notes_until_closed(&mut v);
    find(&notes, &[r#""from":"client""#, r#""text":"hi all""#]);
}

#[test]
fn a_view_that_does_not_read_never_holds_up_its_connection() {
    let (_server, addr, _terminal) =
        start_printing(&["--mode", "echo", "--explain", "--metrics", "--queue", "64"]);
    // A view that completes its handshake and then never reads. Its 101
    // says the secret is claimed, as a page waits for the view to open
    // before it opens its connection.
    let idle = raw_ws_at(addr, &format!("/wshub-wire?wire={SECRET_A}"));
    let mut ws = watched(addr, "/ws", SECRET_A);
    let metric = |name: &str| -> u64 {
        let m = get(addr, "/metrics");
        let line = m.lines().find(|l| l.starts_with(name)).expect(name);
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let mut sent = 0;
    while metric("wshub_clients_closed_too_slow_total") == 0 {
        assert!(sent < 50_000, "the view was never closed");
        for i in 0..500 {
            let text = format!("message {sent} {i}");
            ws.send(text.as_str().into()).unwrap();
            assert_eq!(next_text(&mut ws), text, "echo stays exact");
        }
        sent += 500;
    }
    for i in 0..100 {
        let text = format!("after {i}");
        ws.send(text.as_str().into()).unwrap();
        assert_eq!(next_text(&mut ws), text);
    }
    close(&mut ws);
    drop(idle);
    wait_until("every connection is gone", || {
        metric("wshub_connections_open") == 0
    });
    wait_until("the budget is given back", || {
        metric("wshub_memory_budget_used_bytes") == 0
    });
}

#[test]
fn a_program_broadcast_never_reaches_a_view() {
    let echo = |c: &wshub::Client, m: wshub::Message| {
        let _ = c.send(m);
    };
    let running = wshub::Server::new("127.0.0.1:0")
        .explain(true)
        .start(echo)
        .unwrap();
    let addr = running.local_addr();
    let mut v = view(addr, SECRET_A);
    let mut ws = watched(addr, "/ws", SECRET_A);
    ws.send("first".into()).unwrap();
    assert_eq!(next_text(&mut ws), "first");
    running.hub().broadcast("news for everyone").unwrap();
    assert_eq!(next_text(&mut ws), "news for everyone");
    close(&mut ws);
    let notes = notes_until_closed(&mut v);
    assert!(
        notes.iter().all(|n| n.starts_with(r#"{"conn":"#)),
        "the view got something other than notes: {notes:?}"
    );
    find(
        &notes,
        &[r#""from":"server""#, r#""text":"news for everyone""#],
    );
    running.shutdown();
}

#[test]
fn at_shutdown_a_view_sees_its_connection_end_before_its_own() {
    let (mut server, addr, _terminal) = start_printing(&["--mode", "echo", "--explain"]);
    let mut v = view(addr, SECRET_A);
    let mut ws = watched(addr, "/ws", SECRET_A);
    ws.send("before the stop".into()).unwrap();
    assert_eq!(next_text(&mut ws), "before the stop");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    assert_eq!(close_code(&mut ws), 1001);
    let mut notes = Vec::new();
    let code = loop {
        match v.read().expect("the view's socket ends with a close") {
            tungstenite::Message::Text(t) => notes.push(t.to_string()),
            tungstenite::Message::Close(f) => break f.map(|f| u16::from(f.code)),
            _ => {}
        }
    };
    assert_eq!(code, Some(1001));
    find(&notes, &[r#""from":"server""#, r#""code":1001"#]);
    find(&notes, &[r#""step":"closed""#]);
    assert!(server.wait().unwrap().success());
}

#[test]
fn the_endpoint_cannot_take_the_views_path() {
    let err = wshub::Server::new("127.0.0.1:0")
        .explain(true)
        .ws_path("/wshub-wire")
        .start(|_: &wshub::Client, _: wshub::Message| {});
    let Err(err) = err else {
        panic!("started on the view's path")
    };
    assert!(
        err.to_string().contains("choose another --ws-path"),
        "{err}"
    );
}
