//! Chat: rooms, server-assigned names unique across the server, every
//! message to everyone in its room as JSON, join, leave and rename notices,
//! and a room's recent history for newcomers. The protocol is in the
//! README.
//!
//! A client enters the room named in its URL (`/ws?room=NAME`, the lobby
//! without one) and may move with `/join NAME`. Each room is a hub topic:
//! what is said in it is published to the topic, so it reaches exactly the
//! room's members.
//!
//! With [`Server::redis`](crate::Server::redis) the chat spans every node
//! on the same Redis: see `shared`.
//!
//! The parts: `rooms` is the state (members, names, rooms and their
//! lifecycle), `history` a room's recent messages, `rate` the per-client
//! allowance, `notices` the texts it sends; `remote` who is on the other
//! nodes, `told` what a node tells the others and `shared` how.

mod history;
mod notices;
mod rate;
#[cfg(feature = "redis")]
mod remote;
mod rooms;
#[cfg(feature = "redis")]
mod shared;
mod told;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use log::info;

use self::history::Bounds;
use self::notices::{error, join, kept, leave, renamed, too_many_rooms};
use self::rate::{Allowance, Rate, Verdict};
use self::rooms::{Member, State};
use self::told::Told;
use super::names;
use crate::json::string as js;
use crate::{Accepted, Client, CloseInfo, Handler, Message, Refusal, Request, Utf8Bytes};

/// The room of a client whose URL names none.
pub const LOBBY: &str = "lobby";

/// The chat server. Its state lives under one lock, also held while a
/// notice is handed to the hub, so that every member of a room sees joins,
/// renames, messages and leaves in one order, consistent with its
/// `welcome` and history. Handing over never waits for a client or for
/// memory (see [`Hub`](crate::Hub)); it waits only if the hub's inbox is
/// full, until the hub, which never takes this lock, has taken some.
/// Nothing is looked up in another node or Redis while it is held: what
/// goes to the other nodes is queued for the node's publisher, and the
/// round trips (a name claimed, a room's history read) happen with the
/// lock released.
#[derive(Debug)]
pub struct Chat {
    state: Arc<Mutex<State>>,
    rate: Rate,
    history: Bounds,
    max_rooms: usize,
    /// The link to the other nodes, set at start with `--redis`.
    #[cfg(feature = "redis")]
    nodes: std::sync::OnceLock<Arc<crate::nodes::Nodes>>,
}

impl Default for Chat {
    fn default() -> Self {
        Chat::new()
    }
}

impl Chat {
    /// A chat allowing each client 10 messages a second with bursts of 20,
    /// keeping each room's last 20 messages (at most 64 KiB of them), with
    /// at most [`DEFAULT_MAX_ROOMS`](super::DEFAULT_MAX_ROOMS) rooms.
    pub fn new() -> Chat {
        Chat::with_rate_limit(10.0, 20)
    }

    /// A chat where each client may send `per_second` messages on average
    /// and `burst` at once. Over it a client gets an `error`; if it goes on
    /// before its allowance recovers, it is closed with 1008.
    pub fn with_rate_limit(per_second: f64, burst: u32) -> Chat {
        let rate = Rate {
            per_second: per_second.max(0.0),
            burst: f64::from(burst.max(1)),
        };
        Chat {
            state: Arc::default(),
            rate,
            history: Bounds {
                count: 20,
                bytes: 64 * 1024,
            },
            max_rooms: names::DEFAULT_MAX_ROOMS,
            #[cfg(feature = "redis")]
            nodes: std::sync::OnceLock::new(),
        }
    }

    /// Keeps each room's last `count` messages, at most `bytes` bytes of
    /// them, for newcomers (0 keeps none). They are counted against the
    /// server's memory budget; an empty room keeps its history for at
    /// least 10 minutes, until someone next enters a room after that.
    pub fn history(mut self, count: usize, bytes: usize) -> Chat {
        self.history = Bounds { count, bytes };
        self
    }

