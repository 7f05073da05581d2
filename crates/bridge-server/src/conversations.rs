//! The `evaluation` flow's conversation memory: the conversations this server created,
//! bounded by `evaluation_history_size` (applied again on every config reload).

use std::sync::{Mutex, MutexGuard};

use bridge_core::arena::evaluation::{EvaluationHistory, FoldOptions, Plan};
use bridge_core::arena::retry::{BuildError, ParticipantPosition};
use bridge_core::openai::ChatMessage;
use serde::Serialize;
use uuid::Uuid;

/// What to remember once an evaluation answer is complete.
#[derive(Debug, Clone)]
pub(crate) struct Remember {
    pub(crate) evaluation_id: Uuid,
    pub(crate) messages: Vec<ChatMessage>,
    pub(crate) model_name: String,
    pub(crate) side: ParticipantPosition,
}

/// Size of the memory, for /status.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct MemorySize {
    pub(crate) capacity: usize,
    pub(crate) conversations: usize,
}

/// The conversations this server created, bounded. The lock is only held for a plan or a
/// record, never across an `.await`.
#[derive(Debug)]
pub(crate) struct Conversations {
    inner: Mutex<EvaluationHistory>,
}

impl Conversations {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(EvaluationHistory::new(capacity)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, EvaluationHistory> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a reloaded capacity (a change starts with an empty history).
    pub(crate) fn set_capacity(&self, capacity: usize) {
        let mut h = self.lock();
        if h.capacity() != capacity {
            *h = EvaluationHistory::new(capacity);
        }
    }

    /// Decides how to send `messages` (a continuation is taken out of the memory).
    pub(crate) fn plan(
        &self,
        messages: &[ChatMessage],
        model_name: &str,
        opts: FoldOptions,
    ) -> Result<Plan, BuildError> {
        self.lock().plan(messages, model_name, opts)
    }

    /// Remembers an answered conversation; returns the one this pushed out of the memory.
    pub(crate) fn record(&self, job: &Remember, answer: &str) -> Option<Uuid> {
        self.lock().record(
            &job.messages,
            answer,
            job.evaluation_id,
            &job.model_name,
            job.side,
        )
    }

    pub(crate) fn size(&self) -> MemorySize {
        let h = self.lock();
        MemorySize {
            capacity: h.capacity(),
            conversations: h.len(),
        }
    }
}
