//! `bridge_core::scrape` against the page fixtures of `tests/fixtures/pages/` (built by its
//! `generate.py` per UPSTREAM.md §6; each `*.expected.json` lists what must be found).

mod scrape_pages {
    use std::path::PathBuf;

    use bridge_core::models::ModelKind;
    use bridge_core::scrape::{extract_models, ScrapeError, ScrapedModel};
    use serde_json::Value;

    fn pages_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pages")
    }

    fn page(name: &str) -> String {
        std::fs::read_to_string(pages_dir().join(format!("{name}.html"))).unwrap()
    }

    /// `[publicName, models.json value, has vision]` rows, in order.
    fn expected(name: &str) -> Vec<(String, String, bool)> {
        let text =
            std::fs::read_to_string(pages_dir().join(format!("{name}.expected.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn found(models: &[ScrapedModel]) -> Vec<(String, String, bool)> {
        models
            .iter()
            .map(|m| {
                (
                    m.public_name().to_owned(),
                    m.models_json_value(),
                    m.has_vision(),
                )
            })
            .collect()
    }

    fn check(name: &str) -> Vec<ScrapedModel> {
        let models = extract_models(&page(name)).unwrap();
        assert_eq!(found(&models), expected(name), "page {name}");
        models
    }

    #[test]
    fn basic_page_documented_shape() {
        let models = check("arena_basic");
        assert_eq!(models.len(), 8);
        let first = &models[0];
        assert_eq!(first.public_name(), "gemini-2.5-pro");
        assert_eq!(first.id(), "0198a1b2-0000-7000-8000-000000000001");
        assert_eq!(first.fields()["organization"], "google");
        assert_eq!(first.fields()["rank"], 1);
        let kinds: Vec<ModelKind> = models.iter().map(ScrapedModel::kind).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == ModelKind::Image).count(),
            2,
            "{kinds:?}"
        );
        assert_eq!(kinds.iter().filter(|k| **k == ModelKind::Search).count(), 2);
    }

    #[test]
    fn basic_page_keeps_every_field_and_missing_ones_stay_missing() {
        let models = check("arena_basic");
        let dalle = models
            .iter()
            .find(|m| m.public_name() == "dall-e-3")
            .unwrap();
        assert_eq!(
            dalle.fields()["capabilities"]["outputCapabilities"]["image"]["aspectRatios"],
            serde_json::json!(["1:1", "16:9", "9:16"])
        );
        let mystery = models
            .iter()
            .find(|m| m.public_name() == "mystery-model-x")
            .unwrap();
        for absent in ["organization", "provider", "rank"] {
            assert!(!mystery.fields().contains_key(absent), "{absent}");
        }
        assert_eq!(mystery.models_json_value(), mystery.id());
    }

    #[test]
    fn key_orders_do_not_matter() {
        let models = check("arena_key_orders");
        // Same models as the basic page, same fields, other order.
        let basic = extract_models(&page("arena_basic")).unwrap();
        let as_values = |ms: Vec<ScrapedModel>| -> Vec<Value> {
            ms.into_iter().map(ScrapedModel::into_value).collect()
        };
        assert_eq!(as_values(models), as_values(basic));
    }

    #[test]
    fn escaped_quotes_braces_and_html_inside_values() {
        let models = check("arena_escaped_values");
        assert_eq!(models[0].public_name(), "model \"quoted\" {x}");
        assert_eq!(
            models[0].fields()["description"],
            "Says \"hi\" then {\"id\":\"fake\",\"publicName\":\"fake\"}"
        );
        assert_eq!(
            models[1].fields()["note"],
            "</script><script>alert(1)</script> & <b>"
        );
        assert_eq!(
            models[1].fields()["description"],
            "ends with a backslash \\"
        );
        assert!(!models.iter().any(|m| m.public_name() == "fake"));
    }

    #[test]
    fn list_split_across_pushes() {
        let models = check("arena_split_push");
        let cut = models
            .iter()
            .find(|m| m.public_name() == "quote-split")
            .unwrap();
        assert_eq!(cut.fields()["description"], "a \"cut\" here");
        assert_eq!(models.len(), 9);
    }

    #[test]
    fn model_objects_outside_initial_models_first_wins() {
        let models = check("arena_other_objects");
        let leader = &models[0];
        assert_eq!(leader.public_name(), "leader-one");
        assert_eq!(leader.id(), "0198a1b2-0000-7000-8000-000000000031");
        assert!(!models.iter().any(|m| ["y", "z"].contains(&m.public_name())));
    }

    #[test]
    fn page_without_list_is_no_model_list() {
        let err = extract_models(&page("arena_no_model_list")).unwrap_err();
        assert!(
            matches!(err, ScrapeError::NoModelList { chunks, .. } if chunks == 5),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .contains("LMArena may have changed its page"));
    }

    #[test]
    fn challenge_page_is_no_model_list() {
        let err = extract_models(&page("cloudflare_challenge")).unwrap_err();
        assert_eq!(
            err,
            ScrapeError::NoModelList {
                scripts: 1,
                chunks: 0
            }
        );
    }

    #[test]
    fn every_fixture_with_expected_file_is_checked() {
        // Guards against a fixture added to the folder but forgotten here.
        let mut names: Vec<String> = std::fs::read_dir(pages_dir())
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".expected.json").map(str::to_owned)
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "arena_basic",
                "arena_escaped_values",
                "arena_key_orders",
                "arena_other_objects",
                "arena_split_push"
            ]
        );
        for name in names {
            check(&name);
        }
    }
}
