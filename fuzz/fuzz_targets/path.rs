//! The static file resolver must never hand out a path outside the www root,
//! nor anything that is not a plain file, whatever the request path.
#![no_main]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A small www root, made once per process and reused (idempotent, so
/// several fuzzing processes may share it):
///
/// ```text
/// $TMP/wshub-fuzz-path/
///   outside/secret.txt, outside/index.html    must never be served
///   www2/index.html                            sibling: ".../www" is a string prefix of ".../www2"
///   www/                                       the root
///     index.html  app.js  a%2fb.txt  .hidden
///     sub/index.html  sub/a b.txt  sub/deep/x.css
///     empty/                                   a directory without index.html
///     inner -> sub                             a symlink that stays inside
///     escape -> ../outside                     directory symlink leading out
///     secret.txt -> ../outside/secret.txt      file symlink leading out
///     up -> ..                                 the parent
///     sib -> ../www2                           the sibling that shares the prefix
///     etc -> /etc                              absolute, leading out
///     loop -> loop                             a symlink loop
///     dangling -> nowhere                      a broken symlink
/// ```
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join("wshub-fuzz-path");
        let www = base.join("www");
        for dir in ["outside", "www2", "www/sub/deep", "www/empty"] {
            fs::create_dir_all(base.join(dir)).expect("create the www tree");
        }
        for (file, body) in [
            ("outside/secret.txt", "secret\n"),
            ("outside/index.html", "outside\n"),
            ("www2/index.html", "sibling\n"),
            ("www/index.html", "<!doctype html>\n"),
            ("www/app.js", "//\n"),
            ("www/a%2fb.txt", "literal percent\n"),
            ("www/.hidden", "dot file\n"),
            ("www/sub/index.html", "sub\n"),
            ("www/sub/a b.txt", "space\n"),
            ("www/sub/deep/x.css", "x{}\n"),
        ] {
            fs::write(base.join(file), body).expect("write the www tree");
        }
        for (link, target) in [
            ("inner", "sub"),
            ("escape", "../outside"),
            ("secret.txt", "../outside/secret.txt"),
            ("up", ".."),
            ("sib", "../www2"),
            ("etc", "/etc"),
            ("loop", "loop"),
            ("dangling", "nowhere"),
        ] {
            let link = www.join(link);
            if fs::symlink_metadata(&link).is_err() {
                // Another process may have made it meanwhile: that is fine.
                let _ = symlink(target, &link);
            }
        }
        www.canonicalize().expect("canonical www root")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let root = root();
    if let Some(file) = wshub::fuzzing::resolve(root, path) {
        assert!(
            file.starts_with(root),
            "{path:?} resolved to {file:?}, outside the root {root:?}"
        );
        assert!(file.is_file(), "{path:?} resolved to {file:?}, not a file");
        assert_eq!(
            file.canonicalize().ok().as_deref(),
            Some(file.as_path()),
            "{path:?} resolved to {file:?}, which is not canonical"
        );
    }
});
