//! The `wshub` binary: its start line, its one-line errors, and SIGTERM.

mod common;

use std::process::Command;

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

    for (args, says) in [
        (
            &["--mode", "karaoke"][..],
            "invalid value 'karaoke' for '--mode <MODE>'",
        ),
        (
            &["--max-message", "lots"][..],
            "'lots' is not a size such as 4096, 64K or 16M",
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
    for flag in [
        "--addr",
        "--mode",
        "--www",
        "--ws-path",
        "--max-message",
        "--max-connections",
        "--queue",
        "--queue-bytes",
        "--memory",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(help.contains("[default: 4096]") && help.contains("[default: 1024]"));
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
