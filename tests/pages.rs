//! The page beside the endpoint: built in or from a directory, the
//! settings it fetches, an endpoint that shares the page's path, and pages
//! opened from a file (`Origin: null`).

mod common;

use common::*;
use wshub::{Running, Server, modes::Echo};

/// A tutorial's page: an inline script and an `onclick` handler, which a
/// `script-src 'self'` policy would block.
const TUTORIAL: &str = "<!doctype html><button onclick=\"go()\">Go</button>\
<script>function go(){ new WebSocket('ws://' + location.host + '/'); }</script>\n";

#[cfg(feature = "embedded-page")]
fn embedded() -> Running {
    Server::new("127.0.0.1:0")
        .embedded_page()
        .start(Echo)
        .unwrap()
}

#[cfg(feature = "embedded-page")]
#[test]
fn the_built_in_page_is_www_with_its_strict_policy() {
    let s = embedded();
    let a = s.local_addr();
    for (path, file, ty) in [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ] {
        let resp = get(a, path);
        assert_eq!(status(&resp), 200, "{path}: {resp}");
        assert!(resp.contains(&format!("Content-Type: {ty}\r\n")), "{path}");
        assert!(resp.contains("Content-Security-Policy: ") && resp.contains("script-src 'self'"));
        assert!(resp.contains("X-Content-Type-Options: nosniff\r\n"));
        let bytes = std::fs::read(www().join(file)).unwrap();
        assert!(
            resp.ends_with(std::str::from_utf8(&bytes).unwrap()),
            "{path}"
        );
    }
    let head = http(a, "HEAD /app.js HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&head), 200);
    let len = std::fs::metadata(www().join("app.js")).unwrap().len();
    assert!(
        head.contains(&format!("Content-Length: {len}\r\n")),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    assert_eq!(status(&get(a, "/no-such-file.js")), 404);
    assert_eq!(status(&get(a, "/../Cargo.toml")), 404);
    let json = get(a, "/wshub.json");
    assert!(json.ends_with(r#"{"ws_path":"/ws"}"#), "{json}");

    // The endpoint at `/` too: the page and the WebSocket share the path.
    let s = Server::new("127.0.0.1:0")
        .embedded_page()
        .ws_path("/")
        .start(Echo)
        .unwrap();
    let a = s.local_addr();
    assert!(get(a, "/").contains("Content-Type: text/html"));
    let mut ws = connect(a, "/");
    ws.send("same path".into()).unwrap();
    assert_eq!(next_text(&mut ws), "same path");
}

#[test]
fn a_page_of_ones_own_is_served_as_written_without_the_policy() {
    let dir = TempDir::new("tutorial");
    std::fs::write(dir.0.join("index.html"), TUTORIAL).unwrap();
    let s = Server::new("127.0.0.1:0")
        .www(Some(&dir.0))
        .start(Echo)
        .unwrap();
    let resp = get(s.local_addr(), "/");
    assert_eq!(status(&resp), 200, "{resp}");
    assert!(resp.ends_with(TUTORIAL), "{resp}");
    assert!(!resp.contains("Content-Security-Policy"), "{resp}");
    assert!(resp.contains("X-Content-Type-Options: nosniff\r\n"));
}

#[test]
fn settings_say_where_the_endpoint_is() {
    for ws_path in ["/ws", "/", "/chat \"room\""] {
        let s = server_with_dir(&www(), ws_path);
        let resp = get(s.local_addr(), "/wshub.json");
        assert_eq!(status(&resp), 200, "{resp}");
        assert!(
            resp.contains("Content-Type: application/json\r\n"),
            "{resp}"
        );
        let body = format!("{{\"ws_path\":{}}}", wshub::json::string(ws_path));
        assert!(resp.ends_with(&body), "{resp}");
    }
    // A server with no page has none.
    let bare = Server::new("127.0.0.1:0").start(Echo).unwrap();
    assert_eq!(status(&get(bare.local_addr(), "/wshub.json")), 404);
}

fn server_with_dir(dir: &std::path::Path, ws_path: &str) -> Running {
    Server::new("127.0.0.1:0")
        .www(Some(dir))
        .ws_path(ws_path)
        .start(Echo)
        .unwrap()
}

#[test]
fn the_endpoint_may_be_the_pages_own_path() {
    let s = server_with_dir(&www(), "/");
    let a = s.local_addr();
    let page = get(a, "/");
    assert_eq!(status(&page), 200, "{page}");
    assert!(page.contains("Content-Type: text/html"), "{page}");
    let mut ws = connect(a, "/");
    ws.send("same path".into()).unwrap();
    assert_eq!(next_text(&mut ws), "same path");
    // A page request carrying `Upgrade: websocket` without `Connection:
    // Upgrade` is neither: a clear 400, not the page.
    let half = http(
        a,
        &format!("GET / HTTP/1.1\r\nHost: {a}\r\nUpgrade: websocket\r\n\r\n"),
    );
    assert_eq!(status(&half), 400, "{half}");
}

#[test]
fn a_plain_get_on_an_endpoint_with_no_file_is_still_426() {
    let s = server_with_dir(&www(), "/websocket");
    let resp = get(s.local_addr(), "/websocket");
    assert_eq!(status(&resp), 426, "{resp}");
    assert!(resp.contains("Upgrade: websocket\r\n"));
    // Without a page, `/` as the endpoint answers a plain GET the same way.
    let bare = Server::new("127.0.0.1:0").ws_path("/").start(Echo).unwrap();
    assert_eq!(status(&get(bare.local_addr(), "/")), 426);
}

#[test]
fn origin_null_needs_allow_origin_null() {
    let refusing = server_with_dir(&www(), "/ws");
    let a = refusing.local_addr();
    let resp = http(a, &upgrade_request(a, "/ws", "Origin: null\r\n"));
    assert_eq!(status(&resp), 403, "{resp}");

    let allowing = Server::new("127.0.0.1:0")
        .allow_origin("null")
        .start(Echo)
        .unwrap();
    let a = allowing.local_addr();
    let resp = http_head(a, &upgrade_request(a, "/ws", "Origin: null\r\n"));
    assert_eq!(status(&resp), 101, "{resp}");
    // Allowing `null` allows no site by name.
    let other = http(
        a,
        &upgrade_request(a, "/ws", "Origin: https://other.example\r\n"),
    );
    assert_eq!(status(&other), 403);
}
