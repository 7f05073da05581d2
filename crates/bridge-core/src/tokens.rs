//! Token counting with OpenAI's `o200k_base` BPE (from `tiktoken-rs`, vocabulary compiled into
//! the binary: nothing is downloaded), and [`TokenBudget`] for `max_tokens`.
//!
//! Cost: the BPE is built once per process on first use (about 0.2-0.5 s and some tens of MB,
//! kept in a `OnceLock`); after that, counting is linear in the text, roughly a few MB/s in a
//! debug build and tens of MB/s optimised. Upstream models use their own tokenizers, so counts
//! are estimates (the routes mark them `"estimated": true`).

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

fn bpe() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| {
        // The vocabulary is a constant inside the crate; failing to load it is a build defect.
        tiktoken_rs::o200k_base().expect("o200k_base vocabulary is compiled into tiktoken-rs")
    })
}

/// Number of tokens in `text`. Special-token text (`<|endoftext|>`) counts as ordinary text.
pub fn count(text: &str) -> usize {
    if text.is_empty() {
        return 0;
    }
    bpe().encode_ordinary(text).len()
}

/// What part of a delta fits into the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStep<'a> {
    /// The leading part of the delta within the budget (all of it unless `exhausted`).
    pub fits: &'a str,
    /// The budget is used up: relay `fits`, then end with finish reason `length`.
    pub exhausted: bool,
}

/// Counts an answer's tokens as it streams and stops at `max_tokens`.
///
/// Tokens never span a point where a newline is followed by a non-space, or where a space
/// follows a non-space (the BPE's pre-split puts a piece boundary there), so text before the
/// last such point is counted once and only the rest is re-encoded with each delta.
#[derive(Debug, Clone)]
pub struct TokenBudget {
    limit: Option<usize>,
    committed: usize,
    tail: String,
    exhausted: bool,
}

impl TokenBudget {
    /// A budget of `limit` tokens.
    pub fn new(limit: usize) -> Self {
        Self {
            limit: Some(limit),
            committed: 0,
            tail: String::new(),
            exhausted: limit == 0,
        }
    }

    /// Counting only (for `usage`), never exhausted.
    pub fn unlimited() -> Self {
        Self {
            limit: None,
            committed: 0,
            tail: String::new(),
            exhausted: false,
        }
    }

    /// Tokens of the text accepted so far.
    pub fn used(&self) -> usize {
        self.committed + count(&self.tail)
    }

    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Feeds the next delta; says how much of it fits.
    pub fn feed<'a>(&mut self, delta: &'a str) -> BudgetStep<'a> {
        if self.exhausted {
            return BudgetStep {
                fits: "",
                exhausted: true,
            };
        }
        let old_tail = self.tail.len();
        self.tail.push_str(delta);
        let tokens = bpe().encode_ordinary(&self.tail);
        let Some(limit) = self.limit else {
            self.commit();
            return BudgetStep {
                fits: delta,
                exhausted: false,
            };
        };
        let room = limit.saturating_sub(self.committed);
        if tokens.len() < room {
            self.commit();
            return BudgetStep {
                fits: delta,
                exhausted: false,
            };
        }
        // The budget ends in this delta: keep the text of the first `room` tokens.
        self.exhausted = true;
        let kept_bytes = bpe()
            .decode_bytes(&tokens[..room])
            .map(|bytes| bytes.len())
            .unwrap_or(old_tail);
        let mut cut = kept_bytes.clamp(old_tail, self.tail.len()) - old_tail;
        while !delta.is_char_boundary(cut) {
            cut -= 1;
        }
        self.tail.truncate(old_tail + cut);
        BudgetStep {
            fits: &delta[..cut],
            exhausted: true,
        }
    }

    /// Counts the tail up to its last safe split point and keeps only the rest.
    fn commit(&mut self) {
        if let Some(split) = last_piece_boundary(&self.tail) {
            self.committed += count(&self.tail[..split]);
            self.tail.drain(..split);
        }
    }
}

/// The last position where the BPE pre-split always starts a new piece.
fn last_piece_boundary(text: &str) -> Option<usize> {
    let mut boundary = None;
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if let Some(p) = prev {
            let after_newline = p == '\n' && !c.is_whitespace();
            let space_after_word = c == ' ' && !p.is_whitespace();
            if i > 0 && (after_newline || space_after_word) {
                boundary = Some(i);
            }
        }
        prev = Some(c);
    }
    boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_the_real_vocabulary() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello"), 1);
        assert_eq!(count("hello world"), 2);
        assert!(count("多字节的中文文本") >= 3);
    }

    #[test]
    fn incremental_count_equals_whole_count() {
        let text = "Hello there, how are you?\nI'm fine.  Thanks!\n\n  Indented code {x: 1}\n多字节 text 🚀 end";
        let whole = count(text);
        for step in [1, 2, 3, 5, 7] {
            let mut budget = TokenBudget::unlimited();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(step) {
                let piece: String = piece.iter().collect();
                assert_eq!(budget.feed(&piece).fits, piece);
            }
            assert_eq!(budget.used(), whole, "step {step}");
        }
    }

    #[test]
    fn budget_cuts_inside_the_delta_that_reaches_it() {
        let mut budget = TokenBudget::new(3);
        let first = budget.feed("one two");
        assert_eq!(
            first,
            BudgetStep {
                fits: "one two",
                exhausted: false
            }
        );
        let second = budget.feed(" three four five");
        assert_eq!(
            second,
            BudgetStep {
                fits: " three",
                exhausted: true
            }
        );
        assert_eq!(budget.used(), 3);
        assert!(budget.feed("more").exhausted);
        assert_eq!(budget.feed("more").fits, "");
    }

    #[test]
    fn zero_budget_takes_nothing() {
        let mut budget = TokenBudget::new(0);
        assert_eq!(
            budget.feed("x"),
            BudgetStep {
                fits: "",
                exhausted: true
            }
        );
    }
}
