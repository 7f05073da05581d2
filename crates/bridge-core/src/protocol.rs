//! Relay protocol v2: the JSON text frames exchanged between bridge-server and the userscript.
//!
//! See DESIGN.md §5. Frame type names are the `type` tag of each enum variant.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 2;

/// `type` of the body-chunk frame, the one frame on the hot path.
pub const FRAME_CHUNK: &str = "chunk";

/// Just the fields of a `chunk` frame, borrowed from the frame text where possible.
///
/// Parsing a frame into [`TabMessage`] goes through serde's internally tagged enum support,
/// which buffers the whole frame first; body chunks are most of the traffic, so the server
/// reads them through this flat struct and parses only the other frames as [`TabMessage`].
#[derive(Debug, Deserialize)]
pub struct ChunkFrame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    pub id: Option<JobId>,
    #[serde(default, borrow)]
    pub data: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> ChunkFrame<'a> {
    /// `Some((id, data))` when `text` is a well-formed `chunk` frame.
    pub fn parse(text: &'a str) -> Option<(JobId, std::borrow::Cow<'a, str>)> {
        let frame: ChunkFrame<'a> = serde_json::from_str(text).ok()?;
        if frame.kind != FRAME_CHUNK {
            return None;
        }
        Some((frame.id?, frame.data?))
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;

    #[test]
    fn probe_frames_and_late_injection_round_trip() {
        let probe = ServerMessage::Probe {
            id: JobId(3),
            path: "/".to_owned(),
            recaptcha_action: Some("chat_submit".to_owned()),
            site_key: None,
        };
        let text = serde_json::to_string(&probe).unwrap();
        assert_eq!(
            text,
            r#"{"type":"probe","id":3,"path":"/","recaptcha_action":"chat_submit"}"#
        );
        let answer: TabMessage = serde_json::from_str(
            r#"{"type":"probe_result","id":3,"ok":true,"status":200,"recaptcha":false,"message":"no reCAPTCHA"}"#,
        )
        .unwrap();
        assert_eq!(
            answer,
            TabMessage::ProbeResult {
                id: JobId(3),
                ok: true,
                status: Some(200),
                recaptcha: false,
                message: Some("no reCAPTCHA".to_owned()),
            }
        );
        let hello: TabMessage = serde_json::from_str(
            r#"{"type":"hello","protocol":2,"tab_id":"t","late_injection":true}"#,
        )
        .unwrap();
        assert!(matches!(
            hello,
            TabMessage::Hello {
                late_injection: true,
                ..
            }
        ));
        let old: TabMessage =
            serde_json::from_str(r#"{"type":"hello","protocol":2,"tab_id":"t"}"#).unwrap();
        assert!(matches!(
            old,
            TabMessage::Hello {
                late_injection: false,
                ..
            }
        ));
        assert!(!serde_json::to_string(&old)
            .unwrap()
            .contains("late_injection"));
    }
}

#[cfg(test)]
mod chunk_frame_tests {
    use super::*;

    #[test]
    fn chunk_frames_parse_flat_and_agree_with_the_enum() {
        let text = r#"{"type":"chunk","id":7,"data":"a0:\"h\u00e9\"\n"}"#;
        let (id, data) = ChunkFrame::parse(text).unwrap();
        assert_eq!(id, JobId(7));
        match serde_json::from_str::<TabMessage>(text).unwrap() {
            TabMessage::Chunk {
                id: id2,
                data: data2,
            } => {
                assert_eq!(id, id2);
                assert_eq!(data, data2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_frames_are_not_chunks() {
        assert!(ChunkFrame::parse(r#"{"type":"done","id":7}"#).is_none());
        assert!(ChunkFrame::parse(r#"{"type":"chunk","id":7}"#).is_none());
        assert!(ChunkFrame::parse(r#"{"type":"chunk","data":"x"}"#).is_none());
        assert!(ChunkFrame::parse("not json").is_none());
    }
}

/// Id of one job (one upstream fetch or one command) on one tab connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Frames sent by the userscript to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TabMessage {
    /// First frame after connecting.
    Hello {
        protocol: u32,
        tab_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<String>,
        /// The userscript started after the page did (no `document-start` injection), so it
        /// cannot capture the page's first requests.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        late_injection: bool,
        /// The server's `api_key`, when one is set (the userscript reads it from its
        /// localStorage); a tab from outside loopback needs it to be admitted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_key: Option<String>,
    },
    /// Upstream response head.
    Response {
        id: JobId,
        status: u16,
        /// A header the tab could not read may arrive as `null`; it is left out.
        #[serde(default, deserialize_with = "headers_without_nulls")]
        headers: BTreeMap<String, String>,
    },
    /// Upstream body text, decoded with a streaming UTF-8 decoder.
    Chunk { id: JobId, data: String },
    /// Upstream body finished.
    Done { id: JobId },
    /// The fetch failed (network error, abort, or a non-2xx answer with its first 4 KiB).
    Error {
        #[serde(default)]
        id: Option<JobId>,
        message: String,
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        body: Option<String>,
    },
    /// Answer to a `send_page_source` command.
    PageSource { id: JobId, html: String },
    /// Answer to an `action` frame.
    ActionResult {
        id: JobId,
        /// HTTP status of the action's POST; `null` when it was not sent (no id for the
        /// action in the page, or a network error).
        #[serde(default)]
        status: Option<u16>,
        /// The answer text (the tab sends at most its first 64 KiB).
        #[serde(default)]
        body: Option<String>,
        /// Why it was not sent, in the tab's words.
        #[serde(default)]
        message: Option<String>,
    },
    /// Answer to `ping`.
    Pong,
    /// Answer to a `probe` frame.
    ProbeResult {
        id: JobId,
        /// The GET answered with a 2xx status.
        ok: bool,
        /// The HTTP status of the GET, `null` when it did not complete.
        #[serde(default)]
        status: Option<u16>,
        /// A reCAPTCHA token was minted (always false when none was asked for).
        #[serde(default)]
        recaptcha: bool,
        /// Why the GET or the token failed, in the tab's words.
        #[serde(default)]
        message: Option<String>,
    },
}

/// Reads a header map whose values may be `null` (a JS `headers.get()` of an absent header).
fn headers_without_nulls<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw: Option<BTreeMap<String, Option<String>>> = Option::deserialize(deserializer)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect())
}

/// One upstream HTTP request for the tab to perform (same-origin path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub path: String,
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// Ask the tab to mint a reCAPTCHA v3 token and put it into a JSON body field.
///
/// `site_key` and `v2` were added later; both default to absent, so older frames still parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecaptchaSpec {
    pub action: String,
    pub field: String,
    /// Key to load and mint with when the page names none (a fresh tab without reCAPTCHA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_key: Option<String>,
    /// Ask a person for a v2 checkbox token first (after a refused v3 token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2: Option<Box<RecaptchaV2Spec>>,
}

/// The v2 checkbox step: the tab shows `prompt` and the checkbox of `site_key`, and puts the
/// token into body field `field` once a person ticks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecaptchaV2Spec {
    pub site_key: String,
    pub field: String,
    pub prompt: String,
}

/// Commands the server can give a tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Refresh,
    ActivateIdCapture,
    SendPageSource,
}

/// Frames sent by the server to the userscript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to `hello`.
    Welcome { protocol: u32, server: String },
    /// Perform an upstream fetch.
    Fetch {
        id: JobId,
        request: FetchRequest,
        #[serde(default)]
        recaptcha: Option<RecaptchaSpec>,
    },
    /// The OpenAI client went away: abort that fetch.
    Abort { id: JobId },
    /// A command (refresh, id capture, page source).
    Command {
        command: Command,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<JobId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report_to: Option<String>,
    },
    /// Liveness probe; the tab answers `pong`.
    Ping,
    /// PUT `data` (base64) with `content_type` to `url`, which must be an upload URL that a
    /// `generateUploadUrl` action answered on this tab (the tab refuses any other); the tab
    /// answers `action_result` with the PUT's status.
    Upload {
        id: JobId,
        url: String,
        content_type: String,
        data: String,
    },
    /// Call one of the site's server actions by name (the tab finds its id in the page's
    /// JavaScript and POSTs `args` as the body; `bridge_core::arena::upload`); the tab answers
    /// `action_result`.
    Action {
        id: JobId,
        name: String,
        args: serde_json::Value,
    },
    /// Readiness check: one same-origin GET of `path` (its body is not sent back) and, when
    /// `recaptcha_action` is set, minting a reCAPTCHA token that is thrown away. The tab
    /// answers `probe_result`.
    Probe {
        id: JobId,
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recaptcha_action: Option<String>,
        /// The site key to load reCAPTCHA with when the page has none (the config's
        /// `recaptcha_site_key`); the tab prefers the page's own key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        site_key: Option<String>,
    },
}
