//! Relay protocol v2 frames (DESIGN.md §5) against tests/fixtures/protocol: every frame kind
//! round-trips, extra fields are tolerated, malformed frames are errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use bridge_core::protocol::{
    Command, FetchRequest, JobId, RecaptchaSpec, ServerMessage, TabMessage, PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn protocol_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/protocol")
}

/// `(file name, text)` of every fixture whose name starts with `prefix`.
fn fixtures(prefix: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(protocol_dir())
        .expect("read tests/fixtures/protocol")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            name.starts_with(prefix).then(|| {
                let text = std::fs::read_to_string(&p).expect("fixture is UTF-8");
                (name, text)
            })
        })
        .collect();
    out.sort();
    out
}

/// The wire `type` of a tab frame; the exhaustive match makes a new variant a compile error
/// here until it gets a fixture.
fn tab_kind(m: &TabMessage) -> &'static str {
    match m {
        TabMessage::Hello { .. } => "hello",
        TabMessage::Response { .. } => "response",
        TabMessage::Chunk { .. } => "chunk",
        TabMessage::Done { .. } => "done",
        TabMessage::Error { .. } => "error",
        TabMessage::PageSource { .. } => "page_source",
        TabMessage::Pong => "pong",
        TabMessage::ProbeResult { .. } => "probe_result",
        TabMessage::ActionResult { .. } => "action_result",
    }
}
const TAB_KINDS: &[&str] = &[
    "hello",
    "response",
    "chunk",
    "done",
    "error",
    "page_source",
    "pong",
    "probe_result",
    "action_result",
];

fn server_kind(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::Welcome { .. } => "welcome",
        ServerMessage::Fetch { .. } => "fetch",
        ServerMessage::Abort { .. } => "abort",
        ServerMessage::Command { .. } => "command",
        ServerMessage::Ping => "ping",
        ServerMessage::Probe { .. } => "probe",
        ServerMessage::Action { .. } => "action",
        ServerMessage::Upload { .. } => "upload",
    }
}
const SERVER_KINDS: &[&str] = &[
    "welcome", "fetch", "abort", "command", "ping", "probe", "action", "upload",
];

/// Parses `text`, serialises the result and checks it equals the fixture as JSON.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str, text: &str) -> T {
    let frame: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let fixture: Value = serde_json::from_str(text).expect("fixture is JSON");
    let back = serde_json::to_value(&frame).expect("serialise");
    assert_eq!(back, fixture, "{name} round trip");
    frame
}

#[test]
fn every_tab_frame_fixture_round_trips_and_every_kind_has_one() {
    let mut seen = BTreeSet::new();
    for (name, text) in fixtures("tab_") {
        let frame: TabMessage = round_trip(&name, &text);
        let kind = tab_kind(&frame);
        assert!(
            name.starts_with(&format!("tab_{kind}")),
            "{name} holds a `{kind}` frame"
        );
        seen.insert(kind);
    }
    assert_eq!(seen, TAB_KINDS.iter().copied().collect::<BTreeSet<_>>());
}

#[test]
fn every_server_frame_fixture_round_trips_and_every_kind_has_one() {
    let mut seen = BTreeSet::new();
    for (name, text) in fixtures("server_") {
        let frame: ServerMessage = round_trip(&name, &text);
        let kind = server_kind(&frame);
        assert!(
            name.starts_with(&format!("server_{kind}")),
            "{name} holds a `{kind}` frame"
        );
        seen.insert(kind);
    }
    assert_eq!(seen, SERVER_KINDS.iter().copied().collect::<BTreeSet<_>>());
}

