//! `bridge_core::arena::catalog` against the catalog fixture of `tests/fixtures/catalog/`
//! (reconstructed from UPSTREAM.md §7), and arbitrary input: never a panic.

use std::path::PathBuf;

use bridge_core::arena::catalog::{parse_catalog, FIELD_ARENAS};
use proptest::prelude::*;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/catalog")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_reconstructed_catalog_gives_the_expected_models() {
    let catalog = parse_catalog(&fixture("model_catalog_2026-10.json")).unwrap();
    let expected: Vec<(String, String, Vec<String>)> =
        serde_json::from_str(&fixture("model_catalog_2026-10.expected.json")).unwrap();
    let found: Vec<(String, String, Vec<String>)> = catalog
        .models
        .iter()
        .map(|m| {
            let arenas = m.fields()[FIELD_ARENAS]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            (m.public_name().to_owned(), m.models_json_value(), arenas)
        })
        .collect();
    assert_eq!(found, expected);
    assert_eq!(catalog.arenas.len(), 6);
    assert_eq!(catalog.incomplete, ["video"]);
    assert_eq!((catalog.entries, catalog.skipped), (15, 0));
    // Fields as they came, for example a model that cannot be picked on the site.
    let hidden = catalog
        .models
        .iter()
        .find(|m| m.public_name() == "internal-preview-model")
        .unwrap();
    assert_eq!(hidden.fields()["userSelectable"], Value::Bool(false));
    assert_eq!(hidden.fields()["rank"], Value::Null);
}

#[test]
fn the_catalog_request_is_the_documented_fetch_frame() {
    let request = bridge_core::arena::catalog::catalog_request();
    let frame = bridge_core::protocol::ServerMessage::Fetch {
        id: bridge_core::protocol::JobId(9),
        request: bridge_core::protocol::FetchRequest {
            path: request.path,
            method: request.method,
            headers: request.headers,
            body: request.body,
        },
        recaptcha: None,
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/protocol/server_fetch_catalog.json");
    let fixture = std::fs::read_to_string(path).unwrap();
    assert_eq!(serde_json::to_string(&frame).unwrap(), fixture.trim_end());
}

#[test]
fn every_truncation_of_the_catalog_is_an_error_or_a_list_never_a_panic() {
    let text = fixture("model_catalog_2026-10.json");
    for end in (0..text.len()).filter(|i| text.is_char_boundary(*i)) {
        if let Ok(c) = parse_catalog(&text[..end]) {
            assert!(!c.models.is_empty());
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = parse_catalog(&text);
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(
        names in proptest::collection::vec(proptest::option::of("[a-z]{0,3}"), 0..12),
        wrap in any::<bool>(),
    ) {
        let models: Vec<Value> = names
            .iter()
            .map(|n| match n {
                Some(n) => serde_json::json!({"id": n, "publicName": n}),
                None => Value::Null,
            })
            .collect();
        let arenas = serde_json::json!([{"arena": "a", "models": models}]);
        let text = if wrap { serde_json::json!({"x": arenas}) } else { arenas }.to_string();
        if let Ok(c) = parse_catalog(&text) {
            let mut seen = std::collections::HashSet::new();
            for m in &c.models {
                prop_assert!(seen.insert(m.public_name().to_owned()));
            }
        }
    }
}
