//! Static content of the fake LMArena: the model list, the app page that carries it the way
//! Next.js does (UPSTREAM.md §6), the stub reCAPTCHA Enterprise script, and the Cloudflare
//! challenge page.

use serde_json::Value;

/// What a fake model produces; decides the default scenario and the required `modality`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Text,
    Image,
    Search,
}

/// One model of the fake page's `initialModels` list.
#[derive(Debug, Clone, Copy)]
pub struct FakeModel {
    pub id: &'static str,
    pub public_name: &'static str,
    pub kind: ModelKind,
    /// Accepts image input (vision).
    pub vision: bool,
    /// `organization`/`provider`/`rank` are absent when `None`, as on some real entries.
    pub organization: Option<&'static str>,
}

/// The models the fake page lists and the fake endpoints accept as `modelId`/`modelAId`.
pub const FAKE_MODELS: &[FakeModel] = &[
    FakeModel {
        id: "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a01",
        public_name: "gemini-2.5-pro",
        kind: ModelKind::Text,
        vision: true,
        organization: Some("google"),
    },
    FakeModel {
        id: "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a02",
        public_name: "claude-opus-4-1-20250805",
        kind: ModelKind::Text,
        vision: true,
        organization: Some("anthropic"),
    },
    FakeModel {
        id: "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a03",
        public_name: "gpt-5-chat",
        kind: ModelKind::Text,
        vision: false,
        organization: None,
    },
    FakeModel {
        id: "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a04",
        public_name: "gpt-image-1",
        kind: ModelKind::Image,
        vision: true,
        organization: Some("openai"),
    },
    FakeModel {
        id: "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a05",
        public_name: "grok-4-search",
        kind: ModelKind::Search,
        vision: false,
        organization: Some("xai"),
    },
];

/// Site key in the page's reCAPTCHA script URL (`render=<key>`).
pub const FAKE_SITE_KEY: &str = "6LfakeArenaSiteKey-0000000000000000000000";
/// Site key of the v2 checkbox: the one the bridge sends (UPSTREAM.md §7).
pub const FAKE_V2_SITE_KEY: &str = bridge_core::arena::recaptcha::V2_SITE_KEY;
/// Id of the clickable checkbox the stub `render()` draws (tests click it).
pub const V2_CHECKBOX_CLASS: &str = "fake-recaptcha-checkbox";

/// Ids of the assistant message the page's own "Retry" button regenerates.
pub const FAKE_PAGE_SESSION_ID: &str = "0199c0de-0000-7000-8000-00000000a001";
pub const FAKE_PAGE_MESSAGE_ID: &str = "0199c0de-0000-7000-8000-00000000b002";

/// Title of the app page (the userscript prefixes it with its indicator).
pub const PAGE_TITLE: &str = "LMArena";

/// Name of the cookie the page sets; recorded requests say whether it came back.
pub const AUTH_COOKIE_NAME: &str = "arena-auth-prod-v1";

/// Path of the stub reCAPTCHA script.
pub const RECAPTCHA_SCRIPT_PATH: &str = "/recaptcha/enterprise.js";
/// Path the stub script calls to mint a token (so the fake knows every token it issued).
pub const RECAPTCHA_MINT_PATH: &str = "/recaptcha/enterprise/mint";
/// Path of the generated image the image scenario points to.
pub const FAKE_IMAGE_PATH: &str = "/fake-images/cat.png";

/// A model of the page, or of the shipped `config/models.json` (see [`super::shipped`]).
pub(crate) fn find_model(id: &str) -> Option<&'static FakeModel> {
    FAKE_MODELS
        .iter()
        .find(|m| m.id == id)
        .or_else(|| super::shipped::find_shipped_model(id))
}

fn json_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// One model as it appears in `initialModels`; key order differs between entries on purpose,
/// as it does between LMArena releases.
fn model_json(m: &FakeModel, index: usize) -> String {
    let output = match m.kind {
        ModelKind::Text => r#"{"text":true}"#.to_owned(),
        ModelKind::Image => r#"{"image":{"aspectRatios":["1:1","3:2","2:3"]}}"#.to_owned(),
        ModelKind::Search => r#"{"text":true,"search":true}"#.to_owned(),
    };
    let capabilities = format!(
        r#"{{"inputCapabilities":{{"text":true,"image":{}}},"outputCapabilities":{}}}"#,
        m.vision, output
    );
    let extra = match m.organization {
        Some(org) => format!(
            r#","organization":{},"provider":{},"rank":{}"#,
            json_str(org),
            json_str(org),
            index + 1
        ),
        None => String::new(),
    };
    if index.is_multiple_of(2) {
        format!(
            r#"{{"id":{},"publicName":{},"capabilities":{}{}}}"#,
            json_str(m.id),
            json_str(m.public_name),
            capabilities,
            extra
        )
    } else {
        format!(
            r#"{{"capabilities":{},"publicName":{},"id":{}{}}}"#,
            capabilities,
            json_str(m.public_name),
            json_str(m.id),
            extra
        )
    }
}

