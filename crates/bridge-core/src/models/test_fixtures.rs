//! Model files shared by the unit tests of `models/`.

use super::Registry;

pub(super) const MODELS: &str = r#"{
    "gpt-text": "11111111-1111-4111-8111-111111111111",
    "dalle": "22222222-2222-4222-8222-222222222222:image",
    "anon-image": "null:image",
    "web": "33333333-3333-4333-8333-333333333333:search",
    "odd": "44444444:video",
    "colon-id": "vendor:model:1",
    "pooled": "55555555-5555-4555-8555-555555555555"
}"#;

pub(super) const MAP: &str = r#"{
    // a pool of three, one with its own mode and target
    "pooled": [
        {"session_id": "s1", "message_id": "m1"},
        {"session_id": "s2", "message_id": "m2", "mode": "battle", "battle_target": "b"},
        {"session_id": "s3", "message_id": "m3", "extra": 1},
    ],
    "map-only": {"session_id": "s9", "message_id": "m9", "mode": "direct_chat"},
    "placeholders": [
        {"session_id": "YOUR_SESSION_ID", "message_id": "YOUR_MESSAGE_ID"},
        {"session_id": "", "message_id": "m"},
    ],
    "half": [
        {"session_id": "your_session_id", "message_id": "m"},
        {"session_id": "ok", "message_id": "ok"},
    ],
    "eval": {"flow": "evaluation"},
    "empty-list": []
}"#;

pub(super) fn registry() -> Registry {
    Registry::parse(MODELS, MAP).unwrap()
}
