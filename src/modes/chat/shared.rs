//! The chat across nodes, with [`Server::redis`](crate::Server::redis).
//!
//! # What each node knows, and how
//!
//! - **Messages** are delivered to the sender's room on its own node at
//!   once, as on one node, and handed to the node's publisher, which has
//!   Redis number them in their room, keep them in the room's history and
//!   publish them, in one step (a script). The other nodes deliver them as
//!   they arrive, in the order the sender's node handed them over.
//! - **History** lives in Redis (the last `--history` messages of each
//!   room, for a day after its last message), so it survives any node.
//!   A node reads a room's history when someone here enters a room no one
//!   here was in, with the lock released. Messages can arrive while it
//!   reads: the room collects them meanwhile, and the message numbers say
//!   which ones the history read has already (not above the last number
//!   read) and which it has not. After that, a message whose number is not
//!   above the room's `floor` has reached the room's members already, in
//!   their history or live, and is skipped: a newcomer misses nothing said
//!   while it joined, and gets nothing twice. While this node has members
//!   in a room it keeps the room's history here too, as on one node, so a
//!   newcomer to a room with members costs no round trip.
//! - **Presence**: each node tells the others who joins, leaves and
//!   renames; `welcome` lists the room's members on every node. A node
//!   that connects (or reconnects) sends its whole list and asks the
//!   others for theirs. A node silent for [`GONE_AFTER`] (its beats
//!   stopped: killed, cut off) is forgotten, and its members leave every
//!   list with a `leave` notice.
//! - **Names**: a guest name carries the node's id (`guest-k3x9q-4`), so
//!   it is unique with no round trip; names of that form cannot be chosen.
//!   A name chosen with `/nick` is claimed in Redis (`SET NX`, with
//!   [`NAME_TTL`] renewed by its node), so two clients on two nodes asking
//!   for one name at once get one yes and one no. While Redis is away,
//!   `/nick` answers with an error saying to try again: a name cannot be
//!   made sure of then. A dead node's names come free after `NAME_TTL`.
//!
//! Nothing here waits for Redis with the chat's lock held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use log::debug;

use super::history::{Bounds, History};
use super::notices::{error, join, kept, leave, renamed};
use super::rooms::State;
use super::told::Told;
use super::{Chat, lock, topic};
#[cfg(doc)]
use crate::nodes::{GONE_AFTER, NAME_TTL};
use crate::nodes::{Kind, Listener, Nodes};
use crate::{Client, Hub};

impl Chat {
    /// Joins the other nodes, if the server has them.
    pub(super) fn share(&self, hub: &Hub) {
        let Some(nodes) = hub.nodes() else {
            return;
        };
        lock(&self.state).node = Some(nodes.id().to_string());
        let _ = self.nodes.set(nodes.clone());
        nodes.listen(Arc::new(Heard {
            state: self.state.clone(),
            history: self.history,
        }));
    }

    /// Queues what the other nodes are to hear; called with the lock held,
    /// so this node's news leave in the order they happened.
    pub(super) fn tell(&self, _state: &State, told: Told<'_>) {
        let Some(nodes) = self.nodes.get() else {
            return;
        };
        match told {
            Told::Joined(room, name) => nodes.tell(Kind::Joined, &format!("{room} {name}")),
            Told::Left(room, name) => nodes.tell(Kind::Left, &format!("{room} {name}")),
            Told::Renamed(room, from, to) => {
                nodes.tell(Kind::Renamed, &format!("{room} {from} {to}"))
            }
            Told::Said(room, said, live) => {
                // Too long to keep: numbered and sent, not kept.
                let keep = if live.len() <= self.history.bytes {
                    self.history.count
                } else {
                    0
                };
                nodes.said(room, &format!("{} {said} {room} {live}", nodes.id()), keep)
            }
        };
    }

