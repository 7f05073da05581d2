//! Table tests of the `evaluation` flow request builders (UPSTREAM.md §3) with deterministic
//! ids: create, post-to-evaluation, regenerate.

use std::collections::BTreeMap;

use bridge_core::arena::evaluation::{
    answer_side, build_create, build_post, build_regenerate, fold_messages, EvaluationRequest,
    FoldOptions, FoldedPrompt, IdSource, V7Ids,
};
use bridge_core::arena::retry::ParticipantPosition;
use bridge_core::config::{BattleTarget, Mode};
use bridge_core::models::{ModelKind, ResolvedModel};
use bridge_core::openai::ChatMessage;
use bridge_core::protocol::RecaptchaSpec;
use serde_json::{json, Value};
use uuid::Uuid;

const MODEL_ID: &str = "0199a1b2-0000-7000-8000-000000000001";
const PNG_DATA: &str = "data:image/png;base64,iVBORw0KGgo=";

fn id(n: u128) -> String {
    Uuid::from_u128(n).to_string()
}

/// Ids 1, 2, 3, … in order.
fn counter() -> impl FnMut() -> Uuid {
    let mut n = 0;
    move || {
        n += 1;
        Uuid::from_u128(n)
    }
}

fn model(kind: ModelKind) -> ResolvedModel {
    ResolvedModel {
        public_name: "some-model".into(),
        model_id: Some(MODEL_ID.into()),
        kind,
        pool: Vec::new(),
    }
}

fn prompt(text: &str) -> FoldedPrompt {
    FoldedPrompt {
        content: text.into(),
        attachments: Vec::new(),
    }
}

fn body(req: &EvaluationRequest) -> Value {
    serde_json::from_str(&req.request.body).unwrap()
}

