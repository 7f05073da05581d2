//! The fuzz targets' checks (`bridge_core::fuzzing`) run as ordinary tests: over the seed
//! corpus in `fuzz/corpus/` with many splits, and over proptest-generated input. Longer
//! coverage-guided runs: see the `fuzzing` module docs.

use std::fs;
use std::path::PathBuf;

use bridge_core::fuzzing::{
    check_stop_matcher, check_tool_parser, cuts_and_text, sequences_and_rest,
};
use proptest::prelude::*;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files.iter().map(|p| fs::read(p).unwrap()).collect()
}

#[test]
fn tool_call_corpus_holds_for_every_split() {
    for data in corpus("tool_calls") {
        let text = String::from_utf8(data.clone()).unwrap();
        for cut in 0..=text.len() {
            check_tool_parser(&text, &[cut]);
            check_tool_parser(&text, &[cut, cut * 3 + 1, cut * 5 + 2]);
        }
        let (cuts, text) = cuts_and_text(&data);
        check_tool_parser(&text, &cuts);
    }
}

#[test]
fn stop_corpus_holds_for_every_split() {
    for data in corpus("stop_sequences") {
        let (sequences, rest) = sequences_and_rest(&data);
        let text = String::from_utf8(rest.to_vec()).unwrap();
        for cut in 0..=text.len() {
            check_stop_matcher(&sequences, &text, &[cut, cut * 2 + 1]);
        }
    }
}

/// Text made of the pieces calls are built from, so random input often nears a call.
fn answer_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<tool_call>".to_owned()),
        Just("</tool_call>".to_owned()),
        Just("```".to_owned()),
        Just("```json\n".to_owned()),
        Just("\n".to_owned()),
        Just(" ".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("\"name\": \"get_weather\", ".to_owned()),
        Just("\"name\": \"get_time\", ".to_owned()),
        Just("\"arguments\": {\"city\": \"Oslo\"}".to_owned()),
        Just("\"arguments\": {}".to_owned()),
        Just(",".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("é🚀".to_owned()),
        "[a-z<>`{}\"',: \n\\\\]{0,6}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn tool_parser_is_split_invariant(text in answer_like(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        check_tool_parser(&text, &cuts);
    }

    #[test]
    fn tool_parser_never_panics_on_any_text(text in any::<String>(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        check_tool_parser(&text, &cuts);
    }

    #[test]
    fn stop_matcher_is_split_invariant(
        sequences in prop::collection::vec("[ab\n]{1,3}|é!", 0..=4),
        text in "[abé!\nc]{0,40}",
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        check_stop_matcher(&sequences, &text, &cuts);
    }

    #[test]
    fn token_budget_never_exceeds_and_matches_whole_count(
        text in "[a-zé🚀 \n.,]{0,80}",
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        limit in 0usize..30,
    ) {
        let mut budget = bridge_core::tokens::TokenBudget::new(limit);
        let mut kept = String::new();
        for piece in bridge_core::fuzzing::split_at_cuts(&text, &cuts) {
            let step = budget.feed(piece);
            kept.push_str(step.fits);
            if step.exhausted { break; }
        }
        let used = bridge_core::tokens::count(&kept);
        prop_assert!(used <= limit, "{used} > {limit}");
        prop_assert_eq!(budget.used(), used);
        if !budget.exhausted() {
            prop_assert_eq!(&kept, &text);
        }
    }
}
