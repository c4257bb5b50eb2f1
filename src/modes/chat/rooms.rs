//! The chat's state: who is here under which name, in which room, and
//! each room's recent history. Names are unique across the server; rooms
//! come and go as people name them, up to a limit.
//!
//! A room exists while it has members. An empty room keeps its history for
//! at least `KEPT_EMPTY`, so that the last person to leave finds it on
//! coming back (a reload, a phone that slept); its history stays counted
//! against the memory budget meanwhile, and it counts against the room
//! limit. When a new room would pass the limit, the room emptied longest
//! ago gives way first. Expired rooms are swept whenever someone enters a
//! room.
//!
//! With several nodes, a room here goes as soon as none of its members is
//! on this node: its history is in Redis, and is read again from there.
//!
//! The lobby is always open and not counted: however many rooms visitors
//! make, a newcomer without a room always gets in.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::LOBBY;
use super::history::History;
use super::rate::Allowance;
use crate::ClientId;

/// How long an empty room keeps its history.
pub(super) const KEPT_EMPTY: Duration = Duration::from_secs(10 * 60);

#[derive(Debug)]
pub(super) struct Member {
    pub name: String,
    pub room: String,
    pub allowance: Allowance,
    /// The name is held in Redis for this node (chosen with `/nick`
    /// while nodes share the chat).
    pub claimed: bool,
}

#[derive(Debug, Default)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(super) struct Room {
    pub members: HashSet<ClientId>,
    pub history: History,
    /// Since when it has had no members.
    empty_since: Option<Instant>,
    /// Its history is here: always on one node; with several, once it has
    /// been read from Redis (`shared`).
    pub loaded: bool,
    /// While its history is read from Redis: what the other nodes said in
    /// it meanwhile, with each message's number.
    pub loading: Option<Vec<(u64, String)>>,
    /// The number of the last message from Redis it has (in its history,
    /// or delivered): any not above it is not delivered again.
    pub floor: u64,
    /// Messages said here from this number on were delivered when said.
    pub said_from: u64,
}

/// The server has its limit of rooms, all with members: no new one now.
pub(super) struct Full;

#[derive(Debug, Default)]
pub(super) struct State {
    pub members: HashMap<ClientId, Member>,
    /// Every member's name, for uniqueness across rooms.
    names: HashSet<String>,
    pub rooms: HashMap<String, Room>,
    guests: u64,
    /// This node's id, when nodes share the chat through Redis.
    pub node: Option<String>,
    /// Who is on the other nodes.
    #[cfg(feature = "redis")]
    pub remote: super::remote::Remote,
    /// The number of the next message said on this node.
    pub next_said: u64,
}

impl State {
    pub(super) fn taken(&self, name: &str) -> bool {
        #[cfg(feature = "redis")]
        if self.remote.has(name) {
            return true;
        }
        self.names.contains(name)
    }

    /// Whether nodes share the chat: then a room's history is in Redis,
    /// and a room goes as soon as no one here is in it.
    pub(super) fn shared(&self) -> bool {
        self.node.is_some()
    }

    /// The next free `guest-N`.
    pub(super) fn guest_name(&mut self) -> String {
        loop {
            self.guests += 1;
            // With several nodes the node's id makes the name unique
            // without asking Redis.
            let name = match &self.node {
                Some(node) => format!("guest-{node}-{}", self.guests),
                None => format!("guest-{}", self.guests),
            };
            if !self.taken(&name) {
                return name;
            }
        }
    }

    /// Makes sure room `name` exists, making it if the limit of `max`
    /// rooms besides the lobby allows.
    pub(super) fn open_room(&mut self, name: &str, max: usize) -> Result<(), Full> {
        self.sweep(KEPT_EMPTY);
        if self.rooms.contains_key(name) {
            return Ok(());
        }
        let counted = self.rooms.len() - usize::from(self.rooms.contains_key(LOBBY));
        if name != LOBBY && counted >= max {
            let oldest = self
                .rooms
                .iter()
                .filter(|(name, _)| name.as_str() != LOBBY)
                .filter_map(|(name, room)| Some((room.empty_since?, name)))
                .min()
                .map(|(_, name)| name.clone());
            self.rooms.remove(&oldest.ok_or(Full)?);
        }
        let room = Room {
            loaded: !self.shared(),
            ..Room::default()
        };
        self.rooms.insert(name.to_string(), room);
        Ok(())
    }

    /// Drops the rooms that have been empty for `kept` or longer.
    fn sweep(&mut self, kept: Duration) {
        let now = Instant::now();
        self.rooms.retain(|_, room| {
            room.empty_since
                .is_none_or(|since| now.duration_since(since) < kept)
        });
    }

