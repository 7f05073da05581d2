//! `bridge_core::scrape::extract_models` never panics: random text, random mangling of real
//! page fixtures, and every truncation of one.

mod scrape_proptest {
    use std::path::PathBuf;

    use bridge_core::scrape::extract_models;
    use proptest::prelude::*;

    fn page(name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/pages")
            .join(format!("{name}.html"));
        std::fs::read_to_string(path).unwrap()
    }

    fn char_prefix(text: &str, cut: usize) -> &str {
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        &text[..cut]
    }

    #[test]
    fn every_truncation_of_a_page_is_handled() {
        let html = page("arena_split_push");
        let mut ok = 0;
        for cut in (0..=html.len()).step_by(7) {
            if extract_models(char_prefix(&html, cut)).is_ok() {
                ok += 1;
            }
        }
        // Later cuts keep the (closed) list scripts; the full page always parses.
        assert!(ok > 0);
        assert!(extract_models(&html).is_ok());
    }

    proptest! {
        #[test]
        fn random_text_never_panics(text in "\\PC{0,400}") {
            let _ = extract_models(&text);
        }

        #[test]
        fn random_flight_like_text_never_panics(
            body in "(\\{|\\}|\\[|\\]|\"|\\\\|:|,|id|publicName|initialModels|x| ){0,200}"
        ) {
            let literal = serde_json::to_string(&body).unwrap();
            let html = format!("<script>self.__next_f.push([1,{literal}])</script>");
            let _ = extract_models(&html);
            let raw = format!("<script>self.__next_f.push([1,\"{body}\"])</script>");
            let _ = extract_models(&raw);
        }

        #[test]
        fn mangled_fixture_never_panics(cut in 0usize..4000, insert in "\\PC{0,8}") {
            let html = page("arena_escaped_values");
            let prefix = char_prefix(&html, cut);
            let mangled = format!("{prefix}{insert}{}", &html[prefix.len()..]);
            let _ = extract_models(&mangled);
            let _ = extract_models(prefix);
        }
    }
}
