//! What a node tells the other nodes of its chat, and, with one node
//! (a build without Redis), the nothing that stands in for it.

#[cfg(not(feature = "redis"))]
use std::sync::MutexGuard;

#[cfg(not(feature = "redis"))]
use super::Chat;
#[cfg(not(feature = "redis"))]
use super::rooms::State;
#[cfg(not(feature = "redis"))]
use crate::Client;

/// What this node tells the other nodes, with several.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(super) enum Told<'a> {
    /// Room and name.
    Joined(&'a str, &'a str),
    /// Room and name.
    Left(&'a str, &'a str),
    /// Room, old name, new name.
    Renamed(&'a str, &'a str, &'a str),
    /// Room, the message's number on this node, the message.
    Said(&'a str, u64, &'a str),
}

/// One node: there is no one to tell, and nothing to read from elsewhere.
#[cfg(not(feature = "redis"))]
impl Chat {
    pub(super) fn ready<'a>(
        &self,
        state: MutexGuard<'a, State>,
        _: &Client,
        _: &str,
    ) -> MutexGuard<'a, State> {
        state
    }

    pub(super) fn tell(&self, _: &State, _: Told<'_>) {}

    pub(super) fn claim<'a>(
        &self,
        state: MutexGuard<'a, State>,
        _: &Client,
        _: &str,
        _: &str,
    ) -> Option<MutexGuard<'a, State>> {
        Some(state)
    }

    pub(super) fn release(&self, _: &str) {}
}