/// The React Server Components payload text the page pushes into `self.__next_f`.
pub(crate) fn flight_payload() -> String {
    let models: Vec<String> = FAKE_MODELS
        .iter()
        .enumerate()
        .map(|(i, m)| model_json(m, i))
        .collect();
    let first = FAKE_MODELS.first().map(|m| m.id).unwrap_or_default();
    format!(
        "0:[\"$\",\"$L1\",null,{{}}]\n5:{{\"initialModels\":[{}],\"initialModelAId\":{}}}\n6:[\"$\",\"div\",null,{{\"children\":\"Arena\"}}]\n",
        models.join(","),
        json_str(first)
    )
}

/// A string literal safe inside an inline `<script>`: JSON-escaped, with `<` escaped too.
fn script_string_literal(text: &str) -> String {
    json_str(text).replace('<', "\\u003c")
}

/// The app page. `with_recaptcha: false` leaves out the reCAPTCHA script (for the
/// "no reCAPTCHA on the page" case).
pub(crate) fn app_page(with_recaptcha: bool) -> String {
    let payload = flight_payload();
    // Split the payload inside the model list (even inside a model name): a scraper must
    // join the pushes before it looks for `initialModels`.
    let cut = payload
        .find("gpt-5-chat")
        .map(|i| i + 4)
        .unwrap_or(payload.len() / 2);
    let (first, second) = payload.split_at(cut);
    let recaptcha = if with_recaptcha {
        format!(
            r#"<script src="{RECAPTCHA_SCRIPT_PATH}?render={FAKE_SITE_KEY}" async defer></script>"#
        )
    } else {
        String::new()
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{PAGE_TITLE}</title>
{recaptcha}
</head><body>
<h1>Fake LMArena</h1>
<p id="conversation">A conversation with one assistant message.</p>
<button id="retry" data-session-id="{FAKE_PAGE_SESSION_ID}" data-message-id="{FAKE_PAGE_MESSAGE_ID}">Retry</button>
<pre id="retry-result"></pre>
<script>(self.__next_f=self.__next_f||[]).push([0])</script>
<script>self.__next_f.push([1,{first}])</script>
<script>self.__next_f.push([1,{second}])</script>
<script>{app_script}</script>
</body></html>
"#,
        first = script_string_literal(first),
        second = script_string_literal(second),
        app_script = app_script(),
    )
}

/// The page's own code: a Retry button that issues the retry PUT exactly like the real app
/// (this is what `activate_id_capture` waits for).
fn app_script() -> String {
    let model = FAKE_MODELS.first().map(|m| m.id).unwrap_or_default();
    format!(
        r#"
(function () {{
  'use strict';
  function retry(sessionId, messageId) {{
    var now = new Date().toISOString();
    var userId = crypto.randomUUID();
    var body = {{
      messages: [
        {{ role: 'user', content: 'Hello from the page [scenario:text]', id: userId, evaluationId: null,
          evaluationSessionId: sessionId, parentMessageIds: [], experimental_attachments: [],
          failureReason: null, metadata: null, participantPosition: 'a', createdAt: now,
          updatedAt: now, status: 'success' }},
        {{ role: 'assistant', content: '', id: crypto.randomUUID(), evaluationId: null,
          evaluationSessionId: sessionId, parentMessageIds: [userId], experimental_attachments: [],
          failureReason: null, metadata: null, participantPosition: 'a', createdAt: now,
          updatedAt: now, status: 'pending' }}
      ],
      modelId: {model}
    }};
    var path = '/nextjs-api/stream/retry-evaluation-session-message/' +
      encodeURIComponent(sessionId) + '/messages/' + encodeURIComponent(messageId);
    return fetch(path, {{ method: 'PUT', headers: {{ 'Content-Type': 'text/plain;charset=UTF-8' }},
      body: JSON.stringify(body), credentials: 'include' }})
      .then(function (r) {{ return r.text().then(function (t) {{ return {{ status: r.status, text: t }}; }}); }});
  }}
  window.fakeArena = {{ retry: retry }};
  var button = document.getElementById('retry');
  button.addEventListener('click', function () {{
    retry(button.dataset.sessionId, button.dataset.messageId).then(function (r) {{
      document.getElementById('retry-result').textContent = 'status ' + r.status;
    }});
  }});
}})();
"#,
        model = json_str(model)
    )
}

