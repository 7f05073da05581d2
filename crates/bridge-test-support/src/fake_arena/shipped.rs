//! The models of the shipped `config/models.json`, which the fake also accepts as
//! `modelId`/`modelAId`: a new user who follows the README's quick start with the shipped
//! config reaches an answer from the fake without editing any id. They are not on the fake
//! page's model list (that list stays [`super::page::FAKE_MODELS`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::page::{FakeModel, ModelKind};

/// The shipped `config/models.json`, as compiled in.
const SHIPPED_MODELS_JSON: &str = include_str!("../../../../config/models.json");

/// Type suffixes of a `models.json` value (`"<id>:image"`), as the bridge reads them.
const KIND_SUFFIXES: &[(&str, ModelKind)] =
    &[(":image", ModelKind::Image), (":search", ModelKind::Search)];

static SHIPPED: LazyLock<Vec<FakeModel>> = LazyLock::new(|| parse(SHIPPED_MODELS_JSON));

/// Every model of the shipped `models.json` that names an id (a `null` value is an anonymous
/// battle model, which has none).
pub fn shipped_models() -> &'static [FakeModel] {
    &SHIPPED
}

pub(crate) fn find_shipped_model(id: &str) -> Option<&'static FakeModel> {
    SHIPPED.iter().find(|m| m.id == id)
}

/// `{"name": "<id>[:image|:search]" | null, …}` → models; anything unreadable → none, which
/// the test below catches.
fn parse(json: &'static str) -> Vec<FakeModel> {
    let Ok(map) = serde_json::from_str::<BTreeMap<&'static str, Option<&'static str>>>(json) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(public_name, value)| {
            let value = value?;
            let (id, kind) = KIND_SUFFIXES
                .iter()
                .find_map(|(suffix, kind)| value.strip_suffix(suffix).map(|id| (id, *kind)))
                .unwrap_or((value, ModelKind::Text));
            Some(FakeModel {
                id,
                public_name,
                kind,
                vision: kind != ModelKind::Search,
                organization: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_of_the_shipped_file_is_known_with_its_kind() {
        let file: BTreeMap<String, Option<String>> =
            serde_json::from_str(SHIPPED_MODELS_JSON).expect("the shipped models.json parses");
        let named: Vec<_> = file
            .iter()
            .filter_map(|(n, v)| Some((n, v.as_ref()?)))
            .collect();
        assert!(!named.is_empty());
        assert_eq!(shipped_models().len(), named.len());
        for (name, value) in named {
            let (id, kind) = match value.split_once(':') {
                Some((id, "image")) => (id, ModelKind::Image),
                Some((id, "search")) => (id, ModelKind::Search),
                _ => (value.as_str(), ModelKind::Text),
            };
            let model = find_shipped_model(id).unwrap_or_else(|| panic!("{name} ({id}) unknown"));
            assert_eq!((model.public_name, model.kind), (name.as_str(), kind));
        }
    }

    #[test]
    fn suffixes_pick_the_kind_and_null_values_are_skipped() {
        let models = parse(r#"{"a": "id-a", "b": "id-b:image", "c": "id-c:search", "d": null}"#);
        let got: Vec<_> = models
            .iter()
            .map(|m| (m.public_name, m.id, m.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "id-a", ModelKind::Text),
                ("b", "id-b", ModelKind::Image),
                ("c", "id-c", ModelKind::Search),
            ]
        );
        assert!(parse("not json").is_empty());
    }
}
