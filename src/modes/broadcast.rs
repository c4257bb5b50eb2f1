use crate::{Client, Error, Handler, Message};

/// A relay for tools: every message, text or binary, goes unchanged to
/// every other connected client. A large message the memory budget cannot
/// take now closes its sender with 1013.
#[derive(Clone, Copy, Debug, Default)]
pub struct Relay;

impl Handler for Relay {
    fn on_message(&self, client: &Client, message: Message) {
        if let Err(Error::Busy { .. }) = client.hub().broadcast_except(client.id(), message) {
            super::busy(client);
        }
    }
}