#[test]
fn fixtures_decode_to_the_documented_values() {
    let text = |name: &str| std::fs::read_to_string(protocol_dir().join(name)).expect("fixture");
    let hello: TabMessage = serde_json::from_str(&text("tab_hello.json")).expect("hello");
    assert_eq!(
        hello,
        TabMessage::Hello {
            protocol: PROTOCOL_VERSION,
            tab_id: "3f0b8c2e-5d1a-4e7b-9c6f-0a2b4d6e8f10".to_owned(),
            client: Some("LMArenaApiBridge/2.0.0".to_owned()),
            page: Some("https://lmarena.ai/c/0199f3c2-7a41-7b6e-8d2f-5e4a3b2c1d0e".to_owned()),
            late_injection: false,
            api_key: None,
        }
    );
    let chunk: TabMessage = serde_json::from_str(&text("tab_chunk.json")).expect("chunk");
    assert_eq!(
        chunk,
        TabMessage::Chunk {
            id: JobId(7),
            data: "a0:\"你好 \\ud83d\\ude00\"\na0:\"wor".to_owned(),
        }
    );
    let fetch: ServerMessage =
        serde_json::from_str(&text("server_fetch_recaptcha.json")).expect("fetch");
    let ServerMessage::Fetch {
        id,
        request,
        recaptcha,
    } = fetch
    else {
        panic!("not a fetch");
    };
    assert_eq!(id, JobId(8));
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/nextjs-api/stream/create-evaluation");
    assert_eq!(
        recaptcha,
        Some(RecaptchaSpec {
            action: "chat_submit".to_owned(),
            field: "recaptchaV3Token".to_owned(),
            site_key: None,
            v2: None,
        })
    );
    let fetch: ServerMessage =
        serde_json::from_str(&text("server_fetch_recaptcha_v2.json")).expect("fetch v2");
    let ServerMessage::Fetch { recaptcha, .. } = fetch else {
        panic!("not a fetch");
    };
    assert_eq!(
        recaptcha,
        Some(bridge_core::arena::recaptcha::with_v2(
            bridge_core::arena::recaptcha::v3_spec(
                bridge_core::arena::recaptcha::TokenAction::Submit,
                bridge_core::arena::recaptcha::V3_SITE_KEY,
            )
        ))
    );
    let capture: ServerMessage =
        serde_json::from_str(&text("server_command_capture.json")).expect("command");
    assert_eq!(
        capture,
        ServerMessage::Command {
            command: Command::ActivateIdCapture,
            id: None,
            report_to: Some("http://127.0.0.1:5103/update".to_owned()),
        }
    );
}

/// Adds unknown fields at the top level and inside every nested object.
fn with_extra_fields(value: &mut Value) {
    if let Value::Object(map) = value {
        for nested in map.values_mut() {
            with_extra_fields(nested);
        }
        map.insert(
            "x_future_field".to_owned(),
            serde_json::json!({"a": [1, 2]}),
        );
    }
}

#[test]
fn unknown_extra_fields_are_tolerated() {
    for (name, text) in fixtures("") {
        let mut value: Value = serde_json::from_str(&text).expect("fixture is JSON");
        // Header maps are free-form: an extra key there is a header, not an unknown field.
        let headers_free = |v: &mut Value| {
            if let Some(h) = v.pointer_mut("/headers").and_then(Value::as_object_mut) {
                h.remove("x_future_field");
            }
            if let Some(h) = v
                .pointer_mut("/request/headers")
                .and_then(Value::as_object_mut)
            {
                h.remove("x_future_field");
            }
        };
        with_extra_fields(&mut value);
        headers_free(&mut value);
        let extended = value.to_string();
        if name.starts_with("tab_") {
            let a: TabMessage = serde_json::from_str(&text).expect("plain");
            let b: TabMessage = serde_json::from_str(&extended)
                .unwrap_or_else(|e| panic!("{name} with extra fields: {e}"));
            assert_eq!(a, b, "{name}");
        } else {
            let a: ServerMessage = serde_json::from_str(&text).expect("plain");
            let b: ServerMessage = serde_json::from_str(&extended)
                .unwrap_or_else(|e| panic!("{name} with extra fields: {e}"));
            assert_eq!(a, b, "{name}");
        }
    }
}

#[test]
fn malformed_tab_frames_are_errors_not_panics() {
    for bad in [
        "",
        "not json",
        "[]",
        "null",
        "{}",
        r#"{"type":"nope"}"#,
        r#"{"type":"HELLO","protocol":2,"tab_id":"x"}"#,
        r#"{"type":"hello","tab_id":"x"}"#,
        r#"{"type":"hello","protocol":"2","tab_id":"x"}"#,
        r#"{"type":"response","id":1}"#,
        r#"{"type":"response","id":-1,"status":200}"#,
        r#"{"type":"response","id":1,"status":70000}"#,
        r#"{"type":"response","id":1,"status":200,"headers":{"a":1}}"#,
        r#"{"type":"response","id":1,"status":200,"headers":[]}"#,
        r#"{"type":"chunk","id":1}"#,
        r#"{"type":"chunk","id":1,"data":null}"#,
        r#"{"type":"chunk","id":"1","data":"x"}"#,
        r#"{"type":"chunk","id":1.5,"data":"x"}"#,
        r#"{"type":"done"}"#,
        r#"{"type":"error","id":1}"#,
        r#"{"type":"error","id":1,"message":"m","status":"403"}"#,
        r#"{"type":"page_source","id":1}"#,
        r#"{"type":"chunk","id":1,"data":"x""#,
        r#"{"type":"chunk","id":1,"data":"\ud800"}"#,
    ] {
        assert!(
            serde_json::from_str::<TabMessage>(bad).is_err(),
            "accepted malformed frame {bad}"
        );
    }
}

