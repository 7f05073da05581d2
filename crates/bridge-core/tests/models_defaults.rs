//! The shipped `models.json` / `model_endpoint_map.json` and the whole path from a model name
//! to a session with the shipped `config.jsonc`.

use std::path::{Path, PathBuf};

use bridge_core::config::load_config;
use bridge_core::models::{ModelKind, ModelTable, Registry, SessionError};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

#[test]
fn shipped_model_files_load() {
    let registry = Registry::load(&config_dir()).unwrap();
    assert!(registry.endpoint_map.is_empty());
    let kinds: Vec<ModelKind> = registry.models.iter().map(|m| m.kind.clone()).collect();
    assert!(kinds.contains(&ModelKind::Text));
    assert!(kinds.contains(&ModelKind::Image));
    assert!(kinds.contains(&ModelKind::Search));
    assert!(registry.models.iter().all(|m| m.model_id.is_some()));
    assert_eq!(registry.model_names().len(), registry.models.len());
    // Written back, the file is byte-identical: the updater tools will not churn it.
    let text = std::fs::read_to_string(config_dir().join("models.json")).unwrap();
    assert_eq!(registry.models.to_json_pretty(), text);
}

#[test]
fn shipped_placeholders_ask_for_the_id_updater() {
    let (config, _) = load_config(&config_dir().join("config.jsonc")).unwrap();
    let registry = Registry::load(&config_dir()).unwrap();
    let name = registry.model_names().into_iter().next().unwrap();
    let table = ModelTable::build(&registry, &config);
    let err = table
        .resolve(&name)
        .unwrap()
        .choose_sessions(1)
        .unwrap_err();
    assert!(
        matches!(err, SessionError::GlobalIdsUnusable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("bridge-id-updater"), "{err}");
    assert!(err.to_string().contains(&name), "{err}");
}
