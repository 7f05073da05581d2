//! The site's public model catalog (UPSTREAM.md §7, "Model list"): the same-origin GET the tab
//! makes for it, and the parsing of its JSON into one model per `publicName`.
//!
//! The catalog is a JSON array of arenas, `[{"arena":"text","complete":true,"models":[…]},…]`,
//! each model an object with `id`, `publicName`, `capabilities`, `organization`,
//! `userSelectable`, … (the same shape as the page's `initialModels`). A model listed in several
//! arenas is kept once, with the fields of its first listing, plus [`FIELD_ARENAS`]: the names of
//! every arena it appears in. Parsing is tolerant (unknown keys, missing optional fields, odd
//! entries are skipped and counted) and never panics.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::UpstreamRequest;
use crate::scrape::ScrapedModel;

/// Same-origin path of the catalog; anonymous GET, no reCAPTCHA.
pub const MODEL_CATALOG_PATH: &str = "/nextjs-api/model-catalog";
/// Method of the catalog request.
pub const MODEL_CATALOG_METHOD: &str = "GET";
/// `accept` header of the catalog request.
pub const MODEL_CATALOG_ACCEPT: &str = "application/json";
/// Largest catalog body accepted (the 2026-10 catalog, 459 entries, is far below this).
pub const MAX_CATALOG_BYTES: usize = 16 * 1024 * 1024;

/// Key of an arena's name.
const FIELD_ARENA: &str = "arena";
/// Key of an arena's model list.
const FIELD_MODELS: &str = "models";
/// Key of an arena's `complete` flag (`false`: the list may be partial).
const FIELD_COMPLETE: &str = "complete";
/// Key this bridge adds to each model: the arenas it appears in, in catalog order.
pub const FIELD_ARENAS: &str = "arenas";

/// Why a catalog body gave no model list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The body is not JSON (an HTML error or challenge page, a cut body).
    #[error("the model catalog is not JSON ({reason}); it starts with {start:?}")]
    NotJson { reason: String, start: String },
    /// JSON, but not a list of arenas.
    #[error(
        "the model catalog is not a list of arenas (found {found}): arena.ai may have changed \
         its format"
    )]
    NotArenas { found: &'static str },
    /// Arenas, but no model with `id` and `publicName` in any of them.
    #[error(
        "the model catalog lists {arenas} arenas but no model with an id and a publicName: \
         arena.ai may have changed its format"
    )]
    NoModels { arenas: usize },
}

/// What a catalog holds: one model per `publicName`, and counts for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// One per `publicName`, in catalog order, each with [`FIELD_ARENAS`].
    pub models: Vec<ScrapedModel>,
    /// Arena names, in catalog order (an arena without a name is listed as `""`).
    pub arenas: Vec<String>,
    /// Model entries over all arenas, duplicates included.
    pub entries: usize,
    /// Entries skipped: not an object, or without a string `id` / non-empty `publicName`.
    pub skipped: usize,
    /// Arenas marked `"complete": false`.
    pub incomplete: Vec<String>,
}

/// The request the tab makes for the catalog.
pub fn catalog_request() -> UpstreamRequest {
    UpstreamRequest {
        path: MODEL_CATALOG_PATH.to_owned(),
        method: MODEL_CATALOG_METHOD.to_owned(),
        headers: BTreeMap::from([("accept".to_owned(), MODEL_CATALOG_ACCEPT.to_owned())]),
        body: String::new(),
    }
}

/// How much of a body that is not JSON an error quotes.
const QUOTED_START_CHARS: usize = 80;

