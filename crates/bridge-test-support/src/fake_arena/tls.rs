//! The fake's TLS identity: a fresh self-signed certificate for every LMArena host name (and
//! loopback), served over HTTP/2 or HTTP/1.1.

use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::FakeArenaError;

/// Names the certificate covers; Chromium reaches them through `--host-resolver-rules`.
pub const CERT_HOST_NAMES: &[&str] = &[
    "lmarena.ai",
    "*.lmarena.ai",
    "arena.ai",
    "*.arena.ai",
    // The stub reCAPTCHA script is also served as https://www.google.com/recaptcha/…
    "www.google.com",
    // The object store of image uploads (a second origin).
    super::actions::UPLOAD_HOST,
    "localhost",
    "127.0.0.1",
];

/// A TLS server configuration and the certificate's PEM (for clients that want to trust it).
pub(crate) fn server_config() -> Result<(Arc<rustls::ServerConfig>, String), FakeArenaError> {
    let names: Vec<String> = CERT_HOST_NAMES.iter().map(|s| (*s).to_owned()).collect();
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fake lmarena.ai");
    let cert = params.self_signed(&key)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), cert.pem()))
}
