//! The built-in HTTP responder: the page, errors, and the ways out of www/.

mod common;

use common::*;
use wshub::{Running, Server, modes::Echo};

fn server() -> Running {
    Server::new("127.0.0.1:0")
        .www(Some(www()))
        .start(Echo)
        .unwrap()
}

#[test]
fn page_is_served_with_type_length_and_nosniff() {
    let s = server();
    let resp = get(s.local_addr(), "/");
    assert_eq!(status(&resp), 200, "{resp}");
    assert!(resp.contains("Content-Type: text/html; charset=utf-8\r\n"));
    let index = std::fs::read(www().join("index.html")).unwrap();
    assert!(resp.contains(&format!("Content-Length: {}\r\n", index.len())));
    assert!(resp.contains("X-Content-Type-Options: nosniff\r\n"));
    assert!(resp.ends_with(std::str::from_utf8(&index).unwrap()));
}

#[test]
fn head_has_the_length_but_no_body() {
    let s = server();
    let resp = http(
        s.local_addr(),
        "HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(status(&resp), 200);
    assert!(resp.contains("Content-Length: "));
    assert!(resp.ends_with("\r\n\r\n"), "{resp}");
}

#[test]
fn missing_file_is_404() {
    let s = server();
    assert_eq!(status(&get(s.local_addr(), "/no-such-file.js")), 404);
}

#[test]
fn other_methods_get_405_with_allow() {
    let s = server();
    let resp = http(
        s.local_addr(),
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status(&resp), 405);
    assert!(resp.contains("Allow: GET, HEAD\r\n"));
}

#[test]
fn traversal_attempts_are_blocked() {
    let s = server();
    for path in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E%2FCargo.toml",
        "/..%5cCargo.toml",
        "//etc/passwd",
        "/./index.html",
        "/index.html%00.txt",
    ] {
        let resp = get(s.local_addr(), path);
        assert_eq!(status(&resp), 404, "{path}: {resp}");
        assert!(!resp.contains("[package]"), "{path} leaked a file");
    }
    // An absolute URI or a path without a leading slash is not a path here.
    assert_eq!(status(&get(s.local_addr(), "/etc/passwd")), 404);
    let abs = http(
        s.local_addr(),
        "GET http://x/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(status(&abs), 400);
}

#[test]
fn symlinks_out_of_www_are_not_followed() {
    let dir = std::env::temp_dir().join(format!("wshub-www-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "inside").unwrap();
    std::os::unix::fs::symlink(
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        dir.join("out.txt"),
    )
    .unwrap();
    let s = Server::new("127.0.0.1:0")
        .www(Some(&dir))
        .start(Echo)
        .unwrap();
    assert_eq!(status(&get(s.local_addr(), "/")), 200);
    assert_eq!(status(&get(s.local_addr(), "/out.txt")), 404);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plain_get_on_the_websocket_path_is_426_with_a_hint() {
    let s = server();
    let resp = get(s.local_addr(), "/ws");
    assert_eq!(status(&resp), 426);
    assert!(
        resp.contains(&format!("connect with ws://{}/ws", s.local_addr())),
        "{resp}"
    );
}

#[test]
fn malformed_and_oversized_heads_are_refused() {
    let s = server();
    assert_eq!(status(&http(s.local_addr(), "HELLO\r\n\r\n")), 400);
    assert_eq!(
        status(&http(
            s.local_addr(),
            "GET / HTTP/1.1\r\nBad Header\r\n\r\n"
        )),
        400
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    assert_eq!(status(&http(s.local_addr(), &big)), 431);
}

#[test]
fn upgrade_errors_get_the_statuses_the_rfc_asks_for() {
    let s = server();
    let a = s.local_addr();
    let v8 = http(
        a,
        &upgrade_request(a, "/ws", "").replace("Version: 13", "Version: 8"),
    );
    assert_eq!(status(&v8), 426);
    assert!(v8.contains("Sec-WebSocket-Version: 13\r\n"));
    let nokey = http(a, &upgrade_request(a, "/ws", "").replace(KEY, "short"));
    assert_eq!(status(&nokey), 400);
    assert_eq!(status(&http(a, &upgrade_request(a, "/elsewhere", ""))), 404);
    let cross = http(
        a,
        &upgrade_request(a, "/ws", "Origin: http://evil.example\r\n"),
    );
    assert_eq!(status(&cross), 403);
    let same = http_head(
        a,
        &upgrade_request(a, "/ws", &format!("Origin: http://{a}\r\n")),
    );
    assert_eq!(status(&same), 101);
}

#[test]
fn allow_origin_adds_origins_and_star_turns_the_check_off() {
    let s = Server::new("127.0.0.1:0")
        .allow_origin("https://ok.example")
        .start(Echo)
        .unwrap();
    let a = s.local_addr();
    let ok = http_head(
        a,
        &upgrade_request(a, "/ws", "Origin: https://ok.example\r\n"),
    );
    assert_eq!(status(&ok), 101);
    let other = http(
        a,
        &upgrade_request(a, "/ws", "Origin: https://other.example\r\n"),
    );
    assert_eq!(status(&other), 403);

    let any = Server::new("127.0.0.1:0")
        .allow_origin("*")
        .start(Echo)
        .unwrap();
    let a = any.local_addr();
    let evil = http_head(
        a,
        &upgrade_request(a, "/ws", "Origin: http://evil.example\r\n"),
    );
    assert_eq!(status(&evil), 101);
}
