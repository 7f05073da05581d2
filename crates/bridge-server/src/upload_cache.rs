//! The uploads of one server run: content hash → the site's signed URL, reused for
//! [`SIGNED_URL_REUSE`] so identical images are uploaded once.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::Instant;

use bridge_core::arena::upload::SIGNED_URL_REUSE;
use bridge_core::openai::UploadedImage;

/// Most uploads remembered; the oldest go first.
const CACHE_ENTRIES: usize = 256;

/// Content hash → the upload of those bytes, for [`SIGNED_URL_REUSE`].
#[derive(Debug, Default)]
pub(crate) struct UploadCache {
    inner: Mutex<HashMap<u128, (Instant, UploadedImage)>>,
    /// Random keys per process: nobody can craft bytes that collide with another image.
    hasher: std::collections::hash_map::RandomState,
}

impl UploadCache {
    pub(crate) fn hash(&self, content_type: &str, bytes: &[u8]) -> u128 {
        let half = |domain: u8| {
            let mut h = self.hasher.build_hasher();
            h.write_u8(domain);
            h.write(content_type.as_bytes());
            h.write(bytes);
            h.finish()
        };
        (u128::from(half(0)) << 64) | u128::from(half(1))
    }

    pub(crate) fn get(&self, key: u128) -> Option<UploadedImage> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key)
            .filter(|(at, _)| at.elapsed() < SIGNED_URL_REUSE)
            .map(|(_, up)| up.clone())
    }

    pub(crate) fn put(&self, key: u128, up: UploadedImage) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (at, _)| at.elapsed() < SIGNED_URL_REUSE);
        if map.len() >= CACHE_ENTRIES {
            if let Some(oldest) = map.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(key, (Instant::now(), up));
    }
}