    /// Allows at most `max` rooms at once besides the lobby, which is
    /// always open. A client entering one more gets an `error` (and, if it
    /// was connecting, a close with 1013); a room that is empty but keeps
    /// its history gives way first. 0 leaves only the lobby.
    pub fn max_rooms(mut self, max: usize) -> Chat {
        self.max_rooms = max;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Tells a client it is in `room`: the `welcome`, then the room's
    /// history. The caller has subscribed it to the room's topic and holds
    /// the lock, so nothing said in the room comes in between.
    fn welcome(&self, client: &Client, state: &State, room: &str) {
        let Some(me) = state.members.get(&client.id()) else {
            return;
        };
        let online: Vec<String> = state.online(room).into_iter().map(js).collect();
        let welcome = format!(
            r#"{{"type":"welcome","room":{},"name":{},"online":[{}]}}"#,
            js(room),
            js(&me.name),
            online.join(",")
        );
        if let Err(crate::Error::Busy { .. }) = client.send(welcome) {
            // Without its welcome the client cannot know where it is (the
            // list of a room of hundreds is a large frame): it is closed,
            // to come back when the budget has room.
            super::busy(client);
            return;
        }
        let history = state
            .rooms
            .get(room)
            .into_iter()
            .flat_map(|r| r.history.iter());
        for message in history {
            if let Err(crate::Error::Busy { .. }) = client.send(Message::Text(message.clone())) {
                let _ = client.send(error("the server is busy: some history was not sent"));
                return;
            }
        }
    }

    fn refuse_room(&self, client: &Client, room: &str) {
        info!(
            "#{} {}: refused room {room}: the server is at its limit of {} rooms (raise it with --max-rooms)",
            client.id(),
            client.peer(),
            self.max_rooms
        );
    }

    /// `/join ROOM`: leaves the current room for `room`, keeping the name.
    fn join<'a>(&'a self, client: &Client, mut state: MutexGuard<'a, State>, room: &str) {
        let Some(old) = state.members.get(&client.id()).map(|m| m.room.clone()) else {
            return;
        };
        if !names::valid(room) {
            let _ = client.send(error(&format!("usage: /join ROOM ({})", names::RULE)));
            return;
        }
        if room == old {
            let _ = client.send(error(&format!("you are in {room} already")));
            return;
        }
        // Moving out of a room that then goes is not one room more.
        let max = self.max_rooms + usize::from(state.leaving_frees_a_room(client.id()));
        if state.open_room(room, max).is_err() {
            self.refuse_room(client, room);
            let _ = client.send(error(&too_many_rooms(self.max_rooms)));
            return;
        }
        state = self.ready(state, client, room);
        let Some(name) = state.members.get(&client.id()).map(|m| m.name.clone()) else {
            return;
        };
        let hub = client.hub();
        let _ = hub.publish_here_except(&topic(&old), client.id(), leave(&old, &name).into());
        // Counted on this client's token: the welcome below waits until
        // the hub has queued everything the old room sent before.
        let _ = client.unsubscribe(&topic(&old));
        state.move_to(client.id(), room);
        let _ = client.subscribe(&topic(room));
        self.welcome(client, &state, room);
        let _ = hub.publish_here_except(&topic(room), client.id(), join(room, &name).into());
        self.tell(&state, Told::Left(&old, &name));
        self.tell(&state, Told::Joined(room, &name));
    }

    /// `/nick NAME`: a new name, unique across the server (and across
    /// nodes: see `shared`).
    fn rename<'a>(&'a self, client: &Client, mut state: MutexGuard<'a, State>, wanted: &str) {
        let Some(member) = state.members.get(&client.id()) else {
            return;
        };
        let from = member.name.clone();
        let refusal = if !valid_name(wanted) {
            Some("usage: /nick NAME (1 to 32 characters, no spaces)".to_string())
        } else if wanted == from {
            Some(format!("you are already {wanted}"))
        } else if state.taken(wanted) {
            Some(format!("the name {wanted} is taken"))
        } else if state.shared() && wanted.starts_with("guest-") {
            Some("names starting with guest- are the server's to give; choose another".into())
        } else {
            None
        };
        if let Some(why) = refusal {
            let _ = client.send(error(&why));
            return;
        }
        let claimed = state.shared();
        if claimed {
            match self.claim(state, client, &from, wanted) {
                Some(again) => state = again,
                None => return,
            }
        }
        let Some(member) = state.members.get_mut(&client.id()) else {
            return;
        };
        let (room, released) = (member.room.clone(), member.claimed);
        member.claimed = claimed;
        state.rename(client.id(), wanted);
        let rename = renamed(&room, &from, wanted);
        let _ = client.hub().publish_here(&topic(&room), rename.into());
        self.tell(&state, Told::Renamed(&room, &from, wanted));
        if released {
            self.release(&from);
        }
    }

    fn say(&self, client: &Client, state: &mut State, text: &str) {
        let said = state.next_said;
        state.next_said += 1;
        let Some(member) = state.members.get(&client.id()) else {
            return;
        };
        let room = member.room.clone();
        let live = Utf8Bytes::from(format!(
            r#"{{"type":"message","room":{},"from":{},"text":{},"ts":{}}}"#,
            js(&room),
            js(&member.name),
            js(text),
            now_ms()
        ));
        // A refused message is the sender's to retry; the lock is not held
        // up, since a publish never waits.
        if let Err(crate::Error::Busy { .. }) = client
            .hub()
            .publish_here(&topic(&room), Message::Text(live.clone()))
        {
            let _ = client.send(error("the server is busy: message not sent, try again"));
            return;
        }
        if let Some(r) = state.rooms.get_mut(&room) {
            r.history.push(client.hub(), self.history, kept(&live));
        }
        self.tell(state, Told::Said(&room, said, &live));
    }
}

