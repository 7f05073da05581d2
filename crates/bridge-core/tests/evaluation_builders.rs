//! Table tests of the `evaluation` flow request builders (UPSTREAM.md §3, as of §7) with
//! deterministic ids: target resolution, create, post-to-evaluation, regenerate, stop.

use std::collections::BTreeMap;

use bridge_core::arena::evaluation::{
    answer_side, build_create, build_post, build_regenerate, build_stop, fold_messages, Contest,
    EvaluationRequest, EvaluationTarget, FoldOptions, FoldedPrompt, IdSource, V7Ids,
    FOLLOW_UP_SENDS_ID,
};
use bridge_core::arena::recaptcha::V3_SITE_KEY;
use bridge_core::arena::retry::ParticipantPosition;
use bridge_core::config::{BattleTarget, Config, Mode};
use bridge_core::models::{ModelKind, ResolvedModel, SessionEntry};
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
        site_key: Some(V3_SITE_KEY.into()),
        v2: None,
    })
}

fn target(model: &ResolvedModel) -> EvaluationTarget {
    EvaluationTarget::resolve(model, &Config::default()).unwrap()
}

fn no_id(kind: ModelKind, pool: Vec<SessionEntry>) -> ResolvedModel {
    ResolvedModel {
        model_id: None,
        pool,
        ..model(kind)
    }
}

fn entry(mode: Option<Mode>, target: Option<BattleTarget>) -> SessionEntry {
    SessionEntry {
        mode,
        battle_target: target,
        ..SessionEntry::default()
    }
}

