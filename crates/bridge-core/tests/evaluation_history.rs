//! Tests of the `evaluation` flow's history mapping (issue 9 point 2): transcript folding,
//! continuation planning, the bounded conversation table.

use bridge_core::arena::evaluation::{
    fold_messages, EvaluationHistory, FoldOptions, FoldedPrompt, Plan,
};
use bridge_core::arena::retry::{Attachment, ParticipantPosition};
use bridge_core::openai::ChatMessage;
use serde_json::{json, Value};
use uuid::Uuid;

const MODEL: &str = "gemini-2.5-pro";
const PNG_A: &str = "data:image/png;base64,iVBORw0KGgoA";
const PNG_B: &str = "data:image/png;base64,iVBORw0KGgoB";
const CONTINUE: &str = "Your answer has already begun with the text inside <answer_start>. \
                        Continue it from exactly where that text ends, without repeating it.";
const PLAIN: FoldOptions = FoldOptions { tavern_mode: false };
const TAVERN: FoldOptions = FoldOptions { tavern_mode: true };

fn msgs(value: Value) -> Vec<ChatMessage> {
    serde_json::from_value(value).unwrap()
}

fn png(url: &str) -> Attachment {
    Attachment {
        name: "image.png".into(),
        content_type: "image/png".into(),
        url: url.into(),
    }
}

fn eval(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn fold(messages: Value, opts: FoldOptions) -> FoldedPrompt {
    fold_messages(&msgs(messages), opts).unwrap()
}

fn text_only(content: &str) -> FoldedPrompt {
    FoldedPrompt {
        content: content.into(),
        attachments: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Folding

#[test]
fn fold_with_system_prompt_history_and_prefill() {
    let folded = fold(
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "The answer is"}
        ]),
        PLAIN,
    );
    let want = format!(
        "<system>\nYou are terse.\n</system>\n\n\
         <conversation>\n<user>\nHi\n</user>\n<assistant>\nHello!\n</assistant>\n</conversation>\n\n\
         What is 2+2?\n\n\
         <answer_start>\nThe answer is\n</answer_start>\n\n{CONTINUE}"
    );
    assert_eq!(folded, text_only(&want));
}

#[test]
fn fold_table_of_small_requests() {
    let rows: Vec<(&str, Value, FoldOptions, String)> = vec![
        (
            "a lone user message is sent as is",
            json!([{"role": "user", "content": "  Hello there  "}]),
            PLAIN,
            "  Hello there  ".into(),
        ),
        (
            "an empty user message is a single space",
            json!([{"role": "user", "content": ""}]),
            PLAIN,
            " ".into(),
        ),
        (
            "system prompt plus user: system block and the user text",
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello"}
            ]),
            PLAIN,
            "<system>\nBe brief.\n</system>\n\nHello".into(),
        ),
        (
            "developer is a system prompt; leading system prompts share one block",
            json!([
                {"role": "developer", "content": "Rule one."},
                {"role": "system", "content": "Rule two."},
                {"role": "system", "content": "   "},
                {"role": "user", "content": "Go"}
            ]),
            PLAIN,
            "<system>\nRule one.\n\nRule two.\n</system>\n\nGo".into(),
        ),
        (
            "a system message later in the chat stays in place",
            json!([
                {"role": "system", "content": "Persona."},
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": "Note."},
                {"role": "user", "content": "Go on"}
            ]),
            PLAIN,
            "<system>\nPersona.\n</system>\n\n\
             <conversation>\n<user>\nHi\n</user>\n<system>\nNote.\n</system>\n</conversation>\n\n\
             Go on"
                .into(),
        ),
        (
            "tavern mode moves every system message into the first block",
            json!([
                {"role": "system", "content": "Persona."},
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": "Note."},
                {"role": "user", "content": "Go on"}
            ]),
            TAVERN,
            "<system>\nPersona.\n\nNote.\n</system>\n\n\
             <conversation>\n<user>\nHi\n</user>\n</conversation>\n\nGo on"
                .into(),
        ),
        (
            "prefill right after the user message",
            json!([
                {"role": "user", "content": "Write a haiku"},
                {"role": "assistant", "content": "Autumn"}
            ]),
            PLAIN,
            format!("Write a haiku\n\n<answer_start>\nAutumn\n</answer_start>\n\n{CONTINUE}"),
        ),
        (
            "an empty trailing assistant message is no prefill",
            json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": ""}
            ]),
            PLAIN,
            "Hi".into(),
        ),
        (
            "text parts joined by a blank line; a tool-call turn without content stays a turn",
            json!([
                {"role": "user", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
                {"role": "assistant", "content": null},
                {"role": "tool", "content": "42"},
                {"role": "user", "content": "Thanks"}
            ]),
            PLAIN,
            "<conversation>\n<user>\nA\n\nB\n</user>\n<assistant>\n</assistant>\n<tool>\n42\n</tool>\n</conversation>\n\nThanks"
                .into(),
        ),
        (
            "a history that does not end with a user message is all transcript",
            json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "tool", "content": "result"}
            ]),
            PLAIN,
            "<conversation>\n<user>\nHi\n</user>\n<assistant>\nHello\n</assistant>\n<tool>\nresult\n</tool>\n</conversation>"
                .into(),
        ),
    ];
    for (name, messages, opts, want) in rows {
        let folded = fold_messages(&msgs(messages), opts).unwrap();
        assert_eq!(folded, text_only(&want), "{name}");
    }
}

