//! Models the site lists that `models.json` may not: the last model catalog the server saw
//! (fetched through a tab for bridge-model-updater), or, until then, the
//! `available_models.json` of the config directory. `GET /v1/models?all=true` lists them, and
//! a chat to one of them works by the id the site gave it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use bridge_core::models::ModelKind;
use bridge_core::scrape::{parse_model_list, ScrapedModel};

/// One model of the site's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownModel {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) kind: ModelKind,
}

/// One list, replaced whole; indexed by name.
#[derive(Debug, Default)]
pub(crate) struct KnownList {
    models: Vec<KnownModel>,
    by_name: HashMap<String, usize>,
}

impl KnownList {
    fn new(models: &[ScrapedModel]) -> Self {
        let models: Vec<KnownModel> = models
            .iter()
            .map(|m| KnownModel {
                name: m.public_name().to_owned(),
                id: m.id().to_owned(),
                kind: m.kind(),
            })
            .collect();
        let by_name = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        Self { models, by_name }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&KnownModel> {
        self.by_name.get(name).map(|&i| &self.models[i])
    }

    /// In the site's order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &KnownModel> {
        self.models.iter()
    }
}

/// The current list behind a lock that is never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct KnownModels {
    list: RwLock<Arc<KnownList>>,
}

impl KnownModels {
    /// Starts from `available_models.json` at `path` when it exists and parses; anything else
    /// is an empty list (and a log line when the file is there but broken).
    pub(crate) fn load(path: &Path) -> Self {
        let known = Self::default();
        known.reload(path);
        known
    }

    /// Takes the list in `available_models.json` at `path` (written by bridge-model-updater
    /// while the server runs). A missing, unreadable or broken file keeps the current list
    /// (with a log line when the file is there).
    pub(crate) fn reload(&self, path: &Path) {
        match std::fs::read_to_string(path) {
            Ok(text) => match parse_model_list(&text) {
                Ok(models) => self.replace(&models),
                Err(e) => {
                    tracing::warn!("ignoring {} for /v1/models?all=true: {e}", path.display())
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot read {}: {e}", path.display()),
        }
    }

    pub(crate) fn replace(&self, models: &[ScrapedModel]) {
        let list = Arc::new(KnownList::new(models));
        *self.list.write().unwrap_or_else(|p| p.into_inner()) = list;
    }

    pub(crate) fn current(&self) -> Arc<KnownList> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_saved_list_and_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("available_models.json");
        assert!(KnownModels::load(&path).current().get("a").is_none());
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(KnownModels::load(&path).current().iter().count(), 0);
        std::fs::write(
            &path,
            r#"[{"id":"1","publicName":"a"},
                {"id":"2","publicName":"pic","capabilities":{"outputCapabilities":{"image":{}}}}]"#,
        )
        .unwrap();
        let known = KnownModels::load(&path);
        let list = known.current();
        assert_eq!(list.get("pic").unwrap().kind, ModelKind::Image);
        assert_eq!(list.get("a").unwrap().id, "1");
        // A broken file later keeps the list; a good one replaces it.
        std::fs::write(&path, "[{").unwrap();
        known.reload(&path);
        assert_eq!(known.current().get("a").unwrap().id, "1");
        std::fs::write(&path, r#"[{"id":"3","publicName":"b"}]"#).unwrap();
        known.reload(&path);
        assert!(known.current().get("a").is_none());
        assert_eq!(known.current().get("b").unwrap().id, "3");
        known.replace(&[]);
        assert!(known.current().get("b").is_none());
        // A reader keeps the list it took.
        assert_eq!(list.iter().count(), 2);
    }
}