/// The stub `grecaptcha.enterprise`: `ready(cb)` runs `cb` once "loaded", `execute(key,
/// {{action}})` resolves to a token minted by the fake server, which records it (bound to key
/// and action, single-use); `render(el, {{sitekey, callback}})` draws a clickable checkbox
/// that mints a v2 token and passes it to `callback`. Served for any host, so a browser that
/// maps www.google.com onto the fake loads it as `https://www.google.com/recaptcha/enterprise.js`.
pub(crate) fn recaptcha_script() -> String {
    format!(
        r#"(function () {{
  'use strict';
  var SITE_KEY = {key};
  var loaded = false;
  var waiting = [];
  function ready(cb) {{
    if (typeof cb !== 'function') return;
    if (loaded) {{ setTimeout(cb, 0); }} else {{ waiting.push(cb); }}
  }}
  function execute(key, options) {{
    if (key !== SITE_KEY) {{
      return Promise.reject(new Error('Invalid site key or not loaded in api.js: ' + key));
    }}
    var action = options && typeof options.action === 'string' ? options.action : '';
    return fetch({mint}, {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }},
      body: JSON.stringify({{ key: key, action: action }}) }})
      .then(function (r) {{ if (!r.ok) throw new Error('token mint failed: ' + r.status); return r.json(); }})
      .then(function (j) {{ return j.token; }});
  }}
  function mint(key, action) {{
    return fetch({mint}, {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }},
      body: JSON.stringify({{ key: key, action: action }}) }})
      .then(function (r) {{ if (!r.ok) throw new Error('token mint failed: ' + r.status); return r.json(); }})
      .then(function (j) {{ return j.token; }});
  }}
  function render(el, params) {{
    if (!el || !params || typeof params.sitekey !== 'string') throw new Error('render needs an element and a sitekey');
    var box = document.createElement('button');
    box.type = 'button';
    box.className = {checkbox};
    box.textContent = "I'm not a robot";
    box.addEventListener('click', function () {{
      box.disabled = true;
      mint(params.sitekey, 'v2').then(function (token) {{
        if (typeof params.callback === 'function') params.callback(token);
      }}, function () {{ box.disabled = false; }});
    }});
    el.appendChild(box);
    return 0;
  }}
  window.grecaptcha = window.grecaptcha || {{}};
  window.grecaptcha.enterprise = {{ ready: ready, execute: execute, render: render }};
  setTimeout(function () {{
    loaded = true;
    waiting.splice(0).forEach(function (cb) {{ cb(); }});
  }}, 10);
}})();
"#,
        key = json_str(FAKE_SITE_KEY),
        mint = json_str(RECAPTCHA_MINT_PATH),
        checkbox = json_str(V2_CHECKBOX_CLASS),
    )
}

/// A Cloudflare managed-challenge page, larger than 4 KiB like the real one, so the
/// userscript's "first 4 KiB" cut is exercised.
pub(crate) fn challenge_page() -> String {
    let filler: String = (0..64)
        .map(|i| format!("<div class=\"cf-filler\" data-i=\"{i}\">Checking your browser before accessing the site.</div>\n"))
        .collect();
    format!(
        r#"<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow">
</head><body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">lmarena.ai</h1>
<h2 class="h2" id="challenge-running">Verifying you are human. This may take a few seconds.</h2>
{filler}<noscript>Enable JavaScript and cookies to continue</noscript>
</div></div><script>window._cf_chl_opt={{cType:'managed'}};</script></body></html>
"#
    )
}

/// A 1×1 PNG, served at [`FAKE_IMAGE_PATH`].
pub(crate) const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Undo the page's push encoding the way a scraper would: decode each pushed string and
    /// join them.
    fn joined_pushes(html: &str) -> String {
        let mut out = String::new();
        for part in html.split("self.__next_f.push([1,").skip(1) {
            let end = part.find("])</script>").expect("push end");
            let text: String = serde_json::from_str(&part[..end]).expect("push string");
            out.push_str(&text);
        }
        out
    }

    #[test]
    fn model_list_spans_two_pushes_and_parses_when_joined() {
        let html = app_page(true);
        assert_eq!(html.matches("self.__next_f.push([1,").count(), 2);
        let joined = joined_pushes(&html);
        let start = joined.find("{\"initialModels\"").expect("initialModels");
        let line_end = joined[start..].find('\n').expect("line end") + start;
        let v: Value = serde_json::from_str(&joined[start..line_end]).expect("json");
        let models = v["initialModels"].as_array().expect("array");
        assert_eq!(models.len(), FAKE_MODELS.len());
        assert_eq!(models[3]["publicName"], "gpt-image-1");
        assert!(models[3]["capabilities"]["outputCapabilities"]["image"].is_object());
        assert!(models[2].get("organization").is_none());
        // Neither push alone holds the whole list.
        let first_push = html.split("self.__next_f.push([1,").nth(1).expect("push");
        let first_push = first_push.split("])</script>").next().expect("push end");
        assert!(first_push.contains("initialModels"));
        assert!(!first_push.contains("gpt-image-1"));
    }

    #[test]
    fn recaptcha_script_only_on_request() {
        assert!(app_page(true).contains(&format!("render={FAKE_SITE_KEY}")));
        assert!(!app_page(false).contains("recaptcha"));
    }

    #[test]
    fn challenge_page_is_larger_than_the_error_body_cut() {
        let page = challenge_page();
        assert!(page.len() > 4096);
        assert!(page.contains("<title>Just a moment...</title>"));
    }
}
