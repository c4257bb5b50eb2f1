//! Broadcast: a relay for tools. A client names its topic in the URL
//! (`/ws?topic=NAME`); without one it is with everyone else who named
//! none. Every message goes unchanged to the others on the same topic.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};

use log::info;

use super::names;
use crate::{Accepted, Client, ClientId, CloseInfo, Error, Handler, Message, Refusal, Request};

/// The relay: every message, text or binary, goes unchanged to every other
/// client on its sender's topic. A large message the memory budget cannot
/// take now closes its sender with 1013.
#[derive(Debug)]
pub struct Relay {
    members: Mutex<Members>,
    max_topics: usize,
}

#[derive(Debug, Default)]
struct Members {
    /// Each open client's hub topic, looked up for every message it sends:
    /// a moment under the lock, the publish itself outside it.
    topic: HashMap<ClientId, Arc<str>>,
    /// How many clients each named topic has, for the limit.
    named: HashMap<Arc<str>, usize>,
}

impl Default for Relay {
    fn default() -> Self {
        Relay::new()
    }
}

impl Relay {
    /// A relay allowing [`DEFAULT_MAX_ROOMS`](super::DEFAULT_MAX_ROOMS)
    /// named topics at once.
    pub fn new() -> Relay {
        Relay::with_max_topics(names::DEFAULT_MAX_ROOMS)
    }

    /// A relay allowing `max` named topics at once (0: none; clients
    /// without a topic are always let in). A client naming one more is
    /// closed with 1013 (try again later).
    pub fn with_max_topics(max: usize) -> Relay {
        Relay {
            members: Mutex::new(Members::default()),
            max_topics: max,
        }
    }

    fn members(&self) -> MutexGuard<'_, Members> {
        // Every change is an insert or a remove: a panic elsewhere leaves
        // the maps whole.
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The hub topic of a client: its named one, or the one of those who named
/// none (which no valid name can spell).
fn topic_of(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("topic:{name}"),
        None => "topic".to_string(),
    }
}

impl Handler for Relay {
    fn on_handshake(&self, request: &Request) -> Result<Accepted, Refusal> {
        let name = names::from_query(request, "topic")?;
        // Subscribed as the 101 goes out, so that a message sent once the
        // client is open reaches it even before on_open has run. A client
        // refused in on_open is closed before anything reaches it; its
        // subscription ends as it goes.
        Ok(Accepted::default().subscribe(topic_of(name.as_deref())))
    }

    fn on_open(&self, client: &Client, request: &Request) {
        let name = request.query_param("topic");
        let topic: Arc<str> = topic_of(name.as_deref()).into();
        let mut members = self.members();
        if let Some(name) = &name {
            if !members.named.contains_key(&topic) && members.named.len() >= self.max_topics {
                drop(members);
                info!(
                    "#{} {}: refused topic {name}: the server is at its limit of {} topics (raise it with --max-rooms)",
                    client.id(),
                    client.peer(),
                    self.max_topics
                );
                let _ = client.close(1013, "too many topics, try again later");
                return;
            }
            *members.named.entry(topic.clone()).or_default() += 1;
        }
        members.topic.insert(client.id(), topic);
    }

    fn on_message(&self, client: &Client, message: Message) {
        // A client refused in on_open has no topic: it is closing.
        let Some(topic) = self.members().topic.get(&client.id()).cloned() else {
            return;
        };
        if let Err(Error::Busy { .. }) = client.hub().publish_except(&topic, client.id(), message) {
            super::busy(client);
        }
    }

    fn on_close(&self, client: &Client, _close: &CloseInfo) {
        let mut members = self.members();
        let Some(topic) = members.topic.remove(&client.id()) else {
            return;
        };
        if let Some(n) = members.named.get_mut(&topic) {
            *n -= 1;
            if *n == 0 {
                members.named.remove(&topic);
            }
        }
    }
}
