//! `bridge-server doctor`: loads the config directory as the server does, checks the files and
//! the port, then asks the bridge-server running there (`POST /internal/doctor`) about its
//! tabs. Prints each check with ✓/✗ and the fix; exit code 0 only when a chat would work.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;

use super::{config_checks, Check};

/// Exit code when a check failed.
pub const EXIT_NOT_READY: u8 = 1;
/// How long to wait for the running server (the probe itself may take a while in the tab).
const SERVER_TIMEOUT: Duration = Duration::from_secs(90);

/// The answer of `POST /internal/doctor`.
#[derive(Debug, Deserialize)]
struct DoctorAnswer {
    checks: Vec<Check>,
}

/// Runs every check and prints them to stdout.
pub async fn run(config_dir: &Path, host: Option<String>, port: Option<u16>) -> ExitCode {
    let checks = collect(config_dir, host, port).await;
    for check in &checks {
        println!("{}", render(check));
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        println!("Ready to chat.");
        ExitCode::SUCCESS
    } else {
        println!("Not ready: {failed} check(s) failed.");
        ExitCode::from(EXIT_NOT_READY)
    }
}

/// One check as printed: `✓ name: detail`, or `✗ name: detail` and `  → fix`.
fn render(check: &Check) -> String {
    let mark = if check.ok { '✓' } else { '✗' };
    match &check.fix {
        Some(fix) if !check.ok => format!("{mark} {}: {}\n  → {fix}", check.name, check.detail),
        _ => format!("{mark} {}: {}", check.name, check.detail),
    }
}

async fn collect(config_dir: &Path, host: Option<String>, port: Option<u16>) -> Vec<Check> {
    let loaded = match crate::load_dir(config_dir) {
        Ok(l) => l,
        Err(e) => {
            return vec![Check::fail(
                "config",
                format!("{} cannot be loaded: {e}", config_dir.display()),
                "fix the file at the line and column named above (or pass --config-dir DIR)",
            )]
        }
    };
    let mut checks = vec![Check::pass(
        "config files",
        format!("{} parses", config_dir.display()),
    )];
    checks.extend(config_checks(&loaded.config, &loaded.registry));
    let host = host.unwrap_or_else(|| loaded.config.host.clone());
    let port = port.unwrap_or(loaded.config.port);
    // The server listening on 0.0.0.0 or :: answers on loopback.
    let connect_ip = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Ok(ip) => ip,
        Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    if TcpListener::bind((host.as_str(), port)).is_ok() {
        checks.push(Check::fail(
            "server",
            format!("nothing listens on {host}:{port}, so the tab checks cannot run"),
            format!(
                "start the server in another terminal: bridge-server --config-dir {}",
                config_dir.display()
            ),
        ));
        return checks;
    }
    let base = format!("http://{}", std::net::SocketAddr::new(connect_ip, port));
    let client = match reqwest::Client::builder().timeout(SERVER_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail(
                "server",
                format!("cannot make an HTTP client: {e}"),
                "report this as a bug",
            ));
            return checks;
        }
    };
    let mut req = client.post(format!("{base}/internal/doctor"));
    if let Some(key) = loaded.config.api_key.as_deref() {
        req = req.bearer_auth(key);
    }
    let answer = match req.send().await {
        Ok(res) if res.status().is_success() => res.json::<DoctorAnswer>().await.ok(),
        _ => None,
    };
    match answer {
        Some(answer) => {
            checks.push(Check::pass(
                "server",
                format!("bridge-server answers on {base}"),
            ));
            checks.extend(answer.checks);
        }
        None => checks.push(Check::fail(
            "server",
            format!(
                "port {port} on {host} is in use, but not by a bridge-server this doctor can ask"
            ),
            format!(
                "stop the program on port {port}, or set another \"port\" in {}/config.jsonc \
                 (then set the userscript's server URL to ws://127.0.0.1:<port>/ws)",
                config_dir.display()
            ),
        )),
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_checks_print_their_fix_and_passed_ones_do_not() {
        let ok = Check::pass("tab", "1 tab(s) connected");
        assert_eq!(render(&ok), "✓ tab: 1 tab(s) connected");
        let bad = Check::fail("flow", "no ids", "capture some");
        assert_eq!(render(&bad), "✗ flow: no ids\n  → capture some");
    }
}
