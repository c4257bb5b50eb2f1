//! Who is on the other nodes: each node's members and their rooms, as the
//! nodes have told (join, leave, rename, and the whole list when asked).
//! A node taken for dead is forgotten, with its members.

use std::collections::HashMap;

/// A member somewhere: its room and name.
pub(super) type Seat = (String, String);

#[derive(Debug, Default)]
pub(super) struct Remote {
    /// Node id, then name to room.
    nodes: HashMap<String, HashMap<String, String>>,
}

impl Remote {
    pub(super) fn has(&self, name: &str) -> bool {
        self.nodes.values().any(|m| m.contains_key(name))
    }

    /// The names in `room` on every other node.
    pub(super) fn names_in<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.nodes
            .values()
            .flat_map(|m| m.iter())
            .filter(move |(_, r)| r.as_str() == room)
            .map(|(name, _)| name.as_str())
    }

    /// `name` of `node` is in `room` now; the room it was in before.
    pub(super) fn enter(&mut self, node: &str, name: &str, room: &str) -> Option<String> {
        self.nodes
            .entry(node.to_string())
            .or_default()
            .insert(name.to_string(), room.to_string())
    }

    /// `name` of `node` has gone; the room it was in.
    pub(super) fn leave(&mut self, node: &str, name: &str) -> Option<String> {
        self.nodes.get_mut(node)?.remove(name)
    }

    /// `from` of `node` is now called `to`; its room.
    pub(super) fn rename(&mut self, node: &str, from: &str, to: &str) -> Option<String> {
        let members = self.nodes.get_mut(node)?;
        let room = members.remove(from)?;
        members.insert(to.to_string(), room.clone());
        Some(room)
    }

    /// `node`'s whole list, in place of what was known: who left (or
    /// moved out of a room) and who arrived (or moved in).
    pub(super) fn replace(
        &mut self,
        node: &str,
        members: HashMap<String, String>,
    ) -> (Vec<Seat>, Vec<Seat>) {
        let old = self
            .nodes
            .insert(node.to_string(), members)
            .unwrap_or_default();
        let new = &self.nodes[node];
        let left = old
            .iter()
            .filter(|(name, room)| new.get(*name) != Some(room))
            .map(|(name, room)| (room.clone(), name.clone()))
            .collect();
        let arrived = new
            .iter()
            .filter(|(name, room)| old.get(*name) != Some(room))
            .map(|(name, room)| (room.clone(), name.clone()))
            .collect();
        (left, arrived)
    }

    /// Forgets `node` and returns its members.
    pub(super) fn forget(&mut self, node: &str) -> Vec<Seat> {
        self.nodes
            .remove(node)
            .into_iter()
            .flatten()
            .map(|(name, room)| (room, name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_s_list_replaces_what_was_known() {
        let mut remote = Remote::default();
        remote.enter("n1", "ada", "lobby");
        remote.enter("n1", "bob", "kitchen");
        assert_eq!(remote.rename("n1", "bob", "rob"), Some("kitchen".into()));
        assert!(remote.has("rob") && !remote.has("bob"));
        let list = HashMap::from([
            ("ada".to_string(), "kitchen".to_string()),
            ("cy".to_string(), "lobby".to_string()),
        ]);
        let (mut left, mut arrived) = remote.replace("n1", list);
        left.sort();
        arrived.sort();
        assert_eq!(
            left,
            [
                ("kitchen".into(), "rob".into()),
                ("lobby".into(), "ada".into())
            ]
        );
        assert_eq!(
            arrived,
            [
                ("kitchen".into(), "ada".into()),
                ("lobby".into(), "cy".into())
            ]
        );
        assert_eq!(remote.names_in("kitchen").collect::<Vec<_>>(), ["ada"]);
        let mut gone = remote.forget("n1");
        gone.sort();
        assert_eq!(gone.len(), 2);
        assert!(!remote.has("ada"));
        assert_eq!(remote.leave("n1", "ada"), None);
    }
}
