//! Origin patterns of `allowed_origins` and `cors_allowed_origins` (`scheme://host[:port]`,
//! with `*.` host wildcards and `:*` ports).

/// The `cors_allowed_origins` entry that allows every origin (needs an `api_key`).
pub const CORS_ANY: &str = "*";

/// `scheme://host[:port]`, split; `None` for anything that is not a plain origin.
pub(super) fn split_origin(s: &str) -> Option<(&str, &str, Option<&str>)> {
    let s = s.trim();
    // A pattern written with a trailing slash still means the origin.
    let s = s.strip_suffix('/').unwrap_or(s);
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = if let Some(after_bracket) = rest.strip_prefix('[') {
        // IPv6 literal: `[::1]` or `[::1]:5102`.
        let close = after_bracket.find(']')?;
        let host_len = close + 2;
        let host = rest.get(..host_len)?;
        match rest.get(host_len..)? {
            "" => (host, None),
            tail => (host, Some(tail.strip_prefix(':')?)),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    if host.is_empty() {
        return None;
    }
    Some((scheme, host, port))
}

/// Whether `origin` (an `Origin` header value) matches `pattern` from the config.
///
/// A pattern is an exact origin (`https://lmarena.ai`) or a subdomain wildcard
/// (`https://*.lmarena.ai`), which matches any subdomain but not the bare domain, nor
/// `https://evil-lmarena.ai` or `https://lmarena.ai.evil.com`. Scheme and host compare
/// case-insensitively; a port must match exactly and is only allowed where the pattern writes
/// one.
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    let (Some((p_scheme, p_host, p_port)), Some((o_scheme, o_host, o_port))) =
        (split_origin(pattern), split_origin(origin))
    else {
        return false;
    };
    if !p_scheme.eq_ignore_ascii_case(o_scheme) || p_port != o_port {
        return false;
    }
    match p_host.strip_prefix("*.") {
        Some(domain) => {
            if domain.is_empty() || domain.contains('*') {
                return false;
            }
            // `get` rather than slicing: the cut may fall inside a multi-byte character.
            let cut = o_host.len().saturating_sub(domain.len());
            let (Some(label), Some(tail)) = (o_host.get(..cut), o_host.get(cut..)) else {
                return false;
            };
            // The label needs at least one character plus the dot before the domain.
            label.is_ascii()
                && label.len() >= 2
                && label.ends_with('.')
                && !label.starts_with('.')
                && !label.contains("..")
                && tail.eq_ignore_ascii_case(domain)
        }
        None => !p_host.contains('*') && p_host.eq_ignore_ascii_case(o_host),
    }
}
