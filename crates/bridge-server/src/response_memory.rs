//! The Responses API's memory: response id → the chat history up to and including that
//! response (without `instructions`), so a request naming it as `previous_response_id`
//! continues it. Bounded; the least recently used response is forgotten first, and all of
//! it on restart.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use serde_json::Value;

/// Responses remembered.
const CAPACITY: NonZeroUsize = match NonZeroUsize::new(256) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// The remembered histories. The lock is held only for one get or put.
#[derive(Debug)]
pub(crate) struct ResponseMemory {
    inner: Mutex<LruCache<String, Arc<Vec<Value>>>>,
}

impl Default for ResponseMemory {
    fn default() -> Self {
        Self {
            inner: Mutex::new(LruCache::new(CAPACITY)),
        }
    }
}

impl ResponseMemory {
    /// The history of response `id`, if remembered.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Vec<Value>>> {
        self.lock().get(id).cloned()
    }

    /// Remembers the history ending with response `id`.
    pub(crate) fn put(&self, id: &str, history: Vec<Value>) {
        self.lock().put(id.to_owned(), Arc::new(history));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<Vec<Value>>>> {
        // A panic while holding this lock cannot leave the cache half-updated.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_is_forgotten_beyond_capacity() {
        let memory = ResponseMemory::default();
        for i in 0..=CAPACITY.get() {
            memory.put(&format!("resp_{i}"), vec![Value::from(i)]);
        }
        assert!(memory.get("resp_0").is_none());
        assert_eq!(memory.get("resp_1").as_deref(), Some(&vec![Value::from(1)]));
    }
}
