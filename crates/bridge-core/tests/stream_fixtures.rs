//! The stream parser against the hand-written expectations of every upstream transcript, plus
//! focused behaviour tests of `StreamParser`.

#[allow(dead_code)]
mod stream_support;

use std::time::{Duration, Instant};

use bridge_core::arena::stream::{
    FinishReason, Participant, StreamEvent, StreamParser, Usage, MAX_LINE_BYTES, OTHER_UNKNOWN_TYPE,
};
use bridge_core::config::BattleTarget;
use stream_support::{feed, side, transcripts};

fn text(s: &str) -> StreamEvent {
    StreamEvent::Text(s.to_owned())
}

fn stop() -> StreamEvent {
    StreamEvent::Finish {
        reason: FinishReason::Stop,
        usage: None,
    }
}

#[test]
fn every_transcript_gives_its_expected_events() {
    let fixtures = transcripts();
    let mut checked = 0;
    for fx in &fixtures {
        for participant in [Participant::A, Participant::B] {
            let s = side(participant);
            let Some(expected) = fx.expected_events(s) else {
                continue;
            };
            let (events, stats) = feed(&[&fx.transcript], participant);
            assert_eq!(events, expected, "fixture {} side {s}", fx.name);
            if let Some(expected_stats) = fx.expected_stats(s) {
                assert_eq!(
                    stats, expected_stats,
                    "stats of fixture {} side {s}",
                    fx.name
                );
            }
            checked += 1;
        }
        assert!(
            fx.expected_events("a").is_some(),
            "{}: expected events for side a are required",
            fx.name
        );
    }
    assert!(checked >= fixtures.len(), "every fixture was checked");
}

#[test]
fn the_documented_fixture_set_is_present() {
    let names: Vec<String> = transcripts().into_iter().map(|f| f.name).collect();
    for required in [
        "direct_chat_2025-11-01",
        "battle_2025-11-04",
        "cjk_emoji",
        "escapes",
        "image_single",
        "image_multiple",
        "reasoning_then_text",
        "citations",
        "inband_error",
        "finish_usage",
        "finish_content_filter",
        "finish_length",
        "finish_unknown",
        "battle_both_sides",
        "data_prefix_crlf",
        "unknown_types",
        "error_first_line_200",
        "error_first_line_object_200",
        "model_quotes_challenge",
        "no_trailing_newline",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing fixture {required}"
        );
    }
}

#[test]
fn every_json_escape_decodes_as_rust_literals_say() {
    let fx = transcripts()
        .into_iter()
        .find(|f| f.name == "escapes")
        .expect("escapes fixture");
    let (events, _) = feed(&[&fx.transcript], Participant::A);
    assert_eq!(
        events,
        vec![
            text("quote \" backslash \\ slash / "),
            text("bs\u{8} ff\u{c} nl\n cr\r tab\t "),
            text("e-acute \u{e9} \u{c9}"),
            text("ends with backslash \\"),
            text("\"\""),
            text("\\u00e9 is not an escape here"),
            text("line one\nline two\n\n"),
            stop(),
        ]
    );
}

#[test]
fn surrogate_pair_escapes_decode_to_one_char() {
    let mut p = StreamParser::new(Participant::A);
    let events = p.push("a0:\"\\ud83d\\ude00\\uD83C\\uDF89\"\n");
    assert_eq!(events, vec![text("\u{1F600}\u{1F389}")]);
}

#[test]
fn a_lone_surrogate_escape_is_a_malformed_line_not_a_panic() {
    let mut p = StreamParser::new(Participant::A);
    let events = p.push("a0:\"lone \\ud83d\"\na0:\"ok\"\n");
    assert_eq!(events, vec![text("ok")]);
    assert_eq!(p.stats().malformed_lines, 1);
}

