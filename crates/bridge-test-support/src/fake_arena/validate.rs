//! Checks of upstream request bodies, as strict as UPSTREAM.md §2 and §3 describe them, so a
//! bridge that builds a wrong body fails its tests here instead of on the real site. Each
//! check returns the reason it rejects; the fake answers 400 `Invalid content` and records it.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use super::page::{find_model, ModelKind};

/// What the fake needs from an accepted retry-flow body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetryBody {
    /// Content of the last message with role `user` (empty when there is none).
    pub last_user_content: String,
    pub model_kind: Option<ModelKind>,
}

/// What the fake needs from an accepted create-evaluation / post-to-evaluation body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvaluationBody {
    pub id: String,
    pub mode: Option<String>,
    pub user_content: String,
    pub model_a_message_id: String,
    /// Only in a battle (and optional in direct-battle, UPSTREAM.md §7).
    pub model_b_message_id: Option<String>,
    pub model_kind: Option<ModelKind>,
    /// `recaptchaV3Token`: `None` when absent or `null` (allowed only next to a v2 token).
    pub recaptcha_token: Option<String>,
    /// `recaptchaV2Token`, the checkbox token, when sent.
    pub recaptcha_v2_token: Option<String>,
}

/// Values of `mode` the fake knows; `direct` passes validation and is refused by the server
/// with the site's own 400.
pub(crate) const MODES: &[&str] = &[MODE_DIRECT, MODE_DIRECT_BATTLE, "battle"];
pub(crate) const MODE_DIRECT: &str = "direct";
pub(crate) const MODE_DIRECT_BATTLE: &str = "direct-battle";

type Check<T> = Result<T, String>;

fn object<'a>(v: &'a Value, what: &str) -> Check<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| format!("{what} must be a JSON object"))
}

fn field<'a>(o: &'a Map<String, Value>, key: &str, what: &str) -> Check<&'a Value> {
    o.get(key).ok_or_else(|| format!("{what}.{key} is missing"))
}

fn string<'a>(o: &'a Map<String, Value>, key: &str, what: &str) -> Check<&'a str> {
    field(o, key, what)?
        .as_str()
        .ok_or_else(|| format!("{what}.{key} must be a string"))
}

fn null(o: &Map<String, Value>, key: &str, what: &str) -> Check<()> {
    if field(o, key, what)?.is_null() {
        Ok(())
    } else {
        Err(format!("{what}.{key} must be null"))
    }
}

fn one_of<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    what: &str,
    allowed: &[&str],
) -> Check<&'a str> {
    let s = string(o, key, what)?;
    if allowed.contains(&s) {
        Ok(s)
    } else {
        Err(format!(
            "{what}.{key} is {s:?}, expected one of {allowed:?}"
        ))
    }
}

fn uuid(o: &Map<String, Value>, key: &str, what: &str, v7: bool) -> Check<String> {
    let s = string(o, key, what)?;
    let id = Uuid::parse_str(s).map_err(|_| format!("{what}.{key} is not a UUID: {s:?}"))?;
    if v7 && id.get_version_num() != 7 {
        return Err(format!("{what}.{key} must be a UUIDv7: {s:?}"));
    }
    Ok(s.to_owned())
}

fn timestamp(o: &Map<String, Value>, key: &str, what: &str) -> Check<()> {
    let s = string(o, key, what)?;
    OffsetDateTime::parse(s, &Rfc3339)
        .map(|_| ())
        .map_err(|_| format!("{what}.{key} is not an ISO 8601 time: {s:?}"))
}

/// A known model id (or `null` when `nullable`) → its kind.
fn model(o: &Map<String, Value>, key: &str, nullable: bool) -> Check<Option<ModelKind>> {
    match o.get(key) {
        Some(Value::String(id)) => find_model(id)
            .map(|m| Some(m.kind))
            .ok_or_else(|| format!("{key} {id:?} is not a model of this arena")),
        Some(Value::Null) | None if nullable => Ok(None),
        _ => Err(format!("{key} must be a model id string")),
    }
}