#[test]
fn fold_carries_attachments_of_every_turn_once_and_numbers_them() {
    let folded = fold(
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": PNG_A}}
            ]},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": [
                {"type": "text", "text": "And these?"},
                {"type": "image_url", "image_url": {"url": PNG_B}},
                {"type": "image_url", "image_url": {"url": PNG_A}}
            ]}
        ]),
        PLAIN,
    );
    assert_eq!(
        folded.content,
        "<conversation>\n<user>\nWhat is this?\n[attachment 1: image.png]\n</user>\n\
         <assistant>\nA cat.\n</assistant>\n</conversation>\n\nAnd these?"
    );
    assert_eq!(folded.attachments, vec![png(PNG_A), png(PNG_B)]);
}

#[test]
fn bypass_suffix_is_removed_and_the_image_stays_with_the_user() {
    let folded = fold(
        json!([{"role": "user", "content": [
            {"type": "text", "text": "describe this --bypass"},
            {"type": "image_url", "image_url": {"url": PNG_A}}
        ]}]),
        PLAIN,
    );
    assert_eq!(
        folded,
        FoldedPrompt {
            content: "describe this".into(),
            attachments: vec![png(PNG_A)],
        }
    );

    let folded = fold(
        json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": [
                {"type": "text", "text": "look --bypass"},
                {"type": "image_url", "image_url": {"url": PNG_B}}
            ]}
        ]),
        PLAIN,
    );
    assert_eq!(
        folded,
        FoldedPrompt {
            content: "<conversation>\n<user>\nHi\n</user>\n<assistant>\nHello\n</assistant>\n</conversation>\n\nlook"
                .into(),
            attachments: vec![png(PNG_B)],
        }
    );
}

#[test]
fn fold_errors_name_the_offending_field() {
    let err = fold_messages(
        &msgs(json!([{"role": "user", "content": [{"type": "video_url", "video_url": "x"}]}])),
        PLAIN,
    )
    .unwrap_err();
    assert_eq!(err.param.as_deref(), Some("messages[0].content[0]"));

    let err =
        fold_messages(&msgs(json!([{"role": "assistant", "content": ""}])), PLAIN).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("messages"));
}

// ---------------------------------------------------------------------------------------------
// Planning

fn first_turn() -> Value {
    json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"}
    ])
}

/// `first_turn`, its answer, and a new user message.
fn second_turn() -> Value {
    json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "And now?"}
    ])
}

/// A history that knows the first turn of evaluation 1 (answered "Hello!").
fn history_after_first_turn() -> EvaluationHistory {
    let mut history = EvaluationHistory::new(8);
    history.record(
        &msgs(first_turn()),
        "Hello!",
        eval(1),
        MODEL,
        ParticipantPosition::A,
    );
    history
}

fn is_fresh(plan: &Plan) -> bool {
    matches!(plan, Plan::Fresh { .. })
}

