//! Tool-call emulation: request parsing, the prompt block, history folding, and the streaming
//! parser fed every split of the answers models really write.

use bridge_core::fuzzing::{normalized, run_parser};
use bridge_core::tools::{
    fold_history, tools_prompt, AssistantToolCall, FoldedTurn, HistoryItem, RejectReason, ToolCall,
    ToolCallParser, ToolChoice, ToolError, ToolEvent, ToolFinish, ToolSet, ToolSpecs, TurnRole,
    TOOL_CALL_CLOSE, TOOL_CALL_OPEN,
};
use serde_json::{json, Value};

mod tools_fixture {
    use super::*;

    pub(crate) fn tools_json() -> Value {
        json!([
            {"type": "function", "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                    "required": ["city"]
                }
            }},
            {"type": "function", "function": {"name": "get_time", "parameters": {
                "type": "object", "properties": {"zone": {"type": "string"}}
            }}}
        ])
    }

    pub(crate) fn set(choice: Value, parallel: bool) -> ToolSet {
        ToolSet::from_request(Some(&tools_json()), Some(&choice), Some(&json!(parallel))).unwrap()
    }
}
use tools_fixture::{set, tools_json};

fn auto() -> ToolSet {
    set(json!("auto"), true)
}

/// A call as the parser reports it, id aside.
fn call(index: usize, name: &str, arguments: Value, repaired: bool) -> ToolEvent {
    ToolEvent::Call(ToolCall {
        index,
        id: String::new(),
        name: name.to_owned(),
        arguments: arguments.to_string(),
        repaired,
    })
}

fn text(t: &str) -> ToolEvent {
    ToolEvent::Text(t.to_owned())
}

fn reason_of(events: &[ToolEvent]) -> Option<&RejectReason> {
    events.iter().find_map(|e| match e {
        ToolEvent::Rejected(r) => Some(&r.reason),
        _ => None,
    })
}

/// Events for `answer` fed whole, checked to be the same for every split into two and three
/// pieces (every byte position; char boundaries only, as deltas are `&str`).
fn parse_every_split(tools: &ToolSet, answer: &str) -> Vec<ToolEvent> {
    let whole = normalized(run_parser(tools, &[answer]));
    let bounds: Vec<usize> = (0..=answer.len())
        .filter(|&i| answer.is_char_boundary(i))
        .collect();
    for &i in &bounds {
        let two = normalized(run_parser(tools, &[&answer[..i], &answer[i..]]));
        assert_eq!(two, whole, "split at {i} of {answer:?}");
    }
    let step = (bounds.len() / 12).max(1);
    for &i in bounds.iter().step_by(step) {
        for &j in bounds.iter().filter(|&&j| j >= i) {
            let three = normalized(run_parser(
                tools,
                &[&answer[..i], &answer[i..j], &answer[j..]],
            ));
            assert_eq!(three, whole, "split at {i},{j} of {answer:?}");
        }
    }
    let chars: Vec<String> = answer.chars().map(String::from).collect();
    let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(normalized(run_parser(tools, &refs)), whole, "char by char");
    whole
}

#[test]
fn recognises_the_formats_models_write_at_every_split() {
    let weather = || call(0, "get_weather", json!({"city": "Paris"}), false);
    let cases: Vec<(&str, Vec<ToolEvent>)> = vec![
        (
            r#"<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>"#,
            vec![weather()],
        ),
        (
            "Let me check the weather.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            vec![text("Let me check the weather."), weather()],
        ),
        (
            "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```",
            vec![weather()],
        ),
        (
            "Sure — calling it:\n\n```\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}\n```\n",
            vec![text("Sure — calling it:"), weather()],
        ),
        (
            "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n",
            vec![weather()],
        ),
        (
            r#"{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}"#,
            vec![weather()],
        ),
        (
            r#"<tool_call>{"tool": "get_weather", "parameters": {"city": "Paris"}}</tool_call>"#,
            vec![weather()],
        ),
        (
            // Close tag forgotten at the end of the answer.
            r#"<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}"#,
            vec![weather()],
        ),
        (
            "<tool_call>\n```json\n{\"name\": \"get_time\", \"arguments\": {}}\n```\n</tool_call>",
            vec![call(0, "get_time", json!({}), false)],
        ),
        (
            // Arguments may be left out inside explicit tags.
            r#"<tool_call>{"name": "get_time"}</tool_call>"#,
            vec![call(0, "get_time", json!({}), false)],
        ),
    ];
    for (answer, want) in cases {
        assert_eq!(parse_every_split(&auto(), answer), want, "{answer}");
    }
}

