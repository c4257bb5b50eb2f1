//! Two nodes sharing topics through Redis, in one process for the demo
//! (in real use, two machines run the same program with the same Redis).
//! A loop publishes a price on node one only; clients of either node get
//! it. Needs a Redis: `redis-server --port 6379 --save ""` in another
//! terminal, then `cargo run --example nodes` (or pass another address:
//! `cargo run --example nodes -- redis://HOST:PORT`), and connect to
//! ws://127.0.0.1:9006/ws with any WebSocket client: node two's client
//! sees what node one publishes.
use std::time::Duration;

use wshub::{Client, Handler, Message, Request, Server};

struct Ticker;

impl Handler for Ticker {
    fn on_open(&self, client: &Client, _request: &Request) {
        let _ = client.subscribe("ACME");
    }

    fn on_message(&self, _client: &Client, _message: Message) {}
}

fn main() -> wshub::Result<()> {
    let redis = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_string());
    let one = Server::new("127.0.0.1:9005").redis(&redis).start(Ticker)?;
    let two = Server::new("127.0.0.1:9006").redis(&redis).start(Ticker)?;
    println!(
        "nodes: publishing on ws://{}/ws; connect to either it or ws://{}/ws (Redis {redis})",
        one.local_addr(),
        two.local_addr()
    );
    let hub = one.hub();
    for tick in 1u64.. {
        hub.publish("ACME", format!("ACME {}", 100 + tick % 17))?;
        std::thread::sleep(Duration::from_secs(1));
    }
    drop(two);
    Ok(())
}
