//! `/wshub.json`: what the page needs to know about this server, so that it
//! asks instead of assuming. The page's policy forbids inline scripts, so
//! the settings cannot be written into the HTML; one small resource the
//! page fetches before it connects can grow with later features.
//!
//! ```json
//! {"ws_path":"/ws"}
//! ```
//!
//! With `--explain`, and only then, `"wire":"/wshub-wire"` offers the wire
//! view (see `explain`) and says where its socket connects.
//!
//! A field is added in [`fields`]; the page ignores fields it does not know.

use crate::config::Config;
use crate::{explain, http, json};

/// Where the settings are served (on every server that serves a page).
pub(crate) const PATH: &str = "/wshub.json";

/// The fields, each a name and its value already in JSON.
fn fields(cfg: &Config) -> Vec<(&'static str, String)> {
    let mut fields = vec![("ws_path", json::string(&cfg.ws_path))];
    if cfg.explain {
        fields.push(("wire", json::string(explain::VIEW_PATH)));
    }
    fields
}

/// The settings as one JSON object.
pub(crate) fn body(cfg: &Config) -> String {
    let parts: Vec<String> = fields(cfg)
        .into_iter()
        .map(|(name, value)| format!("{}:{value}", json::string(name)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// The response to a GET or HEAD of [`PATH`].
pub(crate) fn respond(cfg: &Config, head_only: bool) -> Vec<u8> {
    let extra = format!("Cache-Control: no-store\r\n{}", http::CSP);
    http::response(
        200,
        "application/json",
        &extra,
        body(cfg).as_bytes(),
        head_only,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_json_with_the_path_escaped() {
        let mut cfg = Config::default();
        assert_eq!(body(&cfg), r#"{"ws_path":"/ws"}"#);
        cfg.ws_path = "/a\"b\\".into();
        assert_eq!(body(&cfg), r#"{"ws_path":"/a\"b\\"}"#);
    }

    #[test]
    fn offers_the_wire_view_only_with_explain() {
        let mut cfg = Config::default();
        assert!(!body(&cfg).contains("wire"));
        cfg.explain = true;
        assert_eq!(body(&cfg), r#"{"ws_path":"/ws","wire":"/wshub-wire"}"#);
    }
}
