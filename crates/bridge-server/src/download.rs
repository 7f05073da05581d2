//! Downloads of images the server fetches itself: the generated images of a `b64_json` answer
//! and the http(s) images of a client's `image_url` parts. One set of rules for both: https
//! only, every resolved address public (no loopback, private, link-local, …), the connection
//! pinned to the checked addresses, no redirects, and a size cap enforced while reading.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

/// How long one download may take, connect to last byte.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest URL shown in an error message.
const URL_SHOWN: usize = 120;

/// Settings of the download rules that only tests change; never read from config or flags.
#[derive(Debug, Clone, Default)]
pub struct DownloadOptions {
    /// An extra root certificate (PEM) trusted for downloads (a test's HTTPS host).
    pub extra_root_pem: Option<String>,
    /// Lets loopback addresses through (a test's host on 127.0.0.1); every other rule stays.
    pub allow_loopback: bool,
}

/// A finished download.
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub(crate) bytes: Vec<u8>,
    /// The `content-type` header without parameters, lower case.
    pub(crate) content_type: Option<String>,
}

/// Why a download was refused or failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DownloadError {
    #[error("the URL {0} is not a valid URL")]
    BadUrl(String),
    #[error("only https:// URLs are downloaded, not {0}")]
    NotHttps(String),
    #[error("{url} resolves to {addr}, a loopback, private or otherwise non-public address")]
    NotPublic { url: String, addr: IpAddr },
    #[error("cannot resolve the host of {url}: {why}")]
    Resolve { url: String, why: String },
    #[error("{url} answered a redirect (HTTP {status}); redirects are not followed")]
    Redirect { url: String, status: u16 },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("downloading {url} failed: {why}")]
    Network { url: String, why: String },
}

/// Downloads `url` under the rules, reading at most `limit` bytes.
pub(crate) async fn fetch(
    url: &str,
    limit: usize,
    options: &DownloadOptions,
) -> Result<Downloaded, DownloadError> {
    let shown = shorten(url);
    let parsed = Url::parse(url).map_err(|_| DownloadError::BadUrl(shown.clone()))?;
    if parsed.scheme() != "https" {
        return Err(DownloadError::NotHttps(shown));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| DownloadError::BadUrl(shown.clone()))?
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs = resolve(&host, port)
        .await
        .map_err(|why| DownloadError::Resolve {
            url: shown.clone(),
            why,
        })?;
    if let Some(addr) = addrs
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| !allowed(*ip, options))
    {
        return Err(DownloadError::NotPublic { url: shown, addr });
    }
    let network = |e: reqwest::Error| DownloadError::Network {
        url: shown.clone(),
        why: e.without_url().to_string(),
    };
    let mut builder = reqwest::Client::builder()
        .timeout(DOWNLOAD_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .https_only(true)
        // Connect only to the addresses checked above: a second lookup could answer otherwise.
        .resolve_to_addrs(&host, &addrs);
    if let Some(pem) = &options.extra_root_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(network)?;
        builder = builder.add_root_certificate(cert);
    }
    let client = builder.build().map_err(network)?;
    let mut res = client.get(parsed).send().await.map_err(network)?;
    let status = res.status();
    if status.is_redirection() {
        return Err(DownloadError::Redirect {
            url: shown,
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(DownloadError::Status {
            url: shown,
            status: status.as_u16(),
        });
    }
    let too_large = || DownloadError::TooLarge {
        url: shown.clone(),
        limit,
    };
    if res.content_length().is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let content_type = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase());
    let mut bytes = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(network)? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Downloaded {
        bytes,
        content_type,
    })
}

/// The host's addresses: an IP literal as is, a name through the system resolver.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if let Ok(ip) = literal.unwrap_or(host).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| e.to_string())?
        .collect();
    if addrs.is_empty() {
        Err("no address".to_owned())
    } else {
        Ok(addrs)
    }
}

fn allowed(ip: IpAddr, options: &DownloadOptions) -> bool {
    is_public(ip) || (options.allow_loopback && ip.to_canonical().is_loopback())
}

/// True for addresses on the public internet: not loopback, private, link-local, shared
/// (CGNAT), documentation, benchmarking, multicast, broadcast, reserved or unspecified.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && c == 0))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local.
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
        || (seg[0] & 0xffc0) == 0xfec0
        // 2001:db8::/32 documentation, 64:ff9b::/96 NAT64 can reach anything.
        || (seg[0] == 0x2001 && seg[1] == 0x0db8)
        || (seg[0] == 0x0064 && seg[1] == 0xff9b))
}

/// The URL as shown in messages and logs: capped, never a whole `data:` payload.
fn shorten(url: &str) -> String {
    match url.char_indices().nth(URL_SHOWN) {
        Some((end, _)) => format!("{}…", &url[..end]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_are_told_apart_from_local_ones() {
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:192.168.0.1",
            "2001:db8::1",
            "64:ff9b::7f00:1",
        ] {
            assert!(
                !is_public(local.parse().unwrap()),
                "{local} counted as public"
            );
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"] {
            assert!(
                is_public(public.parse().unwrap()),
                "{public} counted as local"
            );
        }
    }

    #[tokio::test]
    async fn http_and_loopback_and_non_urls_are_refused_before_connecting() {
        let opts = DownloadOptions::default();
        assert!(matches!(
            fetch("http://example.com/a.png", 10, &opts).await,
            Err(DownloadError::NotHttps(_))
        ));
        assert!(matches!(
            fetch("https://127.0.0.1:1/a.png", 10, &opts).await,
            Err(DownloadError::NotPublic { .. })
        ));
        assert!(matches!(
            fetch("https://[::1]:1/a.png", 10, &opts).await,
            Err(DownloadError::NotPublic { .. })
        ));
        assert!(matches!(
            fetch("https://localhost:1/a.png", 10, &opts).await,
            Err(DownloadError::NotPublic { .. })
        ));
        assert!(matches!(
            fetch("not a url", 10, &opts).await,
            Err(DownloadError::BadUrl(_))
        ));
    }

    #[test]
    fn long_urls_are_shortened_on_a_char_boundary() {
        let url = format!("https://x/{}", "é".repeat(200));
        let shown = shorten(&url);
        assert_eq!(shown.chars().count(), URL_SHOWN + 1);
    }
}
