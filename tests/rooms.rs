//! Chat rooms and their history, and broadcast topics: isolation, order,
//! bounds, and the rules for names visitors choose.

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message as WsMessage;
use wshub::{Running, Server, modes};

fn chat(room: modes::Chat) -> Running {
    Server::new("127.0.0.1:0").start(room).unwrap()
}

/// A chat that does not rate-limit these tests, which send faster than a
/// person.
fn fast() -> modes::Chat {
    modes::Chat::with_rate_limit(1e6, 1_000_000)
}

/// Connects to `room` (the lobby for `None`) and returns the socket, its
/// welcome and its name.
fn enter(addr: SocketAddr, room: Option<&str>) -> (Ws, String, String) {
    let path = match room {
        Some(room) => format!("/ws?room={room}"),
        None => "/ws".to_string(),
    };
    let mut ws = connect(addr, &path);
    let welcome = expect(&mut ws, "welcome");
    let name = field(&welcome, "name");
    (ws, welcome, name)
}

fn say(ws: &mut Ws, text: &str) {
    ws.send(WsMessage::text(text)).unwrap();
}

#[test]
fn rooms_isolate_and_every_notice_names_its_room() {
    let s = chat(fast());
    let addr = s.local_addr();
    let (mut lobby, welcome, _) = enter(addr, None);
    assert_eq!(field(&welcome, "room"), "lobby");
    let (mut k1, welcome, k1_name) = enter(addr, Some("kitchen"));
    assert_eq!(field(&welcome, "room"), "kitchen");
    assert!(
        welcome.contains(&format!(r#""online":["{k1_name}"]"#)),
        "{welcome}"
    );
    let (mut k2, _, k2_name) = enter(addr, Some("kitchen"));
    let join = expect(&mut k1, "join");
    assert_eq!(
        (field(&join, "room"), field(&join, "name")),
        ("kitchen".into(), k2_name)
    );

    say(&mut k1, "in the kitchen");
    say(&mut lobby, "in the lobby");
    for ws in [&mut k1, &mut k2] {
        let m = expect(ws, "message");
        assert_eq!(field(&m, "text"), "in the kitchen");
        assert_eq!(field(&m, "room"), "kitchen");
    }
    // The lobby's first message is its own: nothing from the kitchen, not
    // even the join.
    let m = expect(&mut lobby, "message");
    assert_eq!(field(&m, "text"), "in the lobby");
    assert_eq!(field(&m, "room"), "lobby");

    // A rename goes to the renamer's room only; names are unique across
    // rooms.
    say(&mut k1, "/nick ada");
    for ws in [&mut k1, &mut k2] {
        let r = expect(ws, "rename");
        assert_eq!(field(&r, "room"), "kitchen");
        assert_eq!(field(&r, "to"), "ada");
    }
    say(&mut lobby, "/nick ada");
    assert!(expect(&mut lobby, "error").contains("taken"));

    assert_eq!(close_with(&mut k1, 1000), 1000);
    let leave = expect(&mut k2, "leave");
    assert_eq!(field(&leave, "room"), "kitchen");
    assert_eq!(field(&leave, "name"), "ada");
    say(&mut lobby, "still alone");
    assert_eq!(field(&expect(&mut lobby, "message"), "text"), "still alone");
}

#[test]
fn history_comes_first_in_order_marked_and_within_its_bounds() {
    let s = chat(fast().history(3, 64 * 1024));
    let addr = s.local_addr();
    let (mut a, _, _) = enter(addr, Some("kitchen"));
    for i in 1..=5 {
        say(&mut a, &format!("m{i}"));
        expect(&mut a, "message");
    }
    // Keep talking while the newcomer connects: whatever it misses from
    // the history it gets live, and nothing twice.
    let talker = std::thread::spawn(move || {
        for i in 6..=40 {
            say(&mut a, &format!("m{i}"));
        }
        a
    });
    let (mut b, _, _) = enter(addr, Some("kitchen"));
    let mut seen = Vec::new();
    let mut live = false;
    let mut kept = 0;
    while seen.last() != Some(&40) {
        let m = next_text(&mut b);
        if m.starts_with(r#"{"type":"join""#) {
            continue;
        }
        let history = m.contains(r#""history":true"#);
        assert!(!(live && history), "history after a live message: {m}");
        live |= !history;
        kept += usize::from(history);
        let n: u32 = field(&m, "text")[1..].parse().unwrap();
        seen.push(n);
    }
    assert_eq!(kept, 3, "the last 3 as history: {seen:?}");
    let first = seen[0];
    assert_eq!(seen, (first..=40).collect::<Vec<_>>(), "no gap, no double");
    // The talker hears its own 35 messages and b's join, in some order.
    let mut a = talker.join().unwrap();
    let mut mine = 0;
    while mine < 35 {
        mine += usize::from(!next_text(&mut a).starts_with(r#"{"type":"join""#));
    }

    // A room's history is bounded in bytes too: each message here is some
    // 100 bytes of JSON, so 250 bytes keep 2.
    let s = chat(fast().history(100, 250));
    let (mut a, _, _) = enter(s.local_addr(), Some("hall"));
    for i in 1..=5 {
        say(&mut a, &format!("b{i}"));
        expect(&mut a, "message");
    }
    let (mut b, _, _) = enter(s.local_addr(), Some("hall"));
    for i in 4..=5 {
        let m = expect(&mut b, "message");
        assert!(m.contains(r#""history":true"#), "{m}");
        assert_eq!(field(&m, "text"), format!("b{i}"));
    }
    say(&mut b, "live");
    let m = expect(&mut b, "message");
    assert_eq!(field(&m, "text"), "live", "only two were kept");

    // --history 0 keeps none.
    let s = chat(fast().history(0, 64 * 1024));
    let (mut a, _, _) = enter(s.local_addr(), None);
    say(&mut a, "gone");
    expect(&mut a, "message");
    let (mut b, _, _) = enter(s.local_addr(), None);
    say(&mut b, "first");
    assert_eq!(field(&expect(&mut b, "message"), "text"), "first");
}

#[test]
fn history_counts_against_the_memory_budget() {
    let s = chat(fast().history(10, 64 * 1024));
    let (mut a, _, _) = enter(s.local_addr(), None);
    let idle = s.hub().memory_in_use();
    let line = "x".repeat(1000);
    for _ in 0..10 {
        say(&mut a, &line);
        expect(&mut a, "message");
    }
    // Ten messages of 1,000 bytes are kept, with their JSON; the frames
    // sent are gone once written.
    wait_until("the history counted, and only it", || {
        let used = s.hub().memory_in_use();
        (idle + 10 * 1000..idle + 12 * 1000).contains(&used)
    });
}

#[test]
fn join_moves_a_client_with_its_name_and_nothing_of_the_old_room_follows() {
    let s = chat(fast());
    let addr = s.local_addr();
    let (mut me, _, _) = enter(addr, None);
    say(&mut me, "/nick ada");
    expect(&mut me, "rename");
    let (mut other, _, _) = enter(addr, None);
    expect(&mut me, "join");
    let (mut kitchen, _, _) = enter(addr, Some("kitchen"));

    // The lobby is busy while `me` leaves it.
    let talker = std::thread::spawn(move || {
        for i in 0..300 {
            say(&mut other, &format!("lobby {i}"));
        }
        other
    });
    say(&mut me, "/join kitchen");
    let welcome = loop {
        let m = next_text(&mut me);
        if m.starts_with(r#"{"type":"welcome""#) {
            break m;
        }
        assert_eq!(field(&m, "room"), "lobby", "before the welcome: {m}");
    };
    assert_eq!(field(&welcome, "room"), "kitchen");
    assert_eq!(field(&welcome, "name"), "ada", "the name is kept");
    let join = expect(&mut kitchen, "join");
    assert_eq!(field(&join, "name"), "ada");
    let mut other = talker.join().unwrap();
    say(&mut me, "hello kitchen");
    let m = expect(&mut me, "message");
    assert_eq!(field(&m, "room"), "kitchen", "nothing from the lobby after");
    assert_eq!(field(&m, "text"), "hello kitchen");
    let m = expect(&mut kitchen, "message");
    assert_eq!(field(&m, "text"), "hello kitchen");
    // The lobby saw ada leave, after its own messages were sent.
    loop {
        let m = next_text(&mut other);
        if m.starts_with(r#"{"type":"leave""#) {
            assert_eq!(field(&m, "name"), "ada");
            break;
        }
    }
    say(&mut me, "/join kitchen");
    assert!(expect(&mut me, "error").contains("already"));
    say(&mut me, "/join bad name");
    assert!(expect(&mut me, "error").contains("1 to 32 letters"));
}

#[test]
fn room_names_and_the_room_limit_hold() {
    let s = chat(fast().max_rooms(2));
    let addr = s.local_addr();
    // Two rooms besides the lobby.
    let (mut lobby, _, _) = enter(addr, None);
    let (mut kitchen, _, _) = enter(addr, Some("kitchen"));
    let (_hall, _, _) = enter(addr, Some("hall"));
    say(&mut kitchen, "a line of history");
    expect(&mut kitchen, "message");

    // A third room: an error, then 1013 (try again later).
    let mut third = connect(addr, "/ws?room=attic");
    assert!(expect(&mut third, "error").contains("limit"));
    assert_eq!(close_code(&mut third), 1013);
    say(&mut lobby, "/join attic");
    assert!(expect(&mut lobby, "error").contains("limit"));
    // The lobby is not one of them: it always lets people in.
    let (_more, welcome, _) = enter(addr, None);
    assert_eq!(field(&welcome, "room"), "lobby");

    // Names visitors cannot choose are refused at the handshake, and so
    // are names that are not valid percent-encoded UTF-8.
    for bad in ["a%20b", "%3Cb%3E", &"x".repeat(33), "", "%FF", "ab%"] {
        let got = try_connect(addr, &format!("/ws?room={bad}")).err();
        assert_eq!(got.as_deref(), Some("HTTP 400"), "room={bad:?}");
    }

    // An empty room that keeps history gives way to a new one, once its
    // last member's close has been handled.
    assert_eq!(close_with(&mut kitchen, 1000), 1000);
    let mut attic = None;
    wait_until("the kitchen gives way", || {
        let mut ws = connect(addr, "/ws?room=attic");
        let first = next_text(&mut ws);
        let entered = first.starts_with(r#"{"type":"welcome""#);
        attic = entered.then_some(ws);
        entered
    });
    // Now the hall and the attic have members: no room for the kitchen.
    let mut again = connect(addr, "/ws?room=kitchen");
    expect(&mut again, "error");
    assert_eq!(close_code(&mut again), 1013);

    // Someone alone in a room without history may move at the limit: the
    // room it leaves goes.
    let mut attic = attic.unwrap();
    say(&mut attic, "/join cellar");
    let welcome = expect(&mut attic, "welcome");
    assert_eq!(field(&welcome, "room"), "cellar");
}

#[test]
fn no_number_of_rooms_keeps_anyone_out_of_the_lobby() {
    let s = chat(fast().max_rooms(3));
    let addr = s.local_addr();
    let _crowd: Vec<_> = ["r1", "r2", "r3"]
        .iter()
        .map(|room| enter(addr, Some(room)))
        .collect();
    let (_ws, welcome, _) = enter(addr, None);
    assert_eq!(field(&welcome, "room"), "lobby");
    let (_ws, welcome, _) = enter(addr, Some("lobby"));
    assert_eq!(field(&welcome, "room"), "lobby");
}

/// Publishes probes to `topic` until `ws` hears one (its subscription is
/// in place once the server has run its `on_open`, a little after the 101)
/// and returns what it heard: the probe, or the server's close frame.
fn probe(s: &Running, ws: &mut Ws, topic: &str) -> WsMessage {
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let heard = loop {
        s.hub().publish(topic, "probe").unwrap();
        match ws.read() {
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => {}
            Ok(m) => break m,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "{topic}: never heard a probe");
    };
    ws.get_ref().set_read_timeout(Some(WAIT)).unwrap();
    heard
}

/// Reads until `marker`, dropping the probes before it.
fn skip_to(ws: &mut Ws, marker: &str) {
    while next_text(ws) != marker {}
}

#[test]
fn broadcast_topics_isolate_and_are_bounded() {
    let s = Server::new("127.0.0.1:0")
        .start(modes::Relay::with_max_topics(2))
        .unwrap();
    let addr = s.local_addr();
    let mut clients = [
        ("topic:prices", connect(addr, "/ws?topic=prices")),
        ("topic:prices", connect(addr, "/ws?topic=prices")),
        ("topic:news", connect(addr, "/ws?topic=news")),
        ("topic", connect(addr, "/ws")),
        ("topic", connect(addr, "/ws")),
    ];
    for (topic, ws) in &mut clients {
        assert_eq!(probe(&s, ws, topic), WsMessage::text("probe"));
    }
    for topic in ["topic:prices", "topic:news", "topic"] {
        s.hub().publish(topic, "ready").unwrap();
    }
    for (_, ws) in &mut clients {
        skip_to(ws, "ready");
    }
    let [(_, a), (_, b), (_, c), (_, d), (_, e)] = &mut clients;

    a.send(WsMessage::text("price 1")).unwrap();
    d.send(WsMessage::text("for those without a topic"))
        .unwrap();
    c.send(WsMessage::text("news to no one else")).unwrap();
    assert_eq!(next_text(b), "price 1");
    assert_eq!(next_text(e), "for those without a topic");
    // a, c and d got nothing: their next message is this one.
    b.send(WsMessage::text("to a")).unwrap();
    assert_eq!(next_text(a), "to a");
    e.send(WsMessage::text("to d")).unwrap();
    assert_eq!(next_text(d), "to d");
    s.hub().publish("topic:news", "for c").unwrap();
    assert_eq!(next_text(c), "for c");

    // Two named topics are the limit here; no topic is always allowed.
    let mut third = connect(addr, "/ws?topic=sport");
    assert_eq!(close_code(&mut third), 1013);
    let mut plain = connect(addr, "/ws");
    assert_eq!(probe(&s, &mut plain, "topic"), WsMessage::text("probe"));
    for bad in ["a/b", "%FF"] {
        let got = try_connect(addr, &format!("/ws?topic={bad}")).err();
        assert_eq!(got.as_deref(), Some("HTTP 400"), "topic={bad:?}");
    }
    // Once news is gone, sport fits.
    assert_eq!(close_with(c, 1000), 1000);
    wait_until("a free topic", || {
        let mut ws = connect(addr, "/ws?topic=sport");
        probe(&s, &mut ws, "topic:sport") == WsMessage::text("probe")
    });
}

/// A welcome is what tells a client where it is: one the memory budget
/// cannot take closes the client with 1013 rather than leave it lost.
#[test]
fn a_welcome_the_budget_cannot_take_closes_with_1013() {
    let s = Server::new("127.0.0.1:0")
        .max_message_size(64 * 1024)
        .memory_budget(256 * 1024)
        .start(fast().history(1000, 1 << 20))
        .unwrap();
    let addr = s.local_addr();
    // A room whose welcome is over 4 KiB: 140 names of 32 characters.
    let mut crowd = Vec::new();
    for i in 0..140 {
        let (mut ws, _, _) = enter(addr, Some("big"));
        say(&mut ws, &format!("/nick {i:0>32}"));
        expect(&mut ws, "rename");
        crowd.push(ws);
    }
    // Small messages are always taken: kept as history in another room,
    // they hold the budget past its limit.
    let (mut filler, _, _) = enter(addr, Some("fill"));
    let line = "x".repeat(3900);
    for _ in 0..80 {
        say(&mut filler, &line);
        expect(&mut filler, "message");
    }
    assert!(s.hub().memory_in_use() > 256 * 1024);
    let mut late = connect(addr, "/ws?room=big");
    assert_eq!(close_code(&mut late), 1013);
    // The crowd is still served.
    say(&mut crowd[0], "still here");
    while !next_text(&mut crowd[1]).contains("still here") {}
}
