//! The smallest server: every message comes back.
//! Run `cargo run --example echo`, then open http://127.0.0.1:9001/ and
//! type a message: it comes back. Any client can use ws://127.0.0.1:9001/ws.
use wshub::{Client, Message, Server};

fn main() -> wshub::Result<()> {
    let server =
        Server::new("127.0.0.1:9001").www(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/www")));
    println!("echo server: open http://127.0.0.1:9001/ (WebSocket ws://127.0.0.1:9001/ws)");
    server.run(|client: &Client, msg: Message| {
        let _ = client.send(msg);
    })
}
