//! Length caps for strings that come from a client or a tab and are logged, stored or echoed:
//! a 1 MB model name must not become a 1 MB log line or error message.

use std::borrow::Cow;

/// Longest client- or tab-given name kept (model names, tab ids, client names).
pub const NAME_CHARS: usize = 200;

/// Longest free text kept (a page URL, an error message from a tab).
pub const TEXT_CHARS: usize = 2000;

/// `s` cut to at most `max` characters (on a character boundary); a cut string ends with
/// `…` and the number of characters left out.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((cut, _)) => {
            let left_out = s[cut..].chars().count();
            Cow::Owned(format!("{}…(+{left_out} chars)", &s[..cut]))
        }
    }
}

/// [`clip`] into an owned string, for fields that are stored.
pub fn clip_owned(s: String, max: usize) -> String {
    match clip(&s, max) {
        Cow::Borrowed(_) => s,
        Cow::Owned(cut) => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_stay_and_long_ones_are_cut_on_a_char_boundary() {
        assert_eq!(clip("abc", 3), "abc");
        assert!(matches!(clip("abc", 3), Cow::Borrowed(_)));
        assert_eq!(clip("abcdef", 3), "abc…(+3 chars)");
        assert_eq!(clip("éééé", 2), "éé…(+2 chars)");
        assert_eq!(clip("", 0), "");
        let long = "x".repeat(1 << 20);
        assert!(clip(&long, NAME_CHARS).len() < NAME_CHARS + 32);
        assert_eq!(clip_owned("日本語".to_owned(), 1), "日…(+2 chars)");
    }
}
