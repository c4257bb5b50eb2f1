//! The subscriber thread: receives what the other nodes publish and hands
//! it on, to the hub (topics) or the chat; keeps track of which nodes are
//! alive from their beats.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::debug;

use super::envelope::{self, Kind};
use super::keys::Keys;
use super::link::{self, Backoff, Link, Side};
use super::{Address, BEAT, GONE_AFTER, Listener, Nodes};
use crate::handler::Message;
use crate::hub::Hub;
use crate::{Bytes, Utf8Bytes};

struct Subscriber {
    id: String,
    keys: Keys,
    address: Address,
    link: Arc<Link>,
    listener: Arc<OnceLock<Arc<dyn Listener>>>,
    stop: Arc<AtomicBool>,
    hub: Hub,
    /// When each other node was last heard.
    heard: HashMap<String, Instant>,
}

pub(super) fn spawn(nodes: &Nodes, hub: Hub) -> std::io::Result<JoinHandle<()>> {
    let mut subscriber = Subscriber {
        id: nodes.id.clone(),
        keys: nodes.keys.clone(),
        address: nodes.address.clone(),
        link: nodes.link.clone(),
        listener: nodes.listener.clone(),
        stop: nodes.stop.clone(),
        hub,
        heard: HashMap::new(),
    };
    std::thread::Builder::new()
        .name("wshub-redis-in".into())
        .spawn(move || subscriber.run())
}

impl Subscriber {
    fn run(&mut self) {
        let mut backoff = Backoff::new();
        while !self.stop.load(Ordering::Relaxed) {
            // Reads wake at least every `BEAT`, to stop, to forget the
            // nodes gone silent, and to notice this node's own beats no
            // longer coming back.
            match link::connect(&self.address, BEAT) {
                Ok(mut con) => {
                    let mut pubsub = con.as_pubsub();
                    match pubsub.psubscribe(self.keys.pattern()) {
                        Ok(()) => {
                            backoff = Backoff::new();
                            // What comes now is new: numbers start again
                            // if Redis did.
                            if let Some(listener) = self.listener.get() {
                                listener.on_subscribed();
                            }
                            if self.link.set(Side::Subscriber, true, &self.address, "")
                                && let Some(listener) = self.listener.get()
                            {
                                listener.on_connected(&self.hub);
                            }
                            let why = self.listen(&mut pubsub);
                            if self.stop.load(Ordering::Relaxed) {
                                return;
                            }
                            self.link.set(Side::Subscriber, false, &self.address, &why);
                        }
                        Err(e) => {
                            self.link
                                .set(Side::Subscriber, false, &self.address, &e.to_string());
                        }
                    }
                }
                Err(e) => {
                    self.link
                        .set(Side::Subscriber, false, &self.address, &e.to_string());
                }
            }
            // Away: other nodes fall silent, and are taken for gone after
            // `GONE_AFTER` as if they had died.
            let until = Instant::now() + backoff.next();
            while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                self.expire();
            }
        }
    }

    /// Hands on every message until the connection fails (the reason) or
    /// the node stops.
    fn listen(&mut self, pubsub: &mut redis::PubSub<'_>) -> String {
        let (beat, chat) = (self.keys.beat(), self.keys.chat());
        let mut own_beat = Instant::now();
        let mut tick = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return String::new();
            }
            if tick.elapsed() >= BEAT {
                tick = Instant::now();
                self.expire();
                // The publisher beats every second while it is up; if its
                // beats stop coming back, this subscription is dead even
                // though the socket has said nothing (a half-open TCP
                // connection after a network fault).
                if !self.link.publisher_up() {
                    own_beat = Instant::now();
                } else if own_beat.elapsed() >= GONE_AFTER {
                    return format!(
                        "this node's own beats stopped coming back for {} s",
                        GONE_AFTER.as_secs()
                    );
                }
            }
            let msg = match pubsub.get_message() {
                Ok(msg) => msg,
                Err(e) if e.is_timeout() => continue,
                Err(e) => return e.to_string(),
            };
            let channel = msg.get_channel_name();
            let Some((node, kind, body)) = envelope::decode(msg.get_payload_bytes()) else {
                continue;
            };
            let own = node == self.id;
            if !own {
                self.heard_from(node, kind == Kind::Bye);
            }
            if channel == beat {
                if own {
                    own_beat = Instant::now();
                }
            } else if let Some(topic) = self.keys.topic_of(channel) {
                if !own {
                    self.deliver(topic, kind, body);
                }
            } else if channel == chat
                && let Some(listener) = self.listener.get()
            {
                listener.on_message(&self.hub, node, kind, body);
            }
        }
    }

    fn deliver(&self, topic: &str, kind: Kind, body: &[u8]) {
        let message = match kind {
            Kind::Text => match Utf8Bytes::try_from(Bytes::copy_from_slice(body)) {
                Ok(text) => Message::Text(text),
                Err(_) => return,
            },
            Kind::Binary => Message::Binary(Bytes::copy_from_slice(body)),
            _ => return,
        };
        // Never waits for memory: a large message that does not fit now is
        // not delivered here, and a client that cannot keep up is closed
        // by the hub, as on one node.
        if let Err(e) = self.hub.publish_here(topic, message) {
            debug!("redis: a message on topic {topic} from another node was not delivered: {e}");
        }
    }

    fn heard_from(&mut self, node: &str, bye: bool) {
        let listener = self.listener.get();
        if bye {
            if self.heard.remove(node).is_some()
                && let Some(listener) = listener
            {
                listener.on_node_gone(&self.hub, node);
            }
            return;
        }
        let new = self
            .heard
            .insert(node.to_string(), Instant::now())
            .is_none();
        if new && let Some(listener) = listener {
            listener.on_node_seen(&self.hub, node);
        }
    }

    /// Forgets the nodes silent for `GONE_AFTER`.
    fn expire(&mut self) {
        let now = Instant::now();
        let gone: Vec<String> = self
            .heard
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= GONE_AFTER)
            .map(|(node, _)| node.clone())
            .collect();
        for node in gone {
            self.heard.remove(&node);
            if let Some(listener) = self.listener.get() {
                listener.on_node_gone(&self.hub, &node);
            }
        }
    }
}