/// Parses a catalog body. Accepts the documented top-level array, and an object that wraps
/// that array under any key (a release might add an envelope).
pub fn parse_catalog(text: &str) -> Result<Catalog, CatalogError> {
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        CatalogError::NotJson {
            reason: e.to_string(),
            start: text.trim().chars().take(QUOTED_START_CHARS).collect(),
        }
    })?;
    let arenas = match value {
        Value::Array(items) => items,
        Value::Object(map) => map
            .into_iter()
            .find_map(|(_, v)| match v {
                Value::Array(items) if items.iter().any(is_arena) => Some(items),
                _ => None,
            })
            .ok_or(CatalogError::NotArenas {
                found: "an object without a list of arenas",
            })?,
        other => {
            return Err(CatalogError::NotArenas {
                found: json_kind(&other),
            })
        }
    };

    let mut catalog = Catalog {
        models: Vec::new(),
        arenas: Vec::new(),
        entries: 0,
        skipped: 0,
        incomplete: Vec::new(),
    };
    // publicName → index in `catalog.models`.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut arena_count = 0;
    for arena in arenas {
        let Value::Object(mut arena) = arena else {
            continue;
        };
        arena_count += 1;
        let name = arena
            .get(FIELD_ARENA)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if arena.get(FIELD_COMPLETE) == Some(&Value::Bool(false)) {
            catalog.incomplete.push(name.clone());
        }
        catalog.arenas.push(name.clone());
        let Some(Value::Array(models)) = arena.remove(FIELD_MODELS) else {
            continue;
        };
        for entry in models {
            catalog.entries += 1;
            let Some(model) = ScrapedModel::from_value(entry) else {
                catalog.skipped += 1;
                continue;
            };
            let at = *index
                .entry(model.public_name().to_owned())
                .or_insert_with(|| {
                    catalog
                        .models
                        .push(model.with_field(FIELD_ARENAS, Value::Array(Vec::new())));
                    catalog.models.len() - 1
                });
            catalog.models[at].push_to_list(FIELD_ARENAS, &name);
        }
    }
    if catalog.models.is_empty() {
        return Err(CatalogError::NoModels {
            arenas: arena_count,
        });
    }
    Ok(catalog)
}

