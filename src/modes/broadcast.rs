//! Broadcast: a relay for tools. A client names its topic in the URL
//! (`/ws?topic=NAME`); without one it is with everyone else who named
//! none. Every message goes unchanged to the others on the same topic.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use log::info;

use super::names;
use crate::{Accepted, Client, ClientId, CloseInfo, Error, Handler, Message, Refusal, Request};

/// The relay: every message, text or binary, goes unchanged to every other
/// client on its sender's topic. A large message the memory budget cannot
/// take now closes its sender with 1013.
#[derive(Debug)]
pub struct Relay {
    /// The clients of each named topic, to hold the number of topics to
    /// `max_topics` (a client refused at the limit is in none).
    /// Taken only as a client opens or closes, never per message: the
    /// topic a message goes to comes from its sender's URL.
    topics: Mutex<HashMap<String, HashSet<ClientId>>>,
    max_topics: usize,
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

    /// A relay allowing `max` named topics at once; a client naming one
    /// more is closed with 1013 (try again later).
    pub fn with_max_topics(max: usize) -> Relay {
        Relay {
            topics: Mutex::new(HashMap::new()),
            max_topics: max,
        }
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<String, HashSet<ClientId>>> {
        // Every change is one insert or remove: a panic elsewhere leaves
        // the map whole.
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
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
        let name = request.query_param("topic");
        if name.as_deref().is_some_and(|name| !names::valid(name)) {
            return Err(Refusal::new(400, names::RULE));
        }
        // Subscribed as the 101 goes out, so that a message sent once the
        // client is open reaches it even before on_open has run (a client
        // refused there is closed before anything reaches it).
        Ok(Accepted::default().subscribe(topic_of(name.as_deref())))
    }

    fn on_open(&self, client: &Client, request: &Request) {
        let name = request.query_param("topic");
        if let Some(name) = &name {
            let mut topics = self.topics();
            if !topics.contains_key(name) && topics.len() >= self.max_topics {
                drop(topics);
                info!(
                    "#{} {}: refused topic {name}: the server is at its limit of {} topics (raise it with --max-rooms)",
                    client.id(),
                    client.peer(),
                    self.max_topics
                );
                let _ = client.close(1013, "too many topics, try again later");
                return;
            }
            topics.entry(name.clone()).or_default().insert(client.id());
        }
    }

    fn on_message(&self, client: &Client, message: Message) {
        let topic = topic_of(client.query_param("topic").as_deref());
        if let Err(Error::Busy { .. }) = client.hub().publish_except(&topic, client.id(), message) {
            super::busy(client);
        }
    }

    fn on_close(&self, client: &Client, _close: &CloseInfo) {
        let Some(name) = client.query_param("topic") else {
            return;
        };
        let mut topics = self.topics();
        if let Some(ids) = topics.get_mut(&name) {
            ids.remove(&client.id());
            if ids.is_empty() {
                topics.remove(&name);
            }
        }
    }
}
