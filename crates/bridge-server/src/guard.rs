//! Pure checks of the HTTP gate and `/ws` (issue 16): the `Host` a loopback-bound server
//! accepts (DNS rebinding), the body type and browser `Origin` of API POSTs (cross-site
//! "simple" requests), the safety checks a config must pass at startup and on reload, and
//! whether a tab may join the pool.

use std::net::IpAddr;

use bridge_core::config::Config;
use subtle::ConstantTimeEq;

/// Host names a loopback-bound server answers to (any port).
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// POST routes that take an OpenAI JSON body.
const JSON_POST_PATHS: [&str; 4] = [
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/images/generations",
    "/images/generations",
];

/// The host part of a `Host` header value (`[::1]:5102` → `[::1]`, `localhost:1` →
/// `localhost`).
fn host_name(value: &str) -> &str {
    let value = value.trim();
    if value.starts_with('[') {
        return match value.find(']') {
            Some(end) => &value[..=end],
            None => value,
        };
    }
    match value.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => value,
    }
}

/// Whether a request with this `Host` may be answered by a server bound to `bound`: while
/// bound to a loopback address only loopback names are accepted, so a rebound DNS name
/// cannot reach the API from a web page. Bound elsewhere, the `api_key` guards.
pub(crate) fn host_allowed(bound: IpAddr, host: Option<&str>) -> bool {
    if !bound.is_loopback() {
        return true;
    }
    let Some(host) = host else {
        // HTTP/1.0 without Host: no browser sends that.
        return true;
    };
    let name = host_name(host);
    LOOPBACK_HOSTS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Whether `path` is an API route whose POST body must be JSON.
pub(crate) fn is_json_post(path: &str) -> bool {
    JSON_POST_PATHS.contains(&path)
}

/// Whether a `Content-Type` value is `application/json` (parameters allowed).
pub(crate) fn is_json_content_type(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Whether a browser `Origin` may POST to the API: the server's own origin (`http://` plus
/// the request's `Host`) or one allowed by `cors_allowed_origins`.
pub(crate) fn post_origin_allowed(config: &Config, origin: &str, host: Option<&str>) -> bool {
    let own = host.is_some_and(|h| {
        origin
            .strip_prefix("http://")
            .is_some_and(|rest| rest.eq_ignore_ascii_case(h.trim()))
    });
    own || config.cors_origin_allowed(origin)
}

/// Whether a tab may join the pool. With an `api_key` set, a tab from outside loopback must
/// present it; a wrong key is refused from anywhere. Compared in constant time.
pub fn tab_admitted(api_key: Option<&str>, peer: Option<IpAddr>, presented: Option<&str>) -> bool {
    let loopback = peer.is_some_and(|ip| ip.is_loopback());
    match (api_key, presented) {
        (Some(key), Some(given)) => given.as_bytes().ct_eq(key.as_bytes()).into(),
        (Some(_), None) => loopback,
        (None, _) => loopback,
    }
}

/// The startup safety checks for a reload, against the address the server is bound to
/// (`None`: not serving yet; only the checks that do not depend on the address run).
pub fn check_reload(config: &Config, bound: Option<IpAddr>) -> Result<(), String> {
    let host = bound.map_or_else(|| "127.0.0.1".to_owned(), |ip| ip.to_string());
    crate::check_startup(config, &host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("[::1]:5102"), "[::1]");
        assert_eq!(host_name("localhost:1"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("evil:x"), "evil:x");
        assert_eq!(host_name("[::1"), "[::1");
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type(Some("application/json")));
        assert!(is_json_content_type(Some(
            "Application/JSON ; charset=utf-8"
        )));
        assert!(!is_json_content_type(Some("text/plain")));
        assert!(!is_json_content_type(Some("application/jsonp")));
        assert!(!is_json_content_type(None));
    }

    #[test]
    fn a_server_bound_elsewhere_takes_any_host() {
        let lan: IpAddr = "192.168.1.2".parse().unwrap();
        assert!(host_allowed(lan, Some("bridge.lan:5102")));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(!host_allowed(lo, Some("bridge.lan:5102")));
        assert!(host_allowed(lo, None));
    }
}
