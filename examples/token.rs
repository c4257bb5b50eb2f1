//! Refuse handshakes without the right token: `?token=letmein` in the
//! WebSocket URL, or 401. Run `cargo run --example token`, then try
//! ws://127.0.0.1:9004/ws?token=letmein (accepted) and ws://127.0.0.1:9004/ws (401).
use wshub::{Accepted, Client, Handler, Message, Refusal, Request, Server};

struct TokenEcho {
    token: String,
}

impl Handler for TokenEcho {
    fn on_handshake(&self, request: &Request) -> Result<Accepted, Refusal> {
        match request.query_param("token") {
            Some(t) if t == self.token => Ok(Accepted::default()),
            _ => Err(Refusal::new(401, "add ?token=... to the WebSocket URL")),
        }
    }
    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }
}

fn main() -> wshub::Result<()> {
    println!(
        "token echo: connect to ws://127.0.0.1:9004/ws?token=letmein (without the token: 401)"
    );
    Server::new("127.0.0.1:9004").run(TokenEcho {
        token: "letmein".into(),
    })
}
