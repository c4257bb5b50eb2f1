//! `GET /metrics`: off unless asked for, Prometheus text that a strict
//! reader takes, and counters that move exactly as the traffic does.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;

use common::*;
use tungstenite::Message as WsMessage;
use wshub::{Server, modes::Echo};

const CONTENT_TYPE: &str = "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";

/// Every series wshub exposes, with its type.
const SERIES: [(&str, &str); 10] = [
    ("wshub_connections_open", "gauge"),
    ("wshub_connections_accepted_total", "counter"),
    ("wshub_received_messages_total", "counter"),
    ("wshub_received_bytes_total", "counter"),
    ("wshub_sent_messages_total", "counter"),
    ("wshub_sent_bytes_total", "counter"),
    ("wshub_clients_closed_too_slow_total", "counter"),
    ("wshub_memory_budget_used_bytes", "gauge"),
    ("wshub_memory_budget_limit_bytes", "gauge"),
    ("wshub_topics", "gauge"),
];

/// A metric name as the format allows: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Reads the Prometheus text format (0.0.4) strictly, as wshub writes it:
/// `# HELP name text` and `# TYPE name type` once each, both before the
/// series' samples; every sample `name value` with a float value and no
/// labels; every series with one sample. Returns each series' type and
/// value.
fn parse(body: &str) -> Result<HashMap<String, (String, f64)>, String> {
    if !body.ends_with('\n') || body.contains('\r') {
        return Err("lines must end in a bare \\n, the last one too".into());
    }
    let mut help = HashMap::new();
    let mut kind: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in body.lines() {
        let bad = |why: &str| Err(format!("{why}: {line:?}"));
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (Some(keyword), Some(name), Some(rest)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return bad("a comment that is neither HELP nor TYPE");
            };
            if !valid_name(name) {
                return bad("an invalid name");
            }
            if samples.contains_key(name) {
                return bad("HELP or TYPE after the series' sample");
            }
            let first = match keyword {
                "HELP" => help.insert(name.to_string(), rest.to_string()).is_none(),
                "TYPE"
                    if ["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest) =>
                {
                    kind.insert(name.to_string(), rest.to_string()).is_none()
                }
                _ => return bad("a comment that is neither HELP nor TYPE"),
            };
            if !first {
                return bad("a second HELP or TYPE for one series");
            }
            continue;
        }
        let mut parts = line.split(' ');
        let (Some(name), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return bad("a sample that is not `name value`");
        };
        if !valid_name(name) {
            return bad("an invalid name");
        }
        let (Some(t), true) = (kind.get(name), help.contains_key(name)) else {
            return bad("a sample without HELP and TYPE before it");
        };
        let Ok(value) = value.parse::<f64>() else {
            return bad("a value that is not a float");
        };
        if t == "counter" && !(name.ends_with("_total") && value.is_finite() && value >= 0.0) {
            return bad("a counter must be named *_total and be finite and not negative");
        }
        if samples
            .insert(name.to_string(), (t.clone(), value))
            .is_some()
        {
            return bad("a second sample for one series");
        }
    }
    if let Some(name) = kind
        .keys()
        .chain(help.keys())
        .find(|n| !samples.contains_key(*n))
    {
        return Err(format!("{name} has HELP or TYPE but no sample"));
    }
    Ok(samples)
}

/// The body of a raw HTTP response.
fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").expect("a response head").1
}

/// GETs /metrics and reads it strictly; returns each series' value.
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let response = get(addr, "/metrics");
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.contains(CONTENT_TYPE), "{response}");
    let series = parse(body(&response)).unwrap_or_else(|e| panic!("{e}\n{response}"));
    series.into_iter().map(|(name, (_, v))| (name, v)).collect()
}

fn metrics_server() -> Server {
    Server::new("127.0.0.1:0").metrics(true)
}

#[test]
fn off_by_default_metrics_is_a_404_or_the_page_s_file() {
    let s = Server::new("127.0.0.1:0").start(Echo).unwrap();
    assert_eq!(status(&get(s.local_addr(), "/metrics")), 404);

    // A page with a file of that name keeps it while metrics are off; on,
    // /metrics is the metrics.
    let dir = TempDir::new("metrics-page");
    std::fs::write(dir.0.join("metrics"), "the page's own file\n").unwrap();
    let off = Server::new("127.0.0.1:0")
        .www(Some(&dir.0))
        .start(Echo)
        .unwrap();
    let response = get(off.local_addr(), "/metrics");
    assert_eq!(body(&response), "the page's own file\n", "{response}");
    let on = metrics_server().www(Some(&dir.0)).start(Echo).unwrap();
    scrape(on.local_addr());
}

