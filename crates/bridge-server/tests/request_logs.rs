//! Every log line of a request carries its request id, also the lines of the tasks the
//! request spawns (its upstream job and the streaming answer task). This binary installs a
//! capturing log subscriber for the whole process, so it holds this one test only.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bridge_test_support::fake_tab::Reply;
use common::*;

/// Log output of the whole process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Modules that log on behalf of a request (the tab's WebSocket task logs for its tab).
const REQUEST_TARGETS: [&str; 5] = [
    "bridge_server::security",
    "bridge_server::routes",
    "bridge_server::request",
    "bridge_server::answer",
    "bridge_server::relay",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_of_a_failing_request_carries_its_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("bridge_server=debug"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let server = TestServer::start(&base_config(""));
    // The answer starts, then LMArena reports an error inside the stream: the job task and
    // the answer task both log it.
    let _tab = server
        .tab(|_| Reply::lines(&[r#"a0:"partial""#, r#"a3:"upstream exploded""#]))
        .await;
    let res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 200);
    let id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    let body = res.text().await.unwrap();
    assert!(body.contains("upstream exploded"), "{body}");

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| REQUEST_TARGETS.iter().any(|t| l.contains(t)))
        .collect();
    for expected in [
        "upstream job failed",
        "answer failed after the stream started",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "no line says {expected:?}:\n{text}"
        );
    }
    for line in &lines {
        assert!(
            line.contains(&id),
            "a line without the request id {id}: {line}"
        );
    }
    let job_line = lines
        .iter()
        .find(|l| l.contains("upstream job failed"))
        .unwrap();
    assert!(job_line.contains("model=text-model"), "{job_line}");
}
