//! The tokio yardstick: the async design wshub is measured against beside
//! the plain thread-per-connection one (`../load/yardstick.rs`), with the
//! same command line: `tokio-yardstick --mode echo|broadcast`. It binds
//! 127.0.0.1:0 and prints `tokio listening on http://ADDR/ (WebSocket
//! ws://ADDR/ws, mode M)`, the line the bench's launcher reads the address
//! from.
//!
//! One task per connection on tokio's multi-threaded runtime, as
//! `#[tokio::main]` would set it up: as many worker threads as
//! `available_parallelism`, which honours the CPU affinity the bench gives
//! it (taskset, one CPU), so one worker in the bench. That is the runtime
//! a tokio server ships with, cross-thread wake-ups and all; a
//! `current_thread` runtime would be a little cheaper on one CPU but is
//! not what such a server runs on.
//!
//! Each connection: TCP_NODELAY, `accept_async_with_config` with the
//! default `WebSocketConfig` but a 4 KiB read buffer (as the plain
//! yardstick). Echo answers each text or binary message from the
//! connection's task. Broadcast is the design of tokio-tungstenite's own
//! chat example: a registry of per-connection unbounded mpsc senders; a
//! message read is cloned (a reference count) into every other
//! connection's channel, never back to its sender; each connection's task
//! selects between reading its socket and draining its channel into its
//! socket, writing all that is queued before one flush.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, accept_async_with_config};

/// The read buffer of every connection, as the plain yardstick's.
const READ_BUFFER: usize = 4096;

type Registry = Arc<Mutex<HashMap<u64, UnboundedSender<Message>>>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args
        .iter()
        .position(|a| a == "--mode")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "echo".into());
    if mode != "echo" && mode != "broadcast" {
        eprintln!("tokio: ERROR --mode wants echo or broadcast, not {mode}");
        return ExitCode::from(2);
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: ERROR runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(mode == "broadcast", &mode))
}

async fn serve(broadcast: bool, mode: &str) -> ExitCode {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tokio: ERROR bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().expect("bound");
    println!("tokio listening on http://{addr}/ (WebSocket ws://{addr}/ws, mode {mode})");
    let _ = std::io::stdout().flush();

    let registry: Registry = Arc::new(Mutex::new(HashMap::new()));
    let mut next_id = 0u64;
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("tokio: WARN accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        if broadcast {
            tokio::spawn(relay(id, stream, registry.clone()));
        } else {
            tokio::spawn(echo(stream));
        }
    }
}

/// The upgrade, with the yardstick's `WebSocketConfig`.
async fn accept(stream: TcpStream) -> Option<WebSocketStream<TcpStream>> {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    accept_async_with_config(stream, Some(config)).await.ok()
}

async fn echo(stream: TcpStream) {
    let Some(mut ws) = accept(stream).await else {
        return;
    };
    // After a close frame, the next poll sends the close reply and ends
    // the stream.
    while let Some(Ok(m)) = ws.next().await {
        if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
            break;
        }
    }
}

async fn relay(id: u64, stream: TcpStream, registry: Registry) {
    let Some(ws) = accept(stream).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    registry.lock().expect("registry").insert(id, tx);
    // Once a write fails (the peer closed, or sent a close frame), only
    // reading goes on, until the stream ends: it sends the close reply.
    let mut writable = true;
    loop {
        tokio::select! {
            read = stream.next() => match read {
                Some(Ok(m)) if m.is_text() || m.is_binary() => {
                    let others = registry.lock().expect("registry");
                    for (other, tx) in others.iter() {
                        if *other != id {
                            let _ = tx.send(m.clone());
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(m) = rx.recv(), if writable => {
                let mut result = sink.feed(m).await;
                while result.is_ok() {
                    match rx.try_recv() {
                        Ok(m) => result = sink.feed(m).await,
                        Err(_) => break,
                    }
                }
                if result.is_err() || sink.flush().await.is_err() {
                    writable = false;
                }
            }
        }
    }
    registry.lock().expect("registry").remove(&id);
}
