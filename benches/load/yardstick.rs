//! The yardstick: the simple design wshub is measured against, run as its
//! own process (`load --yardstick-server --mode echo|broadcast`).
//!
//! An accept loop and one thread per connection (default stack) calling
//! `tungstenite::accept_with_config` with the default `WebSocketConfig`
//! but a 4 KiB read buffer (the default, 128 KiB, is more than a server
//! meant to hold thousands of mostly idle connections would pick; wshub's
//! own default is 1 KiB), then a read loop. Echo answers each message from
//! that loop. Broadcast follows the design tungstenite's maintainers
//! suggest for a blocking server: every connection has a crossbeam channel
//! in a shared registry; a message read is pushed into every other
//! connection's channel; each connection thread reads with a short timeout
//! and, between reads, drains its channel into its own socket, so each
//! socket has one writer. Nagle is turned off, as any latency-minded
//! server would.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message, WebSocket};

type Registry = Arc<Mutex<HashMap<u64, Sender<Message>>>>;

pub fn main(args: &[String]) -> ExitCode {
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mode = value("--mode").unwrap_or_else(|| "echo".into());
    let timeout_ms: u64 = value("--read-timeout-ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("simple: bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().expect("bound");
    println!("simple listening on http://{addr}/ (WebSocket ws://{addr}/ws, mode {mode})");
    let _ = io::stdout().flush();

    let registry: Registry = Arc::new(Mutex::new(HashMap::new()));
    let timeout = Duration::from_millis(timeout_ms.max(1));
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("simple: WARN accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let registry = registry.clone();
        let broadcast = mode == "broadcast";
        let spawned = std::thread::Builder::new().spawn(move || {
            if broadcast {
                relay(id, stream, &registry, timeout);
            } else {
                echo(stream);
            }
        });
        if let Err(e) = spawned {
            eprintln!("simple: WARN cannot start a thread: {e}");
        }
    }
    ExitCode::SUCCESS
}

/// The read buffer of every connection.
pub const READ_BUFFER: usize = 4096;

/// The upgrade, with the yardstick's `WebSocketConfig`.
fn accept(stream: TcpStream) -> Option<WebSocket<TcpStream>> {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    tungstenite::accept_with_config(stream, Some(config)).ok()
}

fn echo(stream: TcpStream) {
    let Some(mut ws) = accept(stream) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(m).is_err() {
                    break;
                }
            }
            // Pongs and close replies go out from inside the next read.
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

fn relay(id: u64, stream: TcpStream, registry: &Registry, timeout: Duration) {
    let Some(mut ws) = accept(stream) else {
        return;
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    registry.lock().expect("registry").insert(id, tx);
    let _ = ws.get_ref().set_read_timeout(Some(timeout));
    'conn: loop {
        let mut wrote = false;
        // After a close frame only the close reply may go out; the next
        // read sends it.
        while ws.can_write() {
            let Ok(m) = rx.try_recv() else {
                break;
            };
            if ws.write(m).is_err() {
                break 'conn;
            }
            wrote = true;
        }
        if wrote && ws.flush().is_err() {
            break;
        }
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                let others = registry.lock().expect("registry");
                for (other, tx) in others.iter() {
                    if *other != id {
                        let _ = tx.send(m.clone());
                    }
                }
            }
            Ok(_) => {}
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    registry.lock().expect("registry").remove(&id);
}
