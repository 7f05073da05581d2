//! Classification of non-2xx upstream answers (UPSTREAM.md §5) against the error bodies in
//! tests/fixtures/upstream/errors, and extraction of JSON error messages.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bridge_core::arena::stream::{
    classify_upstream_error, upstream_error_message, UpstreamError, MAX_ERROR_MESSAGE_CHARS,
};

fn body(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/upstream/errors")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const HTML: Option<&str> = Some("text/html; charset=UTF-8");
const JSON: Option<&str> = Some("application/json");
const PLAIN: Option<&str> = Some("text/plain; charset=utf-8");

/// `(name, status, content type, body, retry-after, expected)`.
type Case<'a> = (
    &'a str,
    u16,
    Option<&'a str>,
    String,
    Option<&'a str>,
    UpstreamError,
);

/// Response headers as the tab forwards them.
fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Classifies with a content type and a `retry-after` (either may be absent).
fn classify(
    status: u16,
    content_type: Option<&str>,
    body: &str,
    retry_after: Option<&str>,
) -> UpstreamError {
    let mut pairs = Vec::new();
    if let Some(ct) = content_type {
        pairs.push(("content-type", ct));
    }
    if let Some(r) = retry_after {
        pairs.push(("Retry-After", r));
    }
    classify_upstream_error(status, &headers(&pairs), body)
}

fn server(status: u16, message: &str) -> UpstreamError {
    UpstreamError::Server {
        status,
        message: message.to_owned(),
    }
}

#[test]
fn classification_table() {
    let challenge = body("cloudflare_challenge.txt");
    let session_not_owned = "User 5f1c2a7e-0b3d-4e8f-9a61-2c4d6e8f0a1b does not have access to \
                             evaluation session 0199f3c2-7a41-7b6e-8d2f-5e4a3b2c1d0e";
    let cases: Vec<Case> = vec![
        (
            "cloudflare 403",
            403,
            HTML,
            challenge.clone(),
            None,
            UpstreamError::Challenge,
        ),
        (
            "cloudflare 503",
            503,
            Some("text/html"),
            challenge.clone(),
            None,
            UpstreamError::Challenge,
        ),
        (
            "cloudflare 403 without content type",
            403,
            None,
            challenge.clone(),
            None,
            UpstreamError::Challenge,
        ),
        (
            "challenge page with a 200 status is not a challenge",
            200,
            HTML,
            challenge.clone(),
            None,
            server(
                200,
                "an HTML page instead of an API answer: Just a moment...",
            ),
        ),
        (
            "challenge page with a 429 is a rate limit",
            429,
            HTML,
            challenge.clone(),
            Some("12"),
            UpstreamError::RateLimited {
                message: "an HTML page instead of an API answer: Just a moment...".to_owned(),
                retry_after: Some(12),
            },
        ),
        (
            "JSON quoting the challenge sentence on 503 is a server error",
            503,
            JSON,
            r#"{"error":"Just a moment... the cf-chl service is busy"}"#.to_owned(),
            None,
            server(503, "Just a moment... the cf-chl service is busy"),
        ),
        (
            "recaptcha",
            403,
            JSON,
            body("recaptcha_403.txt"),
            None,
            UpstreamError::Recaptcha {
                message: "recaptcha validation failed".to_owned(),
            },
        ),
        (
            "session not owned, 401",
            401,
            JSON,
            body("session_not_owned_401.txt"),
            None,
            UpstreamError::Unauthorized {
                status: 401,
                message: session_not_owned.to_owned(),
            },
        ),
        (
            "session not owned, 403",
            403,
            JSON,
            body("session_not_owned_401.txt"),
            None,
            UpstreamError::Unauthorized {
                status: 403,
                message: session_not_owned.to_owned(),
            },
        ),
        (
            "HTML 403 without challenge markers",
            403,
            HTML,
            body("forbidden_403.txt"),
            None,
            UpstreamError::Unauthorized {
                status: 403,
                message: "an HTML page instead of an API answer: 403 Forbidden".to_owned(),
            },
        ),
        (
            "moderation 422",
            422,
            JSON,
            body("moderation_422.txt"),
            None,
            UpstreamError::Rejected {
                status: 422,
                message: "Request rejected: Content violates our terms of use. Please revise \
                          your message and try again."
                    .to_owned(),
            },
        ),
        (
            "invalid content 400",
            400,
            JSON,
            body("invalid_content_400.txt"),
            None,
            UpstreamError::Rejected {
                status: 400,
                message: "Invalid content".to_owned(),
            },
        ),
        (
            "413 plain text",
            413,
            PLAIN,
            body("too_large_413.txt"),
            None,
            UpstreamError::TooLarge {
                message: "Request Entity Too Large".to_owned(),
            },
        ),
        (
            "429 with retry-after seconds",
            429,
            JSON,
            body("rate_limited_429.txt"),
            Some(" 30 "),
            UpstreamError::RateLimited {
                message: "Too Many Requests".to_owned(),
                retry_after: Some(30),
            },
        ),
        (
            "429 with an HTTP-date retry-after",
            429,
            JSON,
            body("rate_limited_429.txt"),
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            UpstreamError::RateLimited {
                message: "Too Many Requests".to_owned(),
                retry_after: None,
            },
        ),
        (
            "a UUID containing 413 in a 500 body is not too large",
            500,
            JSON,
            body("server_500_uuid_413.txt"),
            None,
            server(
                500,
                "Failed to process evaluation 0199f413-5c2e-7d41-8a13-4130b2c9e7f1: upstream \
                 provider error",
            ),
        ),
        (
            "503 with an error object",
            503,
            JSON,
            body("overloaded_503_object.txt"),
            Some("5"),
            server(503, "The model is overloaded. Please try again later."),
        ),
        (
            "502 HTML proxy page",
            502,
            HTML,
            body("bad_gateway_502.txt"),
            None,
            server(
                502,
                "an HTML page instead of an API answer: 502 Bad Gateway",
            ),
        ),
        (
            "500 empty body",
            500,
            None,
            String::new(),
            None,
            server(500, "HTTP 500 with an empty body"),
        ),
        (
            "404 with a bare message",
            404,
            JSON,
            r#"{"message":"Not Found"}"#.to_owned(),
            None,
            server(404, "Not Found"),
        ),
        (
            "truncated JSON body falls back to its text",
            500,
            JSON,
            r#"{"error":"cut off"#.to_owned(),
            None,
            server(500, r#"{"error":"cut off"#),
        ),
    ];
    for (name, status, content_type, body, retry_after, expected) in cases {
        let got = classify(status, content_type, &body, retry_after);
        assert_eq!(got, expected, "case: {name}");
        assert!(
            !got.to_string().contains("<html") && !got.to_string().contains("<!DOCTYPE"),
            "case {name}: message carries raw HTML: {got}"
        );
    }
}

#[test]
fn long_messages_are_truncated_and_whitespace_collapsed() {
    let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(5000));
    let UpstreamError::Server { message, .. } = classify(500, JSON, &long, None) else {
        panic!("expected a server error");
    };
    assert_eq!(message.chars().count(), MAX_ERROR_MESSAGE_CHARS + 1);
    assert!(message.ends_with('…'));

    let plain = format!("line one\n\n\tline two {}", "y".repeat(3000));
    let UpstreamError::Server { message, .. } = classify(502, PLAIN, &plain, None) else {
        panic!("expected a server error");
    };
    assert!(message.starts_with("line one line two yyy"), "{message}");
    assert!(message.chars().count() <= MAX_ERROR_MESSAGE_CHARS + 1);
}

