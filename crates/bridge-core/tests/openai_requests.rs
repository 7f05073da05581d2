//! OpenAI request parsing: real client bodies from `tests/fixtures/requests/`, every
//! validation error with its `param`, and the response/error body shapes.

use std::path::PathBuf;

use bridge_core::openai::{
    parse_chat_request, parse_image_request, ChatCompletion, ChatCompletionChunk, Choice,
    ChunkChoice, ContentPart, Delta, ErrorBody, FinishReason, ImageData, ImageResponseFormat,
    ImagesResponse, MessageContent, ModelList, ModelObject, RequestError, ResponseMessage, Role,
    Usage,
};
use serde_json::json;

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

fn chat_err(body: &str) -> RequestError {
    match parse_chat_request(body.as_bytes()) {
        Ok(req) => panic!("expected an error for {body}, got {req:?}"),
        Err(e) => e,
    }
}

const USER_HI: &str = r#"[{"role":"user","content":"hi"}]"#;

#[test]
fn openai_python_vision_request() {
    let req = parse_chat_request(&fixture("openai_python_vision.json")).unwrap();
    assert_eq!(req.model, "gemini-2.5-pro");
    assert!(req.stream);
    assert!(req.include_usage());
    assert_eq!(req.messages.len(), 2);
    let MessageContent::Parts(parts) = &req.messages[1].content else {
        panic!("expected parts: {:?}", req.messages[1].content);
    };
    match &parts[1] {
        ContentPart::ImageUrl { image_url } => {
            assert!(image_url.url.starts_with("data:image/png;base64,"));
            assert_eq!(image_url.detail.as_deref(), Some("auto"));
        }
        other => panic!("expected image_url, got {other:?}"),
    }
}

#[test]
fn sillytavern_request_with_extra_fields_and_names() {
    let req = parse_chat_request(&fixture("sillytavern.json")).unwrap();
    assert_eq!(req.n, Some(1));
    assert_eq!(req.max_tokens, Some(300));
    assert_eq!(req.temperature, Some(1.0));
    assert_eq!(req.messages.len(), 6);
    assert_eq!(req.messages[3].name.as_deref(), Some("Alice"));
    assert_eq!(
        req.messages.iter().map(|m| m.role).collect::<Vec<_>>(),
        [
            Role::System,
            Role::System,
            Role::System,
            Role::Assistant,
            Role::User,
            Role::System
        ]
    );
}

#[test]
fn open_webui_request_with_unrelated_top_level_fields() {
    let req = parse_chat_request(&fixture("open_webui.json")).unwrap();
    assert_eq!(req.model, "gpt-4o-2024-11-20");
    let MessageContent::Parts(parts) = &req.messages[0].content else {
        panic!("expected parts");
    };
    assert_eq!(parts.len(), 3);
}

#[test]
fn lobechat_request() {
    let req = parse_chat_request(&fixture("lobechat.json")).unwrap();
    assert_eq!(req.temperature, Some(0.6));
    assert_eq!(req.top_p, Some(1.0));
    assert!(!req.include_usage());
}

#[test]
fn tool_history_with_null_assistant_content() {
    let req = parse_chat_request(&fixture("tool_history.json")).unwrap();
    assert!(!req.stream);
    assert_eq!(req.max_completion_tokens, Some(1024));
    assert_eq!(req.messages[0].role, Role::Developer);
    assert_eq!(req.messages[2].content, MessageContent::None);
    assert_eq!(req.messages[3].role, Role::Tool);
}

#[test]
fn file_and_audio_parts() {
    let req = parse_chat_request(&fixture("file_and_audio.json")).unwrap();
    let MessageContent::Parts(parts) = &req.messages[0].content else {
        panic!("expected parts");
    };
    assert!(
        matches!(&parts[0], ContentPart::File { file } if file.filename.as_deref() == Some("report.pdf"))
    );
    assert!(
        matches!(&parts[1], ContentPart::InputAudio { input_audio } if input_audio.format == "wav")
    );
}

