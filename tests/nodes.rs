//! Several nodes sharing a real Redis (`--redis`): chat rooms, presence,
//! names and history across nodes, broadcast topics across nodes, and the
//! faults: a node killed with SIGKILL, Redis stopped and started again.
//! Each test starts its own redis-server (no persistence) and its own
//! `wshub` processes, on free loopback ports.
#![cfg(feature = "redis")]

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::*;
use tungstenite::Message as WsMessage;

/// How long a node may stay silent before the others drop its members
/// (`nodes::GONE_AFTER`), and one beat more for the news to travel.
const GONE_BOUND: Duration = Duration::from_secs(7);

/// A `wshub` node on `redis`, once it is connected to it.
fn node(redis: &RedisServer, args: &[&str]) -> (Binary, SocketAddr) {
    let url = redis.url();
    let mut all = vec!["--redis", url.as_str(), "--metrics"];
    all.extend_from_slice(args);
    let (bin, addr, _) = start_binary(&all);
    wait_connected(addr, true);
    (bin, addr)
}

/// Waits until the node's /metrics says it is (or is not) connected.
fn wait_connected(addr: SocketAddr, up: bool) {
    let line = format!("\nwshub_redis_connected {}\n", u8::from(up));
    wait_until("the node's Redis link", || {
        get(addr, "/metrics").contains(&line)
    });
}

fn chat(addr: SocketAddr, path: &str) -> (Ws, String) {
    let mut ws = connect(addr, path);
    let welcome = expect(&mut ws, "welcome");
    (ws, welcome)
}

/// The names in a welcome's `online` list.
fn online(welcome: &str) -> Vec<String> {
    let list = &welcome[welcome.find(r#""online":["#).unwrap() + 10..];
    let list = &list[..list.find(']').unwrap()];
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches('"').to_string())
        .collect()
}

/// The next message if one comes within `ms` milliseconds; reads wait
/// up to `WAIT` again afterwards.
fn within(ws: &mut Ws, ms: u64) -> Option<WsMessage> {
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(ms)))
        .unwrap();
    let got = ws.read().ok();
    ws.get_ref().set_read_timeout(Some(WAIT)).unwrap();
    got
}

/// Reads until a message of `kind` whose text contains `needle`, skipping
/// the others (notices of other clients, say).
fn until(ws: &mut Ws, kind: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no {kind} with {needle}");
        let text = next_text(ws);
        if text.starts_with(&format!(r#"{{"type":"{kind}""#)) && text.contains(needle) {
            return text;
        }
    }
}