#[test]
fn on_it_is_prometheus_text_with_every_series() {
    let s = metrics_server().memory_budget(8 << 20).start(Echo).unwrap();
    let addr = s.local_addr();
    let response = get(addr, "/metrics");
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.contains(CONTENT_TYPE), "{response}");
    assert!(
        response.contains("Cache-Control: no-store\r\n"),
        "{response}"
    );
    let series = parse(body(&response)).unwrap_or_else(|e| panic!("{e}\n{response}"));
    let mut got: Vec<(&str, &str)> = series
        .iter()
        .map(|(name, (t, _))| (name.as_str(), t.as_str()))
        .collect();
    got.sort();
    let mut want = SERIES.to_vec();
    want.sort();
    assert_eq!(got, want);
    // Nothing has happened yet but this one connection.
    for (name, (_, value)) in &series {
        let expected = match name.as_str() {
            "wshub_connections_accepted_total" => 1.0,
            "wshub_memory_budget_limit_bytes" => (8 << 20) as f64,
            _ => 0.0,
        };
        assert_eq!(*value, expected, "{name}");
    }

    // HEAD as for any resource: the head, no body.
    let head = http(addr, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&head), 200, "{head}");
    assert!(head.contains(CONTENT_TYPE) && head.contains("Content-Length: "));
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    // Other methods, and an upgrade, are refused as on any other path.
    let post = http(
        addr,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status(&post), 405, "{post}");
    let upgrade = http_head(addr, &upgrade_request(addr, "/metrics", ""));
    assert_eq!(status(&upgrade), 404, "{upgrade}");
}

#[test]
fn the_strict_reader_refuses_what_the_format_does_not_allow() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total 3\n";
    assert_eq!(parse(good).unwrap()["a_total"], ("counter".into(), 3.0));
    for bad in [
        "# TYPE a_total counter\na_total 3\n",
        "# HELP a_total A.\na_total 3\n",
        "a_total 3\n# HELP a_total A.\n# TYPE a_total counter\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total three\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total 3",
        "# HELP a_total A.\n# TYPE a_total counter\na_total 3 4\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n",
        "# HELP 1a A.\n# TYPE 1a gauge\n1a 3\n",
        "# HELP a A.\n# TYPE a counter\na 3\n",
        "# HELP a A.\n# TYPE a gauge\na 3\na 4\n",
        "# HELP a A.\n# TYPE a gauge\n",
        "# HELP a A.\n# TYPE a gauge\n# a comment\na 3\n",
    ] {
        assert!(parse(bad).is_err(), "took {bad:?}");
    }
}

#[test]
fn the_counters_move_exactly_as_the_traffic_does() {
    let s = metrics_server().start(Echo).unwrap();
    let addr = s.local_addr();
    // Every scrape is a TCP connection accepted too.
    let mut scrapes = 0;
    let mut scrape_counted = || {
        scrapes += 1;
        (scrape(addr), scrapes)
    };
    let (before, _) = scrape_counted();
    assert_eq!(before["wshub_connections_open"], 0.0);

    let mut a = connect(addr, "/ws");
    let mut b = connect(addr, "/ws");
    // Every length form: 7 bits, 16 bits, 64 bits.
    let sizes = [0usize, 1, 125, 126, 300, 65_535, 65_536, 70_000];
    for &n in &sizes {
        let text = WsMessage::text("t".repeat(n));
        let binary = WsMessage::binary(vec![7u8; n]);
        a.send(text.clone()).unwrap();
        b.send(binary.clone()).unwrap();
        assert_eq!(next(&mut a), text);
        assert_eq!(next(&mut b), binary);
    }
    let messages = 2.0 * sizes.len() as f64;
    let bytes = 2.0 * sizes.iter().sum::<usize>() as f64;

    // The reply's counters move once its last byte is written, which the
    // client may see a moment before the server has counted it.
    let mut now = HashMap::new();
    let mut scraped = 0;
    wait_until("the counters to catch up with the echoes", || {
        (now, scraped) = scrape_counted();
        now["wshub_sent_messages_total"] >= messages && now["wshub_memory_budget_used_bytes"] == 0.0
    });
    assert_eq!(now["wshub_received_messages_total"], messages);
    assert_eq!(now["wshub_received_bytes_total"], bytes);
    assert_eq!(now["wshub_sent_messages_total"], messages);
    assert_eq!(now["wshub_sent_bytes_total"], bytes);
    assert_eq!(now["wshub_connections_open"], 2.0);
    assert_eq!(
        now["wshub_connections_accepted_total"],
        (2 + scraped) as f64
    );
    assert_eq!(now["wshub_clients_closed_too_slow_total"], 0.0);

    // One leaves: the gauge drops once its thread is done, and the close
    // frames are not messages.
    assert_eq!(close_with(&mut a, 1000), 1000);
    wait_until("the open gauge to drop", || {
        (now, scraped) = scrape_counted();
        now["wshub_connections_open"] == 1.0
    });
    assert_eq!(now["wshub_received_messages_total"], messages);
    assert_eq!(now["wshub_sent_messages_total"], messages);
    assert_eq!(now["wshub_sent_bytes_total"], bytes);
    assert_eq!(
        now["wshub_connections_accepted_total"],
        (2 + scraped) as f64
    );

    // A broadcast is a message sent to each client it reaches.
    let mut c = connect(addr, "/ws");
    s.hub().broadcast("to both").unwrap();
    assert_eq!(next_text(&mut b), "to both");
    assert_eq!(next_text(&mut c), "to both");
    wait_until("the broadcast to be counted once per client", || {
        (now, _) = scrape_counted();
        now["wshub_sent_messages_total"] >= messages + 2.0
    });
    assert_eq!(now["wshub_sent_messages_total"], messages + 2.0);
    assert_eq!(now["wshub_sent_bytes_total"], bytes + 2.0 * 7.0);
}

