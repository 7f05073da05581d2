//! LMArena wire literals of the streamed answer and of its error answers (UPSTREAM.md §4, §5,
//! §7).
//!
//! Every byte, key and marker the stream parser and the error classifier match on is named here,
//! so a change upstream is a change in this one file (plus fixtures).

/// Optional SSE field name in front of a line; one space may follow it.
pub const DATA_PREFIX: &str = "data:";

/// Participant byte of the first (or only) answering model.
pub const PARTICIPANT_A: u8 = b'a';
/// Participant byte of the second model in a battle.
pub const PARTICIPANT_B: u8 = b'b';

/// Separates `<participant><type>` from the JSON payload.
pub const TYPE_SEPARATOR: u8 = b':';

/// JSON string: text delta (`a0:"Hello "`).
pub const TYPE_TEXT: u8 = b'0';
/// JSON string: reasoning delta (`ag:"Let me think"`).
pub const TYPE_REASONING: u8 = b'g';
/// JSON array of data items, e.g. generated images.
pub const TYPE_DATA: u8 = b'2';
/// JSON object: tool-call delta; search models put citations here.
pub const TYPE_CITATION: u8 = b'c';
/// JSON string: in-band error message.
pub const TYPE_ERROR: u8 = b'3';
/// JSON object: finish (`ad:{"finishReason":"stop"}`).
pub const TYPE_FINISH: u8 = b'd';

/// Key of a data item's kind, and the kind of an image item.
pub const ITEM_TYPE_KEY: &str = "type";
pub const ITEM_TYPE_IMAGE: &str = "image";
/// Kind of a keep-alive data item (`a2:[{"type":"heartbeat"}]`, §7): not data, not unknown.
pub const ITEM_TYPE_HEARTBEAT: &str = "heartbeat";
/// Key of an image item's URL.
pub const ITEM_IMAGE_URL_KEY: &str = "image";
/// Key of an image item's MIME type.
pub const ITEM_MIME_TYPE_KEY: &str = "mimeType";

/// A text delta whose whole value is this string means the answer failed upstream (§7); it is
/// an in-band error, never text.
pub const ARENA_ERROR_TEXT: &str = "hasArenaError";
/// The message of the in-band error [`ARENA_ERROR_TEXT`] becomes.
pub const ARENA_ERROR_MESSAGE: &str =
    "LMArena reported that the answer failed (hasArenaError); try again or pick another model";

/// Keys of the finish object.
pub const FINISH_REASON_KEY: &str = "finishReason";
pub const FINISH_USAGE_KEY: &str = "usage";
pub const USAGE_PROMPT_TOKENS_KEYS: &[&str] = &["promptTokens", "inputTokens"];
pub const USAGE_COMPLETION_TOKENS_KEYS: &[&str] = &["completionTokens", "outputTokens"];

/// Upstream finish reasons that map to something other than `stop`.
pub const FINISH_CONTENT_FILTER: &str = "content-filter";
pub const FINISH_LENGTH: &str = "length";

/// Keys of a JSON error body (`{"error":"…"}`, `{"error":{"message":"…"}}`, `{"message":"…"}`).
pub const ERROR_KEY: &str = "error";
pub const MESSAGE_KEY: &str = "message";

/// Content type of an HTML page (Cloudflare challenge, proxy error pages).
pub const HTML_CONTENT_TYPE: &str = "text/html";
/// Lower-cased starts of an HTML document.
pub const HTML_DOCUMENT_STARTS: &[&str] = &["<!doctype", "<html"];
/// Markers of a Cloudflare challenge or block page, matched only inside HTML error answers.
pub const CHALLENGE_MARKERS: &[&str] = &[
    "Just a moment",
    "cf-chl",
    "_cf_chl",
    "challenge-platform",
    "cf-browser-verification",
    "cf-turnstile",
    "cf-error-details",
];
/// Substring (lower-cased) of LMArena's 403 reCAPTCHA refusal.
pub const RECAPTCHA_MARKER: &str = "recaptcha";

/// Response headers the classifier reads (names matched in any case).
pub const HEADER_CONTENT_TYPE: &str = "content-type";
pub const HEADER_RETRY_AFTER: &str = "retry-after";
/// Cloudflare's mark on a mitigated answer; with value [`CF_MITIGATED_CHALLENGE`] the answer is
/// a challenge even when its status is 429 (§7, 2026-09-17).
pub const HEADER_CF_MITIGATED: &str = "cf-mitigated";
pub const CF_MITIGATED_CHALLENGE: &str = "challenge";

/// Lower-cased substrings of JSON error messages, each matched only for its status (§7).
/// 429 `{"error":"prompt failed"}`: per-account refusal.
pub const PROMPT_FAILED_MARKERS: &[&str] = &["prompt failed"];
/// 404 `Models not found…`: the model is not offered in this mode or modality.
pub const MODEL_UNAVAILABLE_MARKERS: &[&str] = &["models not found", "model not found"];
/// 400 on create with `mode:"direct"`.
pub const DIRECT_MODE_REFUSED_MARKERS: &[&str] = &["'direct' mode is not allowed"];
/// 400 answers meaning "this conversation cannot take another message" (the battle-turn demand
/// of 2026-03-08 and its kin).
pub const CANNOT_CONTINUE_MARKERS: &[&str] = &[
    "expected a battle turn",
    "bad next turn request",
    "cannot continue this conversation",
];
/// 401/403 answers of a guest session or a logged-out browser (2026-09-18).
pub const LOGIN_REQUIRED_MARKERS: &[&str] = &[
    "user not found",
    "login required",
    "please log in",
    "sign in to",
    "not authenticated",
];
