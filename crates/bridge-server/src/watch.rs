//! Watches the config directory and reloads config.jsonc, models.json and
//! model_endpoint_map.json when they change. Editors save in bursts (temp file, rename,
//! chmod), so events are coalesced for a short moment before reloading once.

use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::state::AppState;

/// Quiet time after the last file event before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// File names whose change triggers a reload.
const WATCHED: [&str; 3] = ["config.jsonc", "models.json", "model_endpoint_map.json"];

/// Starts watching; the watcher stops when the returned value is dropped.
pub(crate) fn watch_config_dir(state: AppState) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            let relevant = event.paths.iter().any(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| WATCHED.contains(&n))
            });
            if relevant && !event.kind.is_access() {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(&state.options().config_dir, RecursiveMode::NonRecursive)?;
    actix_web::rt::spawn(async move {
        while rx.recv().await.is_some() {
            // Coalesce a burst of events into one reload.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let _ = state.reload();
        }
    });
    Ok(watcher)
}
