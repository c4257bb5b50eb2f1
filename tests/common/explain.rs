//! The binary under `--explain`, with what it prints read line by line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::{Binary, WAIT};

/// Starts the binary with `args` on a free port; returns it, its address
/// and its stdout lines (read all along, so that it never blocks on them).
pub fn start_printing(args: &[&str]) -> (Binary, SocketAddr, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wshub"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(WAIT).unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (Binary(child), addr, rx)
}

/// Collects stdout until `last` appears (bounded).
pub fn collect_until(rx: &Receiver<String>, last: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut all = String::new();
    while !all.contains(last) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {last:?} in:\n{all}"));
        all.push_str(&line);
        all.push('\n');
    }
    all
}
