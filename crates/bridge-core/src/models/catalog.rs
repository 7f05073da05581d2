//! `models.json`: public model name → LMArena model id and kind, in file order.

use std::collections::HashMap;
use std::path::Path;

use jsonc_parser::ast::Value;

use super::json_file::{invalid, json_string, parse_object, pretty_object};
use super::{ModelKind, ModelsError, NULL_MODEL_ID};
use crate::config::{strip_bom, value_kind};

/// One model of `models.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub public_name: String,
    /// `None` for `null:image` (and `null`, or an empty id).
    pub model_id: Option<String>,
    pub kind: ModelKind,
}

impl ModelEntry {
    /// Reads a `models.json` value: `"id"`, `"id:image"`, `"null:image"`, `"id:search"`.
    ///
    /// The type suffix is split at the last `:` only when it is a word of ASCII letters, so an
    /// id that itself contains `:` followed by something else stays whole.
    pub(crate) fn from_value(public_name: &str, value: &str) -> ModelEntry {
        let value = value.trim();
        let (id, kind) = match value.rsplit_once(':') {
            Some((id, suffix))
                if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                (id, ModelKind::from_suffix(suffix))
            }
            _ => (value, ModelKind::Text),
        };
        let id = id.trim();
        let model_id =
            (!id.is_empty() && !id.eq_ignore_ascii_case(NULL_MODEL_ID)).then(|| id.to_owned());
        ModelEntry {
            public_name: public_name.to_owned(),
            model_id,
            kind,
        }
    }

    /// The value as written in `models.json`.
    pub fn to_value(&self) -> String {
        let id = self.model_id.as_deref().unwrap_or(NULL_MODEL_ID);
        match self.kind.suffix() {
            Some(suffix) => format!("{id}:{suffix}"),
            None => id.to_owned(),
        }
    }
}

/// The entries of `models.json`, in file order, with a name index so a lookup does not scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Models {
    entries: Vec<ModelEntry>,
    /// Public name → position in `entries`.
    index: HashMap<String, usize>,
}

impl Models {
    /// Parses the text of `models.json`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Models, ModelsError> {
        let text = strip_bom(text);
        let mut models = Models::default();
        let Some(object) = parse_object(text, path, "an object {\"public name\": \"model-id\"}")?
        else {
            return Ok(models);
        };
        for prop in &object.properties {
            let name = prop.name.as_str();
            let Value::StringLit(s) = &prop.value else {
                return Err(invalid(
                    text,
                    path,
                    &prop.value,
                    format!(
                        "model `{name}`: expected a string such as \"model-id\", \
                         \"model-id:image\" or \"null:image\", found {}",
                        value_kind(&prop.value)
                    ),
                ));
            };
            let entry = ModelEntry::from_value(name, &s.value);
            models.insert(name, entry.model_id, entry.kind);
        }
        Ok(models)
    }

    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.index.get(name).and_then(|&i| self.entries.get(i))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Entries in file order.
    pub fn iter(&self) -> impl Iterator<Item = &ModelEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a model at the end, or updates it in place when the name exists (never reorders).
    /// Returns true when the model is new.
    pub fn insert(&mut self, name: &str, model_id: Option<String>, kind: ModelKind) -> bool {
        if let Some(existing) = self.index.get(name).and_then(|&i| self.entries.get_mut(i)) {
            existing.model_id = model_id;
            existing.kind = kind;
            false
        } else {
            self.index.insert(name.to_owned(), self.entries.len());
            self.entries.push(ModelEntry {
                public_name: name.to_owned(),
                model_id,
                kind,
            });
            true
        }
    }

    /// `models.json` text, two-space indented, in entry order, with a final newline.
    pub fn to_json_pretty(&self) -> String {
        let items = self
            .entries
            .iter()
            .map(|e| (e.public_name.as_str(), json_string(&e.to_value())));
        pretty_object(items, 0) + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_fixtures::MODELS;

    #[test]
    fn model_values() {
        let cases: &[(&str, Option<&str>, ModelKind)] = &[
            ("abc", Some("abc"), ModelKind::Text),
            ("abc:image", Some("abc"), ModelKind::Image),
            ("abc:IMAGE", Some("abc"), ModelKind::Image),
            ("null:image", None, ModelKind::Image),
            (":image", None, ModelKind::Image),
            ("abc:search", Some("abc"), ModelKind::Search),
            ("abc:text", Some("abc"), ModelKind::Text),
            ("abc:video", Some("abc"), ModelKind::Other("video".into())),
            ("a:b:image", Some("a:b"), ModelKind::Image),
            ("a:b:1", Some("a:b:1"), ModelKind::Text),
            ("abc:", Some("abc:"), ModelKind::Text),
            ("null", None, ModelKind::Text),
            ("", None, ModelKind::Text),
        ];
        for (value, id, kind) in cases {
            let e = ModelEntry::from_value("n", value);
            assert_eq!(e.model_id.as_deref(), *id, "{value}");
            assert_eq!(&e.kind, kind, "{value}");
        }
        assert_eq!(
            ModelEntry::from_value("n", "null:image").to_value(),
            "null:image"
        );
        assert_eq!(ModelEntry::from_value("n", "x:video").to_value(), "x:video");
        assert_eq!(ModelEntry::from_value("n", "x").to_value(), "x");
    }

    #[test]
    fn models_insert_and_write_keep_order() {
        let mut models = Models::parse(MODELS, Path::new("models.json")).unwrap();
        assert!(models.insert("new", Some("n-id".into()), ModelKind::Image));
        assert!(!models.insert("dalle", None, ModelKind::Image));
        let text = models.to_json_pretty();
        let again = Models::parse(&text, Path::new("models.json")).unwrap();
        assert_eq!(again, models);
        let names: Vec<_> = again.iter().map(|e| e.public_name.as_str()).collect();
        assert_eq!(names.first(), Some(&"gpt-text"));
        assert_eq!(names.last(), Some(&"new"));
        assert_eq!(again.get("dalle").unwrap().to_value(), "null:image");
        assert!(text.starts_with("{\n  \"gpt-text\": \"11111111"), "{text}");
        assert_eq!(Models::default().to_json_pretty(), "{}\n");
    }
}