#[test]
fn two_parallel_calls_get_indices_and_ids() {
    let answer = "I'll look up both.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}</tool_call>";
    let events = parse_every_split(&auto(), answer);
    assert_eq!(
        events,
        vec![
            text("I'll look up both."),
            call(0, "get_weather", json!({"city": "Oslo"}), false),
            call(1, "get_time", json!({"zone": "CET"}), false),
        ]
    );
    let raw = run_parser(&auto(), &[answer]);
    let ids: Vec<&str> = raw
        .iter()
        .filter_map(|e| match e {
            ToolEvent::Call(c) => Some(c.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for id in ids {
        assert!(id.starts_with("call_") && id.len() == 29, "{id}");
    }
    // Bare objects on separate lines are parallel calls too.
    let bare = "{\"name\": \"get_time\", \"arguments\": {}}\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}";
    assert_eq!(
        parse_every_split(&auto(), bare),
        vec![
            call(0, "get_time", json!({}), false),
            call(1, "get_weather", json!({"city": "Rome"}), false)
        ]
    );
}

#[test]
fn malformed_json_is_repaired_once() {
    let cases = [
        r#"<tool_call>{"name": "get_weather", "arguments": {"city": "Paris",}}</tool_call>"#,
        r#"<tool_call>{'name': 'get_weather', 'arguments': {'city': 'Paris'}}</tool_call>"#,
        r#"<tool_call>{name: "get_weather", arguments: {city: "Paris"}}</tool_call>"#,
        r#"<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"</tool_call>"#,
        "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\",},}\n```",
    ];
    for answer in cases {
        assert_eq!(
            parse_every_split(&auto(), answer),
            vec![call(0, "get_weather", json!({"city": "Paris"}), true)],
            "{answer}"
        );
    }
    let hopeless = r#"<tool_call>{"name": get weather now}</tool_call>"#;
    let events = parse_every_split(&auto(), hopeless);
    assert!(matches!(
        reason_of(&events),
        Some(RejectReason::Unparseable { .. })
    ));
}

#[test]
fn unusable_calls_are_rejected_with_their_raw_text() {
    let unknown = r#"<tool_call>{"name": "launch_rockets", "arguments": {}}</tool_call>"#;
    let events = parse_every_split(&auto(), &format!("Okay.\n{unknown}"));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], text("Okay.\n"));
    match &events[1] {
        ToolEvent::Rejected(r) => {
            assert_eq!(r.raw, unknown);
            assert_eq!(
                r.reason,
                RejectReason::UnknownTool {
                    name: "launch_rockets".into()
                }
            );
        }
        other => panic!("{other:?}"),
    }

    let schema = r#"<tool_call>{"name": "get_weather", "arguments": {"city": 7}}</tool_call>"#;
    let events = parse_every_split(&auto(), schema);
    match reason_of(&events) {
        Some(RejectReason::InvalidArguments { name, detail }) => {
            assert_eq!(name, "get_weather");
            assert!(detail.contains("/city"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    let missing = r#"<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>"#;
    assert!(matches!(
        reason_of(&parse_every_split(&auto(), missing)),
        Some(RejectReason::InvalidArguments { .. })
    ));

    let named = set(
        json!({"type": "function", "function": {"name": "get_time"}}),
        true,
    );
    let other = r#"<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>"#;
    assert_eq!(
        reason_of(&parse_every_split(&named, other)),
        Some(&RejectReason::NotChosen {
            name: "get_weather".into(),
            chosen: "get_time".into()
        })
    );

    let single = set(json!("auto"), false);
    let two = format!("{other}{other}");
    let events = parse_every_split(&single, &two);
    assert!(matches!(events[0], ToolEvent::Call(_)));
    assert_eq!(
        reason_of(&events),
        Some(&RejectReason::ParallelNotAllowed {
            name: "get_weather".into()
        })
    );
}

#[test]
fn call_like_text_in_a_normal_answer_stays_text() {
    let answers = [
        "Here is a person record:\n```json\n{\"name\": \"Alice\", \"age\": 30}\n```\nDone.",
        "```python\nprint({\"name\": \"x\", \"arguments\": {}})\n```\n",
        "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} is how a call looks.",
        "Use braces like {this} inline, and < or <tool maybe.",
        "{\"status\": \"ok\", \"items\": [1, 2, {\"a\": \"}\"}]}",
        "{ not json at all\nsecond line",
        "```\nplain code block\n```",
        "``` not a fence header but a very long first line that goes on and on",
        "多字节文字 🚀 <tool_callx> `code` ``\n{",
        "",
    ];
    for answer in answers {
        let events = parse_every_split(&auto(), answer);
        let want = if answer.is_empty() {
            vec![]
        } else {
            vec![text(answer)]
        };
        assert_eq!(events, want, "{answer}");
    }
}

#[test]
fn text_streams_before_the_answer_is_complete() {
    let mut parser = ToolCallParser::new(auto());
    assert_eq!(parser.feed("Hello wor"), vec![text("Hello wor")]);
    assert_eq!(parser.feed("ld <tool"), vec![text("ld")]);
    assert_eq!(parser.feed("_box> ok "), vec![text(" <tool_box> ok")]);
    let events =
        parser.feed("\n<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>\n");
    assert!(
        matches!(events.as_slice(), [ToolEvent::Call(_)]),
        "{events:?}"
    );
    assert_eq!(parser.finish(), vec![]);
    assert_eq!(parser.finish_reason(), ToolFinish::ToolCalls);
    assert_eq!(parser.calls(), 1);

    let mut plain = ToolCallParser::new(auto());
    plain.feed("No tools needed.");
    assert_eq!(plain.finish(), vec![]);
    assert_eq!(plain.finish_reason(), ToolFinish::NoCalls);
}

#[test]
fn without_tools_or_with_choice_none_everything_is_text() {
    let call_text = r#"<tool_call>{"name": "get_time", "arguments": {}}</tool_call>"#;
    for tools in [
        set(json!("none"), true),
        ToolSet::from_request(None, None, None).unwrap(),
    ] {
        assert_eq!(run_parser(&tools, &[call_text]), vec![text(call_text)]);
        assert_eq!(tools_prompt(&tools), None);
    }
}

#[test]
fn call_events_render_as_openai_tool_calls() {
    let events = run_parser(
        &auto(),
        &[r#"<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>"#],
    );
    let ToolEvent::Call(call) = &events[0] else {
        panic!("{events:?}")
    };
    let delta = serde_json::to_value(call.delta()).unwrap();
    assert_eq!(
        delta,
        json!({"index": 0, "id": call.id, "type": "function",
               "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})
    );
    let message = serde_json::to_value(call.message()).unwrap();
    assert_eq!(message.get("index"), None);
    assert_eq!(message["function"]["name"], "get_weather");
    assert_eq!(call.arguments_value(), json!({"city": "Paris"}));
}

#[test]
fn tool_definitions_parse_in_all_three_shapes() {
    let chat = tools_json();
    let responses =
        json!([{"type": "function", "name": "get_time", "parameters": {"type": "object"}}]);
    let anthropic =
        json!([{"name": "get_time", "description": "d", "input_schema": {"type": "object"}}]);
    assert_eq!(
        serde_json::from_value::<ToolSpecs>(chat).unwrap().0.len(),
        2
    );
    let r = serde_json::from_value::<ToolSpecs>(responses).unwrap();
    assert_eq!(r.0[0].name(), "get_time");
    let a = serde_json::from_value::<ToolSpecs>(anthropic).unwrap();
    assert_eq!(a.0[0].description(), Some("d"));
    let no_params =
        serde_json::from_value::<ToolSpecs>(json!([{"type":"function","function":{"name":"f"}}]))
            .unwrap();
    assert_eq!(no_params.0[0].parameters()["type"], "object");
}

#[test]
fn bad_tool_input_names_the_field() {
    let cases: Vec<(Value, Option<Value>, Option<Value>, &str)> = vec![
        (json!({}), None, None, "tools"),
        (json!([1]), None, None, "tools[0]"),
        (json!([{"type": "function"}]), None, None, "tools[0].name"),
        (
            json!([{"type": "function", "function": {"name": 5}}]),
            None,
            None,
            "tools[0].function.name",
        ),
        (
            json!([{"type": "function", "function": {"name": "has space"}}]),
            None,
            None,
            "tools[0].function.name",
        ),
        (json!([{"type": "web_search"}]), None, None, "tools[0].type"),
        (
            json!([{"type": "function", "function": {"name": "f", "parameters": "x"}}]),
            None,
            None,
            "tools[0].function.parameters",
        ),
        (
            json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}]),
            None,
            None,
            "tools[0].function.parameters",
        ),
        (
            json!([{"name": "f"}, {"name": "f"}]),
            None,
            None,
            "tools[1].name",
        ),
        (
            json!([{"name": "f"}]),
            Some(json!("sometimes")),
            None,
            "tool_choice",
        ),
        (
            json!([{"name": "f"}]),
            Some(json!({"type": "function", "function": {"name": "g"}})),
            None,
            "tool_choice",
        ),
        (
            json!([{"name": "f"}]),
            Some(json!({"type": "function", "function": {}})),
            None,
            "tool_choice.function.name",
        ),
        (json!([{"name": "f"}]), Some(json!(3)), None, "tool_choice"),
        (json!([]), Some(json!("required")), None, "tool_choice"),
        (
            json!([{"name": "f"}]),
            None,
            Some(json!("yes")),
            "parallel_tool_calls",
        ),
    ];
    for (tools, choice, parallel, field) in cases {
        let err: ToolError =
            ToolSet::from_request(Some(&tools), choice.as_ref(), parallel.as_ref()).unwrap_err();
        assert_eq!(err.field(), field, "{tools} {choice:?}: {err}");
        assert!(err.to_string().starts_with(field), "{err}");
    }
}

#[test]
fn tool_choice_spellings() {
    let cases = [
        (json!("auto"), ToolChoice::Auto),
        (json!("none"), ToolChoice::None),
        (json!("required"), ToolChoice::Required),
        (json!({"type": "any"}), ToolChoice::Required),
        (
            json!({"type": "function", "function": {"name": "get_time"}}),
            ToolChoice::Function("get_time".into()),
        ),
        (
            json!({"type": "function", "name": "get_time"}),
            ToolChoice::Function("get_time".into()),
        ),
        (
            json!({"type": "tool", "name": "get_time"}),
            ToolChoice::Function("get_time".into()),
        ),
    ];
    for (value, want) in cases {
        assert_eq!(
            serde_json::from_value::<ToolChoice>(value.clone()).unwrap(),
            want,
            "{value}"
        );
    }
}

#[test]
fn prompt_block_states_the_rules_for_each_choice() {
    let prompt = tools_prompt(&auto()).unwrap();
    let expected = [
        "<tools>\n{\"name\": \"get_weather\", \"description\": \"Current weather for a city\", \"parameters\": {\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"],\"type\":\"object\"}}\n{\"name\": \"get_time\", \"parameters\": {\"properties\":{\"zone\":{\"type\":\"string\"}},\"type\":\"object\"}}\n</tools>",
        "<tool_call>{\"name\": \"<function name>\", \"arguments\": {<arguments>}}</tool_call>",
        "Call a function only when it helps",
        "several functions at once",
    ];
    for part in expected {
        assert!(prompt.contains(part), "missing {part:?} in\n{prompt}");
    }
    assert_eq!(tools_prompt(&auto()), Some(prompt), "deterministic");
    let cases = [
        (
            set(json!("required"), true),
            "You must call at least one function",
        ),
        (
            set(
                json!({"type": "function", "function": {"name": "get_time"}}),
                true,
            ),
            "You must call the function \"get_time\" in this answer, and no other",
        ),
        (set(json!("auto"), false), "Call at most one function"),
    ];
    for (tools, rule) in cases {
        let prompt = tools_prompt(&tools).unwrap();
        assert!(prompt.contains(rule), "{rule:?} in\n{prompt}");
        assert!(prompt.contains(TOOL_CALL_OPEN) && prompt.contains(TOOL_CALL_CLOSE));
    }
}

#[test]
fn history_folds_calls_and_results_into_the_transcript() {
    let calls: Vec<AssistantToolCall> = serde_json::from_value(json!([
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": {"zone": "CET"}}}
    ]))
    .unwrap();
    let items = vec![
        HistoryItem::System("Be brief.".into()),
        HistoryItem::User("Weather and time in Paris?".into()),
        HistoryItem::Assistant {
            text: "Checking.".into(),
            tool_calls: calls,
        },
        HistoryItem::ToolResult {
            call_id: "call_1".into(),
            name: None,
            content: "{\"temp\": 21}".into(),
        },
        HistoryItem::ToolResult {
            call_id: "call_2".into(),
            name: None,
            content: "14:00".into(),
        },
        HistoryItem::Assistant {
            text: "21 °C, 14:00.".into(),
            tool_calls: vec![],
        },
        HistoryItem::ToolResult {
            call_id: "call_x".into(),
            name: Some("other".into()),
            content: "late".into(),
        },
    ];
    let folded = fold_history(&items);
    let want = vec![
        FoldedTurn { role: TurnRole::System, text: "Be brief.".into() },
        FoldedTurn { role: TurnRole::User, text: "Weather and time in Paris?".into() },
        FoldedTurn {
            role: TurnRole::Assistant,
            text: "Checking.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": {\"zone\":\"CET\"}}</tool_call>".into(),
        },
        FoldedTurn {
            role: TurnRole::User,
            text: "<tool_result id=\"call_1\" name=\"get_weather\">\n{\"temp\": 21}\n</tool_result>\n\n<tool_result id=\"call_2\" name=\"get_time\">\n14:00\n</tool_result>".into(),
        },
        FoldedTurn { role: TurnRole::Assistant, text: "21 °C, 14:00.".into() },
        FoldedTurn { role: TurnRole::User, text: "<tool_result id=\"call_x\" name=\"other\">\nlate\n</tool_result>".into() },
    ];
    assert_eq!(folded, want);
    // The folded calls are exactly what the parser recognises.
    let ToolEvent::Call(_) = &run_parser(&auto(), &[folded[2].text.split_once('\n').unwrap().1])[0]
    else {
        panic!("folded call not recognised")
    };
}