fn expected_headers() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Accept".to_owned(), "*/*".to_owned()),
        (
            "Content-Type".to_owned(),
            "text/plain;charset=UTF-8".to_owned(),
        ),
    ])
}

fn chat_submit() -> Option<RecaptchaSpec> {
    Some(RecaptchaSpec {
        action: "chat_submit".into(),
        field: "recaptchaV3Token".into(),
    })
}

#[test]
fn create_direct_chat_text() {
    let req = build_create(
        &prompt("Hello"),
        &model(ModelKind::Text),
        Mode::DirectChat,
        &mut counter(),
    )
    .unwrap();
    assert_eq!(req.request.path, "/nextjs-api/stream/create-evaluation");
    assert_eq!(req.request.method, "POST");
    assert_eq!(req.request.headers, expected_headers());
    assert_eq!(req.recaptcha, chat_submit());
    assert_eq!(req.evaluation_id, Uuid::from_u128(1));
    assert_eq!(req.user_message_id, Uuid::from_u128(2));
    assert_eq!(req.model_a_message_id, Uuid::from_u128(3));
    assert_eq!(req.model_b_message_id, Uuid::from_u128(4));
    assert_eq!(
        body(&req),
        json!({
            "id": id(1),
            "mode": "direct",
            "modelAId": MODEL_ID,
            "userMessageId": id(2),
            "modelAMessageId": id(3),
            "modelBMessageId": id(4),
            "userMessage": {"content": "Hello", "experimental_attachments": [], "metadata": {}},
            "modality": "chat"
        })
    );
}

#[test]
fn create_body_keys_are_in_the_page_order_and_carry_no_token() {
    let req = build_create(
        &prompt("Hello"),
        &model(ModelKind::Text),
        Mode::DirectChat,
        &mut counter(),
    )
    .unwrap();
    let text = &req.request.body;
    let keys = [
        "\"id\"",
        "\"mode\"",
        "\"modelAId\"",
        "\"userMessageId\"",
        "\"modelAMessageId\"",
        "\"modelBMessageId\"",
        "\"userMessage\"",
        "\"modality\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    // The tab inserts the token; the server never has one.
    assert!(!text.contains("recaptchaV3Token"));
}

#[test]
fn create_mode_and_modality_table() {
    let rows = [
        (ModelKind::Text, Mode::DirectChat, "direct", "chat"),
        (ModelKind::Text, Mode::Battle, "battle", "chat"),
        (ModelKind::Image, Mode::DirectChat, "direct", "image"),
        (ModelKind::Image, Mode::Battle, "battle", "image"),
        (ModelKind::Search, Mode::DirectChat, "direct", "search"),
        (ModelKind::Search, Mode::Battle, "battle", "search"),
        (
            ModelKind::Other("video".into()),
            Mode::DirectChat,
            "direct",
            "chat",
        ),
    ];
    for (kind, mode, want_mode, want_modality) in rows {
        let req = build_create(&prompt("Hi"), &model(kind.clone()), mode, &mut counter()).unwrap();
        let body = body(&req);
        assert_eq!(body["mode"], want_mode, "{kind:?} {mode:?}");
        assert_eq!(body["modality"], want_modality, "{kind:?} {mode:?}");
        assert_eq!(body["modelAId"], MODEL_ID, "{kind:?} {mode:?}");
        assert_eq!(req.recaptcha, chat_submit());
    }
}

#[test]
fn create_battle_body() {
    let req = build_create(
        &prompt("Which is better?"),
        &model(ModelKind::Text),
        Mode::Battle,
        &mut counter(),
    )
    .unwrap();
    assert_eq!(
        body(&req),
        json!({
            "id": id(1),
            "mode": "battle",
            "modelAId": MODEL_ID,
            "userMessageId": id(2),
            "modelAMessageId": id(3),
            "modelBMessageId": id(4),
            "userMessage": {
                "content": "Which is better?",
                "experimental_attachments": [],
                "metadata": {}
            },
            "modality": "chat"
        })
    );
}

#[test]
fn data_uri_image_becomes_an_experimental_attachment() {
    let messages: Vec<ChatMessage> = serde_json::from_value(json!([{
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": PNG_DATA, "detail": "auto"}}
        ]
    }]))
    .unwrap();
    let folded = fold_messages(&messages, FoldOptions::default()).unwrap();
    let req = build_create(
        &folded,
        &model(ModelKind::Text),
        Mode::DirectChat,
        &mut counter(),
    )
    .unwrap();
    assert_eq!(
        body(&req)["userMessage"],
        json!({
            "content": "What is in this picture?",
            "experimental_attachments": [
                {"name": "image.png", "contentType": "image/png", "url": PNG_DATA}
            ],
            "metadata": {}
        })
    );
}

#[test]
fn direct_chat_needs_a_model_id_battle_sends_null() {
    let no_id = ResolvedModel {
        model_id: None,
        ..model(ModelKind::Image)
    };
    let err = build_create(&prompt("a cat"), &no_id, Mode::DirectChat, &mut counter()).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("model"));
    assert!(err.message.contains("'some-model'"), "{}", err.message);
    assert!(err.message.contains("models.json"), "{}", err.message);

    let req = build_create(&prompt("a cat"), &no_id, Mode::Battle, &mut counter()).unwrap();
    assert_eq!(body(&req)["modelAId"], Value::Null);
    assert_eq!(body(&req)["modality"], "image");
}

#[test]
fn post_to_evaluation_path_and_body_without_mode() {
    let evaluation = Uuid::from_u128(0x0199_a1b2_0000_7000_8000_0000_0000_0abc);
    let req = build_post(
        evaluation,
        &prompt("And now?"),
        &model(ModelKind::Search),
        &mut counter(),
    )
    .unwrap();
    assert_eq!(
        req.request.path,
        format!("/nextjs-api/stream/post-to-evaluation/{evaluation}")
    );
    assert_eq!(req.request.method, "POST");
    assert_eq!(req.request.headers, expected_headers());
    assert_eq!(req.recaptcha, chat_submit());
    assert_eq!(req.evaluation_id, evaluation);
    assert_eq!(req.user_message_id, Uuid::from_u128(1));
    assert_eq!(req.model_a_message_id, Uuid::from_u128(2));
    assert_eq!(req.model_b_message_id, Uuid::from_u128(3));
    assert_eq!(
        body(&req),
        json!({
            "id": evaluation.to_string(),
            "modelAId": MODEL_ID,
            "userMessageId": id(1),
            "modelAMessageId": id(2),
            "modelBMessageId": id(3),
            "userMessage": {"content": "And now?", "experimental_attachments": [], "metadata": {}},
            "modality": "search"
        })
    );
}

#[test]
fn regenerate_is_a_put_with_an_empty_object() {
    let evaluation = Uuid::from_u128(7);
    let message = Uuid::from_u128(8);
    let req = build_regenerate(evaluation, message);
    assert_eq!(
        req.path,
        format!(
            "/nextjs-api/stream/retry-evaluation-session-message/{evaluation}/messages/{message}"
        )
    );
    assert_eq!(req.method, "PUT");
    assert_eq!(req.headers, expected_headers());
    assert_eq!(req.body, "{}");
}

#[test]
fn default_ids_are_distinct_uuid_v7() {
    let mut ids = V7Ids;
    let a = ids.next_id();
    let b = ids.next_id();
    assert_eq!(a.get_version_num(), 7);
    assert_eq!(b.get_version_num(), 7);
    assert_ne!(a, b);

    let req = build_create(
        &prompt("Hi"),
        &model(ModelKind::Text),
        Mode::DirectChat,
        &mut V7Ids,
    )
    .unwrap();
    let all = [
        req.evaluation_id,
        req.user_message_id,
        req.model_a_message_id,
        req.model_b_message_id,
    ];
    assert!(all.iter().all(|u| u.get_version_num() == 7));
    assert!(all.windows(2).all(|w| w[0] != w[1]));
}

#[test]
fn answer_side_table() {
    let rows = [
        (Mode::DirectChat, BattleTarget::A, ParticipantPosition::A),
        (Mode::DirectChat, BattleTarget::B, ParticipantPosition::A),
        (Mode::Battle, BattleTarget::A, ParticipantPosition::A),
        (Mode::Battle, BattleTarget::B, ParticipantPosition::B),
    ];
    for (mode, target, want) in rows {
        assert_eq!(answer_side(mode, target), want, "{mode:?} {target:?}");
    }
}