fn attachments(o: &Map<String, Value>, what: &str) -> Check<()> {
    let list = field(o, "experimental_attachments", what)?
        .as_array()
        .ok_or_else(|| format!("{what}.experimental_attachments must be an array"))?;
    for (i, a) in list.iter().enumerate() {
        let what = format!("{what}.experimental_attachments[{i}]");
        let a = object(a, &what)?;
        string(a, "name", &what)?;
        let content_type = string(a, "contentType", &what)?;
        if !content_type.contains('/') {
            return Err(format!(
                "{what}.contentType is not a MIME type: {content_type:?}"
            ));
        }
        let url = string(a, "url", &what)?;
        let inline = url.starts_with("data:") && url.contains(";base64,");
        if !inline && !url.starts_with("https://") {
            return Err(format!(
                "{what}.url must be a base64 data: URI or an https URL"
            ));
        }
    }
    Ok(())
}

/// Check a `retry-evaluation-session-message` body against UPSTREAM.md §2.
pub(crate) fn retry_body(body: &Value, session_id: &str) -> Check<RetryBody> {
    let o = object(body, "body")?;
    let model_kind = model(o, "modelId", true)?;
    if !o.contains_key("modelId") {
        return Err("body.modelId is missing".to_owned());
    }
    let messages = field(o, "messages", "body")?
        .as_array()
        .ok_or("body.messages must be an array")?;
    if messages.is_empty() {
        return Err("body.messages is empty".to_owned());
    }
    let mut previous: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    let mut statuses = Vec::with_capacity(messages.len());
    let mut last_user_content = String::new();
    for (i, m) in messages.iter().enumerate() {
        let what = format!("messages[{i}]");
        let m = object(m, &what)?;
        let role = one_of(m, "role", &what, &["user", "assistant", "system"])?;
        let content = string(m, "content", &what)?;
        let id = uuid(m, "id", &what, false)?;
        if !seen.insert(id.clone()) {
            return Err(format!("{what}.id {id} is used twice"));
        }
        null(m, "evaluationId", &what)?;
        let session = string(m, "evaluationSessionId", &what)?;
        if session != session_id {
            return Err(format!(
                "{what}.evaluationSessionId {session:?} is not the session in the path"
            ));
        }
        let parents = field(m, "parentMessageIds", &what)?
            .as_array()
            .ok_or_else(|| format!("{what}.parentMessageIds must be an array"))?;
        let expected: Vec<Value> = previous.iter().cloned().map(Value::String).collect();
        if *parents != expected {
            return Err(format!(
                "{what}.parentMessageIds must be {expected:?} (the previous message's id)"
            ));
        }
        attachments(m, &what)?;
        null(m, "failureReason", &what)?;
        null(m, "metadata", &what)?;
        one_of(m, "participantPosition", &what, &["a", "b"])?;
        timestamp(m, "createdAt", &what)?;
        timestamp(m, "updatedAt", &what)?;
        statuses.push(one_of(m, "status", &what, &["success", "pending"])?);
        if role == "user" {
            content.clone_into(&mut last_user_content);
        }
        previous = Some(id);
    }
    let all_success = statuses.iter().all(|s| *s == "success");
    let last_pending = statuses.last() == Some(&"pending")
        && statuses[..statuses.len() - 1]
            .iter()
            .all(|s| *s == "success");
    let ok = match model_kind {
        Some(ModelKind::Image) => all_success,
        Some(ModelKind::Text | ModelKind::Search) => last_pending,
        // modelId null: the session's own model answers; either convention is possible.
        None => all_success || last_pending,
    };
    if !ok {
        return Err(format!(
            "message statuses {statuses:?} break the rule for this model (text: all success \
             but the last pending; image: all success)"
        ));
    }
    Ok(RetryBody {
        last_user_content,
        model_kind,
    })
}

