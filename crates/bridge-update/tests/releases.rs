//! Check and update against a local mock of the GitHub releases API (wiremock).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bridge_update::{
    cli, current_target, CheckOutcome, ReleaseSource, UpdateError, UpdateOutcome, Updater,
    Verification,
};
use serde_json::{json, Value};
use sha2::Digest as _;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIN: &str = "bridge-server";
const OWNER: &str = "someone";
const REPO: &str = "bridge";
const OLD_BINARY: &[u8] = b"#!/bin/sh\necho old\n";
const NEW_BINARY: &[u8] = b"#!/bin/sh\necho new\n";

fn asset() -> String {
    bridge_update::asset_name(BIN, current_target())
}

/// A gzipped tar holding `name` with `contents`, mode 755.
fn tarball(name: &str, contents: &[u8]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, name, contents).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One release in GitHub's JSON shape; `assets` are (name, download path) on the mock.
fn release(server: &MockServer, tag: &str, assets: &[(&str, &str)]) -> Value {
    json!({
        "tag_name": tag,
        "name": tag,
        "created_at": "2025-11-01T00:00:00Z",
        "html_url": format!("{}/releases/{tag}", server.uri()),
        "body": "notes",
        "assets": assets.iter().map(|(name, p)| json!({
            "name": name,
            "url": format!("{}{p}", server.uri()),
            "browser_download_url": format!("{}{p}", server.uri()),
        })).collect::<Vec<_>>(),
    })
}

async fn list_releases(server: &MockServer, releases: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{OWNER}/{REPO}/releases")))
        .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(releases)))
        .mount(server)
        .await;
}

async fn serve(server: &MockServer, at: &str, body: Vec<u8>, times: u64) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
        .expect(times)
        .mount(server)
        .await;
}

fn source(api: &str) -> ReleaseSource {
    ReleaseSource::from_values(Some(&format!("{OWNER}/{REPO}")), Some(api)).unwrap()
}

/// A temp dir with an "installed" old binary.
fn installed() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join(BIN);
    let mut f = std::fs::File::create(&bin).unwrap();
    f.write_all(OLD_BINARY).unwrap();
    (dir, bin)
}

fn updater(api: &str, version: &str, install: &Path) -> Updater {
    Updater::new(BIN, version, source(api))
        .with_install_path(install)
        .with_timeout(Duration::from_secs(5))
}

