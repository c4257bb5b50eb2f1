//! Just enough JSON for the chat protocol: writing strings correctly.
//! The messages are built with `format!`; only user text needs care.

use std::fmt::Write;

/// `s` as a JSON string literal, quotes included (RFC 8259 section 7).
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // "All Unicode characters may be placed within the quotation
            // marks, except for the characters that MUST be escaped:
            // quotation mark, reverse solidus, and the control characters
            // (U+0000 through U+001F)."
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::string;

    #[test]
    fn escapes_what_json_requires() {
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(string("line\nnext\u{1}"), r#""line\nnext\u0001""#);
        assert_eq!(string("<img> é 😀"), "\"<img> é 😀\"");
    }
}