#[test]
fn malformed_server_frames_are_errors_not_panics() {
    for bad in [
        "",
        "{}",
        r#"{"type":"welcome","protocol":2}"#,
        r#"{"type":"fetch","id":1}"#,
        r#"{"type":"fetch","id":1,"request":{"path":"/x","method":"GET"}}"#,
        r#"{"type":"fetch","id":1,"request":{"path":"/x","method":"GET","body":""},"recaptcha":{"action":"a"}}"#,
        r#"{"type":"abort"}"#,
        r#"{"type":"command","command":"reboot"}"#,
        r#"{"type":"command"}"#,
    ] {
        assert!(
            serde_json::from_str::<ServerMessage>(bad).is_err(),
            "accepted malformed frame {bad}"
        );
    }
}

#[test]
fn optional_fields_may_be_absent_or_null() {
    let hello: TabMessage =
        serde_json::from_str(r#"{"type":"hello","protocol":2,"tab_id":"t"}"#).expect("hello");
    assert_eq!(
        hello,
        TabMessage::Hello {
            protocol: 2,
            tab_id: "t".to_owned(),
            client: None,
            page: None,
            late_injection: false,
            api_key: None,
        }
    );
    let error: TabMessage = serde_json::from_str(
        r#"{"type":"error","id":null,"message":"network error","status":null,"body":null}"#,
    )
    .expect("error");
    assert_eq!(
        error,
        TabMessage::Error {
            id: None,
            message: "network error".to_owned(),
            status: None,
            body: None
        }
    );
    let response: TabMessage =
        serde_json::from_str(r#"{"type":"response","id":3,"status":204}"#).expect("response");
    assert_eq!(
        response,
        TabMessage::Response {
            id: JobId(3),
            status: 204,
            headers: BTreeMap::new()
        }
    );
    let fetch: ServerMessage = serde_json::from_str(
        r#"{"type":"fetch","id":1,"request":{"path":"/api/x","method":"GET","body":""}}"#,
    )
    .expect("fetch without recaptcha");
    assert_eq!(
        fetch,
        ServerMessage::Fetch {
            id: JobId(1),
            request: FetchRequest {
                path: "/api/x".to_owned(),
                method: "GET".to_owned(),
                headers: BTreeMap::new(),
                body: String::new(),
            },
            recaptcha: None
        }
    );
}

#[test]
fn response_header_values_read_as_null_are_left_out() {
    // A userscript building headers with `response.headers.get(name)` sends null for an
    // absent header; the response head must not be lost for that.
    let frame: TabMessage = serde_json::from_str(
        r#"{"type":"response","id":1,"status":429,"headers":{"content-type":"application/json","retry-after":null}}"#,
    )
    .expect("null header value");
    let TabMessage::Response { headers, .. } = frame else {
        panic!("not a response");
    };
    assert_eq!(
        headers,
        BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())])
    );
    let frame: TabMessage =
        serde_json::from_str(r#"{"type":"response","id":1,"status":200,"headers":null}"#)
            .expect("null headers");
    assert!(matches!(frame, TabMessage::Response { headers, .. } if headers.is_empty()));
}

#[test]
fn serialised_frames_use_the_documented_shapes() {
    let fetch = ServerMessage::Fetch {
        id: JobId(5),
        request: FetchRequest {
            path: "/nextjs-api/x".to_owned(),
            method: "PUT".to_owned(),
            headers: BTreeMap::new(),
            body: "{}".to_owned(),
        },
        recaptcha: None,
    };
    let v = serde_json::to_value(&fetch).expect("serialise");
    assert_eq!(v["type"], "fetch");
    assert_eq!(v["id"], 5);
    assert!(v["recaptcha"].is_null() && v.get("recaptcha").is_some());
    let cmd = ServerMessage::Command {
        command: Command::Refresh,
        id: None,
        report_to: None,
    };
    assert_eq!(
        serde_json::to_string(&cmd).expect("serialise"),
        r#"{"type":"command","command":"refresh"}"#
    );
    assert_eq!(
        serde_json::to_string(&TabMessage::Pong).expect("serialise"),
        r#"{"type":"pong"}"#
    );
    assert_eq!(
        serde_json::to_string(&ServerMessage::Ping).expect("serialise"),
        r#"{"type":"ping"}"#
    );
}
