//! Request builders of the evaluation flow (UPSTREAM.md §7): whom a conversation asks
//! ([`EvaluationTarget`]), create, follow-up, regenerate and stop.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use uuid::Uuid;

use super::{
    fields, modality, FoldedPrompt, IdSource, ACCEPT, CONTENT_TYPE, CREATE_METHOD, CREATE_PATH,
    FOLLOW_UP_SENDS_ID, MODE_BATTLE, MODE_DIRECT_BATTLE, PATH_MESSAGES, POST_METHOD,
    POST_PATH_PREFIX, REGENERATE_BODY, REGENERATE_METHOD, REGENERATE_PATH_PREFIX, STOP_BODY,
    STOP_METHOD, STOP_PATH_PREFIX,
};
use crate::arena::recaptcha::{v3_spec, TokenAction};
use crate::arena::retry::{BuildError, ParticipantPosition, HEADER_ACCEPT, HEADER_CONTENT_TYPE};
use crate::arena::UpstreamRequest;
use crate::config::{Config, Mode};
use crate::models::ResolvedModel;
use crate::protocol::RecaptchaSpec;

/// Whom a new conversation asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contest {
    /// One chosen model: `mode:"direct-battle"` with `modelAId`; the answer is side `a`.
    DirectBattle { model_id: String },
    /// An anonymous battle: `mode:"battle"`, no model ids; the answer is taken from `side`.
    Battle { side: ParticipantPosition },
}

impl Contest {
    fn mode(&self) -> &'static str {
        match self {
            Self::DirectBattle { .. } => MODE_DIRECT_BATTLE,
            Self::Battle { .. } => MODE_BATTLE,
        }
    }
}

/// Everything the create and follow-up bodies need besides the prompt and the ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationTarget {
    pub contest: Contest,
    /// `modality` of the body, from the model type.
    pub modality: &'static str,
    /// Key the tab mints with when the page has no reCAPTCHA of its own.
    pub recaptcha_site_key: String,
}

impl EvaluationTarget {
    /// Decides the contest for `model`:
    ///
    /// - a model with an id → [`Contest::DirectBattle`];
    /// - a model without one (`"null"` in `models.json`, or only in `model_endpoint_map.json`)
    ///   → [`Contest::Battle`] when it has no pool or its entry is in battle mode (entry's
    ///   `mode`, else `id_updater_last_mode`); the answering side is the entry's
    ///   `battle_target`, else `id_updater_battle_target`;
    /// - otherwise a 400: a direct chat needs a model id.
    pub fn resolve(model: &ResolvedModel, config: &Config) -> Result<Self, BuildError> {
        let entry = model
            .pool
            .iter()
            .find(|e| e.flow.is_some())
            .or(model.pool.first());
        let contest = match &model.model_id {
            Some(id) => Contest::DirectBattle {
                model_id: id.clone(),
            },
            None => {
                let mode = entry
                    .and_then(|e| e.mode)
                    .unwrap_or(config.id_updater_last_mode);
                if entry.is_some() && mode == Mode::DirectChat {
                    return Err(BuildError {
                        message: format!(
                            "Model '{name}' has no LMArena model id in models.json; the \
                             evaluation flow needs one to chat with a chosen model (add \
                             \"{name}\": \"<model id>\" to models.json), or set \"mode\": \
                             \"battle\" in its model_endpoint_map.json entry for an anonymous \
                             battle.",
                            name = model.public_name
                        ),
                        param: Some("model".to_owned()),
                    });
                }
                let target = entry
                    .and_then(|e| e.battle_target)
                    .unwrap_or(config.id_updater_battle_target);
                Contest::Battle {
                    side: target.into(),
                }
            }
        };
        Ok(Self {
            contest,
            modality: modality(&model.kind),
            recaptcha_site_key: config.recaptcha_site_key.clone(),
        })
    }

    /// The side whose answer the client gets.
    pub fn side(&self) -> ParticipantPosition {
        match self.contest {
            Contest::DirectBattle { .. } => ParticipantPosition::A,
            Contest::Battle { side } => side,
        }
    }

    /// The `chat_submit` token instruction for create and follow-up requests.
    pub fn recaptcha(&self) -> RecaptchaSpec {
        v3_spec(TokenAction::Submit, &self.recaptcha_site_key)
    }
}

/// A create or post request, with the ids it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationRequest {
    pub request: UpstreamRequest,
    /// Always set for create and post: the tab must add a token before sending.
    pub recaptcha: Option<RecaptchaSpec>,
    pub evaluation_id: Uuid,
    pub user_message_id: Uuid,
    /// The answer's message id: what [`build_stop`] needs.
    pub model_a_message_id: Uuid,
    /// Only in a battle.
    pub model_b_message_id: Option<Uuid>,
}

impl EvaluationRequest {
    /// The request that stops the answer of `side` ([`build_stop`] with this request's
    /// evaluation id and that answer's message id); `None` for side B outside a battle.
    pub fn stop(&self, side: ParticipantPosition) -> Option<UpstreamRequest> {
        let message_id = match side {
            ParticipantPosition::A => Some(self.model_a_message_id),
            ParticipantPosition::B => self.model_b_message_id,
        }?;
        Some(build_stop(self.evaluation_id, message_id))
    }
}

/// `POST create-evaluation`: a new evaluation whose first user message is `prompt`.
///
/// Ids are drawn from `ids` in this order: evaluation, user message, model A message, and in a
/// battle model B message.
pub fn build_create(
    prompt: &FoldedPrompt,
    target: &EvaluationTarget,
    ids: &mut dyn IdSource,
) -> Result<EvaluationRequest, BuildError> {
    let evaluation_id = ids.next_id();
    build_message_request(
        evaluation_id,
        true,
        CREATE_PATH.to_owned(),
        prompt,
        target,
        ids,
    )
}

