//! `/wshub.json`: what the page needs to know about this server, so that it
//! asks instead of assuming. The page's policy forbids inline scripts, so
//! the settings cannot be written into the HTML; one small resource the
//! page fetches before it connects can grow with later features.
//!
//! ```json
//! {"ws_path":"/ws"}
//! ```
//!
//! A field is added in [`fields`]; the page ignores fields it does not know.

use crate::config::Config;
use crate::{http, json};

/// Where the settings are served (on every server that serves a page).
pub(crate) const PATH: &str = "/wshub.json";

/// The fields, each a name and its value already in JSON.
fn fields(cfg: &Config) -> Vec<(&'static str, String)> {
    vec![("ws_path", json::string(&cfg.ws_path))]
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
}
