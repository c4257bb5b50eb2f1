//! A room's recent messages, for newcomers: the last `count` messages,
//! at most `bytes` bytes of them, each counted against the server's
//! memory budget while it is kept.

use std::collections::VecDeque;

use log::debug;

use crate::{Hub, Reserved, Utf8Bytes};

/// How much history each room keeps.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bounds {
    pub count: usize,
    pub bytes: usize,
}

#[derive(Debug, Default)]
pub(super) struct History {
    /// Each message as a newcomer receives it, with its share of the
    /// budget.
    kept: VecDeque<(Utf8Bytes, Reserved)>,
    bytes: usize,
}

impl History {
    /// Keeps `message`, dropping the oldest until the bounds hold. A
    /// message larger than the byte bound, or one the budget cannot take
    /// now, is not kept.
    pub(super) fn push(&mut self, hub: &Hub, bounds: Bounds, message: String) {
        if bounds.count == 0 || message.len() > bounds.bytes {
            return;
        }
        let Ok(reserved) = hub.reserve(message.len()) else {
            debug!("history: the memory budget is full; a message was not kept");
            return;
        };
        self.bytes += message.len();
        self.kept.push_back((message.into(), reserved));
        while self.kept.len() > bounds.count || self.bytes > bounds.bytes {
            if let Some((old, _)) = self.kept.pop_front() {
                self.bytes -= old.len();
            }
        }
    }

    /// The messages, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Utf8Bytes> {
        self.kept.iter().map(|(m, _)| m)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}
