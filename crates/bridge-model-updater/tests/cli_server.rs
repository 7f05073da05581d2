//! `bridge-model-updater --page` getting the page from bridge-server: a one-request stub stands in
//! for the server (the real server is tested against it elsewhere).

mod common;

use common::{
    assert_fails_unchanged, assert_failure, assert_server_down, closed_url, config_dir, header,
    page, read, updater, Stub,
};

const ROUTE_LINE: &str = "POST /internal/request_model_update HTTP/1.1";

fn with_api_key(dir: &std::path::Path, key: &str) {
    let text = format!("{{\n  // test key\n  \"api_key\": \"{key}\"\n}}\n");
    std::fs::write(dir.join("config.jsonc"), text).unwrap();
}

#[test]
fn page_from_server_with_bearer_key() {
    let dir = config_dir();
    with_api_key(dir.path(), "sk-test-123");
    let html = std::fs::read_to_string(page("arena_basic")).unwrap();
    let stub = Stub::start(200, "text/html; charset=utf-8", &html);
    let output = updater(dir.path())
        .args(["--page", "--server", &stub.url, "--all-new"])
        .output()
        .unwrap();
    let request = stub.request();
    assert!(output.status.success(), "{output:?}");
    assert!(request.starts_with(ROUTE_LINE), "{request}");
    assert_eq!(
        header(&request, "authorization"),
        Some("Bearer sk-test-123")
    );
    assert_eq!(header(&request, "content-length"), Some("0"));
    assert!(read(dir.path(), "available_models.json").contains("mystery-model-x"));
    assert!(read(dir.path(), "models.json").contains("\"mystery-model-x\""));
}

#[test]
fn no_api_key_sends_no_authorization() {
    // The fixture config has "api_key": "".
    let dir = config_dir();
    let html = std::fs::read_to_string(page("arena_key_orders")).unwrap();
    let stub = Stub::start(200, "text/html", &html);
    let output = updater(dir.path())
        .args(["--page", "--server", &format!("{}/", stub.url)])
        .output()
        .unwrap();
    let request = stub.request();
    assert!(output.status.success(), "{output:?}");
    assert!(request.starts_with(ROUTE_LINE), "{request}");
    assert_eq!(header(&request, "authorization"), None);
}

#[test]
fn missing_config_jsonc_sends_no_authorization() {
    let dir = config_dir();
    std::fs::remove_file(dir.path().join("config.jsonc")).unwrap();
    let html = std::fs::read_to_string(page("arena_basic")).unwrap();
    let stub = Stub::start(200, "text/html", &html);
    let output = updater(dir.path())
        .args(["--page", "--server", &stub.url])
        .output()
        .unwrap();
    let request = stub.request();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(header(&request, "authorization"), None);
}

fn failing_status(status: u16, body: &str, code: i32) -> String {
    let dir = config_dir();
    with_api_key(dir.path(), "sk-wrong");
    let stub = Stub::start(status, "application/json", body);
    let error = assert_fails_unchanged(
        updater(dir.path()).args(["--page", "--server", &stub.url]),
        dir.path(),
        code,
    );
    let request = stub.request();
    assert!(request.starts_with(ROUTE_LINE), "{request}");
    error
}

#[test]
fn no_tab_503_exits_4() {
    let error = failing_status(
        503,
        r#"{"error":{"message":"No LMArena tab is connected.","type":"server_error","param":null,"code":"no_tab"}}"#,
        4,
    );
    assert!(error.contains("no LMArena tab is connected"), "{error}");
    assert!(
        error.contains("server said: No LMArena tab is connected."),
        "{error}"
    );
}

#[test]
fn tab_timeout_504_exits_5() {
    let error = failing_status(
        504,
        r#"{"error":{"message":"The tab did not answer in 30 s."}}"#,
        5,
    );
    assert!(error.contains("did not send the page in time"), "{error}");
}

#[test]
fn unauthorized_401_exits_6() {
    let error = failing_status(401, r#"{"error":{"message":"Invalid API key."}}"#, 6);
    assert!(error.contains("does not match"), "{error}");
}

#[test]
fn server_page_without_list_exits_2() {
    let dir = config_dir();
    let html = std::fs::read_to_string(page("arena_no_model_list")).unwrap();
    let stub = Stub::start(200, "text/html", &html);
    let output = updater(dir.path())
        .args(["--page", "--server", &stub.url])
        .output()
        .unwrap();
    stub.request();
    assert_failure(&output, 2);
}

#[test]
fn server_down_exits_3() {
    let dir = config_dir();
    assert_server_down(&mut updater(dir.path()), dir.path());
}

#[test]
fn broken_config_jsonc_exits_8() {
    let dir = config_dir();
    std::fs::write(dir.path().join("config.jsonc"), "{ \"api_key\": }").unwrap();
    let output = updater(dir.path())
        .args(["--page", "--server", &closed_url()])
        .output()
        .unwrap();
    let error = assert_failure(&output, 8);
    assert!(error.contains("config.jsonc:1:"), "{error}");
}
