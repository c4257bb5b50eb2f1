//! The binary's three modes, each a [`Handler`](crate::Handler) written
//! on the public API and usable by any program.

mod broadcast;
mod chat;
mod echo;

pub use broadcast::Relay;
pub use chat::Chat;
pub use echo::Echo;
