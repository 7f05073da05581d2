//! Stop sequences over streamed text: [`StopMatcher`] releases text up to the first match,
//! also when a match spans deltas, and holds back only the longest tail that could still
//! begin a sequence.
//!
//! "First" means the match that is complete first in the stream (smallest end; among equal
//! ends the longest), which is what a generator checking after each token would do and makes
//! the output independent of how the text was split.

use serde_json::Value;

/// OpenAI accepts at most this many stop sequences.
pub const MAX_STOP_SEQUENCES: usize = 4;

/// A `stop` field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    #[error("stop: at most {MAX_STOP_SEQUENCES} sequences are allowed, got {got}")]
    TooMany { got: usize },
    #[error("stop: a string or an array of strings expected")]
    WrongType,
}

/// Parses OpenAI's `stop` (a string, an array of strings, or null). Empty strings are
/// ignored, as they could never end anything.
pub fn parse_stop(value: Option<&Value>) -> Result<Vec<String>, StopError> {
    let sequences = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or(StopError::WrongType))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(StopError::WrongType),
    };
    if sequences.len() > MAX_STOP_SEQUENCES {
        return Err(StopError::TooMany {
            got: sequences.len(),
        });
    }
    Ok(sequences.into_iter().filter(|s| !s.is_empty()).collect())
}

/// What one delta gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopStep {
    /// Text to relay now.
    pub text: String,
    /// A sequence matched: relay `text`, then end the answer with finish reason `stop`.
    pub stopped: bool,
}

/// Cuts a streamed answer at the first stop sequence.
#[derive(Debug, Clone)]
pub struct StopMatcher {
    sequences: Vec<String>,
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// A matcher for these sequences (empty ones are ignored).
    pub fn new(sequences: &[String]) -> Result<Self, StopError> {
        if sequences.len() > MAX_STOP_SEQUENCES {
            return Err(StopError::TooMany {
                got: sequences.len(),
            });
        }
        Ok(Self {
            sequences: sequences
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            held: String::new(),
            stopped: false,
        })
    }

    /// Whether a sequence has matched; later deltas are ignored.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds the next delta.
    pub fn feed(&mut self, delta: &str) -> StopStep {
        if self.stopped {
            return StopStep::default();
        }
        if self.sequences.is_empty() {
            return StopStep {
                text: delta.to_owned(),
                stopped: false,
            };
        }
        let mut window = std::mem::take(&mut self.held);
        window.push_str(delta);
        if let Some(start) = self.first_match(&window) {
            window.truncate(start);
            self.stopped = true;
            return StopStep {
                text: window,
                stopped: true,
            };
        }
        let keep = self.held_suffix_start(&window);
        self.held = window.split_off(keep);
        StopStep {
            text: window,
            stopped: false,
        }
    }

    /// Ends the stream: the held-back tail was no match after all.
    pub fn finish(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        std::mem::take(&mut self.held)
    }

    /// Start of the match that ends first (longest among equal ends).
    fn first_match(&self, window: &str) -> Option<usize> {
        self.sequences
            .iter()
            .filter_map(|seq| {
                window
                    .find(seq.as_str())
                    .map(|start| (start + seq.len(), start))
            })
            .min()
            .map(|(_, start)| start)
    }

    /// Start of the longest suffix of `window` that is a proper prefix of some sequence.
    fn held_suffix_start(&self, window: &str) -> usize {
        let longest = self.sequences.iter().map(String::len).max().unwrap_or(0);
        let from = window.len().saturating_sub(longest.saturating_sub(1));
        (from..window.len())
            .filter(|&i| window.is_char_boundary(i))
            .find(|&i| {
                let tail = &window[i..];
                self.sequences.iter().any(|seq| seq.starts_with(tail))
            })
            .unwrap_or(window.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sequences: &[&str], deltas: &[&str]) -> (String, bool) {
        let sequences: Vec<String> = sequences.iter().map(|s| s.to_string()).collect();
        let mut matcher = StopMatcher::new(&sequences).unwrap();
        let mut out = String::new();
        for delta in deltas {
            let step = matcher.feed(delta);
            out.push_str(&step.text);
            if step.stopped {
                return (out, true);
            }
        }
        out.push_str(&matcher.finish());
        (out, false)
    }

    #[test]
    fn cuts_at_the_first_match_across_deltas() {
        let cases: [(&[&str], &[&str], &str, bool); 9] = [
            (&["END"], &["hello END world"], "hello ", true),
            (&["END"], &["hello E", "N", "D world"], "hello ", true),
            (&["END"], &["hello EN", "X"], "hello ENX", false),
            (&["END"], &["ENDING"], "", true),
            (&["\n\n", "User:"], &["a\n", "\nb"], "a", true),
            (&["abcd", "bc"], &["ab", "cd"], "a", true),
            (&["abcd", "bc"], &["abcd"], "a", true),
            (&["é!"], &["caf", "é", "!"], "caf", true),
            (&[], &["no stop"], "no stop", false),
        ];
        for (sequences, deltas, want, stopped) in cases {
            assert_eq!(
                run(sequences, deltas),
                (want.to_owned(), stopped),
                "{sequences:?} {deltas:?}"
            );
        }
    }

    #[test]
    fn holds_back_only_a_possible_start() {
        let mut matcher = StopMatcher::new(&["STOP".to_owned()]).unwrap();
        assert_eq!(matcher.feed("abc ST").text, "abc ");
        assert_eq!(matcher.feed("x").text, "STx");
        assert_eq!(matcher.feed("S").text, "");
        assert_eq!(matcher.finish(), "S");
    }

    #[test]
    fn parses_the_stop_field() {
        use serde_json::json;
        assert_eq!(parse_stop(None), Ok(vec![]));
        assert_eq!(parse_stop(Some(&json!("x"))), Ok(vec!["x".to_owned()]));
        assert_eq!(
            parse_stop(Some(&json!(["a", "", "b"]))),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            parse_stop(Some(&json!(["1", "2", "3", "4", "5"]))),
            Err(StopError::TooMany { got: 5 })
        );
        assert_eq!(parse_stop(Some(&json!([1]))), Err(StopError::WrongType));
        assert_eq!(parse_stop(Some(&json!(true))), Err(StopError::WrongType));
    }
}