#[test]
fn an_html_page_with_a_huge_or_missing_title_gives_a_short_message() {
    let page = format!(
        "<html><head><title>{}</title></head><body>x</body></html>",
        "t".repeat(2000)
    );
    let err = classify(500, HTML, &page, None);
    let UpstreamError::Server { message, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(message.chars().count() <= MAX_ERROR_MESSAGE_CHARS + 60);
    let err = classify(500, HTML, "<html><body><p>oops</p></body></html>", None);
    assert_eq!(err, server(500, "an HTML page instead of an API answer"));
    let err = classify(500, HTML, "<html><title>unclosed", None);
    assert_eq!(
        err,
        server(500, "an HTML page instead of an API answer: unclosed")
    );
    let err = classify(
        502,
        None,
        "<!DOCTYPE html><title>Bad &amp; <b>Gateway</b></title>",
        None,
    );
    assert_eq!(
        err,
        server(
            502,
            "an HTML page instead of an API answer: Bad & bGateway/b"
        )
    );
}

#[test]
fn error_message_shapes() {
    for (body, expected) in [
        (r#"{"error":"plain"}"#, Some("plain")),
        (
            r#"{"error":{"message":"nested","code":"x"}}"#,
            Some("nested"),
        ),
        (r#"{"message":"bare"}"#, Some("bare")),
        (
            r#"{"error":"Too Many Requests","message":"other"}"#,
            Some("Too Many Requests"),
        ),
        (r#"{"error":"","message":"fallback"}"#, Some("fallback")),
        (
            r#"{"error":{"code":1},"message":"fallback"}"#,
            Some("fallback"),
        ),
        ("  {\"error\":\"padded\"}\n", Some("padded")),
        (r#"{"error":"multi\nline\ttext"}"#, Some("multi line text")),
        (r#"{"error":{"code":1}}"#, None),
        (r#"{"other":1}"#, None),
        ("[1,2]", None),
        ("not json", None),
        ("", None),
        (r#"{"error":"unterminated"#, None),
    ] {
        assert_eq!(
            upstream_error_message(body).as_deref(),
            expected,
            "body {body:?}"
        );
    }
}

#[test]
fn errors_display_with_context() {
    let e = UpstreamError::Rejected {
        status: 422,
        message: "bad".to_owned(),
    };
    assert_eq!(e.to_string(), "LMArena rejected the request (422): bad");
    assert!(UpstreamError::Challenge.to_string().contains("Cloudflare"));
}

/// `(name, status, headers, body, expected)`.
type Case2026<'a> = (
    &'a str,
    u16,
    BTreeMap<String, String>,
    String,
    UpstreamError,
);

/// The 2026 answers of UPSTREAM.md §7, against the reconstructed fixtures named with their date.
#[test]
fn classification_table_2026() {
    let challenge = body("cloudflare_challenge_429_2026-09.txt");
    let message = |m: &str| m.to_owned();
    let cases: Vec<Case2026> = vec![
        (
            "429 with cf-mitigated: challenge is a challenge, not a rate limit",
            429,
            headers(&[
                ("content-type", "text/html; charset=UTF-8"),
                ("cf-mitigated", "challenge"),
                ("retry-after", "60"),
            ]),
            challenge.clone(),
            UpstreamError::Challenge,
        ),
        (
            "cf-mitigated in another case, with a JSON body",
            429,
            headers(&[("CF-Mitigated", " Challenge ")]),
            r#"{"error":"Too Many Requests"}"#.to_owned(),
            UpstreamError::Challenge,
        ),
        (
            "403 challenge page as before",
            403,
            headers(&[("content-type", "text/html")]),
            challenge,
            UpstreamError::Challenge,
        ),
        (
            "429 Too Many Requests with retry-after",
            429,
            headers(&[
                ("content-type", "application/json"),
                ("retry-after", "1200"),
            ]),
            body("rate_limited_429_2026-09.txt"),
            UpstreamError::RateLimited {
                message: message("Too Many Requests"),
                retry_after: Some(1200),
            },
        ),
        (
            "429 prompt failed",
            429,
            headers(&[("content-type", "application/json"), ("retry-after", "5")]),
            body("prompt_failed_429_2026-08.txt"),
            UpstreamError::PromptFailed {
                message: message("prompt failed"),
            },
        ),
        (
            "404 Models not found",
            404,
            headers(&[("content-type", "application/json")]),
            body("models_not_found_404_2026-09.txt"),
            UpstreamError::ModelUnavailable {
                message: message("Models not found"),
            },
        ),
        (
            "401 User not found",
            401,
            headers(&[("content-type", "application/json")]),
            body("user_not_found_401_2026-09.txt"),
            UpstreamError::LoginRequired {
                status: 401,
                message: message("User not found"),
            },
        ),
        (
            "400 battle turn in a direct chat",
            400,
            headers(&[("content-type", "application/json")]),
            body("battle_turn_400_2026-03.txt"),
            UpstreamError::ConversationCannotContinue {
                message: message(
                    "Bad next turn request in Battles in Direct mode. DIRECT was requested, but \
                     expected a BATTLE turn",
                ),
            },
        ),
        (
            "400 direct mode refused on create",
            400,
            headers(&[("content-type", "application/json")]),
            body("direct_mode_400_2026-07.txt"),
            UpstreamError::DirectModeRefused {
                message: message("'direct' mode is not allowed when starting a new conversation"),
            },
        ),
        (
            "403 recaptcha as before",
            403,
            headers(&[("content-type", "application/json")]),
            body("recaptcha_403.txt"),
            UpstreamError::Recaptcha {
                message: message("recaptcha validation failed"),
            },
        ),
        (
            "a 404 without the marker stays a server error",
            404,
            headers(&[]),
            r#"{"error":"Evaluation not found"}"#.to_owned(),
            server(404, "Evaluation not found"),
        ),
        (
            "a 200-class marker in plain text is not read as JSON",
            429,
            headers(&[("content-type", "text/plain")]),
            "prompt failed".to_owned(),
            UpstreamError::RateLimited {
                message: message("prompt failed"),
                retry_after: None,
            },
        ),
    ];
    for (name, status, headers, body, expected) in cases {
        assert_eq!(
            classify_upstream_error(status, &headers, &body),
            expected,
            "case: {name}"
        );
    }
}
