//! Send timestamps carried inside the answer text, so per-chunk latency can be measured from
//! the fake tab (or the baseline server) to the client without touching the server.
//!
//! Each text delta is `t<nanos> `: nanoseconds since one [`Clock`] epoch shared by every task
//! of the bench process. The client finds the stamps in the SSE events it receives.

use std::time::Instant;

/// First character of a stamped delta.
pub(crate) const STAMP_PREFIX: char = 't';
/// Ends a stamped delta (also keeps the answer readable as words).
pub(crate) const STAMP_END: char = ' ';
/// The key in front of a delta's text in an OpenAI chunk.
pub(crate) const CONTENT_KEY: &str = "\"content\":\"";

/// One monotonic clock for the whole bench process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch.
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// The text of one stamped delta.
pub(crate) fn stamp_text(nanos: u64) -> String {
    format!("{STAMP_PREFIX}{nanos}{STAMP_END}")
}

/// Reads a stamp at the start of `s` (`t123 …`); `None` if `s` does not start with one.
pub(crate) fn read_stamp(s: &str) -> Option<u64> {
    let rest = s.strip_prefix(STAMP_PREFIX)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !rest[digits..].starts_with(STAMP_END) {
        return None;
    }
    rest[..digits].parse().ok()
}

/// The stamp of the delta in one SSE event (`data: {…"content":"t123 "…}`), if it has one.
pub(crate) fn event_stamp(event: &str) -> Option<u64> {
    let at = event.find(CONTENT_KEY)?;
    read_stamp(&event[at + CONTENT_KEY.len()..])
}

/// Every stamp in a whole answer text (`t1 t2 t3 `), in order; `None` if any word is not one.
pub(crate) fn text_stamps(text: &str) -> Option<Vec<u64>> {
    text.split_inclusive(STAMP_END).map(read_stamp).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        assert_eq!(read_stamp(&stamp_text(0)), Some(0));
        assert_eq!(read_stamp(&stamp_text(123_456_789)), Some(123_456_789));
    }

    #[test]
    fn read_stamp_refuses_other_text() {
        assert_eq!(read_stamp("hello "), None);
        assert_eq!(read_stamp("t "), None);
        assert_eq!(read_stamp("t12"), None, "no end marker");
        assert_eq!(read_stamp("t12x "), None);
        assert_eq!(read_stamp("t99999999999999999999999 "), None, "overflow");
    }

    #[test]
    fn event_stamp_finds_the_content_delta() {
        let ev = r#"data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"t42 "},"finish_reason":null}]}"#;
        assert_eq!(event_stamp(ev), Some(42));
        let finish =
            r#"data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        assert_eq!(event_stamp(finish), None);
    }

    #[test]
    fn text_stamps_reads_a_whole_answer() {
        assert_eq!(text_stamps("t1 t22 t333 "), Some(vec![1, 22, 333]));
        assert_eq!(text_stamps(""), Some(vec![]));
        assert_eq!(text_stamps("t1 oops "), None);
    }

    #[test]
    fn clock_is_monotonic() {
        let c = Clock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
    }
}