#[test]
fn new_conversation_is_fresh_and_folded() {
    let mut history = EvaluationHistory::new(8);
    let plan = history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap();
    assert_eq!(
        plan,
        Plan::Fresh {
            folded: text_only(
                "<system>\nYou are terse.\n</system>\n\n\
                 <conversation>\n<user>\nHi\n</user>\n<assistant>\nHello!\n</assistant>\n</conversation>\n\n\
                 And now?"
            )
        }
    );
}

#[test]
fn exact_continuation_posts_only_the_new_user_message() {
    let mut history = history_after_first_turn();
    let plan = history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap();
    assert_eq!(
        plan,
        Plan::Continue {
            evaluation_id: eval(1),
            participant: ParticipantPosition::A,
            new_user: text_only("And now?"),
        }
    );
}

#[test]
fn continuation_new_user_message_keeps_its_attachments() {
    let mut history = history_after_first_turn();
    let mut messages = msgs(second_turn());
    messages.pop();
    messages.extend(msgs(json!([{"role": "user", "content": [
        {"type": "text", "text": "And this?"},
        {"type": "image_url", "image_url": {"url": PNG_A}}
    ]}])));
    let plan = history.plan(&messages, MODEL, PLAIN).unwrap();
    assert_eq!(
        plan,
        Plan::Continue {
            evaluation_id: eval(1),
            participant: ParticipantPosition::A,
            new_user: FoldedPrompt {
                content: "And this?".into(),
                attachments: vec![png(PNG_A)],
            },
        }
    );
}

#[test]
fn continuation_matches_history_as_clients_resend_it() {
    // developer for system, the answer trimmed differently and as a text part, image detail.
    let mut history = history_after_first_turn();
    let resent = msgs(json!([
        {"role": "developer", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "\nHello!  "}], "name": "bot"},
        {"role": "user", "content": "And now?"}
    ]));
    let plan = history.plan(&resent, MODEL, PLAIN).unwrap();
    assert!(
        matches!(plan, Plan::Continue { evaluation_id, .. } if evaluation_id == eval(1)),
        "{plan:?}"
    );
}

#[test]
fn plans_that_must_start_fresh() {
    let rows: Vec<(&str, Value, &str)> = vec![
        (
            "an earlier user turn was edited",
            json!([
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hi!"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "And now?"}
            ]),
            MODEL,
        ),
        (
            "the answer was edited",
            json!([
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello there!"},
                {"role": "user", "content": "And now?"}
            ]),
            MODEL,
        ),
        (
            "the system prompt changed",
            json!([
                {"role": "system", "content": "You are verbose."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "And now?"}
            ]),
            MODEL,
        ),
        (
            "a turn is missing",
            json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "And now?"}
            ]),
            MODEL,
        ),
        ("another model", second_turn(), "claude-opus-4"),
        (
            "two new messages",
            json!([
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "And now?"},
                {"role": "user", "content": "Well?"}
            ]),
            MODEL,
        ),
        (
            "the new turn ends with a prefill",
            json!([
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "And now?"},
                {"role": "assistant", "content": "Now"}
            ]),
            MODEL,
        ),
        (
            "the new message is not from the user",
            json!([
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "system", "content": "Continue."}
            ]),
            MODEL,
        ),
        (
            "the same request again (a regeneration)",
            first_turn(),
            MODEL,
        ),
    ];
    for (name, messages, model) in rows {
        let mut history = history_after_first_turn();
        let plan = history.plan(&msgs(messages), model, PLAIN).unwrap();
        assert!(is_fresh(&plan), "{name}: {plan:?}");
        // A fresh plan leaves the known conversation alone.
        assert!(history.contains(eval(1)), "{name}");
    }
}

#[test]
fn a_continuation_is_handed_out_once() {
    let mut history = history_after_first_turn();
    let first = history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap();
    assert!(!is_fresh(&first));
    assert!(!history.contains(eval(1)));
    let second = history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap();
    assert!(is_fresh(&second), "{second:?}");
}