/// Broadcasts `len`-byte messages, a few at a time, until the counter of
/// clients closed as too slow moves; returns the scrape that saw it.
fn broadcast_until_too_slow(running: &wshub::Running, len: usize) -> HashMap<String, f64> {
    let hub = running.hub();
    let message = vec![0u8; len];
    let mut now = HashMap::new();
    wait_until("a client to be closed as too slow", || {
        for _ in 0..16 {
            // A full budget refuses a large message: the next round tries again.
            let _ = hub.broadcast(message.clone());
        }
        now = scrape(running.local_addr());
        now["wshub_clients_closed_too_slow_total"] > 0.0
    });
    now
}

#[test]
fn a_client_closed_for_its_queue_count_moves_the_too_slow_counter() {
    let s = metrics_server().queue_size(4).start(Echo).unwrap();
    // A client that never reads: once its socket is full, its queue passes
    // the count bound.
    let _deaf = raw_ws(s.local_addr());
    let now = broadcast_until_too_slow(&s, 64 * 1024);
    assert_eq!(now["wshub_clients_closed_too_slow_total"], 1.0);
    // Closing, it is sent nothing more, so it is not counted again.
    for _ in 0..16 {
        s.hub().broadcast(vec![0u8; 64 * 1024]).unwrap();
    }
    let now = scrape(s.local_addr());
    assert_eq!(now["wshub_clients_closed_too_slow_total"], 1.0);
}

#[test]
fn a_client_closed_for_its_queue_bytes_moves_the_too_slow_counter() {
    // The count bound out of reach: the byte bound, judged after the
    // client has taken nothing for 2 s, closes it.
    let s = metrics_server()
        .queue_size(1 << 20)
        .queue_bytes(64 * 1024)
        .start(Echo)
        .unwrap();
    let _deaf = raw_ws(s.local_addr());
    let now = broadcast_until_too_slow(&s, 256 * 1024);
    assert_eq!(now["wshub_clients_closed_too_slow_total"], 1.0);
}

#[test]
fn the_endpoint_may_share_the_path_an_upgrade_is_never_metrics() {
    let s = metrics_server().ws_path("/metrics").start(Echo).unwrap();
    let mut ws = connect(s.local_addr(), "/metrics");
    ws.send(WsMessage::text("still a WebSocket")).unwrap();
    assert_eq!(next_text(&mut ws), "still a WebSocket");
    assert_eq!(scrape(s.local_addr())["wshub_connections_open"], 1.0);
}

#[test]
fn the_binary_serves_metrics_only_with_the_flag() {
    let help = Command::new(env!("CARGO_BIN_EXE_wshub"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--metrics"));
    for (args, expected) in [(&["--metrics"][..], 200), (&[][..], 404)] {
        let (mut child, addr, _) = start_binary(args);
        let response = get(addr, "/metrics");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(status(&response), expected, "{args:?}: {response}");
        if expected == 200 {
            parse(body(&response)).unwrap();
        }
    }
}

#[test]
fn the_topics_gauge_counts_rooms_with_members() {
    let s = metrics_server().start(wshub::modes::Chat::new()).unwrap();
    let addr = s.local_addr();
    assert_eq!(scrape(addr)["wshub_topics"], 0.0);
    let mut rooms: Vec<Ws> = ["lobby", "kitchen", "kitchen"]
        .iter()
        .map(|room| {
            let mut ws = connect(addr, &format!("/ws?room={room}"));
            expect(&mut ws, "welcome");
            ws
        })
        .collect();
    wait_until("two topics", || scrape(addr)["wshub_topics"] == 2.0);
    for ws in &mut rooms {
        assert_eq!(close_with(ws, 1000), 1000);
    }
    wait_until("no topics", || scrape(addr)["wshub_topics"] == 0.0);
}
