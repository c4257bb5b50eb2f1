//! Topics: named groups of clients. A frame published to a topic goes to
//! every subscriber, encoded once and shared, as a broadcast is.
//!
//! The hub thread owns the table, so subscribing, publishing and leaving
//! are events in one order, the channel's: a client subscribed before a
//! publish gets it, one unsubscribed (or gone) before it does not, and a
//! program that subscribes and publishes under one lock of its own (as
//! the chat does) gives every member one consistent order.
//!
//! A topic is only a name. Nothing in the table points outside the hub,
//! so a message on a topic can come from anywhere that can name it: a
//! handler on this node, or (later) another node through a broker.
//!
//! The table counts against the memory budget, as an estimate of what it
//! holds: each topic its name and `TOPIC_COST`, each subscription
//! `SUBSCRIPTION_COST`. Both are small and always taken; they are given
//! back as subscriptions end, at the latest when their client is removed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tungstenite::Bytes;

use crate::error::Result;
use crate::handler::Message;

use super::ids::IdHasher;
use super::thread::HubThread;
use super::{ClientId, Event, Hub};
use crate::budget::Budget;

/// A topic's own entry in the table, beside its name: the map's slot and
/// the empty set of subscribers.
const TOPIC_COST: usize = 96;
/// One subscription: the id in the topic's set and, in the client's list,
/// a reference to the table's copy of the name.
const SUBSCRIPTION_COST: usize = 32;

type Ids = HashSet<ClientId, BuildHasherDefault<IdHasher>>;

pub(super) struct Topics {
    by_name: HashMap<Arc<str>, Ids>,
    /// How many topics have subscribers, for [`Hub::topic_count`]
    /// (crate::Hub::topic_count). Written only by the hub thread; readers
    /// want a figure, not a snapshot in step with anything else, so
    /// `Relaxed` is enough.
    count: Arc<AtomicUsize>,
    budget: Arc<Budget>,
}

impl Topics {
    pub(super) fn new(count: Arc<AtomicUsize>, budget: Arc<Budget>) -> Topics {
        Topics {
            by_name: HashMap::new(),
            count,
            budget,
        }
    }

    /// Adds `id` to `topic`; the table's own copy of the name if it was
    /// not there already, for the client's list to share.
    fn add(&mut self, id: ClientId, topic: Arc<str>) -> Option<Arc<str>> {
        let entry = self.by_name.entry(topic);
        if let Entry::Vacant(vacant) = &entry {
            self.budget.force_take(TOPIC_COST + vacant.key().len());
        }
        let name = entry.key().clone();
        let ids = entry.or_default();
        let added = ids.insert(id);
        if added {
            self.budget.force_take(SUBSCRIPTION_COST);
        }
        self.count.store(self.by_name.len(), Ordering::Relaxed);
        added.then_some(name)
    }

    /// Takes `id` out of `topic`, and the topic out of the table once no
    /// one is left in it.
    fn remove(&mut self, id: ClientId, topic: &str) {
        let Some(ids) = self.by_name.get_mut(topic) else {
            return;
        };
        if ids.remove(&id) {
            self.budget.give(SUBSCRIPTION_COST);
        }
        if ids.is_empty() {
            self.by_name.remove(topic);
            self.budget.give(TOPIC_COST + topic.len());
            self.count.store(self.by_name.len(), Ordering::Relaxed);
        }
    }

    fn subscribers(&self, topic: &str) -> impl Iterator<Item = ClientId> + '_ {
        self.by_name.get(topic).into_iter().flatten().copied()
    }
}

impl Hub {
    /// Subscribes client `id` to `topic`. Subscribing twice is the same
    /// as once; a client that has gone is not subscribed.
    pub fn subscribe(&self, id: ClientId, topic: &str) -> Result<()> {
        self.post(Event::Subscribe {
            id,
            topic: topic.into(),
        })
    }

    /// Ends client `id`'s subscription to `topic`, if it has one.
    pub fn unsubscribe(&self, id: ClientId, topic: &str) -> Result<()> {
        self.post(Event::Unsubscribe {
            id,
            topic: topic.into(),
        })
    }