#[test]
fn after_a_continuation_only_the_grown_history_continues() {
    let mut history = history_after_first_turn();
    let sent = msgs(second_turn());
    assert!(!is_fresh(&history.plan(&sent, MODEL, PLAIN).unwrap()));
    history.record(&sent, "Now this.", eval(1), MODEL, ParticipantPosition::A);
    assert_eq!(history.len(), 1);

    // The old branch (first turn + another question) no longer matches upstream.
    let mut old_branch = msgs(first_turn());
    old_branch.extend(msgs(json!([
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Something else"}
    ])));
    assert!(is_fresh(&history.plan(&old_branch, MODEL, PLAIN).unwrap()));

    let mut third = sent.clone();
    third.extend(msgs(json!([
        {"role": "assistant", "content": "Now this."},
        {"role": "user", "content": "Thanks"}
    ])));
    assert_eq!(
        history.plan(&third, MODEL, PLAIN).unwrap(),
        Plan::Continue {
            evaluation_id: eval(1),
            participant: ParticipantPosition::A,
            new_user: text_only("Thanks"),
        }
    );
}

#[test]
fn a_battle_continuation_reads_the_same_side() {
    let mut history = EvaluationHistory::new(4);
    history.record(
        &msgs(first_turn()),
        "Hello!",
        eval(5),
        MODEL,
        ParticipantPosition::B,
    );
    let plan = history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap();
    assert!(
        matches!(plan, Plan::Continue { participant: ParticipantPosition::B, evaluation_id, .. } if evaluation_id == eval(5)),
        "{plan:?}"
    );
}

#[test]
fn a_bad_new_message_is_an_error_and_keeps_the_conversation() {
    let mut history = history_after_first_turn();
    let mut bad = msgs(second_turn());
    bad.pop();
    bad.extend(msgs(
        json!([{"role": "user", "content": [{"type": "video_url", "video_url": "x"}]}]),
    ));
    let err = history.plan(&bad, MODEL, PLAIN).unwrap_err();
    assert!(err.message.contains("video_url"), "{}", err.message);
    assert!(history.contains(eval(1)));
    assert!(!is_fresh(
        &history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap()
    ));
}

#[test]
fn forget_makes_the_next_request_fresh() {
    let mut history = history_after_first_turn();
    assert!(history.forget(eval(1)));
    assert!(!history.forget(eval(1)));
    assert!(!history.forget(eval(2)));
    assert!(history.is_empty());
    assert!(is_fresh(
        &history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap()
    ));
}

// ---------------------------------------------------------------------------------------------
// Bound

/// A one-turn conversation numbered `n`, answered `answer n`.
fn record_numbered(history: &mut EvaluationHistory, n: u128) {
    let sent = msgs(json!([{"role": "user", "content": format!("question {n}")}]));
    history.record(
        &sent,
        &format!("answer {n}"),
        eval(n),
        MODEL,
        ParticipantPosition::A,
    );
}

fn continue_numbered(history: &mut EvaluationHistory, n: u128) -> Plan {
    let messages = msgs(json!([
        {"role": "user", "content": format!("question {n}")},
        {"role": "assistant", "content": format!("answer {n}")},
        {"role": "user", "content": "more"}
    ]));
    history.plan(&messages, MODEL, PLAIN).unwrap()
}

#[test]
fn never_grows_beyond_capacity() {
    let mut history = EvaluationHistory::new(3);
    assert_eq!(history.capacity(), 3);
    for n in 1..=50 {
        record_numbered(&mut history, n);
        assert!(history.len() <= 3, "after {n}: {}", history.len());
    }
    assert_eq!(history.len(), 3);
    let kept: Vec<u128> = (1..=50).filter(|&n| history.contains(eval(n))).collect();
    assert_eq!(kept, vec![48, 49, 50]);
    assert!(is_fresh(&continue_numbered(&mut history, 47)));
    assert!(!is_fresh(&continue_numbered(&mut history, 48)));
}

#[test]
fn the_least_recently_recorded_conversation_goes_first() {
    let mut history = EvaluationHistory::new(3);
    for n in 1..=3 {
        record_numbered(&mut history, n);
    }
    // Conversation 1 is continued and recorded again: now it is the newest.
    assert!(!is_fresh(&continue_numbered(&mut history, 1)));
    let sent = msgs(json!([
        {"role": "user", "content": "question 1"},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "more"}
    ]));
    history.record(&sent, "even more", eval(1), MODEL, ParticipantPosition::A);
    record_numbered(&mut history, 4);
    assert!(!history.contains(eval(2)), "2 was the oldest");
    for n in [1, 3, 4] {
        assert!(history.contains(eval(n)), "{n} kept");
    }
    record_numbered(&mut history, 5);
    assert!(!history.contains(eval(3)));
    assert_eq!(history.len(), 3);
}

