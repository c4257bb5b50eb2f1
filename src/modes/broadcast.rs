use crate::{Client, Handler, Message};

/// A relay for tools: every message, text or binary, goes unchanged to
/// every other connected client.
#[derive(Clone, Copy, Debug, Default)]
pub struct Relay;

impl Handler for Relay {
    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.hub().broadcast_except(client.id(), message);
    }
}
