//! Topics: a ticker with one topic per symbol. A client subscribes to the
//! symbols named in its URL, and a plain loop publishes each symbol's price
//! to its own topic only.
//! Run `cargo run --example topics` and open http://127.0.0.1:9004/ (the
//! page gets ACME's price each second), or connect to
//! ws://127.0.0.1:9004/ws?symbols=ACME,INITECH with any WebSocket client.
use std::time::Duration;

use wshub::{Client, Handler, Message, Request, Server};

struct Ticker;

impl Handler for Ticker {
    fn on_open(&self, client: &Client, request: &Request) {
        let symbols = request
            .query_param("symbols")
            .unwrap_or_else(|| "ACME".to_string());
        for symbol in symbols.split(',').filter(|s| SYMBOLS.contains(s)) {
            // Subscriptions end by themselves when the client goes.
            let _ = client.subscribe(symbol);
            let _ = client.send(format!("subscribed to {symbol}"));
        }
    }

    fn on_message(&self, _client: &Client, _message: Message) {}
}

const SYMBOLS: [&str; 3] = ["ACME", "INITECH", "UMBRELLA"];

fn main() -> wshub::Result<()> {
    let running = Server::new("127.0.0.1:9004")
        .www(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/www")))
        .start(Ticker)?;
    println!(
        "topics: open http://{0}/ (ACME only), or ws://{0}/ws?symbols=ACME,INITECH",
        running.local_addr()
    );
    let hub = running.hub();
    for tick in 1u64.. {
        for (i, symbol) in SYMBOLS.iter().enumerate() {
            // A made-up price that moves.
            let price = 100 + (tick * (i as u64 + 3)) % 17;
            hub.publish(symbol, format!("{symbol} {price}"))?;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}
