//! Names a visitor chooses: rooms in chat, topics in broadcast mode. Any
//! visitor can make one by naming it, so each is short and plain enough to
//! sit in a URL and on a screen, and how many exist at once has a limit.

use crate::{Refusal, Request};

/// The rule, as an error tells it.
pub(crate) const RULE: &str = "room and topic names are 1 to 32 letters, digits, '-', '_' or '.'";

/// How many rooms (or topics) a server has at most, unless told otherwise.
pub const DEFAULT_MAX_ROOMS: usize = 100;

/// Whether `name` is a valid room or topic name: 1 to 32 characters, each
/// a letter or digit (any script) or one of `-`, `_`, `.`.
pub(crate) fn valid(name: &str) -> bool {
    let count = name.chars().count();
    (1..=32).contains(&count)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The room or topic named by the query parameter `key` of an upgrade
/// request: `None` if it names none, a `400` if the name breaks the rule
/// or is not valid percent-encoded UTF-8.
pub(crate) fn from_query(request: &Request, key: &str) -> Result<Option<String>, Refusal> {
    match request.query_param(key) {
        Some(name) if valid(&name) => Ok(Some(name)),
        None if !request.has_query_param(key) => Ok(None),
        _ => Err(Refusal::new(400, RULE)),
    }
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn room_names() {
        assert!(valid("lobby"));
        assert!(valid("café-2.0_x"));
        assert!(valid(&"я".repeat(32)));
        assert!(!valid(&"a".repeat(33)));
        assert!(!valid(""));
        assert!(!valid("two words"));
        assert!(!valid("a/b"));
        assert!(!valid("<b>"));
    }
}