    /// Sends `message` to every client subscribed to `topic`, encoded
    /// once and shared, as [`broadcast`](Hub::broadcast) does.
    ///
    /// ```
    /// use wshub::{Client, Message, Request, Server};
    ///
    /// // Each client subscribes to the topic named in its URL's query.
    /// struct Topics;
    /// impl wshub::Handler for Topics {
    ///     fn on_open(&self, client: &Client, request: &Request) {
    ///         let topic = request.query_param("topic").unwrap_or_default();
    ///         let _ = client.subscribe(&topic);
    ///         let _ = client.send("subscribed");
    ///     }
    ///     fn on_message(&self, _client: &Client, _message: Message) {}
    /// }
    ///
    /// let running = Server::new("127.0.0.1:0").start(Topics)?;
    /// let connect = |topic: &str| {
    ///     let url = format!("ws://{}/ws?topic={topic}", running.local_addr());
    ///     let (mut ws, _) = tungstenite::connect(url).expect("connect");
    ///     assert_eq!(ws.read().expect("read").into_text().expect("text"), "subscribed");
    ///     ws
    /// };
    /// let (mut news, mut sport) = (connect("news"), connect("sport"));
    /// running.hub().publish("sport", "1-0")?;
    /// running.hub().publish("news", "extra!")?;
    /// assert_eq!(news.read().expect("read").into_text().expect("text"), "extra!");
    /// assert_eq!(sport.read().expect("read").into_text().expect("text"), "1-0");
    /// # Ok::<(), wshub::Error>(())
    /// ```
    ///
    /// With [`Server::redis`](crate::Server::redis), the message goes to
    /// the topic's subscribers on every other node too.
    pub fn publish(&self, topic: &str, message: impl Into<Message>) -> Result<()> {
        let message = message.into();
        self.publish_here(topic, message.clone())?;
        self.forward(topic, &message);
        Ok(())
    }

    /// Publishes to this node's subscribers only.
    pub(crate) fn publish_here(&self, topic: &str, message: Message) -> Result<()> {
        let frame = self.counted(message.encode())?;
        self.post(Event::Publish {
            topic: topic.into(),
            frame,
            except: None,
        })
    }

    /// Hands a message published here to the other nodes, if any.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    fn forward(&self, topic: &str, message: &Message) {
        #[cfg(feature = "redis")]
        if let Some(nodes) = self.nodes() {
            nodes.forward(topic, message);
        }
    }

    /// Sends `message` to every client subscribed to `topic` except
    /// `except` (usually its sender).
    pub fn publish_except(
        &self,
        topic: &str,
        except: ClientId,
        message: impl Into<Message>,
    ) -> Result<()> {
        let message = message.into();
        self.publish_here_except(topic, except, message.clone())?;
        self.forward(topic, &message);
        Ok(())
    }

    /// Publishes to this node's subscribers but `except` only.
    pub(crate) fn publish_here_except(
        &self,
        topic: &str,
        except: ClientId,
        message: Message,
    ) -> Result<()> {
        let frame = self.counted(message.encode())?;
        self.post(Event::Publish {
            topic: topic.into(),
            frame,
            except: Some(except),
        })
    }

    /// How many topics have at least one subscriber now (as last counted
    /// by the hub, which applies subscriptions in order with everything
    /// else it is told).
    pub fn topic_count(&self) -> usize {
        self.topic_count.load(Ordering::Relaxed)
    }
}

impl HubThread {
    pub(super) fn subscribe(&mut self, id: ClientId, topic: Arc<str>) {
        // A client already removed (its subscribe crossed its leaving)
        // has nobody to end the subscription: it is not made.
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if let Some(name) = self.topics.add(id, topic) {
            c.topics.push(name);
        }
    }

    pub(super) fn unsubscribe(&mut self, id: ClientId, topic: &str) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if let Some(at) = c.topics.iter().position(|t| &**t == topic) {
            c.topics.swap_remove(at);
            self.topics.remove(id, topic);
        }
    }

    /// Ends every subscription of a client being removed.
    pub(super) fn leave_topics(&mut self, id: ClientId, topics: Vec<Arc<str>>) {
        for topic in topics {
            self.topics.remove(id, &topic);
        }
    }

    pub(super) fn publish(&mut self, topic: &str, frame: Bytes, except: Option<ClientId>) {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        // `queue` skips a client that is not open (or opening) itself, so
        // a delivery costs one lookup of the client.
        ids.extend(
            self.topics
                .subscribers(topic)
                .filter(|id| Some(*id) != except),
        );
        self.deliver(ids, frame);
    }

    /// Queues one frame for each of `ids`; `ids` is the hub's reused list,
    /// so a broadcast or a publish allocates nothing.
    pub(super) fn deliver(&mut self, ids: Vec<ClientId>, frame: Bytes) {
        for &id in &ids {
            self.queue(id, frame.clone(), false);
        }
        self.scratch = ids;
    }
}
