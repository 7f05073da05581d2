//! `call_internal` over real loopback sockets: what it sends, and how each way of failing comes
//! back, against a one-request stub, a closed port and a server that never answers.

use std::convert::Infallible;
use std::net::TcpListener;
use std::time::Duration;

use bridge_cli::{call_internal, Exit, Failure, InternalError};
use bridge_test_support::cli::{closed_url, header, Stub};

const PATH: &str = "/internal/test_route";
const TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn json_body_and_bearer_key_are_sent_and_a_200_body_returned() {
    let stub = Stub::start(200, "application/json", r#"{"tab":1}"#);
    let body = serde_json::json!({ "listen_port": 5103 });
    let answer = call_internal(&stub.url, PATH, Some("sk-1"), Some(&body), TIMEOUT);
    let request = stub.request();
    assert_eq!(answer.unwrap(), r#"{"tab":1}"#);
    assert!(
        request.starts_with(&format!("POST {PATH} HTTP/1.1")),
        "{request}"
    );
    assert_eq!(header(&request, "authorization"), Some("Bearer sk-1"));
    assert_eq!(header(&request, "content-type"), Some("application/json"));
    assert!(
        request.ends_with("\r\n\r\n{\"listen_port\":5103}"),
        "{request}"
    );
}

#[test]
fn no_body_is_an_empty_post_and_no_key_no_authorization() {
    let stub = Stub::start(200, "text/html", "<html></html>");
    let answer = call_internal(&stub.url, PATH, None, None, TIMEOUT);
    let request = stub.request();
    assert_eq!(answer.unwrap(), "<html></html>");
    assert_eq!(header(&request, "content-length"), Some("0"));
    assert_eq!(header(&request, "authorization"), None);
}

#[test]
fn a_status_carries_what_the_server_said() {
    let stub = Stub::start(
        503,
        "application/json",
        r#"{"error":{"message":"No LMArena tab is connected.","code":"no_tab"}}"#,
    );
    let error = call_internal(&stub.url, PATH, Some("k"), None, TIMEOUT).unwrap_err();
    stub.request();
    let InternalError::Status {
        status,
        ref said,
        sent_key,
    } = error
    else {
        panic!("{error:?}");
    };
    assert_eq!(
        (status.as_u16(), said.as_str(), sent_key),
        (503, "No LMArena tab is connected.", true)
    );
    let failure: Failure<Infallible> = error.into();
    assert_eq!(failure.exit, Exit::NoTab);
}

#[test]
fn a_closed_port_is_server_down() {
    let server = closed_url();
    let error = call_internal(&server, PATH, None, None, TIMEOUT).unwrap_err();
    assert!(matches!(error, InternalError::Connect { .. }), "{error:?}");
    let failure: Failure<Infallible> = error.into();
    assert_eq!(failure.exit, Exit::ServerDown);
    assert_eq!(
        failure.message,
        format!(
            "cannot connect to bridge-server at {server}: start bridge-server first: cargo run \
             --release -p bridge-server"
        )
    );
}

#[test]
fn no_answer_in_time_is_a_timeout() {
    // Connections queue in the backlog, but nobody reads or answers them.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", silent.local_addr().unwrap());
    let error = call_internal(&server, PATH, None, None, Duration::from_millis(300)).unwrap_err();
    assert!(
        matches!(&error, InternalError::Timeout { server: s, .. } if *s == server),
        "{error:?}"
    );
}
