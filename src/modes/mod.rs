//! The binary's three modes, each a [`Handler`](crate::Handler) written
//! on the public API and usable by any program.

mod broadcast;
mod chat;
mod echo;
mod names;

pub use broadcast::Relay;
pub use chat::{Chat, LOBBY};
pub use echo::Echo;
pub use names::DEFAULT_MAX_ROOMS;

use log::warn;

use crate::Client;

/// The sender of a large message the memory budget cannot take now is
/// told to come back later: "1013 indicates that the service is
/// experiencing overload" (IANA WebSocket Close Code registry, "Try Again
/// Later").
fn busy(client: &Client) {
    warn!(
        "#{} {}: the memory budget is full; closing with 1013 (raise --memory to hold more large messages at once)",
        client.id(),
        client.peer()
    );
    let _ = client.close(1013, "server busy, try again later");
}
