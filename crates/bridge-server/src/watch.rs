//! Watches the config directory and reloads config.jsonc, models.json and
//! model_endpoint_map.json when they change, and the site's model list
//! (available_models.json, for `/v1/models?all=true`) when bridge-model-updater rewrites it.
//! Editors save in bursts (temp file, rename, chmod), so events are coalesced for a short
//! moment before reloading once.

use std::time::Duration;

use bridge_core::config;
use notify::{RecursiveMode, Watcher};

use crate::state::AppState;

/// Quiet time after the last file event before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// File names whose change reloads the configuration.
const CONFIG_FILES: [&str; 3] = [
    config::CONFIG_FILE_NAME,
    config::MODELS_FILE_NAME,
    config::ENDPOINT_MAP_FILE_NAME,
];

/// What a burst of file events asks for.
#[derive(Debug, Default, Clone, Copy)]
struct Changed {
    config: bool,
    site_models: bool,
}

impl Changed {
    fn of(event: &notify::Event) -> Self {
        let mut changed = Self::default();
        if event.kind.is_access() {
            return changed;
        }
        for name in event.paths.iter().filter_map(|p| p.file_name()?.to_str()) {
            changed.config |= CONFIG_FILES.contains(&name);
            changed.site_models |= name == config::AVAILABLE_MODELS_FILE_NAME;
        }
        changed
    }

    fn any(self) -> bool {
        self.config || self.site_models
    }

    fn add(&mut self, other: Self) {
        self.config |= other.config;
        self.site_models |= other.site_models;
    }
}

/// Starts watching; the watcher stops when the returned value is dropped.
pub(crate) fn watch_config_dir(state: AppState) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Changed>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            let changed = Changed::of(&event);
            if changed.any() {
                let _ = tx.send(changed);
            }
        }
    })?;
    let dir = state.options().config_dir.clone();
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    actix_web::rt::spawn(async move {
        while let Some(first) = rx.recv().await {
            // Coalesce a burst of events into one reload.
            let mut changed = first;
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(more)) => changed.add(more),
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if changed.config {
                let _ = state.reload();
            }
            if changed.site_models {
                state
                    .known_models()
                    .reload(&config::available_models_file(&dir));
            }
        }
    });
    Ok(watcher)
}
