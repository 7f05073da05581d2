//! The capture report the userscript sends: `{"sessionId": "<uuid>", "messageId": "<uuid>"}`,
//! validated as a pure function over the request body.

use serde::Deserialize;

/// JSON field of the report holding the session id.
pub const SESSION_ID_FIELD: &str = "sessionId";
/// JSON field of the report holding the message id.
pub const MESSAGE_ID_FIELD: &str = "messageId";

/// A validated pair of captured ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedIds {
    pub session_id: String,
    pub message_id: String,
}

/// Why a report body was refused (the listener answers 400 and keeps waiting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("the body is not a JSON object {{\"sessionId\", \"messageId\"}}: {0}")]
    NotJson(String),
    #[error("`{field}` is missing or not a string")]
    Missing { field: &'static str },
    #[error("`{field}` is not a UUID (8-4-4-4-12 hex digits)")]
    NotUuid { field: &'static str },
}

#[derive(Deserialize)]
struct Report {
    #[serde(rename = "sessionId")]
    session_id: Option<serde_json::Value>,
    #[serde(rename = "messageId")]
    message_id: Option<serde_json::Value>,
}

/// Parse and check a report body. Values are kept as sent (LMArena compares them as strings).
pub fn parse_report(body: &[u8]) -> Result<CapturedIds, ReportError> {
    let report: Report = serde_json::from_slice(body).map_err(|e| {
        // serde's message may quote the body; keep only its category and position.
        ReportError::NotJson(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let session_id = checked(report.session_id, SESSION_ID_FIELD)?;
    let message_id = checked(report.message_id, MESSAGE_ID_FIELD)?;
    Ok(CapturedIds {
        session_id,
        message_id,
    })
}

fn checked(value: Option<serde_json::Value>, field: &'static str) -> Result<String, ReportError> {
    let Some(serde_json::Value::String(s)) = value else {
        return Err(ReportError::Missing { field });
    };
    if is_uuid_shaped(&s) {
        Ok(s)
    } else {
        Err(ReportError::NotUuid { field })
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with hex digits of either case, nothing else (no
/// braces, no `urn:uuid:`, no surrounding spaces): the only shape LMArena ids take, and one that
/// cannot carry anything into a file or a URL path.
pub fn is_uuid_shaped(s: &str) -> bool {
    const HYPHENS: [usize; 4] = [8, 13, 18, 23];
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if HYPHENS.contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f";
    const M: &str = "0198A1B2-0000-7000-8000-00000000000F";

    #[test]
    fn uuid_shape() {
        assert!(is_uuid_shaped(S));
        assert!(is_uuid_shaped(M));
        for bad in [
            "",
            "8f1c2a4e3b5d4c6e9f701a2b3c4d5e6f",
            "{8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f}",
            " 8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f",
            "8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6g",
            "8f1c2a4e-3b5d-4c6e-9f701-a2b3c4d5e6f",
            "8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6\"",
            "8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5中",
        ] {
            assert!(!is_uuid_shaped(bad), "{bad:?}");
        }
    }

    #[test]
    fn good_report() {
        let body = format!(r#"{{"sessionId":"{S}","messageId":"{M}","extra":1}}"#);
        assert_eq!(
            parse_report(body.as_bytes()),
            Ok(CapturedIds {
                session_id: S.to_owned(),
                message_id: M.to_owned()
            })
        );
    }

    #[test]
    fn bad_reports() {
        let cases: &[(&str, ReportError)] = &[
            (
                &format!(r#"{{"sessionId":"{S}"}}"#),
                ReportError::Missing {
                    field: MESSAGE_ID_FIELD,
                },
            ),
            (
                &format!(r#"{{"sessionId":"{S}","messageId":7}}"#),
                ReportError::Missing {
                    field: MESSAGE_ID_FIELD,
                },
            ),
            (
                &format!(r#"{{"sessionId":"abc","messageId":"{M}"}}"#),
                ReportError::NotUuid {
                    field: SESSION_ID_FIELD,
                },
            ),
            (
                &format!(r#"{{"sessionId":"{S}","messageId":"../../config.jsonc"}}"#),
                ReportError::NotUuid {
                    field: MESSAGE_ID_FIELD,
                },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(parse_report(body.as_bytes()).as_ref(), Err(want), "{body}");
        }
        for body in ["", "{", "[]", "null", "sessionId=x", "\u{0}"] {
            assert!(
                matches!(parse_report(body.as_bytes()), Err(ReportError::NotJson(_))),
                "{body:?}"
            );
        }
        // The message never echoes the body.
        let e = parse_report(b"{\"secret-ish\"").unwrap_err().to_string();
        assert!(!e.contains("secret-ish"), "{e}");
    }
}