#[test]
fn unknown_part_type_parses_as_unknown() {
    let req = parse_chat_request(&fixture("unknown_part.json")).unwrap();
    let MessageContent::Parts(parts) = &req.messages[0].content else {
        panic!("expected parts");
    };
    assert!(matches!(&parts[1], ContentPart::Unknown(_)));
    assert_eq!(parts[1].type_name(), "video_url");
}

#[test]
fn image_url_given_as_a_bare_string_is_accepted() {
    let req = parse_chat_request(
        br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"https://x.org/a.png"}]}]}"#,
    )
    .unwrap();
    let MessageContent::Parts(parts) = &req.messages[0].content else {
        panic!("expected parts");
    };
    assert!(
        matches!(&parts[0], ContentPart::ImageUrl { image_url } if image_url.url == "https://x.org/a.png")
    );
}

#[test]
fn stream_null_and_absent_mean_false() {
    for body in [
        format!(r#"{{"model":"m","messages":{USER_HI},"stream":null}}"#),
        format!(r#"{{"model":"m","messages":{USER_HI}}}"#),
    ] {
        assert!(
            !parse_chat_request(body.as_bytes()).unwrap().stream,
            "{body}"
        );
    }
}

#[test]
fn invalid_json_names_line_and_column() {
    let e = chat_err("{\n  \"model\": \"m\",\n  \"messages\": [,]\n}");
    assert_eq!(e.param, None);
    assert!(e.message.contains("line 3 column"), "{}", e.message);
    assert!(!e.message.contains('\n'), "one line: {}", e.message);
}

#[test]
fn validation_errors_name_the_param() {
    // (body, param, code)
    let cases: &[(String, Option<&str>, Option<&str>)] = &[
        ("[]".into(), None, Some("invalid_type")),
        (
            format!(r#"{{"messages":{USER_HI}}}"#),
            Some("model"),
            Some("missing_required_parameter"),
        ),
        (
            format!(r#"{{"model":null,"messages":{USER_HI}}}"#),
            Some("model"),
            Some("missing_required_parameter"),
        ),
        (
            format!(r#"{{"model":"","messages":{USER_HI}}}"#),
            Some("model"),
            Some("empty_string"),
        ),
        (
            format!(r#"{{"model":"  ","messages":{USER_HI}}}"#),
            Some("model"),
            Some("empty_string"),
        ),
        (
            format!(r#"{{"model":7,"messages":{USER_HI}}}"#),
            Some("model"),
            Some("invalid_type"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"stream":"false"}}"#),
            Some("stream"),
            Some("invalid_type"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"stream":1}}"#),
            Some("stream"),
            Some("invalid_type"),
        ),
        (
            r#"{"model":"m"}"#.into(),
            Some("messages"),
            Some("missing_required_parameter"),
        ),
        (
            r#"{"model":"m","messages":[]}"#.into(),
            Some("messages"),
            Some("empty_array"),
        ),
        (
            r#"{"model":"m","messages":"hi"}"#.into(),
            Some("messages"),
            Some("invalid_type"),
        ),
        (
            r#"{"model":"m","messages":["hi"]}"#.into(),
            Some("messages[0]"),
            Some("invalid_type"),
        ),
        (
            r#"{"model":"m","messages":[{"content":"x"}]}"#.into(),
            Some("messages[0].role"),
            Some("missing_required_parameter"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"robot","content":"x"}]}"#.into(),
            Some("messages[1].role"),
            Some("invalid_value"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"User","content":"x"}]}"#.into(),
            Some("messages[0].role"),
            Some("invalid_value"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":null}]}"#.into(),
            Some("messages[0].content"),
            Some("missing_required_parameter"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"system"}]}"#.into(),
            Some("messages[0].content"),
            Some("missing_required_parameter"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":5}]}"#.into(),
            Some("messages[0].content"),
            Some("invalid_type"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"text":"b"}]}]}"#.into(),
            Some("messages[0].content[1].type"),
            Some("missing_required_parameter"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":["a"]}]}"#.into(),
            Some("messages[0].content[0]"),
            Some("invalid_type"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}"#.into(),
            Some("messages[0].content[0].text"),
            Some("missing_required_parameter"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"detail":"auto"}}]}]}"#.into(),
            Some("messages[0].content[0].image_url.url"),
            Some("missing_required_parameter"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA"}}]}]}"#.into(),
            Some("messages[0].content[0].input_audio.format"),
            Some("missing_required_parameter"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":"x"}]}]}"#.into(),
            Some("messages[0].content[0].file"),
            Some("invalid_type"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x","name":5}]}"#.into(),
            Some("messages[0].name"),
            Some("invalid_type"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"n":0}}"#),
            Some("n"),
            Some("integer_below_min_value"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"n":-2}}"#),
            Some("n"),
            Some("integer_below_min_value"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"n":"2"}}"#),
            Some("n"),
            Some("invalid_type"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"n":1.5}}"#),
            Some("n"),
            Some("invalid_type"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"stream_options":true}}"#),
            Some("stream_options"),
            Some("invalid_type"),
        ),
        (
            format!(
                r#"{{"model":"m","messages":{USER_HI},"stream_options":{{"include_usage":"yes"}}}}"#
            ),
            Some("stream_options.include_usage"),
            Some("invalid_type"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"temperature":"hot"}}"#),
            Some("temperature"),
            Some("invalid_type"),
        ),
        (
            format!(r#"{{"model":"m","messages":{USER_HI},"max_tokens":-1}}"#),
            Some("max_tokens"),
            Some("integer_below_min_value"),
        ),
    ];
    for (body, param, code) in cases {
        let e = chat_err(body);
        assert_eq!(
            e.param.as_deref(),
            *param,
            "param for {body}: {}",
            e.message
        );
        assert_eq!(e.code.as_deref(), *code, "code for {body}: {}", e.message);
        assert!(!e.message.is_empty() && !e.message.contains('\n'));
        if let Some(param) = param {
            assert!(
                e.message.contains(param),
                "message names {param}: {}",
                e.message
            );
        }
    }
}