/// Joins a chat on `addr` and waits until the client `watcher` (on any
/// node) has seen it arrive: the nodes then know of each other's clients.
fn join_seen(addr: SocketAddr, path: &str, watcher: &mut Ws) -> (Ws, String) {
    let (ws, welcome) = chat(addr, path);
    let name = field(&welcome, "name");
    until(watcher, "join", &format!(r#""name":"{name}""#));
    (ws, name)
}

#[test]
fn one_room_spans_two_nodes_in_order_with_presence() {
    let redis = RedisServer::start();
    let (_a, a) = node(&redis, &["--rate", "1000", "--burst", "1000"]);
    let (_b, b) = node(&redis, &[]);

    let (mut ada, ada_welcome) = chat(a, "/ws");
    let ada_name = field(&ada_welcome, "name");
    let (mut bob, bob_name) = join_seen(a, "/ws", &mut ada);
    let (mut cy, cy_welcome) = chat(b, "/ws");
    let cy_name = field(&cy_welcome, "name");
    // Guest names carry their node's id: unique with no round trip.
    let names: HashSet<&String> = [&ada_name, &bob_name, &cy_name].into_iter().collect();
    assert_eq!(names.len(), 3, "{ada_name} {bob_name} {cy_name}");
    assert!(cy_name.starts_with("guest-"));
    // The welcome on B lists the members on A.
    let mut listed = online(&cy_welcome);
    listed.sort();
    let mut expected = vec![ada_name.clone(), bob_name.clone(), cy_name.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    // A's members hear of the one who joined on B.
    until(&mut ada, "join", &cy_name);
    until(&mut bob, "join", &cy_name);

    // Order per sender, across nodes.
    for i in 0..50 {
        ada.send(WsMessage::text(format!("m{i}"))).unwrap();
    }
    for i in 0..50 {
        let m = until(&mut cy, "message", &ada_name);
        assert_eq!(field(&m, "text"), format!("m{i}"));
        assert_eq!(field(&m, "from"), ada_name);
    }
    cy.send(WsMessage::text("hello from b")).unwrap();
    for ws in [&mut ada, &mut bob] {
        let m = until(ws, "message", "hello from b");
        assert_eq!(field(&m, "from"), cy_name);
    }

    // A rename on B reaches A; the name is then taken on A too.
    cy.send(WsMessage::text("/nick cyrus")).unwrap();
    until(&mut ada, "rename", r#""to":"cyrus""#);
    until(&mut bob, "rename", r#""to":"cyrus""#);
    bob.send(WsMessage::text("/nick cyrus")).unwrap();
    until(&mut bob, "error", "the name cyrus is taken");

    // Leaving on B is a leave on A.
    cy.close(None).unwrap();
    until(&mut ada, "leave", r#""name":"cyrus""#);
}

#[test]
fn clients_joining_both_nodes_at_once_get_distinct_names_and_one_wins_a_name() {
    let redis = RedisServer::start();
    let (_a, a) = node(&redis, &[]);
    let (_b, b) = node(&redis, &[]);
    let joins: Vec<_> = (0..10)
        .map(|i| {
            let addr = if i % 2 == 0 { a } else { b };
            std::thread::spawn(move || chat(addr, "/ws"))
        })
        .collect();
    let mut clients: Vec<(Ws, String)> = joins
        .into_iter()
        .map(|j| {
            let (ws, welcome) = j.join().unwrap();
            (ws, field(&welcome, "name"))
        })
        .collect();
    let names: HashSet<&String> = clients.iter().map(|(_, n)| n).collect();
    assert_eq!(names.len(), 10, "{names:?}");

    // Everyone asks for one name at the same moment, on both nodes: one
    // gets it, every other is told it is taken.
    for (ws, _) in &mut clients {
        ws.send(WsMessage::text("/nick ada")).unwrap();
    }
    let mut won = 0;
    for (ws, name) in &mut clients {
        let own = format!(r#""from":"{name}","to":"ada""#);
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline);
            let text = next_text(ws);
            if text.starts_with(r#"{"type":"error""#) {
                assert!(text.contains("taken"), "{text}");
                break;
            }
            // Everyone sees the winner's rename; the winner's is from its
            // own name.
            if text.starts_with(r#"{"type":"rename""#) && text.contains(&own) {
                won += 1;
                break;
            }
        }
    }
    assert_eq!(won, 1, "exactly one client is renamed to ada");
}

#[test]
fn a_killed_node_s_members_leave_the_other_s_lists_within_the_bound() {
    let redis = RedisServer::start();
    let (_a, a) = node(&redis, &[]);
    let (mut b_bin, b) = node(&redis, &[]);
    let (mut ada, _) = chat(a, "/ws");
    let (_cy, cy_name) = join_seen(b, "/ws", &mut ada);

    // SIGKILL: no goodbye, no leave notice from B.
    b_bin.0.kill().unwrap();
    let killed = Instant::now();
    until(&mut ada, "leave", &cy_name);
    let took = killed.elapsed();
    assert!(took < GONE_BOUND, "the leave took {took:?}");
    // And the next newcomer on A does not see the ghost.
    let (_dee, welcome) = chat(a, "/ws");
    assert!(!online(&welcome).contains(&cy_name), "{welcome}");
}

#[test]
fn when_redis_goes_away_each_node_serves_its_own_and_both_recover() {
    let mut redis = RedisServer::start();
    let (_a, a) = node(&redis, &["--mode", "broadcast"]);
    let (_b, b) = node(&redis, &["--mode", "broadcast"]);
    let mut pub_a = connect(a, "/ws?topic=t");
    let mut sub_a = connect(a, "/ws?topic=t");
    let mut sub_b = connect(b, "/ws?topic=t");
    let deliver = |from: &mut Ws, to: &mut Ws, text: &str| -> bool {
        from.send(WsMessage::text(text)).unwrap();
        within(to, 200).is_some_and(|m| m.to_text().unwrap() == text)
    };
    // Until both see each other.
    wait_until("a message crosses nodes", || {
        deliver(&mut pub_a, &mut sub_b, "hello")
    });
    assert_eq!(next_text(&mut sub_a), "hello");
    while within(&mut sub_a, 100).is_some() {}

    redis.stop();
    wait_connected(a, false);
    wait_connected(b, false);
    // Local delivery stays whole.
    for i in 0..20 {
        pub_a.send(WsMessage::text(format!("local {i}"))).unwrap();
    }
    for i in 0..20 {
        assert_eq!(next_text(&mut sub_a), format!("local {i}"));
    }

    redis.restart();
    let back = Instant::now();
    wait_connected(a, true);
    wait_connected(b, true);
    wait_until("messages cross nodes again", || {
        deliver(&mut pub_a, &mut sub_b, "again")
    });
    assert!(
        back.elapsed() < Duration::from_secs(5),
        "{:?}",
        back.elapsed()
    );
}

#[test]
fn history_lives_in_redis_and_a_newcomer_misses_and_doubles_nothing() {
    let redis = RedisServer::start();
    let fast = ["--rate", "1000", "--burst", "1000", "--history", "20"];
    let (mut a_bin, a) = node(&redis, &fast);
    {
        let (mut ada, _) = chat(a, "/ws?room=kitchen");
        for i in 0..5 {
            ada.send(WsMessage::text(format!("old {i}"))).unwrap();
            until(&mut ada, "message", &format!("old {i}"));
        }
    }
    // Once Redis has them, the node that heard them goes; a new one reads
    // them from Redis.
    wait_until("the history is in Redis", || {
        redis.command("LLEN wshub:0:history:kitchen").as_deref() == Some(":5\r\n")
    });
    a_bin.0.kill().unwrap();
    // The first client of a node just started, before its link to Redis
    // is up, still gets the room's history.
    let url = redis.url();
    let mut b_args = vec!["--redis", url.as_str(), "--metrics"];
    b_args.extend_from_slice(&fast);
    let (_b_bin, b, _) = start_binary(&b_args);
    let (mut cy, _) = chat(b, "/ws?room=kitchen");
    for i in 0..5 {
        let m = expect(&mut cy, "message");
        assert!(m.contains(r#""history":true"#), "{m}");
        assert_eq!(field(&m, "text"), format!("old {i}"));
    }

    // A talker on C sends numbered messages while newcomers join on B:
    // each newcomer's history then live messages are one unbroken run.
    let (_c_bin, c) = node(&redis, &fast);
    let (mut talker, _) = chat(c, "/ws?room=kitchen");
    const N: u32 = 300;
    let talk = std::thread::spawn(move || {
        for i in 0..N {
            talker.send(WsMessage::text(format!("n{i}"))).unwrap();
        }
        talker
    });
    let mut newcomers = Vec::new();
    for _ in 0..5 {
        newcomers.push(chat(b, "/ws?room=kitchen").0);
        std::thread::sleep(Duration::from_millis(5));
    }
    let _talker = talk.join().unwrap();
    for ws in &mut newcomers {
        let mut seen: Vec<u32> = Vec::new();
        while seen.last() != Some(&(N - 1)) {
            let m = next_text(ws);
            if !m.starts_with(r#"{"type":"message""#) {
                continue;
            }
            let text = field(&m, "text");
            if let Some(n) = text.strip_prefix('n') {
                seen.push(n.parse().unwrap());
            }
        }
        let first = seen[0];
        let expected: Vec<u32> = (first..N).collect();
        assert_eq!(seen, expected, "a gap or a double");
    }
}

#[test]
fn broadcast_topics_cross_nodes_in_order_and_stay_apart() {
    let redis = RedisServer::start();
    let (_a, a) = node(&redis, &["--mode", "broadcast"]);
    let (_b, b) = node(&redis, &["--mode", "broadcast"]);
    let mut sport_b = connect(b, "/ws?topic=sport");
    let mut news_b = connect(b, "/ws?topic=news");
    let mut sport_a = connect(a, "/ws?topic=sport");
    // Subscribed on B before anything is published on A: a probe comes
    // through once the path is open.
    wait_until("the topic crosses nodes", || {
        sport_a.send(WsMessage::text("probe")).unwrap();
        within(&mut sport_b, 200).is_some_and(|m| m.to_text().unwrap() == "probe")
    });
    while let Some(m) = within(&mut sport_b, 200) {
        assert_eq!(m.to_text().unwrap(), "probe");
    }
    for i in 0..200 {
        sport_a
            .send(WsMessage::binary(i.to_string().into_bytes()))
            .unwrap();
    }
    for i in 0..200 {
        assert_eq!(next(&mut sport_b).into_data(), i.to_string().into_bytes());
    }
    assert!(
        within(&mut news_b, 300).is_none(),
        "another topic's messages stay apart"
    );
}

#[test]
fn a_bad_redis_address_is_one_clear_line() {
    let err = wshub::Server::new("127.0.0.1:0")
        .redis("localhost:6379")
        .start(|_: &wshub::Client, _: wshub::Message| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("must start with redis://"), "{err}");
}

/// Connections Redis has accepted so far (this question is one of them).
fn connections_received(redis: &RedisServer) -> u64 {
    let info = redis.command("INFO stats").expect("INFO");
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .expect(&info);
    line.trim().parse().unwrap()
}

#[test]
fn an_idle_node_keeps_its_connections_and_stops_at_once() {
    let redis = RedisServer::start();
    let (mut bin, _addr) = node(&redis, &[]);
    let before = connections_received(&redis);
    // Three seconds of nothing to send but beats: the same two
    // connections carry them (a node that dropped its link for nothing
    // would have made new ones).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(connections_received(&redis), before + 1);

    // SIGTERM: the node says goodbye and is gone at once, not after its
    // subscriber's read timeout.
    let stopped = Instant::now();
    // SAFETY: signalling a child process this test started.
    assert_eq!(unsafe { libc::kill(bin.0.id() as i32, libc::SIGTERM) }, 0);
    let deadline = stopped + WAIT;
    while bin.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the node did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "exit took {:?}",
        stopped.elapsed()
    );
}

#[test]
fn names_can_be_chosen_again_as_soon_as_redis_is_back() {
    let mut redis = RedisServer::start();
    let (_a, a) = node(&redis, &[]);
    let (mut ada, _) = chat(a, "/ws");
    ada.send(WsMessage::text("/nick ada")).unwrap();
    until(&mut ada, "rename", r#""to":"ada""#);

    redis.stop();
    wait_connected(a, false);
    ada.send(WsMessage::text("/nick ada2")).unwrap();
    until(&mut ada, "error", "try again in a moment");

    // Back: the node's kept connection for claims died with the old
    // Redis; the first claim afterwards makes a new one, not an error.
    redis.restart();
    wait_connected(a, true);
    ada.send(WsMessage::text("/nick ada3")).unwrap();
    until(&mut ada, "rename", r#""to":"ada3""#);
}
