//! reCAPTCHA facts of today's site (UPSTREAM.md §7): site keys, actions, body fields, and the
//! [`RecaptchaSpec`]s the server sends with a fetch so the tab can mint the tokens.

use crate::protocol::{RecaptchaSpec, RecaptchaV2Spec};

/// Enterprise v3 site key of arena.ai since 2026-05-16 (UPSTREAM.md §7; before: `6Led_uYr…`).
/// The default of the config key `recaptcha_site_key`; the tab prefers the key of the page's
/// own reCAPTCHA script when the page has one.
pub const V3_SITE_KEY: &str = "6LeTGMcsAAAAALuIlkVwIxaAuZA8VledA6d3Nnb0";
/// Site key of the v2 checkbox the site shows after a refused v3 token (UPSTREAM.md §7).
pub const V2_SITE_KEY: &str = "6Le3_cYsAAAAAGwWOK2RLDgNI15Bh8C0yLBOL1yL";

/// v3 action of create-evaluation and post-to-evaluation.
pub const ACTION_CHAT_SUBMIT: &str = "chat_submit";
/// v3 action of the retry PUT (`retry-evaluation-session-message`).
pub const ACTION_CHAT_RETRY: &str = "chat_retry";

/// Body field of the v3 token.
pub const V3_FIELD: &str = "recaptchaV3Token";
/// Body field of the v2 (checkbox) token.
pub const V2_FIELD: &str = "recaptchaV2Token";

/// The one sentence the tab shows next to the v2 checkbox.
pub const V2_PROMPT: &str = "lmarena-bridge needs you to tick this box";

/// Which kind of upstream request a token is minted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAction {
    /// A new message: create-evaluation, post-to-evaluation.
    Submit,
    /// The retry PUT.
    Retry,
}

impl TokenAction {
    /// The action name passed to `grecaptcha.enterprise.execute`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Submit => ACTION_CHAT_SUBMIT,
            Self::Retry => ACTION_CHAT_RETRY,
        }
    }
}

/// A v3 token for `action`, minted with `site_key` (the config's `recaptcha_site_key`) unless
/// the page names its own key.
pub fn v3_spec(action: TokenAction, site_key: &str) -> RecaptchaSpec {
    RecaptchaSpec {
        action: action.as_str().to_owned(),
        field: V3_FIELD.to_owned(),
        site_key: Some(site_key.to_owned()).filter(|k| !k.trim().is_empty()),
        v2: None,
    }
}

/// The v2 checkbox step: a person ticks the box in the tab, the token goes into
/// [`V2_FIELD`]. The server adds it to a v3 spec after a refused token.
pub fn v2_spec() -> RecaptchaV2Spec {
    RecaptchaV2Spec {
        site_key: V2_SITE_KEY.to_owned(),
        field: V2_FIELD.to_owned(),
        prompt: V2_PROMPT.to_owned(),
    }
}

/// `spec` with the v2 checkbox step added.
pub fn with_v2(spec: RecaptchaSpec) -> RecaptchaSpec {
    RecaptchaSpec {
        v2: Some(Box::new(v2_spec())),
        ..spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_carry_action_field_and_key() {
        let spec = v3_spec(TokenAction::Retry, V3_SITE_KEY);
        assert_eq!(spec.action, "chat_retry");
        assert_eq!(spec.field, "recaptchaV3Token");
        assert_eq!(spec.site_key.as_deref(), Some(V3_SITE_KEY));
        assert_eq!(spec.v2, None);
        assert_eq!(v3_spec(TokenAction::Submit, " ").site_key, None);
        let v2 = with_v2(v3_spec(TokenAction::Submit, "k"));
        assert_eq!(v2.action, "chat_submit");
        let step = v2.v2.unwrap();
        assert_eq!(step.site_key, V2_SITE_KEY);
        assert_eq!(step.field, "recaptchaV2Token");
        assert_eq!(step.prompt, V2_PROMPT);
    }
}