/// `POST post-to-evaluation/{evaluation_id}`: `prompt` as the next user message of an
/// evaluation. The create body without `mode` (and without `id` unless [`FOLLOW_UP_SENDS_ID`]);
/// ids drawn: user, model A, in a battle model B message.
pub fn build_post(
    evaluation_id: Uuid,
    prompt: &FoldedPrompt,
    target: &EvaluationTarget,
    ids: &mut dyn IdSource,
) -> Result<EvaluationRequest, BuildError> {
    build_message_request(
        evaluation_id,
        false,
        format!("{POST_PATH_PREFIX}{evaluation_id}"),
        prompt,
        target,
        ids,
    )
}

/// `PUT retry-evaluation-session-message/{evaluation_id}/messages/{message_id}` with body `{}`;
/// send it with a `chat_retry` token ([`crate::arena::recaptcha::v3_spec`] with
/// [`TokenAction::Retry`]): the site sends only that token (UPSTREAM.md §7).
pub fn build_regenerate(evaluation_id: Uuid, message_id: Uuid) -> UpstreamRequest {
    UpstreamRequest {
        path: format!("{REGENERATE_PATH_PREFIX}{evaluation_id}{PATH_MESSAGES}{message_id}"),
        method: REGENERATE_METHOD.to_owned(),
        headers: headers(),
        body: REGENERATE_BODY.to_owned(),
    }
}

/// `POST stop/{evaluation_id}/messages/{message_id}`: stops generating the answer
/// `message_id` (the request's `modelAMessageId`) upstream. No token.
pub fn build_stop(evaluation_id: Uuid, message_id: Uuid) -> UpstreamRequest {
    UpstreamRequest {
        path: format!("{STOP_PATH_PREFIX}{evaluation_id}{PATH_MESSAGES}{message_id}"),
        method: STOP_METHOD.to_owned(),
        headers: headers(),
        body: STOP_BODY.to_owned(),
    }
}

fn build_message_request(
    evaluation_id: Uuid,
    create: bool,
    path: String,
    prompt: &FoldedPrompt,
    target: &EvaluationTarget,
    ids: &mut dyn IdSource,
) -> Result<EvaluationRequest, BuildError> {
    let user_message_id = ids.next_id();
    let model_a_message_id = ids.next_id();
    let (model_a_id, model_b_message_id) = match &target.contest {
        Contest::DirectBattle { model_id } => (Some(model_id.as_str()), None),
        Contest::Battle { .. } => (None, Some(ids.next_id())),
    };
    let body = WireBody {
        id: (create || FOLLOW_UP_SENDS_ID).then_some(evaluation_id),
        mode: create.then(|| target.contest.mode()),
        model_a_id,
        user_message_id,
        model_a_message_id,
        model_b_message_id,
        prompt,
        modality: target.modality,
    };
    let body = serde_json::to_string(&body).map_err(|e| BuildError {
        message: format!("could not encode the upstream body: {e}"),
        param: None,
    })?;
    let method = if create { CREATE_METHOD } else { POST_METHOD };
    Ok(EvaluationRequest {
        request: UpstreamRequest {
            path,
            method: method.to_owned(),
            headers: headers(),
            body,
        },
        recaptcha: Some(target.recaptcha()),
        evaluation_id,
        user_message_id,
        model_a_message_id,
        model_b_message_id,
    })
}

fn headers() -> BTreeMap<String, String> {
    BTreeMap::from([
        (HEADER_CONTENT_TYPE.to_owned(), CONTENT_TYPE.to_owned()),
        (HEADER_ACCEPT.to_owned(), ACCEPT.to_owned()),
    ])
}

/// Create/post body, keys in the page's order, names from [`fields`]. Absent parts are left
/// out, not sent as `null` (§7: gpt4free omits `modelBMessageId` and `recaptchaV2Token` for
/// direct-battle and it works).
struct WireBody<'a> {
    id: Option<Uuid>,
    mode: Option<&'static str>,
    model_a_id: Option<&'a str>,
    user_message_id: Uuid,
    model_a_message_id: Uuid,
    model_b_message_id: Option<Uuid>,
    prompt: &'a FoldedPrompt,
    modality: &'static str,
}

impl Serialize for WireBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(id) = &self.id {
            map.serialize_entry(fields::ID, id)?;
        }
        if let Some(mode) = self.mode {
            map.serialize_entry(fields::MODE, mode)?;
        }
        if let Some(model) = self.model_a_id {
            map.serialize_entry(fields::MODEL_A_ID, model)?;
        }
        map.serialize_entry(fields::USER_MESSAGE_ID, &self.user_message_id)?;
        map.serialize_entry(fields::MODEL_A_MESSAGE_ID, &self.model_a_message_id)?;
        if let Some(b) = &self.model_b_message_id {
            map.serialize_entry(fields::MODEL_B_MESSAGE_ID, b)?;
        }
        map.serialize_entry(fields::USER_MESSAGE, &WireUserMessage(self.prompt))?;
        map.serialize_entry(fields::MODALITY, self.modality)?;
        map.end()
    }
}

struct WireUserMessage<'a>(&'a FoldedPrompt);

impl Serialize for WireUserMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry(fields::CONTENT, &self.0.content)?;
        map.serialize_entry(fields::EXPERIMENTAL_ATTACHMENTS, &self.0.attachments)?;
        map.serialize_entry(fields::METADATA, &serde_json::Map::new())?;
        map.end()
    }
}