#[test]
fn push_returns_only_complete_lines_and_finish_flushes_the_rest() {
    let mut p = StreamParser::new(Participant::A);
    assert_eq!(p.push("a0:\"Hel"), vec![]);
    assert_eq!(p.push("lo\"\na0:\"wor"), vec![text("Hello")]);
    assert_eq!(p.push("ld\""), vec![]);
    assert_eq!(p.finish(), vec![text("world")]);
    assert_eq!(p.finish(), vec![], "finish twice yields nothing new");
    assert_eq!(p.stats().lines, 2);
}

#[test]
fn push_into_appends_to_the_callers_vec() {
    let mut p = StreamParser::new(Participant::A);
    let mut out = vec![text("earlier")];
    p.push_into("a0:\"one\"\nag:\"two\"\n", &mut out);
    assert_eq!(
        out,
        vec![
            text("earlier"),
            text("one"),
            StreamEvent::Reasoning("two".to_owned())
        ]
    );
}

#[test]
fn an_image_line_and_a_text_line_in_one_chunk_both_arrive() {
    // PITFALLS 10: the original lost the text after an image in the same frame.
    let mut p = StreamParser::new(Participant::A);
    let events =
        p.push("a2:[{\"type\":\"image\",\"image\":\"https://x/y.png\"}]\na0:\"caption\"\n");
    assert_eq!(
        events,
        vec![
            StreamEvent::Image {
                url: "https://x/y.png".to_owned(),
                mime: None
            },
            text("caption")
        ]
    );
}

#[test]
fn two_finish_lines_in_one_chunk_are_both_reported() {
    let mut p = StreamParser::new(Participant::A);
    let events = p.push("ad:{\"finishReason\":\"length\"}\nad:{\"finishReason\":\"stop\"}\n");
    assert_eq!(
        events,
        vec![
            StreamEvent::Finish {
                reason: FinishReason::Length,
                usage: None
            },
            stop()
        ]
    );
}

#[test]
fn usage_accepts_input_output_token_names_and_needs_both_counts() {
    let mut p = StreamParser::new(Participant::A);
    let events = p.push(concat!(
        "ad:{\"finishReason\":\"stop\",\"usage\":{\"inputTokens\":3,\"outputTokens\":4}}\n",
        "ad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":3,\"completionTokens\":-1}}\n",
        "ad:{\"finishReason\":\"stop\",\"usage\":null}\n",
    ));
    assert_eq!(
        events,
        vec![
            StreamEvent::Finish {
                reason: FinishReason::Stop,
                usage: Some(Usage {
                    prompt_tokens: 3,
                    completion_tokens: 4
                })
            },
            stop(),
            stop()
        ]
    );
}

#[test]
fn empty_deltas_are_not_reported() {
    let mut p = StreamParser::new(Participant::A);
    assert_eq!(p.push("a0:\"\"\nag:\"\"\na0:\"x\"\n"), vec![text("x")]);
    assert_eq!(p.stats().malformed_lines, 0);
}

#[test]
fn json_error_is_recognised_only_on_the_first_non_empty_line() {
    let mut p = StreamParser::new(Participant::A);
    let events = p.push("a0:\"x\"\n{\"error\":\"late\"}\n");
    assert_eq!(events, vec![text("x")]);
    assert_eq!(p.stats().unknown_lines, 1);

    let mut p = StreamParser::new(Participant::A);
    let events = p.push("{\"status\":\"ok\"}\na0:\"y\"\n");
    assert_eq!(events, vec![text("y")], "a JSON first line without error");

    let mut p = StreamParser::new(Participant::A);
    let events = p.push("{\"error\":null}\n");
    assert_eq!(events, vec![], "a null error is no error");

    let mut p = StreamParser::new(Participant::A);
    let events = p.push("\r\ndata: {\"error\":{\"message\":\"nope\",\"code\":1}}\r\n");
    assert_eq!(events, vec![StreamEvent::Error("nope".to_owned())]);
}

#[test]
fn in_band_error_objects_use_their_message() {
    let mut p = StreamParser::new(Participant::A);
    let events = p.push("a3:{\"message\":\"quota\"}\na3:42\n");
    assert_eq!(events, vec![StreamEvent::Error("quota".to_owned())]);
    assert_eq!(p.stats().malformed_lines, 1);
}

