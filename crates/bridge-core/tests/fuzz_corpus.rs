//! The fuzz targets' checks (`bridge_core::fuzzing`) run as ordinary tests: over the seed
//! corpus in `fuzz/corpus/` with many splits, and over proptest-generated input. Longer
//! coverage-guided runs: see the `fuzzing` module docs.

use std::fs;
use std::path::PathBuf;

use bridge_core::fuzzing::{
    check_config_text, check_page, check_request_body, check_stop_matcher, check_stream,
    check_tab_frame, check_tool_parser, cuts_and_text, sequences_and_rest,
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

/// Every seed of `target`, then mutations of it (a cheap stand-in for a fuzzer on stable):
/// cut short, bytes flipped to JSON's special characters, a stretch doubled or dropped.
fn seeds_and_mutants(target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for seed in corpus(target) {
        out.extend(mutants(&seed));
        out.push(seed);
    }
    out
}

const SPECIAL: &[u8] = b"{}[]\":,\\\n0a-e\xff\xc3 ";

fn mutants(seed: &[u8]) -> Vec<Vec<u8>> {
    let len = seed.len();
    let mut out = Vec::new();
    for k in 1..8 {
        let at = len * k / 8;
        out.push(seed[..at].to_vec());
        for &b in SPECIAL {
            let mut m = seed.to_vec();
            if at < len {
                m[at] = b;
            } else {
                m.push(b);
            }
            out.push(m);
        }
        let end = (at + len / 8 + 1).min(len);
        let mut doubled = seed[..end].to_vec();
        doubled.extend_from_slice(&seed[at..]);
        out.push(doubled);
        let mut dropped = seed[..at].to_vec();
        dropped.extend_from_slice(&seed[end..]);
        out.push(dropped);
    }
    out
}

/// Applies proptest-chosen edits (position, byte; a zero byte drops the rest) to a seed.
fn edited(seed: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for &(at, byte) in edits {
        let at = at % (data.len() + 1);
        match byte {
            0 => data.truncate(at),
            1 => {
                let tail = data[at..].to_vec();
                data.extend_from_slice(&tail);
            }
            _ if at < data.len() => data[at] = byte,
            _ => data.push(byte),
        }
    }
    data
}

#[test]
fn stream_corpus_holds_for_every_split_and_mutation() {
    for seed in corpus("stream") {
        let text = String::from_utf8(seed.clone()).unwrap();
        for cut in 0..=text.len() {
            check_stream(0, &text, &[cut, cut * 3 + 1]);
            check_stream(1, &text, &[cut]);
        }
    }
    for data in seeds_and_mutants("stream") {
        let (cuts, text) = cuts_and_text(&data);
        check_stream(data.len() as u8, &text, &cuts);
    }
}

/// Runs one fuzz input through a target's check.
type Check = fn(&[u8]);

/// The outside-input targets whose input is the whole seed, with how each reads it.
const WHOLE_INPUT_TARGETS: [(&str, Check); 4] = [
    ("tab_frames", |d| {
        check_tab_frame(&String::from_utf8_lossy(d))
    }),
    ("requests", check_request_body),
    ("config_files", |d| {
        check_config_text(&String::from_utf8_lossy(d))
    }),
    ("pages", |d| check_page(&String::from_utf8_lossy(d))),
];

#[test]
fn tab_frame_request_config_and_page_corpora_and_mutations_hold() {
    for (target, check) in WHOLE_INPUT_TARGETS {
        for data in seeds_and_mutants(target) {
            check(&data);
        }
    }
}

/// A seed of `target` (chosen by `pick`) with proptest's edits.
fn mutated(target: &str, pick: prop::sample::Index, edits: &[(usize, u8)]) -> Vec<u8> {
    let seeds = corpus(target);
    edited(&seeds[pick.index(seeds.len())], edits)
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 0..12)
}

// The outside-input targets take their case count from `PROPTEST_CASES` (default 256), so
// the same tests make the longer run (docs/FUZZING.md).
proptest! {
    #[test]
    fn stream_mutants_hold(pick in any::<prop::sample::Index>(), edits in edits(), cuts in prop::collection::vec(any::<usize>(), 0..6), side in any::<u8>()) {
        let data = mutated("stream", pick, &edits);
        check_stream(side, &String::from_utf8_lossy(&data), &cuts);
    }

    #[test]
    fn stream_of_any_text_holds(text in any::<String>(), cuts in prop::collection::vec(any::<usize>(), 0..6), side in any::<u8>()) {
        check_stream(side, &text, &cuts);
    }

    #[test]
    fn tab_frame_mutants_hold(pick in any::<prop::sample::Index>(), edits in edits()) {
        check_tab_frame(&String::from_utf8_lossy(&mutated("tab_frames", pick, &edits)));
    }

    #[test]
    fn request_mutants_hold(pick in any::<prop::sample::Index>(), edits in edits()) {
        check_request_body(&mutated("requests", pick, &edits));
    }

    #[test]
    fn config_mutants_hold(pick in any::<prop::sample::Index>(), edits in edits()) {
        check_config_text(&String::from_utf8_lossy(&mutated("config_files", pick, &edits)));
    }

    #[test]
    fn page_mutants_hold(pick in any::<prop::sample::Index>(), edits in edits()) {
        check_page(&String::from_utf8_lossy(&mutated("pages", pick, &edits)));
    }
}

proptest! {
    // Few cases: each builds bodies of up to 32 KB (regression: a 10 KB role came back whole
    // in the 400, seed `requests/regression_long_role.json`).
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn requests_with_long_strings_hold(field in "[a-z_]{1,20}", long in ".{1,8}", repeat in 0usize..4000) {
        // A huge client string in any field must not come back whole in an error.
        let value = long.repeat(repeat);
        for body in [
            serde_json::json!({"model": value, "messages": [{"role": "user", "content": "x"}]}),
            serde_json::json!({"model": "m", "prompt": "p", field.clone(): value}),
            serde_json::json!({"model": "m", "messages": [{"role": value, "content": "x"}]}),
            serde_json::json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": value}]}]}),
            serde_json::json!({"model": "m", "input": [{"type": value}]}),
        ] {
            check_request_body(body.to_string().as_bytes());
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
