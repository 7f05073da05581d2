//! Table tests of the `retry` flow builder (UPSTREAM.md §2, steps 1–8) with deterministic ids
//! and clock.

use std::path::PathBuf;

use bridge_core::arena::retry::{
    build_messages, build_retry_request, ArenaRole, BuildError, MessageOptions,
    ParticipantPosition, RetryContext,
};
use bridge_core::arena::UpstreamRequest;
use bridge_core::config::{BattleTarget, Config, Mode};
use bridge_core::models::{ModelKind, ResolvedModel, SessionPick};
use bridge_core::openai::{parse_chat_request, ChatCompletionRequest};
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

const SESSION: &str = "5c1f3a2e-8a4b-4c8d-9e0f-1a2b3c4d5e6f";
const MESSAGE: &str = "7d2e4b3f-9b5c-4d9e-8f10-2b3c4d5e6f70";
const NOW: OffsetDateTime = datetime!(2025-11-01 12:00:00 UTC);
const NOW_ISO: &str = "2025-11-01T12:00:00.000Z";
const PNG_DATA: &str = "data:image/png;base64,iVBORw0KGgo=";

fn id(n: u128) -> String {
    Uuid::from_u128(n).to_string()
}

fn text_model() -> ResolvedModel {
    ResolvedModel {
        public_name: "gemini-2.5-pro".into(),
        model_id: Some("0199a1b2-0000-7000-8000-000000000001".into()),
        kind: ModelKind::Text,
        pool: Vec::new(),
    }
}

fn image_model() -> ResolvedModel {
    ResolvedModel {
        public_name: "imagen-4".into(),
        model_id: Some("0199a1b2-0000-7000-8000-000000000002".into()),
        kind: ModelKind::Image,
        pool: Vec::new(),
    }
}

fn session(mode: Mode, battle_target: BattleTarget) -> SessionPick {
    SessionPick {
        session_id: SESSION.into(),
        message_id: MESSAGE.into(),
        mode,
        battle_target,
        from_pool: false,
    }
}

fn direct() -> SessionPick {
    session(Mode::DirectChat, BattleTarget::A)
}

fn config(tavern: bool, bypass: bool) -> Config {
    Config {
        tavern_mode_enabled: tavern,
        bypass_enabled: bypass,
        ..Config::default()
    }
}

fn request(messages: Value) -> ChatCompletionRequest {
    let body = json!({"model": "gemini-2.5-pro", "messages": messages});
    parse_chat_request(body.to_string().as_bytes()).unwrap()
}

fn try_build(
    req: &ChatCompletionRequest,
    config: &Config,
    model: &ResolvedModel,
    session: &SessionPick,
) -> Result<UpstreamRequest, BuildError> {
    let ctx = RetryContext {
        config,
        model,
        session,
    };
    let mut next = 0u128;
    let mut ids = move || {
        next += 1;
        Uuid::from_u128(next)
    };
    build_retry_request(req, &ctx, &mut ids, NOW)
}

fn build(
    req: &ChatCompletionRequest,
    config: &Config,
    model: &ResolvedModel,
    session: &SessionPick,
) -> UpstreamRequest {
    try_build(req, config, model, session).unwrap()
}

