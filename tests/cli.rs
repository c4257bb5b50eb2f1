//! The `wshub` binary: its start line, its one-line errors, SIGTERM, the
//! page it carries, and what it logs when it refuses an origin.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_wshub");

/// Runs the binary to completion; returns exit code and stderr.
fn fail(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn start_line_says_where_and_what() {
    let (mut child, addr, line) = start_binary(&["--mode", "echo"]);
    assert_eq!(
        line.trim_end(),
        format!("wshub listening on http://{addr}/ (WebSocket ws://{addr}/ws, mode echo)")
    );
    assert_eq!(status(&get(addr, "/")), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sigterm_closes_clients_with_1001_and_exits_0() {
    let (mut child, addr, _) = start_binary(&["--mode", "chat"]);
    let mut a = connect(addr, "/ws");
    let mut b = connect(addr, "/ws");
    next_text(&mut a);
    next_text(&mut b);
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    for ws in [&mut a, &mut b] {
        assert_eq!(close_code(ws), 1001);
    }
    drop((a, b));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn user_errors_are_one_line_and_exit_non_zero() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = fail(&["--addr", &addr]);
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("already in use") && err.contains("--addr"),
        "{err}"
    );

    let (code, err) = fail(&["--addr", "127.0.0.1:0", "--www", "/no/such/dir"]);
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("www directory /no/such/dir does not exist"),
        "{err}"
    );

    // A message limit the memory budget cannot hold twice.
    let (code, err) = fail(&["--addr", "127.0.0.1:0", "--max-message", "64M"]);
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("memory budget (64 MiB)") && err.contains("--memory"),
        "{err}"
    );

    // Bad usage: exit 2, one line that names the flag and what it expects.
    for (args, says) in [
        (
            &["--mode", "karaoke"][..],
            "--mode expects chat, echo or broadcast, got 'karaoke'",
        ),
        (
            &["--max-message", "lots"][..],
            "--max-message expects a size such as 4096, 64K or 16M, got 'lots'",
        ),
        (
            &["--queue", "x"][..],
            "--queue expects a whole number, got 'x'",
        ),
        (
            &["--ping-interval", "0"][..],
            "--ping-interval expects a whole number of at least 1, got '0'",
        ),
        (&["--bogus"][..], "unexpected argument '--bogus'"),
    ] {
        let (code, err) = fail(args);
        assert_eq!(code, 2);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says) && err.contains("wshub --help"), "{err}");
    }
}

#[test]
fn help_lists_the_limits_with_their_defaults() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    // Every flag with its value's name, as README's table lists them.
    let mut flags = vec![
        "--addr <HOST:PORT>",
        "--mode <MODE>",
        "--www <DIR>",
        "--ws-path <PATH>",
        "--protocol <NAME>",
        "--max-message <BYTES>",
        "--max-connections <N>",
        "--queue <MESSAGES>",
        "--queue-bytes <BYTES>",
        "--memory <BYTES>",
        "--read-buffer <BYTES>",
        "--ping-interval <SECONDS>",
        "--head-timeout <SECONDS>",
        "--max-head <BYTES>",
        "--rate <PER_SECOND>",
        "--burst <MESSAGES>",
        "--history <MESSAGES>",
        "--history-bytes <BYTES>",
        "--max-rooms <N>",
        "--allow-origin <URL>",
        "--explain ",
        "--metrics ",
        "--help ",
        "--version ",
    ];
    if cfg!(feature = "tls") {
        flags.extend(["--tls-cert <FILE>", "--tls-key <FILE>"]);
    }
    if cfg!(feature = "redis") {
        flags.push("--redis <URL>");
    }
    for flag in flags {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for default in [
        "127.0.0.1:8080",
        "chat",
        "the built-in page",
        "/ws",
        "64K in chat, 1M otherwise",
        "4096",
        "1024",
        "1M",
        "64M",
        "1K",
        "30",
        "10",
        "16K",
        "20",
        "64K",
        "100",
    ] {
        let shown = format!("[default: {default}]");
        assert!(help.contains(&shown), "{shown} missing from --help");
    }
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("wshub "));
}

#[cfg(feature = "tls")]
#[test]
fn with_a_certificate_the_start_line_says_https_and_wss() {
    let cert = common::tls::TestCert::new();
    let (cert_path, key_path) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let args = [
        "--mode",
        "echo",
        "--tls-cert",
        cert_path,
        "--tls-key",
        key_path,
    ];
    let (mut child, addr, line) = start_binary(&args);
    assert_eq!(
        line.trim_end(),
        format!("wshub listening on https://{addr}/ (WebSocket wss://{addr}/ws, mode echo)")
    );
    let mut ws = cert.connect(addr, "/ws");
    ws.send(tungstenite::Message::text("over TLS")).unwrap();
    assert_eq!(next_text(&mut ws), "over TLS");
    child.kill().unwrap();
    child.wait().unwrap();

    // Unusable files: one line that names the file and the flag.
    let missing = [
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        "/no/cert.pem",
        "--tls-key",
        key_path,
    ];
    let (code, err) = fail(&missing);
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/no/cert.pem") && err.contains("--tls-cert"),
        "{err}"
    );
    // One without the other is a usage error.
    let (code, err) = fail(&["--tls-cert", cert_path]);
    assert_eq!(code, 2);
    assert!(err.contains("--tls-key"), "{err}");
}