#[test]
fn unknown_type_keys_are_bounded() {
    let mut p = StreamParser::new(Participant::A);
    let mut input = String::new();
    for i in 0..200 {
        input.push_str(&format!("z{i}:1\n"));
    }
    input.push_str("a-very-long-prefix:1\n");
    assert_eq!(p.push(&input), vec![]);
    let stats = p.stats();
    assert_eq!(stats.unknown_lines, 201);
    assert!(
        stats.unknown_types.len() <= 65,
        "{}",
        stats.unknown_types.len()
    );
    assert_eq!(stats.unknown_types.values().sum::<u64>(), 201);
    assert!(stats.unknown_types.get(OTHER_UNKNOWN_TYPE).copied() >= Some(137));
}

#[test]
fn an_over_long_line_is_dropped_and_the_stream_goes_on() {
    let mut p = StreamParser::new(Participant::A);
    let piece = "x".repeat(1 << 20);
    p.push("a0:\"");
    for _ in 0..(MAX_LINE_BYTES >> 20) + 1 {
        assert_eq!(p.push(&piece), vec![]);
    }
    assert_eq!(p.push("tail\"\na0:\"ok\"\n"), vec![text("ok")]);
    assert_eq!(p.stats().malformed_lines, 1);
    assert_eq!(p.stats().lines, 2);
}

#[test]
fn an_unknown_line_fed_byte_by_byte_is_scanned_once() {
    // PITFALLS 10: the original re-scanned unknown lines on every read (quadratic).
    let line = format!("zz:{}\n", "q".repeat(1_000_000));
    let start = Instant::now();
    let mut p = StreamParser::new(Participant::A);
    let mut buf = [0u8; 4];
    for c in line.chars() {
        assert!(p.push(c.encode_utf8(&mut buf)).is_empty());
    }
    assert_eq!(p.stats().unknown_lines, 1);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "feeding 1 MB one byte at a time took {:?}",
        start.elapsed()
    );
}

#[test]
fn lines_of_the_other_participant_are_counted_but_silent() {
    let mut p = StreamParser::new(Participant::B);
    let events = p.push("a0:\"a\"\nb0:\"b\"\na0:broken\nbd:{\"finishReason\":\"stop\"}\n");
    assert_eq!(events, vec![text("b"), stop()]);
    assert_eq!(p.stats().lines, 4);
    assert_eq!(p.stats().malformed_lines, 0);
}

#[test]
fn participant_follows_the_battle_target() {
    assert_eq!(Participant::from(BattleTarget::A), Participant::A);
    assert_eq!(Participant::from(BattleTarget::B), Participant::B);
}

#[test]
fn finish_reasons_map_to_openai_names() {
    for (upstream, mapped, name) in [
        ("stop", FinishReason::Stop, "stop"),
        ("length", FinishReason::Length, "length"),
        (
            "content-filter",
            FinishReason::ContentFilter,
            "content_filter",
        ),
        ("unknown", FinishReason::Stop, "stop"),
        ("error", FinishReason::Stop, "stop"),
        ("tool-calls", FinishReason::Stop, "stop"),
        ("", FinishReason::Stop, "stop"),
    ] {
        assert_eq!(FinishReason::from_upstream(upstream), mapped, "{upstream}");
        assert_eq!(mapped.as_str(), name);
    }
}

#[test]
fn usage_total_is_the_sum() {
    let u = Usage {
        prompt_tokens: 10,
        completion_tokens: 5,
    };
    assert_eq!(u.total_tokens(), 15);
    let big = Usage {
        prompt_tokens: u64::MAX,
        completion_tokens: 1,
    };
    assert_eq!(big.total_tokens(), u64::MAX);
}

#[test]
fn a_finish_line_with_a_non_string_reason_is_stop() {
    let mut p = StreamParser::new(Participant::A);
    assert_eq!(p.push("ad:{\"finishReason\":7}\n"), vec![stop()]);
}
