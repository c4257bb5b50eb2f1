use crate::{Client, Error, Handler, Message};

/// Sends every message back to its sender, unchanged and of the same type.
/// Pings are answered with pongs by the server itself. A large message the
/// memory budget cannot take now closes its sender with 1013.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_message(&self, client: &Client, message: Message) {
        if let Err(Error::Busy { .. }) = client.send(message) {
            super::busy(client);
        }
    }
}