/// Starts `bin` in `dir` on a free loopback port with `RUST_LOG=info`,
/// stderr piped; returns it, its address, and the rest of its stdout.
fn start_in(bin: &Path, dir: &Path, args: &[&str]) -> (Child, SocketAddr, BufReader<ChildStdout>) {
    let spawn = || {
        Command::new(bin)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    // A binary just copied is "busy" while a process another test thread
    // forked meanwhile still holds the copy's write descriptor; it lets go
    // when it execs.
    let mut child = None;
    wait_until("the copied binary to stop being busy", || match spawn() {
        Ok(c) => {
            child = Some(c);
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => false,
        Err(e) => panic!("cannot start {}: {e}", bin.display()),
    });
    let mut child = child.expect("started");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, addr.parse().unwrap(), out)
}

/// Kills `child` and returns everything it wrote to stderr.
fn stop_and_read_stderr(mut child: Child) -> String {
    child.kill().unwrap();
    child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

#[test]
fn a_copy_alone_in_an_empty_directory_serves_the_page_and_the_chat() {
    let dir = TempDir::new("alone");
    let bin = dir.0.join("wshub");
    std::fs::copy(BIN, &bin).unwrap();
    let (child, addr, _out) = start_in(&bin, &dir.0, &[]);
    for (path, file) in [("/", "index.html"), ("/app.js", "app.js")] {
        let resp = get(addr, path);
        assert_eq!(status(&resp), 200, "{path}: {resp}");
        let want = std::fs::read_to_string(www().join(file)).unwrap();
        assert!(resp.ends_with(&want), "{path} is not www/{file}");
        // The built-in page keeps its policy.
        assert!(resp.contains("script-src 'self'"), "{resp}");
    }
    assert!(get(addr, "/wshub.json").ends_with(r#"{"ws_path":"/ws"}"#));
    let mut a = connect(addr, "/ws");
    let mut b = connect(addr, "/ws");
    assert!(next_text(&mut a).contains(r#""type":"welcome""#));
    assert!(next_text(&mut b).contains(r#""type":"welcome""#));
    a.send("hello from a".into()).unwrap();
    // b may first hear that a joined: the hub announces a join after
    // the welcome, and b may have been welcomed in between.
    let mut heard = next_text(&mut b);
    if heard.contains(r#""type":"join""#) {
        heard = next_text(&mut b);
    }
    assert!(heard.contains(r#""text":"hello from a""#), "{heard}");
    // Nothing was written beside the binary.
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);
    stop_and_read_stderr(child);
}

#[test]
fn www_serves_a_directory_as_written() {
    let dir = TempDir::new("own-page");
    let page =
        "<!doctype html><button onclick=\"go()\">Go</button><script>function go(){}</script>\n";
    std::fs::write(dir.0.join("index.html"), page).unwrap();
    let www = dir.0.to_str().unwrap();
    let (child, addr, _out) = start_in(Path::new(BIN), &dir.0, &["--www", www]);
    let resp = get(addr, "/");
    assert_eq!(status(&resp), 200, "{resp}");
    assert!(resp.ends_with(page), "{resp}");
    assert!(!resp.contains("Content-Security-Policy"), "{resp}");
    stop_and_read_stderr(child);
}

#[test]
fn origin_refusals_say_how_to_allow_them() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (child, addr, _out) = start_in(Path::new(BIN), here, &[]);
    for origin in ["null", "https://tutorial.example"] {
        let req = upgrade_request(addr, "/ws", &format!("Origin: {origin}\r\n"));
        assert_eq!(status(&http(addr, &req)), 403, "{origin}");
    }
    let log = stop_and_read_stderr(child);
    let line = |what: &str| {
        log.lines()
            .find(|l| l.contains("handshake refused") && l.contains(what))
            .unwrap_or_else(|| panic!("no refusal of {what} in:\n{log}"))
            .to_string()
    };
    let null = line("origin null");
    assert!(null.contains("opened from a file"), "{null}");
    assert!(null.contains("--allow-origin null"), "{null}");
    assert!(null.contains("sandboxed frames of any site"), "{null}");
    assert!(null.contains("classroom or a local test"), "{null}");
    let site = line("origin https://tutorial.example");
    assert!(
        site.contains("--allow-origin https://tutorial.example"),
        "{site}"
    );

    let (child, addr, _out) = start_in(Path::new(BIN), here, &["--allow-origin", "null"]);
    let req = upgrade_request(addr, "/ws", "Origin: null\r\n");
    assert_eq!(status(&http_head(addr, &req)), 101);
    stop_and_read_stderr(child);
}

#[test]
fn bound_to_one_address_it_prints_that_one() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (child, addr, mut out) = start_in(Path::new(BIN), here, &[]);
    stop_and_read_stderr(child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(addr.ip().is_loopback());
    assert_eq!(rest, "", "only the start line when bound to {addr}");
}

#[test]
fn the_room_and_history_flags_reach_the_chat() {
    let (mut child, addr, _) = start_binary(&["--max-rooms", "0", "--history", "1"]);
    let mut a = connect(addr, "/ws");
    expect(&mut a, "welcome");
    for text in ["first", "second"] {
        a.send(text.into()).unwrap();
        expect(&mut a, "message");
    }
    // No rooms besides the lobby.
    let mut other = connect(addr, "/ws?room=kitchen");
    assert!(expect(&mut other, "error").contains("limit of 0 rooms"));
    assert_eq!(close_code(&mut other), 1013);
    // One message of history.
    let mut b = connect(addr, "/ws");
    expect(&mut b, "welcome");
    assert_eq!(field(&expect(&mut b, "message"), "text"), "second");
    b.send("live".into()).unwrap();
    assert_eq!(field(&expect(&mut b, "message"), "text"), "live");
    child.kill().unwrap();
    child.wait().unwrap();
}