    /// Makes sure room `room` (opened by the caller) has its history here,
    /// reading it from Redis with the lock released if no one here is in
    /// it; returns the lock, taken again.
    pub(super) fn ready<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        client: &Client,
        room: &str,
    ) -> MutexGuard<'a, State> {
        let Some(nodes) = self.nodes.get() else {
            return state;
        };
        let Some(r) = state.rooms.get_mut(room) else {
            return state;
        };
        if r.loaded {
            return state;
        }
        r.loading.get_or_insert_with(Vec::new);
        drop(state);
        let read = nodes.history(room).unwrap_or_else(|e| {
            debug!("redis: the history of room {room} could not be read: {e}");
            Vec::new()
        });
        let mut state = self.state();
        install(&mut state, client.hub(), self.history, room, &read);
        state
    }

    /// Claims `wanted` in Redis for the client now called `from`, with the
    /// lock released; the lock again if it may take it, or `None` (the
    /// client has been told why).
    pub(super) fn claim<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        client: &Client,
        from: &str,
        wanted: &str,
    ) -> Option<MutexGuard<'a, State>> {
        let Some(nodes) = self.nodes.get() else {
            return Some(state);
        };
        drop(state);
        let refusal = match nodes.claim(wanted) {
            Ok(true) => None,
            Ok(false) => Some(format!("the name {wanted} is taken")),
            Err(e) => {
                debug!("redis: could not claim the name {wanted}: {e}");
                Some(
                    "names cannot be changed while this server cannot reach the other nodes (Redis); try again in a moment"
                        .to_string(),
                )
            }
        };
        if let Some(why) = refusal {
            let _ = client.send(error(&why));
            return None;
        }
        let state = self.state();
        // Gone, or renamed meanwhile: the claim is given back.
        if state
            .members
            .get(&client.id())
            .is_none_or(|m| m.name != from)
        {
            self.release(wanted);
            return None;
        }
        Some(state)
    }

    pub(super) fn release(&self, name: &str) {
        if let Some(nodes) = self.nodes.get() {
            nodes.release(name);
        }
    }
}

/// Puts what was read of a room's history, and what arrived while it was
/// read, in the room; unless another newcomer has done it first.
fn install(state: &mut State, hub: &Hub, bounds: Bounds, room: &str, read: &[Vec<u8>]) {
    let said_from = state.next_said;
    let Some(r) = state.rooms.get_mut(room) else {
        return;
    };
    if r.loaded {
        return;
    }
    let mut entries: Vec<(u64, String)> = read
        .iter()
        .filter_map(|item| std::str::from_utf8(item).ok())
        .filter_map(Said::parse)
        .map(|s| (s.seq, s.live.to_string()))
        .collect();
    let last = entries.last().map_or(0, |(seq, _)| *seq);
    let arrived = r.loading.take().unwrap_or_default();
    entries.extend(arrived.into_iter().filter(|(seq, _)| *seq > last));
    r.history = History::default();
    for (_, live) in &entries {
        r.history.push(hub, bounds, kept(live));
    }
    r.floor = entries.iter().map(|(seq, _)| *seq).max().unwrap_or(0);
    r.said_from = said_from;
    r.loaded = true;
}

/// A numbered message, as Redis keeps and publishes it:
/// `SEQ NODE SAID ROOM MESSAGE`.
struct Said<'a> {
    seq: u64,
    node: &'a str,
    said: u64,
    room: &'a str,
    live: &'a str,
}