fn is_arena(value: &Value) -> bool {
    value.get(FIELD_MODELS).is_some_and(Value::is_array)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ModelKind;
    use serde_json::json;

    fn model(id: &str, name: &str, out: Value) -> Value {
        json!({"id": id, "publicName": name, "organization": "o", "userSelectable": true,
               "capabilities": {"inputCapabilities": {"text": true},
                                "outputCapabilities": out}})
    }

    fn names(c: &Catalog) -> Vec<&str> {
        c.models.iter().map(ScrapedModel::public_name).collect()
    }

    fn arenas_of<'a>(c: &'a Catalog, name: &str) -> Vec<&'a str> {
        let m = c.models.iter().find(|m| m.public_name() == name).unwrap();
        m.fields()[FIELD_ARENAS]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect()
    }

    #[test]
    fn request_is_a_plain_same_origin_get() {
        let r = catalog_request();
        assert_eq!(
            (r.path.as_str(), r.method.as_str(), r.body.as_str()),
            ("/nextjs-api/model-catalog", "GET", "")
        );
        assert_eq!(r.headers["accept"], "application/json");
    }

    #[test]
    fn one_model_per_public_name_with_its_arenas() {
        let text = json!([
            {"arena": "text", "complete": true, "models": [
                model("1", "gemini-2.5-pro", json!({"text": true})),
                model("2", "gpt-5-high", json!({"text": true}))]},
            {"arena": "webdev", "complete": false, "models": [
                model("1b", "gemini-2.5-pro", json!({"text": true}))]},
            {"arena": "image", "models": [
                model("3", "imagen-4", json!({"image": {"aspectRatios": ["1:1"]}}))]},
            {"arena": "search", "models": [
                model("4", "sonar", json!({"text": true, "search": true})),
                model("2", "gpt-5-high", json!({"text": true}))]}
        ])
        .to_string();
        let c = parse_catalog(&text).unwrap();
        assert_eq!(
            names(&c),
            ["gemini-2.5-pro", "gpt-5-high", "imagen-4", "sonar"]
        );
        assert_eq!(c.arenas, ["text", "webdev", "image", "search"]);
        assert_eq!((c.entries, c.skipped), (6, 0));
        assert_eq!(c.incomplete, ["webdev"]);
        assert_eq!(arenas_of(&c, "gemini-2.5-pro"), ["text", "webdev"]);
        assert_eq!(arenas_of(&c, "gpt-5-high"), ["text", "search"]);
        // The first listing's fields win; the catalog's own fields are kept as they came.
        let g = &c.models[0];
        assert_eq!(g.id(), "1");
        assert_eq!(g.fields()["organization"], "o");
        assert_eq!(g.fields()["userSelectable"], true);
        let kinds: Vec<ModelKind> = c.models.iter().map(ScrapedModel::kind).collect();
        assert_eq!(
            kinds,
            [
                ModelKind::Text,
                ModelKind::Text,
                ModelKind::Image,
                ModelKind::Search
            ]
        );
        assert_eq!(c.models[2].models_json_value(), "3:image");
    }

    #[test]
    fn odd_entries_and_arenas_are_skipped_and_counted() {
        let text = json!([
            "not an arena",
            {"arena": "text", "models": [
                1, {"id": "x"}, {"publicName": "no-id"}, {"id": "e", "publicName": ""},
                {"id": 5, "publicName": "numeric-id"},
                model("1", "ok", json!({"text": true}))]},
            {"arena": "video"},
            {"models": [model("2", "nameless-arena", json!({}))]},
            {"arena": "same", "models": [model("1", "ok", json!({})), model("1", "ok", json!({}))]}
        ])
        .to_string();
        let c = parse_catalog(&text).unwrap();
        assert_eq!(names(&c), ["ok", "nameless-arena"]);
        assert_eq!((c.entries, c.skipped), (9, 5));
        assert_eq!(c.arenas, ["text", "video", "", "same"]);
        // Listed twice in one arena: the arena is named once.
        assert_eq!(arenas_of(&c, "ok"), ["text", "same"]);
        assert_eq!(arenas_of(&c, "nameless-arena"), [""]);
    }

    #[test]
    fn an_envelope_object_is_looked_into() {
        let text = json!({"version": 3, "arenas": [
            {"arena": "text", "models": [model("1", "m", json!({"text": true}))]}]})
        .to_string();
        assert_eq!(names(&parse_catalog(&text).unwrap()), ["m"]);
    }

    #[test]
    fn failures_say_what_came_instead() {
        type Check = fn(&CatalogError) -> bool;
        let cases: &[(&str, Check)] = &[
            (
                "<!DOCTYPE html><title>Just a moment...</title>",
                |e| matches!(e, CatalogError::NotJson { start, .. } if start.starts_with("<!DOCTYPE")),
            ),
            ("", |e| matches!(e, CatalogError::NotJson { .. })),
            ("[{\"arena\":\"text\",\"models\":[", |e| {
                matches!(e, CatalogError::NotJson { .. })
            }),
            ("\"text\"", |e| {
                matches!(e, CatalogError::NotArenas { found: "a string" })
            }),
            ("{\"error\":\"Not Found\"}", |e| {
                matches!(e, CatalogError::NotArenas { .. })
            }),
            ("[]", |e| *e == CatalogError::NoModels { arenas: 0 }),
            ("[{\"arena\":\"text\",\"models\":[{\"id\":\"1\"}]}]", |e| {
                *e == CatalogError::NoModels { arenas: 1 }
            }),
        ];
        for (text, check) in cases {
            let e = parse_catalog(text).unwrap_err();
            assert!(check(&e), "{text}: {e:?}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn a_byte_order_mark_is_fine() {
        let text = format!(
            "\u{feff}{}",
            json!([{"arena": "text", "models": [model("1", "m", json!({}))]}])
        );
        assert_eq!(names(&parse_catalog(&text).unwrap()), ["m"]);
    }
}
