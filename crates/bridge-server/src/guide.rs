//! Advice for a person: how a tab connects to this server, and what to do when a chat cannot
//! be served. Errors, `/status` and `doctor` take their wording from here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bridge_core::models::SessionError;

/// The server URL the userscript uses unless a person sets another one.
pub(crate) const DEFAULT_USERSCRIPT_URL: &str = "ws://127.0.0.1:5102/ws";
/// The userscript's menu entry that sets its server URL.
const USERSCRIPT_MENU_ENTRY: &str = "Set bridge server URL…";

/// The WebSocket URL of a server listening on `addr` (an unspecified address means loopback).
pub(crate) fn userscript_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("ws://{}/ws", SocketAddr::new(ip, addr.port()))
}

/// How to connect a tab; `custom_url` is the server URL when it is not the default.
pub(crate) fn connect_advice(custom_url: Option<&str>) -> String {
    let mut advice = "No LMArena tab is connected. Install the LMArenaApiBridge userscript in \
         your browser (README: \"Install the userscript\"), open https://arena.ai and keep that \
         tab open"
        .to_owned();
    match custom_url {
        Some(url) => advice.push_str(&format!(
            "; this server is not on the userscript's default {DEFAULT_USERSCRIPT_URL}, so set \
             its server URL to {url} (userscript menu \"{USERSCRIPT_MENU_ENTRY}\")."
        )),
        None => advice.push('.'),
    }
    advice
}

/// What to do when the `retry` flow has no session for a model.
pub(crate) fn session_advice(err: &SessionError) -> String {
    format!(
        "{err}. Or set \"upstream_flow\": \"evaluation\" in config/config.jsonc: that flow needs \
         no captured ids."
    )
}

/// Every reason a chat cannot be served, most fundamental first, as one message.
pub(crate) fn reasons(reasons: &[String]) -> String {
    match reasons {
        [one] => one.clone(),
        many => many
            .iter()
            .enumerate()
            .map(|(i, r)| format!("({}) {r}", i + 1))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userscript_url_uses_loopback_for_unspecified_addresses() {
        assert_eq!(
            userscript_url("127.0.0.1:5102".parse().unwrap()),
            DEFAULT_USERSCRIPT_URL
        );
        assert_eq!(
            userscript_url("0.0.0.0:6000".parse().unwrap()),
            "ws://127.0.0.1:6000/ws"
        );
        assert_eq!(
            userscript_url("[::1]:7000".parse().unwrap()),
            "ws://[::1]:7000/ws"
        );
    }

    #[test]
    fn connect_advice_names_the_url_only_when_it_is_not_the_default() {
        assert!(!connect_advice(None).contains("ws://"));
        let custom = connect_advice(Some("ws://127.0.0.1:6000/ws"));
        assert!(custom.contains("ws://127.0.0.1:6000/ws"), "{custom}");
        assert!(custom.contains(USERSCRIPT_MENU_ENTRY), "{custom}");
    }

    #[test]
    fn several_reasons_are_numbered_in_order() {
        assert_eq!(reasons(&["a".into()]), "a");
        assert_eq!(reasons(&["a".into(), "b".into()]), "(1) a (2) b");
    }
}
