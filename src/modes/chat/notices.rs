//! The texts the chat sends its clients (beside `welcome` and `message`,
//! built where they are sent): each a flat JSON object with a `type`.

use crate::json::string as js;

/// A message as history keeps it: marked, for the page to show apart.
pub(super) fn kept(live: &str) -> String {
    match live.strip_suffix('}') {
        Some(open) => format!(r#"{open},"history":true}}"#),
        None => live.to_string(),
    }
}

pub(super) fn error(text: &str) -> String {
    format!(r#"{{"type":"error","text":{}}}"#, js(text))
}

pub(super) fn join(room: &str, name: &str) -> String {
    format!(
        r#"{{"type":"join","room":{},"name":{}}}"#,
        js(room),
        js(name)
    )
}

pub(super) fn leave(room: &str, name: &str) -> String {
    format!(
        r#"{{"type":"leave","room":{},"name":{}}}"#,
        js(room),
        js(name)
    )
}

pub(super) fn renamed(room: &str, from: &str, to: &str) -> String {
    format!(
        r#"{{"type":"rename","room":{},"from":{},"to":{}}}"#,
        js(room),
        js(from),
        js(to)
    )
}

pub(super) fn too_many_rooms(max: usize) -> String {
    format!("the server is at its limit of {max} rooms; join one that exists, or try again later")
}
