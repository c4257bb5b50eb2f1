//! The names of the node's channels and keys in Redis, all in one place so
//! that the node that writes one and the node that reads it agree.
//!
//! Every name starts with `wshub:DB:`: pub/sub channels are shared by all
//! of a Redis's databases, so the number keeps two deployments on one
//! Redis apart.

#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(db: i64) -> Keys {
        Keys {
            prefix: format!("wshub:{db}:"),
        }
    }

    /// The pattern the subscriber subscribes to: every channel below.
    pub(crate) fn pattern(&self) -> String {
        format!("{}*", self.prefix)
    }

    /// Where each node says it is alive, or going.
    pub(crate) fn beat(&self) -> String {
        format!("{}beat", self.prefix)
    }

    /// Where the chat's news go.
    pub(crate) fn chat(&self) -> String {
        format!("{}chat", self.prefix)
    }

    /// A topic's channel.
    pub(crate) fn topic(&self, topic: &str) -> String {
        format!("{}topic:{topic}", self.prefix)
    }

    /// The topic a channel is for, if it is a topic's.
    pub(crate) fn topic_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel.strip_prefix(&self.prefix)?.strip_prefix("topic:")
    }

    /// A room's history list, and its message counter.
    pub(crate) fn history(&self, room: &str) -> String {
        format!("{}history:{room}", self.prefix)
    }

    pub(crate) fn counter(&self, room: &str) -> String {
        format!("{}seq:{room}", self.prefix)
    }

    /// A claimed name.
    pub(crate) fn name(&self, name: &str) -> String {
        format!("{}name:{name}", self.prefix)
    }
}
