//! Helpers for the tests of the two CLIs (bridge-id-updater, bridge-model-updater) and of
//! bridge-cli: the built binary run on a config dir, the checks every failing run shares,
//! snapshots of a config dir, ports nothing listens on, a pseudo-terminal session, and a
//! one-request HTTP stub standing in for bridge-server.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one run of a CLI may take before the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a pseudo-terminal session waits for expected output.
#[cfg(unix)]
const TTY_EXPECT_MS: u64 = 30_000;

/// The CLI at `exe` (`env!("CARGO_BIN_EXE_…")` of the test) on `config_dir`, with the
/// environment it reads cleared and a bound on its run time.
pub fn command(exe: &str, config_dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(exe);
    cmd.env_remove("BRIDGE_CONFIG_DIR")
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "1")
        .arg("--config-dir")
        .arg(config_dir)
        .timeout(RUN_TIMEOUT);
    cmd
}

/// Checks shared by every failing run: the code, a one-line `error:` message, no panic.
/// Returns that line.
pub fn assert_failure(output: &std::process::Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    errors[0].to_owned()
}

/// Runs `cmd` (on config dir `dir`) expecting [`assert_failure`] with `code` and every file of
/// `dir` left as it was. Returns the `error:` line.
pub fn assert_fails_unchanged(cmd: &mut assert_cmd::Command, dir: &Path, code: i32) -> String {
    let before = snapshot(dir);
    let output = cmd.output().unwrap();
    let error = assert_failure(&output, code);
    assert_eq!(snapshot(dir), before, "a failing run changed files");
    error
}

/// Runs `cmd` (on config dir `dir`) against a `--server` where nothing listens: exit 3 with
/// the hint to start bridge-server, nothing written.
pub fn assert_server_down(cmd: &mut assert_cmd::Command, dir: &Path) {
    let error = assert_fails_unchanged(cmd.args(["--server", &closed_url()]), dir, 3);
    assert!(
        error.contains("start bridge-server first: cargo run --release -p bridge-server"),
        "{error}"
    );
}

pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// The bytes of every file in `dir`, by name: to check that nothing was written.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// A loopback port with nothing listening on it: free to bind, refused to connect.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A loopback URL where no server runs.
pub fn closed_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// The CLI at `exe` on `config_dir` with `args`, on a pseudo-terminal (so it prompts).
#[cfg(unix)]
pub fn spawn_tty<S: AsRef<OsStr>>(
    exe: &str,
    config_dir: &Path,
    args: &[S],
) -> rexpect::session::PtySession {
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--config-dir")
        .arg(config_dir)
        .args(args)
        .env_remove("BRIDGE_CONFIG_DIR")
        .env_remove("RUST_LOG")
        .env("TERM", "xterm-256color");
    rexpect::session::spawn_command(cmd, Some(TTY_EXPECT_MS)).unwrap()
}

/// The exit code of a finished pseudo-terminal session; a signal fails the test.
#[cfg(unix)]
pub fn tty_exit_code(session: &rexpect::session::PtySession) -> i32 {
    match session.process().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        other => panic!("not a normal exit: {other:?}"),
    }
}

/// One HTTP request answered with a fixed response, on a loopback port.
pub struct Stub {
    pub url: String,
    addr: SocketAddr,
    handle: JoinHandle<String>,
}

impl Stub {
    pub fn start(status: u16, content_type: &str, body: &str) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let response = format!(
            "HTTP/1.1 {status} Stub\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut stream = reader.into_inner();
            let _ = stream.write_all(response.as_bytes());
            head.push_str("\r\n");
            head.push_str(&String::from_utf8_lossy(&body));
            head
        });
        Stub {
            url: format!("http://{addr}"),
            addr,
            handle,
        }
    }

    /// The request the stub received: its head, an empty line, its body (empty when the
    /// binary never connected).
    pub fn request(self) -> String {
        // Wakes the accept if the binary never came; refused if the stub is already done.
        let _ = TcpStream::connect(self.addr);
        self.handle.join().unwrap()
    }
}

/// The value of header `name` in a request head, if present.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
}
