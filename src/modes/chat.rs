//! Chat: server-assigned unique names, every message to everyone as JSON,
//! join, leave and rename notices. The protocol is in the README.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::json::string as js;
use crate::{Client, ClientId, CloseInfo, Handler, Message, Request};

/// The chat room. Names live here, under one lock that is also held while
/// a notice is handed to the hub, so that every client sees joins, renames,
/// messages and leaves in one order, consistent with its `welcome`.
#[derive(Debug)]
pub struct Chat {
    room: Mutex<Room>,
    rate: Rate,
}

/// A per-client message allowance: `per_second` on average, `burst` at once.
#[derive(Clone, Copy, Debug)]
struct Rate {
    per_second: f64,
    burst: f64,
}

#[derive(Debug, Default)]
struct Room {
    members: HashMap<ClientId, Member>,
    guests: u64,
}

#[derive(Debug)]
struct Member {
    name: String,
    /// Messages this client may still send now (a token bucket).
    allowance: f64,
    last: Instant,
    /// Told to slow down, and has not since.
    warned: bool,
}

impl Room {
    fn taken(&self, name: &str) -> bool {
        self.members.values().any(|m| m.name == name)
    }
}

/// What the rate limit says about one message.
enum Verdict {
    Pass,
    Warn,
    Close,
}

impl Member {
    fn spend(&mut self, rate: Rate) -> Verdict {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * rate.per_second;
        self.allowance = (self.allowance + earned).min(rate.burst);
        self.last = now;
        if self.allowance >= 1.0 {
            self.allowance -= 1.0;
            self.warned = false;
            Verdict::Pass
        } else if !self.warned {
            self.warned = true;
            Verdict::Warn
        } else {
            Verdict::Close
        }
    }
}

impl Default for Chat {
    fn default() -> Self {
        Chat::new()
    }
}

impl Chat {
    /// An empty room, allowing each client 10 messages a second with
    /// bursts of 20.
    pub fn new() -> Chat {
        Chat::with_rate_limit(10.0, 20)
    }

    /// An empty room where each client may send `per_second` messages on
    /// average and `burst` at once. Over it a client gets an `error`; if it
    /// goes on before its allowance recovers, it is closed with 1008.
    pub fn with_rate_limit(per_second: f64, burst: u32) -> Chat {
        let rate = Rate {
            per_second: per_second.max(0.0),
            burst: f64::from(burst.max(1)),
        };
        Chat {
            room: Mutex::new(Room::default()),
            rate,
        }
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
        let member = Member {
            name: name.clone(),
            allowance: self.rate.burst,
            last: Instant::now(),
            warned: false,
        };
        room.members.insert(client.id(), member);
        let mut online: Vec<&str> = room.members.values().map(|m| m.name.as_str()).collect();
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
        let Some(member) = room.members.get_mut(&client.id()) else {
            return;
        };
        match member.spend(self.rate) {
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
        let from = member.name.clone();
        if let Some(wanted) = text
            .strip_prefix("/nick")
            .filter(|w| w.is_empty() || w.starts_with(' '))
        {
            let wanted = wanted.trim();
            let refusal = if !valid_name(wanted) {
                Some("usage: /nick NAME (1 to 32 characters, no spaces)".to_string())
            } else if wanted == from {
                Some(format!("you are already {wanted}"))
            } else if room.taken(wanted) {
                Some(format!("the name {wanted} is taken"))
            } else {
                None
            };
            if let Some(why) = refusal {
                let _ = client.send(error(&why));
                return;
            }
            if let Some(m) = room.members.get_mut(&client.id()) {
                m.name = wanted.to_string();
            }
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
        // A refused message is the sender's to retry; the lock is not held
        // up, since a send never waits.
        if let Err(crate::Error::Busy { .. }) = client.hub().broadcast(msg) {
            let _ = client.send(error("the server is busy: message not sent, try again"));
        }
    }

    fn on_close(&self, client: &Client, _close: &CloseInfo) {
        let mut room = self.room();
        if let Some(member) = room.members.remove(&client.id()) {
            let leave = format!(r#"{{"type":"leave","name":{}}}"#, js(&member.name));
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