/// A room's hub topic.
fn topic(room: &str) -> String {
    format!("room:{room}")
}

/// The chat's lock. A panic elsewhere while holding it leaves the maps
/// whole (each change is a few inserts or removes), so carry on with them.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the Unix epoch, for the `ts` field.
fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// A name a person can see and type: 1 to 32 characters, none of them
/// white space or control characters.
fn valid_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=32).contains(&count) && name.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

/// The text after a command word (`/nick`, `/join`), if `text` is that
/// command.
fn command<'t>(text: &'t str, word: &str) -> Option<&'t str> {
    let rest = text.strip_prefix(word)?;
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim())
}

impl Handler for Chat {
    fn on_handshake(&self, request: &Request) -> Result<Accepted, Refusal> {
        names::from_query(request, "room").map(|_| Accepted::default())
    }

    fn on_open(&self, client: &Client, request: &Request) {
        let room = request
            .query_param("room")
            .unwrap_or_else(|| LOBBY.to_string());
        let mut state = self.state();
        if state.open_room(&room, self.max_rooms).is_err() {
            drop(state);
            self.refuse_room(client, &room);
            let _ = client.send(error(&too_many_rooms(self.max_rooms)));
            // "1013 indicates that the service is experiencing overload"
            // (IANA registry, "Try Again Later").
            let _ = client.close(1013, "too many rooms, try again later");
            return;
        }
        state = self.ready(state, client, &room);
        let name = state.guest_name();
        let member = Member {
            name: name.clone(),
            room: room.clone(),
            allowance: Allowance::full(self.rate),
            claimed: false,
        };
        state.enter(client.id(), member);
        let _ = client.subscribe(&topic(&room));
        self.welcome(client, &state, &room);
        let _ =
            client
                .hub()
                .publish_here_except(&topic(&room), client.id(), join(&room, &name).into());
        self.tell(&state, Told::Joined(&room, &name));
    }

    fn on_message(&self, client: &Client, message: Message) {
        let Message::Text(text) = message else {
            let _ = client.send(error(
                "binary messages are not supported in chat; send text",
            ));
            return;
        };
        let mut state = self.state();
        let Some(member) = state.members.get_mut(&client.id()) else {
            return;
        };
        match member.allowance.spend(self.rate) {
            Verdict::Pass => {}
            Verdict::Warn => {
                let _ = client.send(error("slow down: too many messages; wait a moment"));
                return;
            }
            Verdict::Close => {
                // "1008 indicates that an endpoint is terminating the
                // connection because it has received a message that violates
                // its policy."
                let _ = client.close(1008, "too many messages");
                return;
            }
        }
        if let Some(wanted) = command(&text, "/nick") {
            self.rename(client, state, wanted);
        } else if let Some(room) = command(&text, "/join") {
            self.join(client, state, room);
        } else {
            self.say(client, &mut state, &text);
        }
    }

    fn on_close(&self, client: &Client, _close: &CloseInfo) {
        let mut state = self.state();
        if let Some(member) = state.remove(client.id()) {
            let leave = leave(&member.room, &member.name);
            let _ = client
                .hub()
                .publish_here(&topic(&member.room), leave.into());
            self.tell(&state, Told::Left(&member.room, &member.name));
            if member.claimed {
                self.release(&member.name);
            }
        }
    }

    fn on_start(&self, hub: &crate::Hub) {
        #[cfg(feature = "redis")]
        self.share(hub);
        #[cfg(not(feature = "redis"))]
        let _ = hub;
    }
}

#[cfg(test)]
mod tests {
    use super::{command, valid_name};

    #[test]
    fn names() {
        assert!(valid_name("ada"));
        assert!(valid_name(&"é".repeat(32)));
        assert!(!valid_name(&"a".repeat(33)));
        assert!(!valid_name("two words"));
        assert!(!valid_name(""));
        assert!(!valid_name("bell\u{7}"));
    }

    #[test]
    fn commands() {
        assert_eq!(command("/nick ada", "/nick"), Some("ada"));
        assert_eq!(command("/nick", "/nick"), Some(""));
        assert_eq!(command("/nickname", "/nick"), None);
        assert_eq!(command("/join  kitchen ", "/join"), Some("kitchen"));
        assert_eq!(command("hello", "/join"), None);
    }
}