/// The body's messages reduced to the fields a case is about.
fn summary(up: &UpstreamRequest) -> Vec<(String, String, String, String)> {
    body(up)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
                m["participantPosition"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn row(role: &str, content: &str, pos: &str, status: &str) -> (String, String, String, String) {
    (role.into(), content.into(), pos.into(), status.into())
}

fn body(up: &UpstreamRequest) -> Value {
    serde_json::from_str(&up.body).unwrap()
}

fn attachments(up: &UpstreamRequest, index: usize) -> Value {
    body(up)["messages"][index]["experimental_attachments"].clone()
}

fn build_error(messages: Value) -> BuildError {
    let req = request(messages);
    match try_build(&req, &Config::default(), &text_model(), &direct()) {
        Ok(up) => panic!("expected an error, got {}", up.body),
        Err(e) => e,
    }
}

#[test]
fn direct_chat_whole_request() {
    let req = request(json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": PNG_DATA, "detail": "auto"}}
        ]}
    ]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(
        up.path,
        format!("/nextjs-api/stream/retry-evaluation-session-message/{SESSION}/messages/{MESSAGE}")
    );
    assert_eq!(up.method, "PUT");
    assert_eq!(
        serde_json::to_value(&up.headers).unwrap(),
        json!({"Content-Type": "text/plain;charset=UTF-8", "Accept": "*/*"})
    );
    let message = |n: u128, role: &str, content: &str, pos: &str, status: &str, atts: Value| {
        json!({
            "role": role,
            "content": content,
            "id": id(n),
            "evaluationId": null,
            "evaluationSessionId": SESSION,
            "parentMessageIds": if n == 1 { json!([]) } else { json!([id(n - 1)]) },
            "experimental_attachments": atts,
            "failureReason": null,
            "metadata": null,
            "participantPosition": pos,
            "createdAt": NOW_ISO,
            "updatedAt": NOW_ISO,
            "status": status,
        })
    };
    assert_eq!(
        body(&up),
        json!({
            "messages": [
                message(1, "system", "Be brief.", "b", "success", json!([])),
                message(2, "user", "Hello", "a", "success", json!([])),
                message(3, "assistant", "Hi!", "a", "success", json!([])),
                message(4, "user", "What is this?", "a", "pending", json!([
                    {"name": "image.png", "contentType": "image/png", "url": PNG_DATA}
                ])),
            ],
            "modelId": "0199a1b2-0000-7000-8000-000000000001",
        })
    );
    // The page's key order, so the body looks like the page's own.
    let keys: Vec<&str> = [
        "role",
        "content",
        "id",
        "evaluationId",
        "evaluationSessionId",
        "parentMessageIds",
        "experimental_attachments",
        "failureReason",
        "metadata",
        "participantPosition",
        "createdAt",
        "updatedAt",
        "status",
    ]
    .to_vec();
    let first = up.body.find("\"messages\":[{").unwrap();
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| first + up.body[first..].find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", up.body);
    assert!(up
        .body
        .ends_with(r#""modelId":"0199a1b2-0000-7000-8000-000000000001"}"#));
}

#[test]
fn battle_puts_every_message_on_the_target_side() {
    let req = request(json!([
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "U2"}
    ]));
    for (target, side) in [(BattleTarget::A, "a"), (BattleTarget::B, "b")] {
        let up = build(
            &req,
            &Config::default(),
            &text_model(),
            &session(Mode::Battle, target),
        );
        assert_eq!(
            summary(&up),
            [
                row("system", "S", side, "success"),
                row("user", "U", side, "success"),
                row("assistant", "A", side, "success"),
                row("user", "U2", side, "pending"),
            ],
            "target {target:?}"
        );
    }
}

#[test]
fn several_system_messages_stay_in_place_without_tavern_mode() {
    let req = request(json!([
        {"role": "system", "content": "S1"},
        {"role": "user", "content": "U"},
        {"role": "system", "content": ""},
        {"role": "developer", "content": "D"},
        {"role": "user", "content": "U2"}
    ]));
    let up = build(&req, &config(false, false), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [
            row("system", "S1", "b", "success"),
            row("user", "U", "a", "success"),
            row("system", "", "b", "success"),
            row("system", "D", "b", "success"),
            row("user", "U2", "a", "pending"),
        ]
    );
}

#[test]
fn tavern_mode_merges_non_empty_system_messages_first() {
    let req = parse_chat_request(&fixture("sillytavern.json")).unwrap();
    let up = build(&req, &config(true, false), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [
            row(
                "system",
                "Write Alice's next reply in a fictional chat between Alice and Bob.\n\n\
                 [Alice's personality: curious, kind]\n\n\
                 [Continue the story. Do not write Bob's lines.]",
                "b",
                "success"
            ),
            row("assistant", "*waves* Hello there!", "a", "success"),
            row("user", "Hi Alice, how are you?", "a", "pending"),
        ]
    );
    // Off: the same request keeps all six messages in order.
    let up = build(&req, &config(false, false), &text_model(), &direct());
    assert_eq!(summary(&up).len(), 6);
    assert_eq!(summary(&up)[5].0, "system");
}

#[test]
fn tavern_mode_merges_developer_messages_and_whitespace_only_systems_are_dropped() {
    let req = request(json!([
        {"role": "user", "content": "U"},
        {"role": "developer", "content": "D"},
        {"role": "system", "content": "  \n"},
        {"role": "system", "content": "S"}
    ]));
    let up = build(&req, &config(true, false), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [
            row("system", "D\n\nS", "b", "success"),
            row("user", "U", "a", "pending"),
        ]
    );
}

#[test]
fn tavern_mode_without_any_non_empty_system_adds_none() {
    let req = request(json!([
        {"role": "system", "content": ""},
        {"role": "user", "content": "U"}
    ]));
    let up = build(&req, &config(true, false), &text_model(), &direct());
    assert_eq!(summary(&up), [row("user", "U", "a", "pending")]);
}

#[test]
fn bypass_mode_appends_a_blank_user_message_for_text_models_only() {
    let req = request(json!([{"role": "user", "content": "Hello"}]));
    let up = build(&req, &config(false, true), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [
            row("user", "Hello", "a", "success"),
            row("user", " ", "a", "pending"),
        ]
    );
    let up = build(&req, &config(false, true), &image_model(), &direct());
    assert_eq!(summary(&up), [row("user", "Hello", "a", "success")]);
    let up = build(&req, &config(false, false), &text_model(), &direct());
    assert_eq!(summary(&up), [row("user", "Hello", "a", "pending")]);
}

#[test]
fn image_model_messages_are_all_success() {
    let req = request(json!([
        {"role": "user", "content": "a cat"},
        {"role": "assistant", "content": "![image](https://x/1.png)"},
        {"role": "user", "content": "now a dog"}
    ]));
    let up = build(&req, &Config::default(), &image_model(), &direct());
    let body = body(&up);
    assert!(body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["status"] == "success"));
    assert_eq!(body["modelId"], "0199a1b2-0000-7000-8000-000000000002");
}