#[test]
fn stream_as_string_is_rejected_with_a_clear_message() {
    let e = chat_err(&format!(
        r#"{{"model":"m","messages":{USER_HI},"stream":"false"}}"#
    ));
    assert_eq!(
        e.to_string(),
        "Invalid type for 'stream': expected a boolean, but got a string instead."
    );
}

#[test]
fn request_error_becomes_openai_error_body() {
    let e = chat_err(r#"{"model":"m","messages":[]}"#);
    let body = serde_json::to_value(ErrorBody::from(e)).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "messages");
    assert_eq!(body["error"]["code"], "empty_array");

    let e = chat_err("nope");
    let body = serde_json::to_value(ErrorBody::from(e)).unwrap();
    let detail = body["error"].as_object().unwrap();
    // OpenAI sends null rather than leaving the keys out.
    assert!(detail["param"].is_null() && detail["code"].is_null());
    assert_eq!(detail.len(), 4);
}

#[test]
fn image_request_parsing() {
    let req = parse_image_request(
        br#"{"prompt":"a red fox","model":"dall-e-3","n":2,"size":"1024x1024","response_format":"b64_json","quality":"hd","style":"vivid"}"#,
    )
    .unwrap();
    assert_eq!(req.prompt, "a red fox");
    assert_eq!(req.model.as_deref(), Some("dall-e-3"));
    assert_eq!(req.n, Some(2));
    assert_eq!(req.size.as_deref(), Some("1024x1024"));
    assert_eq!(req.response_format, Some(ImageResponseFormat::B64Json));

    let minimal = parse_image_request(br#"{"prompt":"x","response_format":null}"#).unwrap();
    assert_eq!(minimal.response_format, None);
    assert_eq!(minimal.model, None);
}

#[test]
fn image_request_errors() {
    let cases: &[(&str, Option<&str>)] = &[
        ("{", None),
        (r#"{"model":"m"}"#, Some("prompt")),
        (r#"{"prompt":""}"#, Some("prompt")),
        (r#"{"prompt":"   "}"#, Some("prompt")),
        (r#"{"prompt":["x"]}"#, Some("prompt")),
        (
            r#"{"prompt":"x","response_format":"png"}"#,
            Some("response_format"),
        ),
        (r#"{"prompt":"x","n":0}"#, Some("n")),
        (r#"{"prompt":"x","model":1}"#, Some("model")),
        (r#"{"prompt":"x","size":1024}"#, Some("size")),
    ];
    for (body, param) in cases {
        let e = parse_image_request(body.as_bytes()).unwrap_err();
        assert_eq!(e.param.as_deref(), *param, "{body}: {}", e.message);
    }
}

#[test]
fn chunk_serializes_like_openai() {
    let id = String::from("chatcmpl-1");
    let chunk = ChatCompletionChunk::new(
        id.as_str(),
        1_761_998_400,
        "gemini-2.5-pro",
        vec![ChunkChoice::new(0, Delta::content("Hello "), None)],
    );
    assert_eq!(
        serde_json::to_string(&chunk).unwrap(),
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1761998400,"model":"gemini-2.5-pro","choices":[{"index":0,"delta":{"content":"Hello "},"finish_reason":null}]}"#
    );

    let first = ChunkChoice::new(0, Delta::assistant_start(), None);
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        json!({"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null})
    );
    let reasoning = ChunkChoice::new(0, Delta::reasoning("hmm"), None);
    assert_eq!(
        serde_json::to_value(&reasoning).unwrap()["delta"],
        json!({"reasoning_content":"hmm"})
    );

    let mut last = ChatCompletionChunk::new(
        "c",
        0,
        "m",
        vec![ChunkChoice::new(
            0,
            Delta::default(),
            Some(FinishReason::ContentFilter),
        )],
    );
    last.usage = Some(Usage::new(10, 5));
    let value = serde_json::to_value(&last).unwrap();
    assert_eq!(value["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(value["choices"][0]["delta"], json!({}));
    assert_eq!(
        value["usage"],
        json!({"prompt_tokens":10,"completion_tokens":5,"total_tokens":15})
    );
    let back: ChatCompletionChunk<'_> = serde_json::from_value(value).unwrap();
    assert_eq!(back, last);
}

#[test]
fn completion_models_and_images_serialize_like_openai() {
    let completion = ChatCompletion::new(
        "chatcmpl-2",
        5,
        "m",
        vec![Choice {
            index: 0,
            message: ResponseMessage::assistant(Some("hi".into()), None),
            finish_reason: Some(FinishReason::Stop),
        }],
    );
    assert_eq!(
        serde_json::to_value(&completion).unwrap(),
        json!({"id":"chatcmpl-2","object":"chat.completion","created":5,"model":"m",
               "choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]})
    );

    let list = ModelList::new(vec![ModelObject::new("gemini-2.5-pro", 7, "lmarena")]);
    assert_eq!(
        serde_json::to_value(&list).unwrap(),
        json!({"object":"list","data":[{"id":"gemini-2.5-pro","object":"model","created":7,"owned_by":"lmarena"}]})
    );
    let typed = [
        (bridge_core::models::ModelKind::Text, "chat"),
        (
            bridge_core::models::ModelKind::Other("video".into()),
            "chat",
        ),
        (bridge_core::models::ModelKind::Search, "search"),
        (bridge_core::models::ModelKind::Image, "image"),
    ];
    for (kind, name) in typed {
        let entry = ModelObject::new("m", 7, "lmarena").with_kind(&kind);
        assert_eq!(serde_json::to_value(&entry).unwrap()["type"], name);
    }

    let images = ImagesResponse {
        created: 9,
        data: vec![ImageData {
            url: Some("https://x/y.png".into()),
            ..ImageData::default()
        }],
    };
    assert_eq!(
        serde_json::to_value(&images).unwrap(),
        json!({"created":9,"data":[{"url":"https://x/y.png"}]})
    );
}