/// self_update blocks: run it off the runtime that drives the mock server.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_release_is_found_and_installed_into_the_target_path() {
    let server = MockServer::start().await;
    let archive = tarball(BIN, NEW_BINARY);
    let sum = format!("{}  {}\n", sha256_hex(&archive), asset());
    let sum_name = format!("{}.sha256", asset());
    list_releases(
        &server,
        vec![
            release(
                &server,
                "v0.2.0",
                &[(&asset(), "/dl/new"), (&sum_name, "/dl/new.sha256")],
            ),
            release(&server, "v0.1.0", &[(&asset(), "/dl/old")]),
        ],
    )
    .await;
    serve(&server, "/dl/new", archive, 1).await;
    serve(&server, "/dl/new.sha256", sum.into_bytes(), 1).await;
    serve(&server, "/dl/old", Vec::new(), 0).await;

    let (_dir, bin) = installed();
    let u = updater(&server.uri(), "0.1.0", &bin);
    let check = {
        let u = u.clone();
        blocking(move || u.check()).await.unwrap()
    };
    let CheckOutcome::Available(available) = check else {
        panic!("expected a newer release, got {check:?}");
    };
    assert_eq!(available.latest, "0.2.0");
    assert!(available.has_asset && available.has_checksum);

    let outcome = blocking(move || u.update()).await.unwrap();
    assert_eq!(
        outcome,
        UpdateOutcome::Updated {
            from: "0.1.0".into(),
            to: "0.2.0".into(),
            path: bin.clone(),
            verification: Verification::ChecksumAsset,
        }
    );
    assert_eq!(std::fs::read(&bin).unwrap(), NEW_BINARY);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "installed file must stay executable");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_without_checksum_is_installed_and_reported_unverified() {
    let server = MockServer::start().await;
    list_releases(
        &server,
        vec![release(&server, "0.3.1", &[(&asset(), "/dl/a")])],
    )
    .await;
    serve(&server, "/dl/a", tarball(BIN, NEW_BINARY), 1).await;
    let (_dir, bin) = installed();
    let u = updater(&server.uri(), "0.3.0", &bin);
    let report = blocking(move || cli::report(cli::Action::Update, &u))
        .await
        .unwrap();
    assert!(report.contains("0.3.0 -> 0.3.1"), "{report}");
    assert!(report.contains("publishes no checksum"), "{report}");
    assert_eq!(std::fs::read(&bin).unwrap(), NEW_BINARY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_version_does_nothing() {
    let server = MockServer::start().await;
    list_releases(
        &server,
        vec![
            release(&server, "v0.1.0", &[(&asset(), "/dl/same")]),
            release(&server, "v0.0.9", &[(&asset(), "/dl/older")]),
        ],
    )
    .await;
    serve(&server, "/dl/same", tarball(BIN, NEW_BINARY), 0).await;
    serve(&server, "/dl/older", tarball(BIN, NEW_BINARY), 0).await;
    let (_dir, bin) = installed();
    let u = updater(&server.uri(), "0.1.0", &bin);
    let (check, update, report) = blocking(move || {
        (
            u.check().unwrap(),
            u.update().unwrap(),
            cli::report(cli::Action::Check, &u).unwrap(),
        )
    })
    .await;
    assert_eq!(
        check,
        CheckOutcome::UpToDate {
            current: "0.1.0".into()
        }
    );
    assert_eq!(
        update,
        UpdateOutcome::UpToDate {
            current: "0.1.0".into()
        }
    );
    assert_eq!(report, "bridge-server 0.1.0 is up to date.");
    assert_eq!(std::fs::read(&bin).unwrap(), OLD_BINARY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_a_quick_clear_error() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let api = format!("http://127.0.0.1:{port}");
    let (_dir, bin) = installed();
    let u = updater(&api, "0.1.0", &bin);
    let started = Instant::now();
    let (check, update) = blocking(move || (u.check(), u.update())).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for err in [check.unwrap_err(), update.unwrap_err()] {
        assert!(matches!(err, UpdateError::Unreachable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&api) && text.contains("BRIDGE_UPDATE_API"),
            "{text}"
        );
    }
    assert_eq!(std::fs::read(&bin).unwrap(), OLD_BINARY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let (_dir, bin) = installed();
    let u = updater(&server.uri(), "0.1.0", &bin).with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = blocking(move || u.check()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, UpdateError::Unreachable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_archive_keeps_the_old_binary() {
    let server = MockServer::start().await;
    list_releases(
        &server,
        vec![release(&server, "v0.2.0", &[(&asset(), "/dl/bad")])],
    )
    .await;
    serve(
        &server,
        "/dl/bad",
        b"this is not a gzipped tarball".to_vec(),
        1,
    )
    .await;
    let (dir, bin) = installed();
    let u = updater(&server.uri(), "0.1.0", &bin);
    let err = blocking(move || u.update()).await.unwrap_err();
    assert!(matches!(err, UpdateError::Install { .. }), "{err:?}");
    assert!(err.to_string().contains("left unchanged"), "{err}");
    assert_eq!(std::fs::read(&bin).unwrap(), OLD_BINARY);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no leftovers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_without_the_binary_keeps_the_old_binary() {
    let server = MockServer::start().await;
    list_releases(
        &server,
        vec![release(&server, "v0.2.0", &[(&asset(), "/dl/other")])],
    )
    .await;
    serve(&server, "/dl/other", tarball("README.txt", b"hello"), 1).await;
    let (_dir, bin) = installed();
    let u = updater(&server.uri(), "0.1.0", &bin);
    let err = blocking(move || u.update()).await.unwrap_err();
    assert!(matches!(err, UpdateError::Install { .. }), "{err:?}");
    assert_eq!(std::fs::read(&bin).unwrap(), OLD_BINARY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatch_keeps_the_old_binary() {
    let server = MockServer::start().await;
    let sum_name = format!("{}.sha256", asset());
    list_releases(
        &server,
        vec![release(
            &server,
            "v0.2.0",
            &[(&asset(), "/dl/a"), (&sum_name, "/dl/a.sha256")],
        )],
    )
    .await;
    serve(&server, "/dl/a", tarball(BIN, NEW_BINARY), 1).await;
    serve(
        &server,
        "/dl/a.sha256",
        format!("{}\n", "0".repeat(64)).into_bytes(),
        1,
    )
    .await;
    let (_dir, bin) = installed();
    let u = updater(&server.uri(), "0.1.0", &bin);
    let err = blocking(move || u.update()).await.unwrap_err();
    assert!(
        matches!(err, UpdateError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("checksum"), "{err}");
    assert_eq!(std::fs::read(&bin).unwrap(), OLD_BINARY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_without_a_build_for_this_platform_is_reported() {
    let server = MockServer::start().await;
    let other = bridge_update::asset_name(BIN, "sparc-unknown-none");
    list_releases(
        &server,
        vec![release(&server, "v0.2.0", &[(&other, "/dl/x")])],
    )
    .await;
    serve(&server, "/dl/x", tarball(BIN, NEW_BINARY), 0).await;
    let (_dir, bin) = installed();
    let u = updater(&server.uri(), "0.1.0", &bin);
    let (report, err) =
        blocking(move || (cli::report(cli::Action::Check, &u).unwrap(), u.update())).await;
    assert!(report.contains("no build for this platform"), "{report}");
    assert!(matches!(err, Err(UpdateError::NoAsset { .. })), "{err:?}");
    assert_eq!(std::fs::read(&bin).unwrap(), OLD_BINARY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_managed_install_is_refused_before_any_download() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let u = updater(&server.uri(), "0.1.0", Path::new("/usr/bin/bridge-server"));
    let err = blocking(move || u.update()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, UpdateError::NotReplaceable { .. }), "{err:?}");
    assert!(
        text.contains("/usr/bin/bridge-server") && text.contains("package manager"),
        "{text}"
    );
}
