//! What the log says when a browser page's `Origin` is refused: allowing
//! it is the operator's choice, so the line names the origin and the flag
//! (or builder method) that allows it.

/// The reason logged for refusing `origin`.
pub(super) fn refusal(origin: &str) -> String {
    if origin == "null" {
        // Browsers send `null` for a page opened from a file and for a
        // sandboxed frame; nothing tells the two apart.
        "origin null is not allowed: it is a page opened from a file (file://) or a sandboxed \
         frame; --allow-origin null (Server::allow_origin(\"null\")) admits it, and with it \
         sandboxed frames of any site, so use it for a classroom or a local test"
            .to_string()
    } else {
        format!(
            "origin {origin} is not allowed: a page from another site asked to connect; if you \
             trust it, start wshub with --allow-origin {origin} (Server::allow_origin in a program)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn names_the_origin_and_the_flag() {
        let line = refusal("https://tutorial.example");
        assert!(
            line.contains("--allow-origin https://tutorial.example"),
            "{line}"
        );
        let line = refusal("null");
        assert!(line.contains("opened from a file"), "{line}");
        assert!(line.contains("--allow-origin null"), "{line}");
        assert!(line.contains("sandboxed frames of any site"), "{line}");
    }
}
