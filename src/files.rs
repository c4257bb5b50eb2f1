//! Files from a www directory, and nothing else: the path rules that keep a
//! request inside it, and the content types (`page` serves them).

use std::path::{Path, PathBuf};

use crate::http;

/// The Content-Type for a file name's extension.
pub(crate) fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Maps a request path to a file inside `root` (which must be canonical).
/// `None` for anything that is not a plain file under `root`: `..` or `.`
/// segments (raw or percent-encoded), encoded slashes, backslashes, empty
/// segments (`//`), NUL, and symlinks that lead outside.
pub(crate) fn resolve(root: &Path, raw_path: &str) -> Option<PathBuf> {
    let rel = raw_path.strip_prefix('/')?;
    let mut path = root.to_path_buf();
    if !rel.is_empty() {
        for segment in rel.split('/') {
            // Decode each segment on its own, so `%2F` cannot add a level.
            let segment = http::percent_decode(segment)?;
            let bad = segment.is_empty()
                || segment == "."
                || segment == ".."
                || segment.contains(['/', '\\', '\0', ':']);
            if bad {
                return None;
            }
            path.push(segment);
        }
    }
    if path.is_dir() {
        path.push("index.html");
    }
    // Symlinks are followed here, then the result must still be inside.
    let real = path.canonicalize().ok()?;
    (real.starts_with(root) && real.is_file()).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_every_way_out() {
        let root = std::env::temp_dir().canonicalize().unwrap();
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/a%2f..%2f..%2fetc",
            "/..%5cetc",
            "//etc/passwd",
            "/a/./b",
            "/nul%00",
            "relative",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(
            content_type(Path::new("a.JS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.svg")), "image/svg+xml");
    }
}