#[test]
fn create_direct_battle_text() {
    let req = build_create(
        &prompt("Hello"),
        &target(&model(ModelKind::Text)),
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
    assert_eq!(req.model_b_message_id, None);
    // §7: direct-battle with modelAId; no modelBMessageId, no recaptchaV2Token.
    assert_eq!(
        body(&req),
        json!({
            "id": id(1),
            "mode": "direct-battle",
            "modelAId": MODEL_ID,
            "userMessageId": id(2),
            "modelAMessageId": id(3),
            "userMessage": {"content": "Hello", "experimental_attachments": [], "metadata": {}},
            "modality": "chat"
        })
    );
}

#[test]
fn create_body_keys_are_in_the_page_order_and_carry_no_token() {
    let text = build_create(
        &prompt("Hello"),
        &target(&no_id(ModelKind::Text, Vec::new())),
        &mut counter(),
    )
    .unwrap()
    .request
    .body;
    let keys = [
        "\"id\"",
        "\"mode\"",
        "\"userMessageId\"",
        "\"modelAMessageId\"",
        "\"modelBMessageId\"",
        "\"userMessage\"",
        "\"modality\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    // The tab inserts the tokens; the server never has one.
    assert!(!text.contains("recaptcha"), "{text}");
    assert!(!text.contains("\"direct\""), "{text}");
}

#[test]
fn target_table() {
    let config = Config::default();
    let battle_b = Config {
        id_updater_battle_target: BattleTarget::B,
        id_updater_last_mode: Mode::Battle,
        ..Config::default()
    };
    // (case, model, config, contest)
    let rows: Vec<(&str, ResolvedModel, &Config, Contest)> = vec![
        (
            "a chosen model",
            model(ModelKind::Text),
            &config,
            Contest::DirectBattle {
                model_id: MODEL_ID.into(),
            },
        ),
        (
            "a chosen model with a battle entry still chats with it",
            ResolvedModel {
                pool: vec![entry(Some(Mode::Battle), Some(BattleTarget::B))],
                ..model(ModelKind::Text)
            },
            &config,
            Contest::DirectBattle {
                model_id: MODEL_ID.into(),
            },
        ),
        (
            "models.json null: anonymous battle, global side",
            no_id(ModelKind::Text, Vec::new()),
            &battle_b,
            Contest::Battle {
                side: ParticipantPosition::B,
            },
        ),
        (
            "models.json null, direct_chat config: still a battle",
            no_id(ModelKind::Image, Vec::new()),
            &config,
            Contest::Battle {
                side: ParticipantPosition::A,
            },
        ),
        (
            "endpoint-map battle entry: its own side",
            no_id(
                ModelKind::Text,
                vec![entry(Some(Mode::Battle), Some(BattleTarget::B))],
            ),
            &config,
            Contest::Battle {
                side: ParticipantPosition::B,
            },
        ),
        (
            "endpoint-map entry without mode: the global battle mode and side",
            no_id(ModelKind::Text, vec![entry(None, None)]),
            &battle_b,
            Contest::Battle {
                side: ParticipantPosition::B,
            },
        ),
    ];
    for (case, model, config, contest) in rows {
        let t = EvaluationTarget::resolve(&model, config).unwrap();
        assert_eq!(t.contest, contest, "{case}");
        let want_side = match contest {
            Contest::DirectBattle { .. } => ParticipantPosition::A,
            Contest::Battle { side } => side,
        };
        assert_eq!(t.side(), want_side, "{case}");
    }
}

#[test]
fn a_direct_chat_entry_without_a_model_id_is_a_400() {
    let model = no_id(ModelKind::Text, vec![entry(Some(Mode::DirectChat), None)]);
    let err = EvaluationTarget::resolve(&model, &Config::default()).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("model"));
    assert!(err.message.contains("'some-model'"), "{}", err.message);
    assert!(err.message.contains("models.json"), "{}", err.message);
    assert!(err.message.contains("battle"), "{}", err.message);
}

#[test]
fn modality_follows_the_model_type() {
    let rows = [
        (ModelKind::Text, "chat"),
        (ModelKind::Image, "image"),
        (ModelKind::Search, "search"),
        (ModelKind::Other("video".into()), "chat"),
    ];
    for (kind, want) in rows {
        for m in [model(kind.clone()), no_id(kind.clone(), Vec::new())] {
            let req = build_create(&prompt("Hi"), &target(&m), &mut counter()).unwrap();
            assert_eq!(body(&req)["modality"], want, "{kind:?}");
            assert_eq!(req.recaptcha, chat_submit());
        }
    }
}

#[test]
fn create_anonymous_battle_body() {
    let model = no_id(
        ModelKind::Text,
        vec![entry(Some(Mode::Battle), Some(BattleTarget::B))],
    );
    let req = build_create(&prompt("Which is better?"), &target(&model), &mut counter()).unwrap();
    assert_eq!(req.model_b_message_id, Some(Uuid::from_u128(4)));
    assert_eq!(
        body(&req),
        json!({
            "id": id(1),
            "mode": "battle",
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
fn the_site_key_comes_from_the_config() {
    let config = Config {
        recaptcha_site_key: "my-key".into(),
        ..Config::default()
    };
    let t = EvaluationTarget::resolve(&model(ModelKind::Text), &config).unwrap();
    let req = build_create(&prompt("Hi"), &t, &mut counter()).unwrap();
    assert_eq!(req.recaptcha.unwrap().site_key.as_deref(), Some("my-key"));
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
    let req = build_create(&folded, &target(&model(ModelKind::Text)), &mut counter()).unwrap();
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
fn post_to_evaluation_is_the_create_body_without_mode() {
    let evaluation = Uuid::from_u128(0x0199_a1b2_0000_7000_8000_0000_0000_0abc);
    let t = target(&model(ModelKind::Search));
    let req = build_post(evaluation, &prompt("And now?"), &t, &mut counter()).unwrap();
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
    assert_eq!(req.model_b_message_id, None);
    let mut want = json!({
        "modelAId": MODEL_ID,
        "userMessageId": id(1),
        "modelAMessageId": id(2),
        "userMessage": {"content": "And now?", "experimental_attachments": [], "metadata": {}},
        "modality": "search"
    });
    if FOLLOW_UP_SENDS_ID {
        want["id"] = json!(evaluation.to_string());
    }
    assert_eq!(body(&req), want);

    // The same as create, minus `mode` (and `id` when the constant says so).
    let create = build_create(&prompt("And now?"), &t, &mut counter()).unwrap();
    let mut create_body = body(&create);
    let obj = create_body.as_object_mut().unwrap();
    obj.remove("mode");
    obj.remove("id");
    obj.insert("userMessageId".into(), json!(id(1)));
    obj.insert("modelAMessageId".into(), json!(id(2)));
    let mut post_body = body(&req);
    post_body.as_object_mut().unwrap().remove("id");
    assert_eq!(post_body, create_body);
}

#[test]
fn post_in_a_battle_keeps_model_b() {
    let t = target(&no_id(ModelKind::Text, Vec::new()));
    let req = build_post(Uuid::from_u128(9), &prompt("more"), &t, &mut counter()).unwrap();
    assert_eq!(req.model_b_message_id, Some(Uuid::from_u128(3)));
    let b = body(&req);
    assert_eq!(b["modelBMessageId"], id(3));
    assert!(
        b.get("mode").is_none() && b.get("modelAId").is_none(),
        "{b}"
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
fn stop_is_a_post_to_the_stop_path() {
    let evaluation = Uuid::from_u128(7);
    let message = Uuid::from_u128(8);
    let req = build_stop(evaluation, message);
    assert_eq!(
        req.path,
        format!("/nextjs-api/stream/stop/{evaluation}/messages/{message}")
    );
    assert_eq!(req.method, "POST");
    assert_eq!(req.headers, expected_headers());
    assert_eq!(req.body, "");
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
        &target(&no_id(ModelKind::Text, Vec::new())),
        &mut V7Ids,
    )
    .unwrap();
    let all = [
        req.evaluation_id,
        req.user_message_id,
        req.model_a_message_id,
        req.model_b_message_id.unwrap(),
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
