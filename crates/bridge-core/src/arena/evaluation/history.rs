//! Which conversations this server created: a request that repeats one plus a new user turn
//! continues it upstream instead of starting over.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::num::NonZeroUsize;

use lru::LruCache;
use uuid::Uuid;

use super::fold::{fold_messages, FoldOptions};
use super::{FoldedPrompt, DEFAULT_HISTORY_CAPACITY};
use crate::arena::retry::{BuildError, ParticipantPosition, TEXT_JOINER};
use crate::openai::{ChatMessage, ContentPart, MessageContent, Role};

/// How to send one chat request in the evaluation flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Post `new_user` to the evaluation this conversation already is ([`build_post`]).
    Continue {
        evaluation_id: Uuid,
        /// The side whose answer the client got before (and gets again).
        participant: ParticipantPosition,
        /// The request's last (user) message, converted, not folded.
        new_user: FoldedPrompt,
    },
    /// Start a new evaluation with the whole history folded ([`build_create`]).
    Fresh { folded: FoldedPrompt },
}

/// An evaluation this server created, as remembered by [`EvaluationHistory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownEvaluation {
    pub evaluation_id: Uuid,
    pub model_name: String,
    pub participant: ParticipantPosition,
}

/// 128-bit hash of a model name and a normalised message list (see [`TurnKey`]).
type HistoryKey = u128;

/// The conversations this server created, so that a client sending the same history plus one
/// user message continues the evaluation instead of starting over.
///
/// Bounded: at most `capacity` conversations, the least recently recorded one is dropped
/// first. Keys are hashes, so no prompt text is kept. A [`Plan::Continue`] takes its entry out
/// (two requests can never post to one evaluation at once, and a continuation that fails is not
/// tried again); [`EvaluationHistory::record`] puts the grown conversation back after a
/// successful answer.
#[derive(Debug)]
pub struct EvaluationHistory {
    /// `None` when the capacity is 0: nothing is remembered, every request is fresh.
    entries: Option<LruCache<HistoryKey, KnownEvaluation>>,
    /// Evaluation id → its one current key, to forget and to replace outdated histories.
    keys: HashMap<Uuid, HistoryKey>,
    /// Random keys per process: nobody can craft a history that collides with another.
    hasher: RandomState,
}

impl Default for EvaluationHistory {
    fn default() -> Self {
        Self::new(DEFAULT_HISTORY_CAPACITY)
    }
}

impl EvaluationHistory {
    /// A history remembering at most `capacity` conversations; 0 remembers none.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: NonZeroUsize::new(capacity).map(LruCache::new),
            keys: HashMap::new(),
            hasher: RandomState::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.cap().get())
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, LruCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a conversation of this evaluation is remembered.
    pub fn contains(&self, evaluation_id: Uuid) -> bool {
        self.keys.contains_key(&evaluation_id)
    }

    /// Decides how to send `messages` for the model the client named. A continuation is taken
    /// out of the history (see the type docs). Errors are the conversion errors of the messages
    /// (400 for the client).
    pub fn plan(
        &mut self,
        messages: &[ChatMessage],
        model_name: &str,
        opts: FoldOptions,
    ) -> Result<Plan, BuildError> {
        if let Some((last, earlier)) = messages.split_last() {
            if last.role == Role::User && !earlier.is_empty() {
                let key = self.key(model_name, earlier.iter().map(TurnKey::from_message));
                let known = self
                    .entries
                    .as_ref()
                    .and_then(|e| e.peek(&key))
                    .is_some_and(|k| k.model_name == model_name);
                if known {
                    // Convert before taking the entry, so a bad message does not lose it.
                    let new_user = fold_messages(std::slice::from_ref(last), opts)?;
                    if let Some(known) = self.take(key) {
                        return Ok(Plan::Continue {
                            evaluation_id: known.evaluation_id,
                            participant: known.participant,
                            new_user,
                        });
                    }
                }
            }
        }
        Ok(Plan::Fresh {
            folded: fold_messages(messages, opts)?,
        })
    }

    /// Remembers that evaluation `evaluation_id` now holds `sent_messages` (the whole OpenAI
    /// history of the request just answered) followed by the answer `answer_text`. Any older
    /// history of the same evaluation is dropped: it no longer matches what upstream holds.
    /// Returns the conversation this pushed out of the memory, if any.
    pub fn record(
        &mut self,
        sent_messages: &[ChatMessage],
        answer_text: &str,
        evaluation_id: Uuid,
        model_name: &str,
        participant: ParticipantPosition,
    ) -> Option<Uuid> {
        self.entries.as_ref()?;
        let answer = TurnKey {
            role: TurnRole::Assistant,
            text: Cow::Borrowed(answer_text.trim()),
            media: Vec::new(),
        };
        let key = self.key(
            model_name,
            sent_messages
                .iter()
                .map(TurnKey::from_message)
                .chain(std::iter::once(answer)),
        );
        self.forget(evaluation_id);
        let entries = self.entries.as_mut()?;
        let entry = KnownEvaluation {
            evaluation_id,
            model_name: model_name.to_owned(),
            participant,
        };
        // `push` hands back what it displaced: the same key's old entry or the evicted one.
        let mut evicted = None;
        if let Some((_, old)) = entries.push(key, entry) {
            if old.evaluation_id != evaluation_id {
                self.keys.remove(&old.evaluation_id);
                evicted = Some(old.evaluation_id);
            }
        }
        self.keys.insert(evaluation_id, key);
        evicted
    }

    /// Drops what is remembered of `evaluation_id` (e.g. upstream rejected a continuation).
    /// Returns whether anything was remembered.
    pub fn forget(&mut self, evaluation_id: Uuid) -> bool {
        let Some(key) = self.keys.remove(&evaluation_id) else {
            return false;
        };
        if let Some(entries) = self.entries.as_mut() {
            entries.pop(&key);
        }
        true
    }

    fn take(&mut self, key: HistoryKey) -> Option<KnownEvaluation> {
        let known = self.entries.as_mut()?.pop(&key)?;
        self.keys.remove(&known.evaluation_id);
        Some(known)
    }

    fn key<'a>(&self, model_name: &str, turns: impl Iterator<Item = TurnKey<'a>>) -> HistoryKey {
        let turns: Vec<TurnKey<'a>> = turns.collect();
        let half = |domain: u8| {
            let mut h = self.hasher.build_hasher();
            h.write_u8(domain);
            model_name.hash(&mut h);
            turns.hash(&mut h);
            h.finish()
        };
        (u128::from(half(0)) << 64) | u128::from(half(1))
    }
}

