//! Chat: server-assigned unique names, every message to everyone as JSON,
//! join, leave and rename notices. The protocol is in the README.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::json::string as js;
use crate::{Client, ClientId, CloseInfo, Handler, Message, Request};

/// The chat room. Names live here, under one lock that is also held while
/// a notice is handed to the hub, so that every client sees joins, renames,
/// messages and leaves in one order, consistent with its `welcome`.
#[derive(Debug, Default)]
pub struct Chat {
    room: Mutex<Room>,
}

#[derive(Debug, Default)]
struct Room {
    names: HashMap<ClientId, String>,
    guests: u64,
}

impl Room {
    fn taken(&self, name: &str) -> bool {
        self.names.values().any(|n| n == name)
    }
}

impl Chat {
    /// An empty room.
    pub fn new() -> Chat {
        Chat::default()
    }

    fn room(&self) -> MutexGuard<'_, Room> {
        // A panic elsewhere while holding the lock leaves the map whole
        // (every change is one insert or remove), so carry on with it.
        self.room.lock().unwrap_or_else(|e| e.into_inner())
    }
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

fn error(text: &str) -> String {
    format!(r#"{{"type":"error","text":{}}}"#, js(text))
}

impl Handler for Chat {
    fn on_open(&self, client: &Client, _request: &Request) {
        let mut room = self.room();
        let name = loop {
            room.guests += 1;
            let name = format!("guest-{}", room.guests);
            if !room.taken(&name) {
                break name;
            }
        };
        room.names.insert(client.id(), name.clone());
        let mut online: Vec<&str> = room.names.values().map(String::as_str).collect();
        online.sort_unstable();
        let online: Vec<String> = online.into_iter().map(js).collect();
        let welcome = format!(
            r#"{{"type":"welcome","name":{},"online":[{}]}}"#,
            js(&name),
            online.join(",")
        );
        let _ = client.send(welcome);
        let join = format!(r#"{{"type":"join","name":{}}}"#, js(&name));
        let _ = client.hub().broadcast_except(client.id(), join);
    }

    fn on_message(&self, client: &Client, message: Message) {
        let Message::Text(text) = message else {
            let _ = client.send(error(
                "binary messages are not supported in chat; send text",
            ));
            return;
        };
        let mut room = self.room();
        let Some(from) = room.names.get(&client.id()).cloned() else {
            return;
        };
        if let Some(wanted) = text.strip_prefix("/nick ") {
            let wanted = wanted.trim();
            let refusal = if !valid_name(wanted) {
                Some("a name is 1 to 32 characters, with no spaces".to_string())
            } else if wanted != from && room.taken(wanted) {
                Some(format!("the name {wanted} is taken"))
            } else {
                None
            };
            if let Some(why) = refusal {
                let _ = client.send(error(&why));
                return;
            }
            room.names.insert(client.id(), wanted.to_string());
            let rename = format!(
                r#"{{"type":"rename","from":{},"to":{}}}"#,
                js(&from),
                js(wanted)
            );
            let _ = client.hub().broadcast(rename);
            return;
        }
        let msg = format!(
            r#"{{"type":"message","from":{},"text":{},"ts":{}}}"#,
            js(&from),
            js(&text),
            now_ms()
        );
        let _ = client.hub().broadcast(msg);
    }

    fn on_close(&self, client: &Client, _close: &CloseInfo) {
        let mut room = self.room();
        if let Some(name) = room.names.remove(&client.id()) {
            let leave = format!(r#"{{"type":"leave","name":{}}}"#, js(&name));
            let _ = client.hub().broadcast(leave);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names() {
        assert!(valid_name("ada"));
        assert!(valid_name(&"é".repeat(32)));
        assert!(!valid_name(&"a".repeat(33)));
        assert!(!valid_name("two words"));
        assert!(!valid_name(""));
        assert!(!valid_name("bell\u{7}"));
    }
}
