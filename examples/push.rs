//! Push from a plain loop: every open page gets the time once a second.
//! Run `cargo run --example push` and open http://127.0.0.1:9003/ (the
//! page shows each pushed line), or connect to ws://127.0.0.1:9003/ws.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wshub::{Client, Message, Server};

fn main() -> wshub::Result<()> {
    // Messages from clients are ignored: this server only talks.
    let running = Server::new("127.0.0.1:9003")
        .www(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/www")))
        .start(|_: &Client, _: Message| {})?;
    println!(
        "push: open http://{}/ to see the time arrive every second",
        running.local_addr()
    );
    let hub = running.hub();
    for tick in 1.. {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        hub.broadcast(format!("tick {tick}: {secs} seconds since 1970"))?;
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}
