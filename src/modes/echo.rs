use crate::{Client, Handler, Message};

/// Sends every message back to its sender, unchanged and of the same type.
/// Pings are answered with pongs by the server itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }
}