/// Role of a turn for matching: `developer` and `system` are the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TurnRole {
    System,
    User,
    Assistant,
    Tool,
    Function,
}

/// One message as matching sees it: role, text (parts joined, ends trimmed, as clients often
/// re-send an answer trimmed or as a text part) and the URLs/data of its media. The name and
/// image `detail` are not part of it.
#[derive(Debug, Hash)]
struct TurnKey<'a> {
    role: TurnRole,
    text: Cow<'a, str>,
    media: Vec<Cow<'a, str>>,
}

impl<'a> TurnKey<'a> {
    fn from_message(message: &'a ChatMessage) -> Self {
        let role = match message.role {
            Role::System | Role::Developer => TurnRole::System,
            Role::User => TurnRole::User,
            Role::Assistant => TurnRole::Assistant,
            Role::Tool => TurnRole::Tool,
            Role::Function => TurnRole::Function,
        };
        let (text, media) = match &message.content {
            MessageContent::Text(text) => (Cow::Borrowed(text.trim()), Vec::new()),
            MessageContent::None => (Cow::Borrowed(""), Vec::new()),
            MessageContent::Parts(parts) => {
                let mut texts = Vec::new();
                let mut media = Vec::new();
                for part in parts {
                    match part {
                        ContentPart::Text { text } => texts.push(text.as_str()),
                        ContentPart::Refusal { refusal } => texts.push(refusal.as_str()),
                        ContentPart::ImageUrl { image_url } => {
                            media.push(Cow::Borrowed(image_url.url.as_str()));
                        }
                        ContentPart::InputAudio { input_audio } => {
                            media.push(Cow::Borrowed(input_audio.data.as_str()));
                        }
                        ContentPart::File { file } => {
                            let data = file.file_data.as_deref().or(file.file_id.as_deref());
                            media.push(Cow::Borrowed(data.unwrap_or("")));
                        }
                        ContentPart::Unknown(value) => media.push(Cow::Owned(value.to_string())),
                    }
                }
                let text = texts.join(TEXT_JOINER).trim().to_owned();
                (Cow::Owned(text), media)
            }
        };
        Self { role, text, media }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(value: serde_json::Value) -> Vec<ChatMessage> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn history_keys_ignore_names_and_image_detail_only() {
        let history = EvaluationHistory::new(1);
        let key = |value: serde_json::Value| {
            let list = messages(value);
            history.key("m", list.iter().map(TurnKey::from_message))
        };
        let base = key(serde_json::json!([
            {"role": "system", "content": "s"},
            {"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "auto"}}
            ]}
        ]));
        let same = key(serde_json::json!([
            {"role": "developer", "content": " s "},
            {"role": "user", "name": "me", "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}}
            ]}
        ]));
        assert_eq!(base, same);
        let different = [
            serde_json::json!([
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
                ]}
            ]),
            serde_json::json!([
                {"role": "system", "content": "s"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/b.png"}}
                ]}
            ]),
            serde_json::json!([
                {"role": "system", "content": "s"},
                {"role": "user", "content": "hi"}
            ]),
            serde_json::json!([
                {"role": "user", "content": "s"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
                ]}
            ]),
        ];
        for value in different {
            assert_ne!(base, key(value.clone()), "{value}");
        }
        // Turn boundaries count: one turn "a\n\nb" is not two turns "a", "b".
        assert_ne!(
            key(serde_json::json!([{"role": "user", "content": "a\n\nb"}])),
            key(serde_json::json!([
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"}
            ]))
        );
        let list = messages(serde_json::json!([{"role": "user", "content": "x"}]));
        assert_ne!(
            history.key("m", list.iter().map(TurnKey::from_message)),
            history.key("n", list.iter().map(TurnKey::from_message))
        );
    }
}