#[test]
fn model_without_id_sends_null_model_id() {
    // Endpoint-map-only models and `null:image` entries alike.
    for kind in [ModelKind::Text, ModelKind::Image] {
        let model = ResolvedModel {
            public_name: "anonymous-battle".into(),
            model_id: None,
            kind,
            pool: Vec::new(),
        };
        let req = request(json!([{"role": "user", "content": "hi"}]));
        let up = build(&req, &Config::default(), &model, &direct());
        assert!(up.body.ends_with(r#""modelId":null}"#), "{}", up.body);
    }
}

#[test]
fn developer_role_becomes_system() {
    let req = parse_chat_request(&fixture("tool_history.json")).unwrap();
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [
            row("system", "Use tools when useful.", "b", "success"),
            row("user", "What's the weather in Paris?", "a", "success"),
            row("assistant", "", "a", "success"),
            row("tool", "18°C, cloudy", "a", "success"),
            row("user", "Thanks. And tomorrow?", "a", "pending"),
        ]
    );
}

#[test]
fn empty_user_text_is_sent_as_one_space() {
    let req = request(json!([
        {"role": "user", "content": ""},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": " \n\t"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG_DATA}}]}
    ]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [
            row("user", " ", "a", "success"),
            row("assistant", "", "a", "success"),
            row("user", " ", "a", "success"),
            row("user", " ", "a", "pending"),
        ]
    );
}

#[test]
fn text_parts_are_joined_with_a_blank_line() {
    let req = request(json!([{"role": "user", "content": [
        {"type": "text", "text": "one"},
        {"type": "image_url", "image_url": {"url": PNG_DATA}},
        {"type": "text", "text": "two"}
    ]}]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(summary(&up)[0].1, "one\n\ntwo");
}

fn bypass_trick(last_text: &str) -> Vec<(String, String, String, String)> {
    let req = request(json!([{"role": "user", "content": [
        {"type": "text", "text": last_text},
        {"type": "image_url", "image_url": {"url": PNG_DATA}}
    ]}]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    summary(&up)
}

#[test]
fn bypass_trick_moves_the_image_onto_an_assistant_message() {
    for text in [
        "Describe this --bypass",
        "Describe this--bypass",
        "Describe this \n --bypass \n",
    ] {
        assert_eq!(
            bypass_trick(text),
            [
                row("user", "Hi", "a", "success"),
                row("assistant", "", "a", "success"),
                row("user", "Describe this", "a", "pending"),
            ],
            "{text:?}"
        );
    }
    let req = request(json!([{"role": "user", "content": [
        {"type": "text", "text": "Describe this --bypass"},
        {"type": "image_url", "image_url": {"url": PNG_DATA}}
    ]}]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(attachments(&up, 0), json!([]));
    assert_eq!(
        attachments(&up, 1),
        json!([{"name": "image.png", "contentType": "image/png", "url": PNG_DATA}])
    );
    assert_eq!(attachments(&up, 2), json!([]));
}

// PITFALLS #20: the original cut nine characters for the eight-character marker.
#[test]
fn bypass_trick_removes_exactly_the_marker() {
    assert_eq!(bypass_trick("abc--bypass")[2].1, "abc");
    assert_eq!(bypass_trick("--bypass")[2].1, " ");
    assert_eq!(bypass_trick("  --bypass")[2].1, " ");
}

#[test]
fn bypass_trick_keeps_a_leading_system_message_and_adds_no_greeting() {
    let req = request(json!([
        {"role": "system", "content": "S"},
        {"role": "user", "content": [
            {"type": "text", "text": "look --bypass"},
            {"type": "image_url", "image_url": {"url": "https://img.example.com/a.webp"}}
        ]}
    ]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [
            row("system", "S", "b", "success"),
            row("assistant", "", "a", "success"),
            row("user", "look", "a", "pending"),
        ]
    );
}

#[test]
fn bypass_trick_needs_an_image_and_the_last_message() {
    // No image: the text is sent as written.
    let req = request(json!([{"role": "user", "content": "Describe this --bypass"}]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [row("user", "Describe this --bypass", "a", "pending")]
    );
    // A non-image attachment does not trigger it either.
    let req = request(json!([{"role": "user", "content": [
        {"type": "text", "text": "Read --bypass"},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}}
    ]}]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(summary(&up), [row("user", "Read --bypass", "a", "pending")]);
    // Not the last message: untouched.
    let req = request(json!([
        {"role": "user", "content": [
            {"type": "text", "text": "A --bypass"},
            {"type": "image_url", "image_url": {"url": PNG_DATA}}
        ]},
        {"role": "assistant", "content": "ok"}
    ]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(summary(&up)[0].1, "A --bypass");
    assert_eq!(summary(&up).len(), 2);
}

#[test]
fn bypass_trick_then_bypass_mode() {
    let req = request(json!([{"role": "user", "content": [
        {"type": "text", "text": "x --bypass"},
        {"type": "image_url", "image_url": {"url": PNG_DATA}}
    ]}]));
    let up = build(&req, &config(false, true), &text_model(), &direct());
    assert_eq!(
        summary(&up),
        [
            row("user", "Hi", "a", "success"),
            row("assistant", "", "a", "success"),
            row("user", "x", "a", "success"),
            row("user", " ", "a", "pending"),
        ]
    );
}

#[test]
fn attachments_from_urls_and_data_uris() {
    // (url, contentType, name)
    let cases = [
        (PNG_DATA, "image/png", "image.png"),
        (
            "data:image/JPEG;base64,/9j/4AAQ",
            "image/jpeg",
            "image.jpeg",
        ),
        ("data:image/x-foo;base64,AAAA", "image/x-foo", "image.foo"),
        (
            "data:application/x-thing;base64,AAAA",
            "application/x-thing",
            "file.thing",
        ),
        ("data:;base64,AAAA", "application/octet-stream", "file"),
        (
            "https://cdn.example.com/img/cat.png",
            "image/png",
            "image.png",
        ),
        (
            "https://cdn.example.com/img/cat.png?width=100&fmt=jpg#frag",
            "image/png",
            "image.png",
        ),
        (
            "https://cdn.example.com/img/PHOTO.JPEG",
            "image/jpeg",
            "image.jpeg",
        ),
        ("HTTPS://cdn.example.com/a.GIF?x", "image/gif", "image.gif"),
        ("http://cdn.example.com/a.webp", "image/webp", "image.webp"),
        (
            "https://cdn.example.com/download?id=3.png",
            "application/octet-stream",
            "file",
        ),
        (
            "https://cdn.example.com/blob/abcdef",
            "application/octet-stream",
            "file",
        ),
        (
            "https://cdn.example.com",
            "application/octet-stream",
            "file",
        ),
    ];
    for (url, content_type, name) in cases {
        let req = request(json!([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url, "detail": "auto"}}
        ]}]));
        let up = build(&req, &Config::default(), &text_model(), &direct());
        assert_eq!(
            attachments(&up, 0),
            json!([{"name": name, "contentType": content_type, "url": url}]),
            "{url}"
        );
    }
}

#[test]
fn open_webui_attachments_keep_their_order() {
    let req = parse_chat_request(&fixture("open_webui.json")).unwrap();
    let up = build(&req, &Config::default(), &text_model(), &direct());
    let atts = attachments(&up, 0);
    assert_eq!(atts[0]["contentType"], "image/jpeg");
    assert_eq!(
        atts[0]["url"],
        "https://upload.example.org/photos/Cat.JPG?size=large&v=2#top"
    );
    assert_eq!(atts[1]["contentType"], "image/webp");
    assert_eq!(atts[1]["name"], "image.webp");
}

#[test]
fn file_and_audio_parts_become_attachments() {
    let req = parse_chat_request(&fixture("file_and_audio.json")).unwrap();
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(
        attachments(&up, 0),
        json!([
            {"name": "report.pdf", "contentType": "application/pdf",
             "url": "data:application/pdf;base64,JVBERi0xLjQKJcfsj6IK"},
            {"name": "audio.wav", "contentType": "audio/wav",
             "url": "data:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="}
        ])
    );
    assert_eq!(
        summary(&up)[0].1,
        "Summarise the report and transcribe the recording."
    );
}

#[test]
fn file_parts_without_a_data_uri() {
    // Bare base64 is typed from the file name; a client-side path keeps only its last part.
    let req = request(json!([{"role": "user", "content": [
        {"type": "file", "file": {"filename": "C:\\docs\\Notes.TXT", "file_data": "aGVsbG8="}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},
        {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "MP3"}}
    ]}]));
    let up = build(&req, &Config::default(), &text_model(), &direct());
    assert_eq!(
        attachments(&up, 0),
        json!([
            {"name": "Notes.TXT", "contentType": "text/plain", "url": "data:text/plain;base64,aGVsbG8="},
            {"name": "file.pdf", "contentType": "application/pdf", "url": "data:application/pdf;base64,JVBE"},
            {"name": "audio.mp3", "contentType": "audio/mpeg", "url": "data:audio/mpeg;base64,SUQz"}
        ])
    );
}

#[test]
fn unusable_parts_are_errors_naming_the_part() {
    let cases = [
        (
            json!([
                {"role": "user", "content": "a"},
                {"role": "user", "content": [
                    {"type": "text", "text": "x"},
                    {"type": "text", "text": "y"},
                    {"type": "video_url", "video_url": {"url": "https://e.com/v.mp4"}}
                ]}
            ]),
            "messages[1].content[2]",
            "video_url",
        ),
        (
            json!([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]),
            "messages[0].content[0]",
            "file_id",
        ),
        (
            json!([{"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf"}}]}]),
            "messages[0].content[0]",
            "file_data",
        ),
        (
            json!([{"role": "user", "content": [{"type": "file", "file": {"file_data": "not base64!"}}]}]),
            "messages[0].content[0]",
            "base64",
        ),
        (
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://e.com/a.png"}}]}]),
            "messages[0].content[0]",
            "http",
        ),
        (
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64"}}]}]),
            "messages[0].content[0]",
            "data: URI",
        ),
        (
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:png;base64,AA"}}]}]),
            "messages[0].content[0]",
            "media type",
        ),
        (
            json!([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "w/av"}}]}]),
            "messages[0].content[0]",
            "format",
        ),
    ];
    for (messages, param, words) in cases {
        let e = build_error(messages);
        assert_eq!(e.param.as_deref(), Some(param), "{}", e.message);
        assert!(e.message.contains(param), "{}", e.message);
        assert!(e.message.contains(words), "{words:?} in {}", e.message);
    }
    let req = parse_chat_request(&fixture("unknown_part.json")).unwrap();
    let e = try_build(&req, &Config::default(), &text_model(), &direct()).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages[0].content[1]"));
}

