//! The chat of `wshub --mode chat`, embedded: the same handler the binary
//! uses, plus a line on the terminal for everyone who comes and goes.
//! Run `cargo run --example chat` and open http://127.0.0.1:9002/ in two tabs.
use wshub::{Client, CloseInfo, Handler, Message, Request, Server, modes::Chat};

/// Wraps the built-in chat to print joins and leaves.
struct LoggedChat(Chat);

impl Handler for LoggedChat {
    fn on_open(&self, client: &Client, request: &Request) {
        println!("client {} joined from {}", client.id(), client.peer());
        self.0.on_open(client, request);
    }
    fn on_message(&self, client: &Client, message: Message) {
        self.0.on_message(client, message);
    }
    fn on_close(&self, client: &Client, close: &CloseInfo) {
        println!("client {} left (code {})", client.id(), close.code);
        self.0.on_close(client, close);
    }
}

fn main() -> wshub::Result<()> {
    let server = Server::new("127.0.0.1:9002")
        .www(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/www")))
        .max_message_size(64 * 1024);
    println!("chat: open http://127.0.0.1:9002/ in two browser tabs");
    server.run(LoggedChat(Chat::new()))
}