impl<'a> Said<'a> {
    fn parse(text: &'a str) -> Option<Said<'a>> {
        let mut parts = text.splitn(5, ' ');
        Some(Said {
            seq: parts.next()?.parse().ok()?,
            node: parts.next()?,
            said: parts.next()?.parse().ok()?,
            room: parts.next()?,
            live: parts.next()?,
        })
    }
}

/// What the chat hears from the other nodes, on the subscriber thread.
struct Heard {
    state: Arc<Mutex<State>>,
    history: Bounds,
}

impl Heard {
    /// A message said in a room, on any node (this one's too: its number
    /// is news here).
    fn said(&self, state: &mut State, hub: &Hub, said: Said<'_>) {
        let own = state.node.as_deref() == Some(said.node);
        let Some(r) = state.rooms.get_mut(said.room) else {
            return;
        };
        if !r.loaded {
            if let Some(arrived) = &mut r.loading {
                arrived.push((said.seq, said.live.to_string()));
                // Only the newest can end in the history (and the newest
                // number is the floor): a flood while the history is read
                // holds no more than the history would.
                if arrived.len() > self.history.count.max(1) {
                    arrived.remove(0);
                }
            }
            return;
        }
        if said.seq <= r.floor {
            return;
        }
        r.floor = said.seq;
        if own && said.said >= r.said_from {
            return;
        }
        if let Err(e) = hub.publish_here(&topic(said.room), said.live.into()) {
            debug!(
                "redis: a message in room {} was not delivered: {e}",
                said.room
            );
            return;
        }
        r.history.push(hub, self.history, kept(said.live));
    }
}

/// Tells this node's members in `room` (if any are here).
fn notice(state: &State, hub: &Hub, room: &str, text: String) {
    if state.rooms.contains_key(room) {
        let _ = hub.publish_here(&topic(room), text.into());
    }
}

/// Sends this node's whole list to the others.
fn announce(state: &State, nodes: &Nodes) {
    let list: Vec<String> = state
        .members
        .values()
        .map(|m| format!("{} {}", m.room, m.name))
        .collect();
    nodes.tell(Kind::Members, &list.join("\n"));
}

impl Listener for Heard {
    fn on_message(&self, hub: &Hub, from: &str, kind: Kind, body: &[u8]) {
        let Ok(body) = std::str::from_utf8(body) else {
            return;
        };
        let mut state = lock(&self.state);
        let own = state.node.as_deref() == Some(from);
        let pair = || body.split_once(' ');
        match kind {
            Kind::Said => {
                if let Some(said) = Said::parse(body) {
                    self.said(&mut state, hub, said);
                }
            }
            _ if own => {}
            Kind::Joined => {
                if let Some((room, name)) = pair() {
                    match state.remote.enter(from, name, room) {
                        Some(was) if was == room => return,
                        Some(was) => notice(&state, hub, &was, leave(&was, name)),
                        None => {}
                    }
                    notice(&state, hub, room, join(room, name));
                }
            }
            Kind::Left => {
                if let Some((room, name)) = pair()
                    && state.remote.leave(from, name).is_some()
                {
                    notice(&state, hub, room, leave(room, name));
                }
            }
            Kind::Renamed => {
                let mut parts = body.splitn(3, ' ');
                if let (Some(_), Some(old), Some(new)) = (parts.next(), parts.next(), parts.next())
                    && let Some(room) = state.remote.rename(from, old, new)
                {
                    notice(&state, hub, &room, renamed(&room, old, new));
                }
            }
            Kind::Members => {
                let list: HashMap<String, String> = body
                    .lines()
                    .filter_map(|line| line.split_once(' '))
                    .map(|(room, name)| (name.to_string(), room.to_string()))
                    .collect();
                let (left, arrived) = state.remote.replace(from, list);
                for (room, name) in left {
                    notice(&state, hub, &room, leave(&room, &name));
                }
                for (room, name) in arrived {
                    notice(&state, hub, &room, join(&room, &name));
                }
            }
            Kind::Hello => {
                if let Some(nodes) = hub.nodes() {
                    announce(&state, nodes);
                }
            }
            _ => {}
        }
    }

    fn on_subscribed(&self) {
        // A new subscription carries only what is published from now on,
        // and Redis may have started again (its numbers with it).
        for room in lock(&self.state).rooms.values_mut() {
            room.floor = 0;
        }
    }

    fn on_connected(&self, hub: &Hub) {
        let state = lock(&self.state);
        if let Some(nodes) = hub.nodes() {
            announce(&state, nodes);
            nodes.tell(Kind::Hello, "");
        }
    }

    fn announce(&self, hub: &Hub) {
        let state = lock(&self.state);
        if let Some(nodes) = hub.nodes() {
            announce(&state, nodes);
        }
    }

    fn on_node_seen(&self, hub: &Hub, _node: &str) {
        // Its list, and everyone's, comes in answer.
        if let Some(nodes) = hub.nodes() {
            let _state = lock(&self.state);
            nodes.tell(Kind::Hello, "");
        }
    }

    fn on_node_gone(&self, hub: &Hub, node: &str) {
        let mut state = lock(&self.state);
        for (room, name) in state.remote.forget(node) {
            notice(&state, hub, &room, leave(&room, &name));
        }
    }

    fn claims(&self) -> Vec<String> {
        lock(&self.state)
            .members
            .values()
            .filter(|m| m.claimed)
            .map(|m| m.name.clone())
            .collect()
    }
}