/// An optional string field: absent and `null` are `None`.
fn opt_string(o: &Map<String, Value>, key: &str, what: &str) -> Check<Option<String>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{what}.{key} must be a string or null")),
    }
}

/// Check a create-evaluation or post-to-evaluation body against UPSTREAM.md §3 as of §7.
/// `path_id` is the evaluation id of a post-to-evaluation path; a follow-up may leave `id`
/// out (§7 is unsure whether it carries one).
pub(crate) fn evaluation_body(body: &Value, path_id: Option<&str>) -> Check<EvaluationBody> {
    let what = "body";
    let o = object(body, what)?;
    let id = match path_id {
        Some(path_id) if !o.contains_key("id") => path_id.to_owned(),
        _ => uuid(o, "id", what, true)?,
    };
    if let Some(path_id) = path_id {
        if id != path_id {
            return Err(format!("body.id {id} is not the evaluation in the path"));
        }
        if o.contains_key("mode") {
            return Err("a follow-up body carries no mode".to_owned());
        }
    }
    let mode = if path_id.is_none() {
        Some(one_of(o, "mode", what, MODES)?.to_owned())
    } else {
        None
    };
    let battle = mode.as_deref() == Some("battle");
    if battle && o.get("modelAId").is_some_and(|v| !v.is_null()) {
        return Err("an anonymous battle names no model (modelAId)".to_owned());
    }
    let model_kind = model(o, "modelAId", battle || path_id.is_some())?;
    let user_message_id = uuid(o, "userMessageId", what, true)?;
    let model_a_message_id = uuid(o, "modelAMessageId", what, true)?;
    let model_b_message_id = if battle || o.get("modelBMessageId").is_some_and(|v| !v.is_null()) {
        Some(uuid(o, "modelBMessageId", what, true)?)
    } else {
        None
    };
    let ids: Vec<&String> = [&id, &user_message_id, &model_a_message_id]
        .into_iter()
        .chain(model_b_message_id.as_ref())
        .collect();
    if (1..ids.len()).any(|i| ids[..i].contains(&ids[i])) {
        return Err("body ids must all differ".to_owned());
    }
    let user = object(field(o, "userMessage", what)?, "body.userMessage")?;
    let user_content = string(user, "content", "body.userMessage")?.to_owned();
    attachments(user, "body.userMessage")?;
    if !field(user, "metadata", "body.userMessage")?.is_object() {
        return Err("body.userMessage.metadata must be an object".to_owned());
    }
    let modality = one_of(o, "modality", what, &["chat", "image", "search"])?;
    let expected = match model_kind {
        Some(ModelKind::Text) => Some("chat"),
        Some(ModelKind::Image) => Some("image"),
        Some(ModelKind::Search) => Some("search"),
        None => None,
    };
    if let Some(expected) = expected {
        if modality != expected {
            return Err(format!(
                "body.modality is {modality:?} but the model needs {expected:?}"
            ));
        }
    }
    if !o.contains_key("recaptchaV3Token") {
        return Err("body.recaptchaV3Token is missing".to_owned());
    }
    let recaptcha_token = opt_string(o, "recaptchaV3Token", what)?;
    let recaptcha_v2_token = opt_string(o, "recaptchaV2Token", what)?;
    if recaptcha_token.is_none() && recaptcha_v2_token.is_none() {
        return Err("body.recaptchaV3Token is null and there is no recaptchaV2Token".to_owned());
    }
    Ok(EvaluationBody {
        id,
        mode,
        user_content,
        model_a_message_id,
        model_b_message_id,
        model_kind,
        recaptcha_token,
        recaptcha_v2_token,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fake_arena::page::FAKE_MODELS;

    /// Breaks one thing in a good body.
    type Breaker = Box<dyn Fn(&mut Value)>;

    const S: &str = "0199c0de-0000-7000-8000-00000000a001";
    const T: &str = "2025-11-01T10:00:00.000Z";

    fn msg(role: &str, id: &str, parents: &[&str], status: &str) -> Value {
        json!({
            "role": role, "content": format!("{role} text"), "id": id, "evaluationId": null,
            "evaluationSessionId": S, "parentMessageIds": parents,
            "experimental_attachments": [], "failureReason": null, "metadata": null,
            "participantPosition": "a", "createdAt": T, "updatedAt": T, "status": status
        })
    }

    const ID1: &str = "00000000-0000-4000-8000-000000000001";
    const ID2: &str = "00000000-0000-4000-8000-000000000002";

    fn good_retry() -> Value {
        json!({
            "messages": [msg("user", ID1, &[], "success"), msg("assistant", ID2, &[ID1], "pending")],
            "modelId": FAKE_MODELS[0].id,
        })
    }

    #[test]
    fn accepts_a_well_formed_retry_body() {
        let got = retry_body(&good_retry(), S).expect("valid");
        assert_eq!(got.last_user_content, "user text");
        assert_eq!(got.model_kind, Some(ModelKind::Text));
    }

    #[test]
    fn rejects_broken_retry_bodies() {
        let cases: Vec<(&str, Breaker)> = vec![
            ("not an object", Box::new(|b| *b = json!([1]))),
            ("empty messages", Box::new(|b| b["messages"] = json!([]))),
            (
                "missing modelId",
                Box::new(|b| {
                    b.as_object_mut().map(|o| o.remove("modelId"));
                }),
            ),
            ("unknown model", Box::new(|b| b["modelId"] = json!("gpt-2"))),
            (
                "bad parent",
                Box::new(|b| b["messages"][1]["parentMessageIds"] = json!([])),
            ),
            (
                "first has parent",
                Box::new(|b| b["messages"][0]["parentMessageIds"] = json!([ID2])),
            ),
            (
                "wrong session",
                Box::new(|b| b["messages"][0]["evaluationSessionId"] = json!("x")),
            ),
            (
                "bad role",
                Box::new(|b| b["messages"][0]["role"] = json!("developer")),
            ),
            (
                "content not string",
                Box::new(|b| b["messages"][0]["content"] = json!([{"type":"text"}])),
            ),
            (
                "bad id",
                Box::new(|b| b["messages"][0]["id"] = json!("abc")),
            ),
            (
                "status rule",
                Box::new(|b| b["messages"][1]["status"] = json!("success")),
            ),
            (
                "bad time",
                Box::new(|b| b["messages"][0]["createdAt"] = json!("yesterday")),
            ),
            (
                "bad position",
                Box::new(|b| b["messages"][0]["participantPosition"] = json!("c")),
            ),
            (
                "metadata",
                Box::new(|b| b["messages"][0]["metadata"] = json!({})),
            ),
            (
                "attachment url",
                Box::new(|b| {
                    b["messages"][0]["experimental_attachments"] =
                        json!([{"name":"a.png","contentType":"image/png","url":"http://x/a.png"}])
                }),
            ),
            (
                "attachment missing name",
                Box::new(|b| {
                    b["messages"][0]["experimental_attachments"] =
                        json!([{"contentType":"image/png","url":"data:image/png;base64,AA=="}])
                }),
            ),
        ];
        for (name, break_it) in cases {
            let mut b = good_retry();
            break_it(&mut b);
            assert!(retry_body(&b, S).is_err(), "{name} was accepted");
        }
    }

    #[test]
    fn image_models_want_every_message_success() {
        let image = FAKE_MODELS
            .iter()
            .find(|m| m.kind == ModelKind::Image)
            .expect("image model");
        let mut b = good_retry();
        b["modelId"] = json!(image.id);
        assert!(retry_body(&b, S).is_err());
        b["messages"][1]["status"] = json!("success");
        b["messages"][0]["experimental_attachments"] =
            json!([{"name":"a.png","contentType":"image/png","url":"data:image/png;base64,AA=="}]);
        assert_eq!(
            retry_body(&b, S).expect("valid").model_kind,
            Some(ModelKind::Image)
        );
    }

    fn good_create() -> Value {
        json!({
            "id": "0199c0de-0000-7000-8000-000000000001", "mode": "direct-battle",
            "modelAId": FAKE_MODELS[0].id,
            "userMessageId": "0199c0de-0000-7000-8000-000000000002",
            "modelAMessageId": "0199c0de-0000-7000-8000-000000000003",
            "modelBMessageId": "0199c0de-0000-7000-8000-000000000004",
            "userMessage": {"content": "hi", "experimental_attachments": [], "metadata": {}},
            "modality": "chat", "recaptchaV3Token": "tok",
        })
    }

    #[test]
    fn evaluation_bodies() {
        let got = evaluation_body(&good_create(), None).expect("valid");
        assert_eq!(got.user_content, "hi");
        assert_eq!(got.recaptcha_token.as_deref(), Some("tok"));
        assert_eq!(
            got.model_b_message_id.as_deref(),
            Some("0199c0de-0000-7000-8000-000000000004")
        );
        // direct-battle may leave modelBMessageId out (§7); a battle may not, nor name a model.
        let mut direct_battle = good_create();
        direct_battle
            .as_object_mut()
            .map(|o| o.remove("modelBMessageId"));
        assert_eq!(
            evaluation_body(&direct_battle, None)
                .expect("valid")
                .model_b_message_id,
            None
        );
        // A v2 token may stand in for a null v3 token.
        let mut v2 = good_create();
        v2["recaptchaV3Token"] = Value::Null;
        v2["recaptchaV2Token"] = json!("v2tok");
        let got = evaluation_body(&v2, None).expect("valid");
        assert_eq!(got.recaptcha_token, None);
        assert_eq!(got.recaptcha_v2_token.as_deref(), Some("v2tok"));
        let cases: Vec<(&str, Breaker)> = vec![
            ("v4 id", Box::new(|b| b["id"] = json!(ID1))),
            ("bad mode", Box::new(|b| b["mode"] = json!("side"))),
            (
                "battle with a model",
                Box::new(|b| b["mode"] = json!("battle")),
            ),
            (
                "battle without model b",
                Box::new(|b| {
                    b["mode"] = json!("battle");
                    b["modelAId"] = Value::Null;
                    b.as_object_mut().map(|o| o.remove("modelBMessageId"));
                }),
            ),
            (
                "null token without v2",
                Box::new(|b| b["recaptchaV3Token"] = Value::Null),
            ),
            ("modality", Box::new(|b| b["modality"] = json!("image"))),
            (
                "same ids",
                Box::new(|b| b["userMessageId"] = b["id"].clone()),
            ),
            (
                "no token",
                Box::new(|b| {
                    b.as_object_mut().map(|o| o.remove("recaptchaV3Token"));
                }),
            ),
            (
                "no metadata",
                Box::new(|b| {
                    b["userMessage"]
                        .as_object_mut()
                        .map(|o| o.remove("metadata"));
                }),
            ),
        ];
        for (name, break_it) in cases {
            let mut b = good_create();
            break_it(&mut b);
            assert!(evaluation_body(&b, None).is_err(), "{name} was accepted");
        }
        // Follow-up: no mode, id must match the path.
        let mut follow = good_create();
        follow.as_object_mut().map(|o| o.remove("mode"));
        assert!(evaluation_body(&follow, Some("0199c0de-0000-7000-8000-000000000001")).is_ok());
        assert!(evaluation_body(&follow, Some("0199c0de-0000-7000-8000-0000000000ff")).is_err());
        // …or leave the id out; a mode is refused.
        follow.as_object_mut().map(|o| o.remove("id"));
        assert!(evaluation_body(&follow, Some("0199c0de-0000-7000-8000-000000000001")).is_ok());
        follow["mode"] = json!("direct-battle");
        assert!(evaluation_body(&follow, Some("0199c0de-0000-7000-8000-000000000001")).is_err());
    }
}
