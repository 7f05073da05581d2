//! Feeding a transcript in pieces gives the same events and stats as feeding it whole: every
//! single split point of every fixture, random multi-splits biased towards JSON escapes
//! (proptest), one char at a time, and arbitrary generated input.

#[allow(dead_code)]
mod stream_support;

use bridge_core::arena::stream::{Participant, StreamParser};
use proptest::prelude::*;
use proptest::sample::Index;
use stream_support::{feed, split_at_points, split_points, transcripts, Fixture};

const SIDES: [Participant; 2] = [Participant::A, Participant::B];

/// Split points right after a backslash and within the next few bytes: inside `\"`, `\\`,
/// `\uXXXX` and between the two escapes of a surrogate pair.
fn escape_points(text: &str) -> Vec<usize> {
    let mut points: Vec<usize> = text
        .match_indices('\\')
        .flat_map(|(i, _)| (i + 1)..=(i + 6))
        .filter(|&p| p < text.len() && text.is_char_boundary(p))
        .collect();
    points.sort_unstable();
    points.dedup();
    points
}

#[test]
fn every_two_piece_split_of_every_fixture_matches_the_whole() {
    let fixtures = transcripts();
    assert!(!fixtures.is_empty());
    for fx in &fixtures {
        for participant in SIDES {
            let whole = feed(&[&fx.transcript], participant);
            for point in split_points(&fx.transcript) {
                let pieces = split_at_points(&fx.transcript, &[point]);
                assert_eq!(
                    feed(&pieces, participant),
                    whole,
                    "fixture {} split at byte {point}",
                    fx.name
                );
            }
        }
    }
}

#[test]
fn one_char_at_a_time_matches_the_whole() {
    for fx in &transcripts() {
        let pieces: Vec<String> = fx.transcript.chars().map(String::from).collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        for participant in SIDES {
            assert_eq!(
                feed(&pieces, participant),
                feed(&[&fx.transcript], participant),
                "fixture {}",
                fx.name
            );
        }
    }
}

#[test]
fn splits_between_surrogate_escapes_and_inside_unicode_escapes() {
    let line = "a0:\"x\\ud83d\\ude00y\\u00e9\"\n";
    let whole = feed(&[line], Participant::A);
    assert_eq!(whole.0.len(), 1);
    let pair_middle = line.find("\\ude00").expect("second escape");
    let inside_u = line.find("\\u00e9").expect("escape") + 3;
    for point in [pair_middle, pair_middle - 2, pair_middle + 1, inside_u] {
        let pieces = split_at_points(line, &[point]);
        assert_eq!(feed(&pieces, Participant::A), whole, "split at {point}");
    }
    assert!(
        escape_points(line).contains(&pair_middle),
        "the proptest bias covers the pair boundary"
    );
}

#[test]
fn empty_pieces_change_nothing() {
    for fx in &transcripts() {
        let mut pieces = vec![""];
        for piece in split_at_points(&fx.transcript, &split_points(&fx.transcript)[..1]) {
            pieces.push(piece);
            pieces.push("");
        }
        assert_eq!(
            feed(&pieces, Participant::A),
            feed(&[&fx.transcript], Participant::A),
            "fixture {}",
            fx.name
        );
    }
}

fn fixtures() -> &'static [Fixture] {
    use std::sync::OnceLock;
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(transcripts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_splits_of_fixtures_match_the_whole(
        which in any::<Index>(),
        anywhere in prop::collection::vec(any::<Index>(), 0..10),
        near_escapes in prop::collection::vec(any::<Index>(), 0..6),
        side_b in any::<bool>(),
    ) {
        let fx = which.get(fixtures());
        let participant = if side_b { Participant::B } else { Participant::A };
        let mut points: Vec<usize> = Vec::new();
        let all = split_points(&fx.transcript);
        if !all.is_empty() {
            points.extend(anywhere.iter().map(|i| *i.get(&all)));
        }
        let escapes = escape_points(&fx.transcript);
        if !escapes.is_empty() {
            points.extend(near_escapes.iter().map(|i| *i.get(&escapes)));
        }
        points.sort_unstable();
        points.dedup();
        let pieces = split_at_points(&fx.transcript, &points);
        prop_assert_eq!(
            feed(&pieces, participant),
            feed(&[&fx.transcript], participant),
            "fixture {} points {:?}", fx.name, points
        );
    }

    /// Arbitrary input never panics, and splitting it changes nothing either.
    #[test]
    fn arbitrary_input_splits_consistently(
        lines in prop::collection::vec(
            prop_oneof![
                "(data: ?)?[ab][0g23cd]:\"([a-z 中😀]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}){0,12}\"?",
                "(data: ?)?[ab][0g23cd]:[\\[\\]{}\":,0-9a-z ]{0,24}",
                "\\{\"error\":(\"[a-z ]{0,10}\"|\\{\"message\":\"m\"\\}|null|1)\\}",
                "[ab]?[0-9a-z]{0,3}:?.{0,12}",
                any::<String>(),
            ],
            0..12,
        ),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        side_b in any::<bool>(),
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let mut text = lines.join(sep);
        if final_newline {
            text.push_str(sep);
        }
        let participant = if side_b { Participant::B } else { Participant::A };
        let whole = feed(&[&text], participant);
        prop_assert!(whole.1.lines <= text.split('\n').count() as u64);
        prop_assert!(whole.1.unknown_lines + whole.1.malformed_lines <= whole.1.lines);
        let all = split_points(&text);
        let mut points: Vec<usize> = if all.is_empty() {
            Vec::new()
        } else {
            cuts.iter().map(|i| *i.get(&all)).collect()
        };
        points.sort_unstable();
        points.dedup();
        let pieces = split_at_points(&text, &points);
        prop_assert_eq!(feed(&pieces, participant), whole);
    }

    /// `push_into` with a reused buffer and `push` give the same events.
    #[test]
    fn push_into_matches_push(which in any::<Index>(), cut in any::<Index>()) {
        let fx = which.get(fixtures());
        let all = split_points(&fx.transcript);
        let points: Vec<usize> = all.get(cut.index(all.len().max(1))).into_iter().copied().collect();
        let pieces = split_at_points(&fx.transcript, &points);
        let mut parser = StreamParser::new(Participant::A);
        let mut out = Vec::new();
        for piece in &pieces {
            parser.push_into(piece, &mut out);
        }
        parser.finish_into(&mut out);
        prop_assert_eq!(out, feed(&pieces, Participant::A).0);
    }
}
