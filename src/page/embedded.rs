//! wshub's own page, `www/`, built into the binary, so that one file copied
//! to another machine (or installed with `cargo install`) serves it.
//!
//! A fixed list rather than a build script that walks `www/`: a few files
//! need no build step, and the test below fails when a file is added to
//! `www/` without being added here.

use crate::http;

/// Every file of `www/`, by name.
const FILES: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../../www/index.html")),
    ("app.js", include_bytes!("../../www/app.js")),
    ("rooms.js", include_bytes!("../../www/rooms.js")),
    ("view.js", include_bytes!("../../www/view.js")),
    ("wire.js", include_bytes!("../../www/wire.js")),
    ("style.css", include_bytes!("../../www/style.css")),
    ("favicon.svg", include_bytes!("../../www/favicon.svg")),
];

/// The file a request path names (`/` is `index.html`), with its name.
/// Percent-escapes are decoded as for a directory, so `/app%2Ejs` is
/// `app.js` in both.
pub(super) fn find(raw_path: &str) -> Option<(&'static str, &'static [u8])> {
    let rel = raw_path.strip_prefix('/')?;
    let name = match http::percent_decode(rel)? {
        n if n.is_empty() => "index.html".to_string(),
        n => n,
    };
    FILES.iter().copied().find(|(n, _)| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_every_file_of_www_and_nothing_else() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/www");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut built_in: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        built_in.sort();
        assert_eq!(built_in, on_disk, "www/ and the FILES list differ");
        for (name, bytes) in FILES {
            assert_eq!(std::fs::read(format!("{dir}/{name}")).unwrap(), *bytes);
        }
    }

    #[test]
    fn finds_by_path() {
        assert_eq!(find("/").unwrap().0, "index.html");
        assert_eq!(find("/app%2Ejs").unwrap().0, "app.js");
        for missing in ["/nope.js", "/../www/app.js", "//app.js", "app.js", "/%zz"] {
            assert!(find(missing).is_none(), "{missing}");
        }
    }
}
