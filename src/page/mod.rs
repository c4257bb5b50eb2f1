//! The page served beside the WebSocket endpoint: the files of a directory
//! the user chose, or wshub's own page built into the binary.
//!
//! Either way one responder answers, with the same content types, HEAD and
//! 404s; only where the bytes come from differs. The two differ in one
//! header on purpose: wshub's own page gets a strict
//! `Content-Security-Policy` (it was written for one: no inline script, no
//! other server), while a directory's files are served as their author
//! wrote them, because a tutorial's page with an inline `<script>` or an
//! `onclick="..."` would break under that policy. Such an author can still
//! declare a policy of their own in a `<meta http-equiv>` tag.

#[cfg(feature = "embedded-page")]
mod embedded;
mod settings;

use std::path::PathBuf;

pub(crate) use settings::{PATH as SETTINGS_PATH, respond as settings};

use crate::{files, http};

/// Where the page comes from.
#[derive(Clone, Debug)]
pub(crate) enum Page {
    /// The files of a directory (canonical once the server has started).
    Dir(PathBuf),
    /// The copy of `www/` built into the binary.
    #[cfg(feature = "embedded-page")]
    Embedded,
}

impl Page {
    /// The response to a GET or HEAD of `raw_path`, or `None` if the page
    /// has no such file (the caller decides between 404 and 426).
    pub(crate) fn respond(&self, raw_path: &str, head_only: bool) -> Option<Vec<u8>> {
        match self {
            Page::Dir(root) => {
                let file = files::resolve(root, raw_path)?;
                let body = std::fs::read(&file).ok()?;
                Some(http::response(
                    200,
                    files::content_type(&file),
                    "Cache-Control: no-cache\r\n",
                    &body,
                    head_only,
                ))
            }
            #[cfg(feature = "embedded-page")]
            Page::Embedded => {
                let (name, body) = embedded::find(raw_path)?;
                let extra = format!("Cache-Control: no-cache\r\n{}", http::CSP);
                Some(http::response(
                    200,
                    files::content_type(std::path::Path::new(name)),
                    &extra,
                    body,
                    head_only,
                ))
            }
        }
    }
}