#[test]
fn recording_an_evaluation_again_replaces_its_older_history() {
    let mut history = EvaluationHistory::new(4);
    record_numbered(&mut history, 1);
    let sent = msgs(json!([{"role": "user", "content": "question 1"}]));
    history.record(
        &sent,
        "a different answer",
        eval(1),
        MODEL,
        ParticipantPosition::A,
    );
    assert_eq!(history.len(), 1);
    assert!(is_fresh(&continue_numbered(&mut history, 1)));
}

#[test]
fn the_same_history_for_two_evaluations_keeps_the_latest() {
    let mut history = EvaluationHistory::new(4);
    record_numbered(&mut history, 1);
    let sent = msgs(json!([{"role": "user", "content": "question 1"}]));
    history.record(&sent, "answer 1", eval(9), MODEL, ParticipantPosition::A);
    assert_eq!(history.len(), 1);
    assert!(!history.contains(eval(1)));
    assert!(
        matches!(continue_numbered(&mut history, 1), Plan::Continue { evaluation_id, .. } if evaluation_id == eval(9))
    );
}

#[test]
fn capacity_zero_remembers_nothing() {
    let mut history = EvaluationHistory::new(0);
    record_numbered(&mut history, 1);
    assert_eq!(history.capacity(), 0);
    assert!(history.is_empty());
    assert!(!history.contains(eval(1)));
    assert!(is_fresh(&continue_numbered(&mut history, 1)));
}

#[test]
fn the_answer_is_matched_without_surrounding_whitespace() {
    // Upstream answers often end with a newline; clients store them trimmed.
    let mut history = EvaluationHistory::new(4);
    history.record(
        &msgs(first_turn()),
        "\n Hello!\n\n",
        eval(1),
        MODEL,
        ParticipantPosition::A,
    );
    let plan = history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap();
    assert!(!is_fresh(&plan), "{plan:?}");
}

#[test]
fn the_same_conversation_with_two_models_is_two_evaluations() {
    let mut history = EvaluationHistory::new(4);
    let sent = msgs(first_turn());
    history.record(&sent, "Hello!", eval(1), MODEL, ParticipantPosition::A);
    history.record(
        &sent,
        "Hello!",
        eval(2),
        "claude-opus-4",
        ParticipantPosition::A,
    );
    assert_eq!(history.len(), 2);
    let plan = history
        .plan(&msgs(second_turn()), "claude-opus-4", PLAIN)
        .unwrap();
    assert!(
        matches!(plan, Plan::Continue { evaluation_id, .. } if evaluation_id == eval(2)),
        "{plan:?}"
    );
    let plan = history.plan(&msgs(second_turn()), MODEL, PLAIN).unwrap();
    assert!(
        matches!(plan, Plan::Continue { evaluation_id, .. } if evaluation_id == eval(1)),
        "{plan:?}"
    );
}

#[test]
fn recording_hands_back_the_conversation_it_pushed_out() {
    let mut history = EvaluationHistory::new(1);
    let first = msgs(json!([{"role": "user", "content": "question 1"}]));
    let second = msgs(json!([{"role": "user", "content": "question 2"}]));
    assert_eq!(
        history.record(&first, "a", eval(1), MODEL, ParticipantPosition::A),
        None
    );
    // The same evaluation again replaces its own entry: nothing left the memory.
    assert_eq!(
        history.record(&first, "b", eval(1), MODEL, ParticipantPosition::A),
        None
    );
    assert_eq!(
        history.record(&second, "c", eval(2), MODEL, ParticipantPosition::A),
        Some(eval(1))
    );
    assert!(!history.contains(eval(1)));
    // The same history for another evaluation displaces the older one.
    assert_eq!(
        history.record(&second, "c", eval(3), MODEL, ParticipantPosition::A),
        Some(eval(2))
    );
    assert_eq!(
        EvaluationHistory::new(0).record(&first, "a", eval(1), MODEL, ParticipantPosition::A),
        None
    );
}