#[test]
fn only_empty_system_messages_in_tavern_mode_is_an_error() {
    let req = request(json!([{"role": "system", "content": " "}]));
    let e = try_build(&req, &config(true, false), &text_model(), &direct()).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages"));
}

#[test]
fn ids_that_do_not_look_like_ids_are_refused() {
    let req = request(json!([{"role": "user", "content": "hi"}]));
    let mut bad = direct();
    bad.session_id = "../../api/other".into();
    let e = try_build(&req, &Config::default(), &text_model(), &bad).unwrap_err();
    assert!(e.message.contains("bridge-id-updater"), "{}", e.message);
    let mut bad = direct();
    bad.message_id = "abc?x=1".into();
    assert!(try_build(&req, &Config::default(), &text_model(), &bad).is_err());
}

#[test]
fn timestamps_are_utc_with_milliseconds() {
    let req = request(json!([{"role": "user", "content": "hi"}]));
    let ctx_config = Config::default();
    let model = text_model();
    let pick = direct();
    let ctx = RetryContext {
        config: &ctx_config,
        model: &model,
        session: &pick,
    };
    let mut ids = || Uuid::from_u128(9);
    let up = build_retry_request(
        &req,
        &ctx,
        &mut ids,
        datetime!(2025-11-01 20:30:45.678901 +08:00),
    )
    .unwrap();
    let message = &body(&up)["messages"][0];
    assert_eq!(message["createdAt"], "2025-11-01T12:30:45.678Z");
    assert_eq!(message["updatedAt"], "2025-11-01T12:30:45.678Z");
    assert_eq!(message["id"], id(9));
}

#[test]
fn build_messages_is_usable_on_its_own() {
    let req = request(json!([
        {"role": "developer", "content": "D"},
        {"role": "user", "content": "U"}
    ]));
    let opts = MessageOptions {
        tavern_mode: false,
        bypass_mode: true,
        image_model: false,
        mode: Mode::Battle,
        battle_target: BattleTarget::B,
        keep_bypass_images: false,
    };
    let messages = build_messages(&req.messages, &opts).unwrap();
    assert_eq!(
        messages
            .iter()
            .map(|m| (m.role, m.content.as_str(), m.participant_position))
            .collect::<Vec<_>>(),
        [
            (ArenaRole::System, "D", ParticipantPosition::B),
            (ArenaRole::User, "U", ParticipantPosition::B),
            (ArenaRole::User, " ", ParticipantPosition::B),
        ]
    );
}

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "../../tests/fixtures/requests",
        name,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