    /// Puts a member into `room`, which `open_room` has made.
    pub(super) fn enter(&mut self, id: ClientId, member: Member) {
        if let Some(room) = self.rooms.get_mut(&member.room) {
            room.members.insert(id);
            room.empty_since = None;
        }
        self.names.insert(member.name.clone());
        self.members.insert(id, member);
    }

    /// Takes a member out of its room; an emptied room without history
    /// goes at once.
    fn leave_room(&mut self, id: ClientId) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        if let Some(room) = self.rooms.get_mut(&member.room) {
            room.members.remove(&id);
            if room.members.is_empty() {
                if room.history.is_empty() || self.node.is_some() {
                    self.rooms.remove(&member.room);
                } else {
                    room.empty_since = Some(Instant::now());
                }
            }
        }
    }

    /// Whether the member's room goes when it leaves: it is alone in a
    /// counted room that keeps no history. Moving it then makes no room.
    pub(super) fn leaving_frees_a_room(&self, id: ClientId) -> bool {
        let Some(member) = self.members.get(&id) else {
            return false;
        };
        member.room != LOBBY
            && self
                .rooms
                .get(&member.room)
                .is_some_and(|r| r.members.len() == 1 && (r.history.is_empty() || self.shared()))
    }

    /// Moves a member to `room`, which `open_room` has made.
    pub(super) fn move_to(&mut self, id: ClientId, room: &str) {
        self.leave_room(id);
        if let Some(member) = self.members.get_mut(&id) {
            member.room = room.to_string();
        }
        if let Some(room) = self.rooms.get_mut(room) {
            room.members.insert(id);
            room.empty_since = None;
        }
    }

    /// Takes a member out of its room and of the server.
    pub(super) fn remove(&mut self, id: ClientId) -> Option<Member> {
        self.leave_room(id);
        let member = self.members.remove(&id)?;
        self.names.remove(&member.name);
        Some(member)
    }

    pub(super) fn rename(&mut self, id: ClientId, to: &str) {
        if let Some(member) = self.members.get_mut(&id) {
            self.names.remove(&member.name);
            member.name = to.to_string();
            self.names.insert(member.name.clone());
        }
    }

    /// The names of a room's members, sorted.
    pub(super) fn online<'a>(&'a self, room: &'a str) -> Vec<&'a str> {
        let mut names: Vec<&str> = self
            .rooms
            .get(room)
            .into_iter()
            .flat_map(|r| &r.members)
            .filter_map(|id| Some(self.members.get(id)?.name.as_str()))
            .collect();
        #[cfg(feature = "redis")]
        names.extend(self.remote.names_in(room));
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A room emptied `ago`, keeping history (or it would be gone).
    fn emptied(ago: Duration) -> Room {
        Room {
            empty_since: Instant::now().checked_sub(ago),
            ..Room::default()
        }
    }

    fn rooms(state: &State) -> Vec<&str> {
        let mut names: Vec<&str> = state.rooms.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn empty_rooms_are_kept_for_a_while_then_swept() {
        let mut state = State::default();
        state.rooms.insert("busy".into(), Room::default());
        state.rooms.insert("left".into(), emptied(Duration::ZERO));
        state.sweep(KEPT_EMPTY);
        assert_eq!(rooms(&state), ["busy", "left"]);
        state.sweep(Duration::ZERO);
        assert_eq!(rooms(&state), ["busy"], "a room with members stays");
    }

    #[test]
    fn at_the_limit_the_room_emptied_longest_ago_gives_way() {
        let mut state = State::default();
        state
            .rooms
            .insert(LOBBY.into(), emptied(Duration::from_secs(300)));
        state
            .rooms
            .insert("old".into(), emptied(Duration::from_secs(60)));
        state
            .rooms
            .insert("recent".into(), emptied(Duration::from_secs(1)));
        state.rooms.insert("busy".into(), Room::default());
        // Three rooms besides the lobby, the limit: "old" goes, not the
        // lobby, which is not counted and never gives way.
        assert!(state.open_room("new", 3).is_ok());
        assert_eq!(rooms(&state), ["busy", "lobby", "new", "recent"]);
        assert!(state.open_room("newer", 3).is_ok());
        assert_eq!(rooms(&state), ["busy", "lobby", "new", "newer"]);
        // Only rooms with members (none emptied) left: full.
        assert!(state.open_room("newest", 3).is_err());
        assert!(state.open_room(LOBBY, 3).is_ok(), "the lobby always opens");
    }
}
