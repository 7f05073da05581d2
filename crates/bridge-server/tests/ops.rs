//! Operations surface: /health, /status, /metrics, the page's headers, the startup update check
//! and the `--check-update` flag, against the real server with a fake tab.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use bridge_core::protocol::ServerMessage;
use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn complete(server: &TestServer, stream: bool) -> String {
    let res = chat(server, "text-model", "hi", stream).await;
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let _ = res.text().await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_ok_even_with_an_api_key() {
    let server = TestServer::start(&base_config(",\n  \"api_key\": \"sk-ops\""));
    let res = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_tab_counts_and_recent_requests() {
    let server = TestServer::start(&base_config(""));
    let before = get_json(&server.url("/status")).await;
    assert_eq!(before["tabs"], json!([]));
    assert_eq!(before["counts"]["total"], 0);
    assert_eq!(before["recent"], json!([]));

    let _tab = server
        .tab(|_| {
            Reply::lines(&[
                r#"a0:"Hello ""#,
                r#"zz:{"new":"line type"}"#,
                r#"a0:"there!""#,
                r#"ad:{"finishReason":"stop"}"#,
            ])
        })
        .await;
    let stream_id = complete(&server, true).await;
    let plain_id = complete(&server, false).await;

    let v = get_json(&server.url("/status")).await;
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["uptime_seconds"].is_u64());
    assert_eq!(
        v["config_dir"],
        server.config_dir().display().to_string().as_str()
    );
    assert_eq!(v["config"]["ok"], true);
    assert_eq!(v["flow"], "retry");
    assert_eq!(v["api_key_required"], false);
    assert_eq!(v["queue"], 0);
    assert_eq!(v["in_flight"], json!([]));

    let tabs = v["tabs"].as_array().unwrap();
    assert_eq!(tabs.len(), 1);
    let tab = &tabs[0];
    assert_eq!(tab["origin"], "https://lmarena.ai");
    assert_eq!(tab["state"], "ready");
    assert_eq!(tab["in_flight"], 0);
    assert_eq!(tab["served"], 2);
    assert_eq!(tab["errors"], 0);
    assert!(tab["tab_id"].as_str().unwrap().len() >= 8);
    assert!(tab["last_seen_secs"].is_u64());

    assert_eq!(v["counts"]["total"], 2);
    assert_eq!(v["counts"]["by_outcome"], json!({"ok": 2}));
    assert_eq!(v["counts"]["client_aborts"], 0);
    assert_eq!(v["upstream_statuses"], json!({"200": 2}));
    assert_eq!(v["unknown_line_types"], json!({"zz": 2}));

    let recent = v["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    // Newest first.
    assert_eq!(recent[0]["id"], plain_id.as_str());
    assert_eq!(recent[0]["stream"], false);
    assert_eq!(recent[1]["id"], stream_id.as_str());
    assert_eq!(recent[1]["stream"], true);
    for r in recent {
        assert_eq!(r["model"], "text-model");
        assert_eq!(r["outcome"], "ok");
        assert_eq!(r["status"], 200);
        assert_eq!(r["tab"], tab["conn"]);
        assert!(r["duration_ms"].is_u64());
        assert!(r["ttft_ms"].as_u64().unwrap() <= r["duration_ms"].as_u64().unwrap());
        assert!(r["bytes"].as_u64().unwrap() > 40);
        assert!(r["ended_at"].as_i64().unwrap() > 1_700_000_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_in_flight_requests_and_client_aborts() {
    let server = TestServer::start(&base_config(""));
    let tab = server
        .tab(|_| Reply::StreamThenHang(vec!["a0:\"partial \"\n".to_owned()]))
        .await;
    let mut res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 200);
    // The first content chunk has arrived: the request is in flight on the tab.
    let _ = res.chunk().await.unwrap();
    let v = poll_until(&server, "/status", "bytes of the in-flight request", |v| {
        v["in_flight"][0]["bytes"].as_u64().unwrap_or(0) > 0
    })
    .await;
    let live = &v["in_flight"][0];
    assert_eq!(live["model"], "text-model");
    assert_eq!(live["tab"], v["tabs"][0]["conn"]);
    assert_eq!(live["stream"], true);
    assert!(live["age_ms"].is_u64());
    assert!(live["ttft_ms"].is_u64());
    assert_eq!(live["id"], res.headers()["x-request-id"].to_str().unwrap());
    assert_eq!(v["tabs"][0]["in_flight"], 1);

    drop(res);
    tab.wait_for(Duration::from_secs(5), |f| {
        matches!(f, ServerMessage::Abort { .. })
    })
    .await
    .unwrap();
    let v = poll_until(&server, "/status", "the abort", |v| {
        v["counts"]["total"] == 1
    })
    .await;
    assert_eq!(v["in_flight"], json!([]));
    assert_eq!(v["counts"]["by_outcome"], json!({"aborted": 1}));
    assert_eq!(v["counts"]["client_aborts"], 1);
    assert_eq!(v["recent"][0]["outcome"], "aborted");
    assert_eq!(v["recent"][0]["status"], 499);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_outcome_and_upstream_status() {
    let server = TestServer::start(&base_config(""));
    // No tab yet: 503 before any dispatch reaches a tab.
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 503);
    let _tab = server
        .tab(|_| Reply::fail(500, "application/json", r#"{"error":"boom"}"#))
        .await;
    let res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 502);
    let v = get_json(&server.url("/status")).await;
    assert_eq!(
        v["counts"]["by_outcome"],
        json!({"no_tab": 1, "upstream_error": 1})
    );
    assert_eq!(v["upstream_statuses"], json!({"500": 1}));
    assert_eq!(v["recent"][0]["outcome"], "upstream_error");
    assert_eq!(v["recent"][0]["status"], 502);
    assert_eq!(v["recent"][0]["tab"], v["tabs"][0]["conn"]);
    assert_eq!(v["recent"][1]["outcome"], "no_tab");
    assert_eq!(v["recent"][1]["status"], 503);
    assert_eq!(v["recent"][1]["tab"], Value::Null);
    assert_eq!(v["tabs"][0]["errors"], 1);
}

/// Checks every line of a Prometheus text exposition; returns samples by full series text.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    fn is_name(s: &str, colon: bool) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    }
    fn parse_value(s: &str) -> Option<f64> {
        match s {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => s.parse().ok(),
        }
    }
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let ctx = format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let keyword = parts.next().unwrap();
            let name = parts.next().expect(&ctx);
            assert!(is_name(name, true), "{ctx}");
            match keyword {
                "HELP" => {}
                "TYPE" => {
                    let kind = parts.next().expect(&ctx);
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{ctx}"
                    );
                    assert!(
                        typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                        "TYPE twice: {ctx}"
                    );
                }
                other => panic!("unknown comment keyword {other}: {ctx}"),
            }
            continue;
        }
        // name{labels} value
        let (series, value) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').expect(&ctx);
                let name = &line[..open];
                assert!(is_name(name, true), "{ctx}");
                let labels = &line[open + 1..close];
                let mut rest = labels;
                while !rest.is_empty() {
                    let eq = rest.find("=\"").expect(&ctx);
                    assert!(is_name(&rest[..eq], false), "label name: {ctx}");
                    let body = &rest[eq + 2..];
                    let mut end = None;
                    let mut escaped = false;
                    for (i, c) in body.char_indices() {
                        match (escaped, c) {
                            (true, '\\' | '"' | 'n') => escaped = false,
                            (true, _) => panic!("bad escape: {ctx}"),
                            (false, '\\') => escaped = true,
                            (false, '"') => {
                                end = Some(i);
                                break;
                            }
                            (false, _) => {}
                        }
                    }
                    let end = end.expect(&ctx);
                    rest = &body[end + 1..];
                    rest = rest.strip_prefix(',').unwrap_or(rest);
                }
                (&line[..=close], line[close + 1..].trim())
            }
            None => {
                let (name, value) = line.split_once(' ').expect(&ctx);
                assert!(is_name(name, true), "{ctx}");
                (name, value.trim())
            }
        };
        let value_text = value.split(' ').next().unwrap();
        let value = parse_value(value_text).unwrap_or_else(|| panic!("value: {ctx}"));
        let name = series.split('{').next().unwrap();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| typed.contains_key(*b)))
            .unwrap_or(name);
        assert!(typed.contains_key(base), "sample without TYPE: {ctx}");
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_the_expected_series() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| Reply::lines(&[r#"a0:"Hi""#, r#"zz:1"#, r#"ad:{"finishReason":"stop"}"#]))
        .await;
    complete(&server, true).await;
    complete(&server, false).await;
    let res = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let samples = parse_prometheus(&text);
    let get = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
    };
    assert_eq!(
        get(r#"bridge_requests_total{model="text-model",outcome="ok"}"#),
        2.0
    );
    assert_eq!(
        get(r#"bridge_request_duration_seconds_count{model="text-model"}"#),
        2.0
    );
    assert_eq!(
        get(r#"bridge_request_duration_seconds_bucket{model="text-model",le="+Inf"}"#),
        2.0
    );
    assert!(get(r#"bridge_request_duration_seconds_bucket{model="text-model",le="600"}"#) >= 2.0);
    assert_eq!(
        get(r#"bridge_time_to_first_token_seconds_count{model="text-model"}"#),
        2.0
    );
    assert_eq!(get(r#"bridge_tabs{state="ready"}"#), 1.0);
    assert_eq!(get(r#"bridge_tabs{state="busy"}"#), 0.0);
    assert_eq!(get(r#"bridge_tabs{state="challenged"}"#), 0.0);
    assert_eq!(get("bridge_queue_length"), 0.0);
    assert_eq!(get("bridge_requests_in_flight"), 0.0);
    assert_eq!(get(r#"bridge_upstream_responses_total{status="200"}"#), 2.0);
    assert_eq!(
        get(r#"bridge_upstream_unknown_lines_total{type="zz"}"#),
        2.0
    );
    assert!(get("bridge_upstream_bytes_total") > 0.0);
    assert_eq!(get("bridge_tab_connections_total"), 1.0);
    assert!(get("bridge_uptime_seconds") >= 0.0);
    assert_eq!(
        get(&format!(
            "bridge_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert!(text.contains("# TYPE bridge_request_duration_seconds histogram"));
    assert!(text.contains("# TYPE bridge_requests_total counter"));
    assert!(text.contains("# HELP bridge_requests_total "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborts_appear_in_metrics() {
    let server = TestServer::start(&base_config(""));
    let tab = server.tab(|_| Reply::Hang).await;
    let req = start_request(&server, &tab, "hi").await;
    req.abort();
    poll_until(&server, "/status", "the abort", |v| {
        v["counts"]["client_aborts"] == 1
    })
    .await;
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse_prometheus(&text);
    assert_eq!(
        samples.get("bridge_client_aborts_total"),
        Some(&1.0),
        "{text}"
    );
    assert_eq!(
        samples.get(r#"bridge_requests_total{model="text-model",outcome="aborted"}"#),
        Some(&1.0),
        "{text}"
    );
}

#[test]
fn the_prometheus_checker_rejects_bad_text() {
    for bad in [
        "no_type_line 1\n",
        "# TYPE x counter\nx{a=\"1} 1\n",
        "# TYPE x counter\nx one\n",
        "# TYPE x counter\n# TYPE x counter\n",
        "# TYPE 1x counter\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_prometheus(bad)).is_err(),
            "accepted: {bad:?}"
        );
    }
    let ok = parse_prometheus("# TYPE x counter\nx{a=\"q\\\"\"} 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n");
    assert_eq!(ok.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_metrics_need_the_api_key_when_one_is_set() {
    let server = TestServer::start(&base_config(",\n  \"api_key\": \"sk-ops\""));
    for path in ["/status", "/metrics"] {
        let res = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path} without a key");
        let res = client()
            .get(server.url(path))
            .bearer_auth("sk-wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path} with a wrong key");
        let res = client()
            .get(server.url(path))
            .bearer_auth("sk-ops")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path} with the key");
        if path == "/status" {
            assert_eq!(res.json::<Value>().await.unwrap()["api_key_required"], true);
        }
    }
    // The page itself holds no data and loads without the key.
    let res = client().get(server.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_is_self_contained_and_locked_down() {
    let server = TestServer::start(&base_config(""));
    let res = client().get(server.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<meta name=\"viewport\""));
    assert!(html.contains("location.origin + '/v1'"));
    // No external assets and no HTML built from data.
    for forbidden in [
        "<script src",
        "<link",
        "@import",
        "url(",
        ".innerHTML",
        "insertAdjacentHTML",
    ] {
        assert!(!html.contains(forbidden), "page contains {forbidden}");
    }
    let external: HashSet<&str> = html
        .match_indices("https://")
        .map(|(i, _)| {
            &html[i..html[i..]
                .find(['"', '<', ' '])
                .map_or(html.len(), |e| i + e)]
        })
        .collect();
    assert_eq!(external, HashSet::from(["https://lmarena.ai"]));
}

// ---- update check -----------------------------------------------------------------------

const BIN: &str = "bridge-server";

fn tarball(contents: &[u8]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, BIN, contents).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// A mock GitHub API with one release `tag` carrying this platform's archive.
async fn release_server(tag: &str, archive: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    let asset = bridge_update::asset_name(BIN, bridge_update::current_target());
    Mock::given(method("GET"))
        .and(path("/repos/o/r/releases"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "tag_name": tag,
            "name": tag,
            "created_at": "2025-11-01T00:00:00Z",
            "assets": [{"name": asset, "url": format!("{}/dl/archive", server.uri())}],
        }])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/dl/archive"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(archive))
        .mount(&server)
        .await;
    server
}

fn updater(api: &str, install: &std::path::Path) -> bridge_update::Updater {
    let source = bridge_update::ReleaseSource::from_values(Some("o/r"), Some(api)).unwrap();
    bridge_update::Updater::new(BIN, "0.1.0", source)
        .with_install_path(install)
        .with_timeout(Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_release_server_does_not_affect_startup() {
    const CHECK_TIMEOUT: Duration = Duration::from_secs(4);
    let server = TestServer::start(&base_config(""));
    // The update server accepts connections but never answers.
    let silent = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&silent)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let task = bridge_server::autoupdate::spawn(
        server.state.clone(),
        updater(&silent.uri(), &dir.path().join(BIN)).with_timeout(CHECK_TIMEOUT),
        true,
    )
    .unwrap();
    // Blocking on the check would take its whole timeout; half of it leaves room for a
    // loaded machine.
    let half = CHECK_TIMEOUT / 2;
    assert!(started.elapsed() < half, "spawn blocked");
    // The server answers while the check hangs.
    let res = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(started.elapsed() < half, "the server waited for the check");
    tokio::task::spawn_blocking(move || task.thread.join().unwrap())
        .await
        .unwrap();
    let v = get_json(&server.url("/status")).await;
    assert_eq!(v["update"]["state"], "check_failed", "{v:#}");
    assert_eq!(
        v["update"]["message"],
        bridge_server::autoupdate::CHECK_FAILED_NOTE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_release_is_only_reported_without_auto_update() {
    let server = TestServer::start(&base_config(""));
    let releases = release_server("v9.0.0", tarball(b"new")).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join(BIN);
    std::fs::write(&bin, b"old").unwrap();
    let task = bridge_server::autoupdate::spawn(
        server.state.clone(),
        updater(&releases.uri(), &bin),
        false,
    )
    .unwrap();
    tokio::task::spawn_blocking(move || task.thread.join().unwrap())
        .await
        .unwrap();
    assert!(
        task.restart.await.is_err(),
        "no restart without auto-update"
    );
    let v = get_json(&server.url("/status")).await;
    assert_eq!(v["update"]["state"], "available");
    assert_eq!(v["update"]["latest"], "9.0.0");
    assert!(v["update"]["message"]
        .as_str()
        .unwrap()
        .contains("--update"));
    assert_eq!(std::fs::read(&bin).unwrap(), b"old");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_update_installs_and_asks_for_a_restart_once_idle() {
    let server = TestServer::start(&base_config(""));
    let releases = release_server("v9.0.0", tarball(b"new")).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join(BIN);
    std::fs::write(&bin, b"old").unwrap();
    // A request in flight holds the restart back.
    let tab = server.tab(|_| Reply::Hang).await;
    let req = start_request(&server, &tab, "hi").await;
    let mut task = bridge_server::autoupdate::spawn(
        server.state.clone(),
        updater(&releases.uri(), &bin),
        true,
    )
    .unwrap();
    poll_until(&server, "/status", "the install", |v| {
        v["update"]["state"] == "installed"
    })
    .await;
    assert_eq!(std::fs::read(&bin).unwrap(), b"new");
    assert!(
        task.restart.try_recv().is_err(),
        "restart must wait for the request in flight"
    );
    req.abort();
    let restart = tokio::time::timeout(Duration::from_secs(10), task.restart)
        .await
        .expect("restart asked once idle")
        .unwrap();
    assert_eq!(restart.path, bin);
    assert_eq!(restart.version, "9.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_update_flag_reports_and_exits() {
    let releases = release_server("v9.0.0", tarball(b"new")).await;
    let run = |api: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_bridge-server"))
                .arg("--check-update")
                .env("BRIDGE_UPDATE_REPO", "o/r")
                .env("BRIDGE_UPDATE_API", api)
                .output()
                .unwrap()
        })
    };
    let out = run(releases.uri()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("bridge-server 9.0.0 is available")
            && stdout.contains("bridge-server --update"),
        "{stdout}"
    );
    let out = run(format!("http://127.0.0.1:{}", closed_port()))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.contains("cannot reach the release server"),
        "{stderr}"
    );
}
