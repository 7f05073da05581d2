//! A small HTTPS file host on 127.0.0.1 with a fresh self-signed certificate, for tests of the
//! server's downloads: each path answers a fixed [`Hosted`] reply, and every request is counted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio_rustls::TlsAcceptor;

/// What a path answers.
#[derive(Debug, Clone)]
pub enum Hosted {
    /// 200 with this content type and body.
    File {
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// 302 to this location.
    Redirect(String),
}

/// A running host; it stops when the test's runtime ends.
#[derive(Debug)]
pub struct HttpsHost {
    pub port: u16,
    /// The certificate's PEM, for a client that trusts it.
    pub certificate_pem: String,
    hits: Arc<AtomicUsize>,
}

impl HttpsHost {
    /// Serves `routes` (path → reply; other paths 404) on 127.0.0.1:0.
    pub async fn start(routes: Vec<(&'static str, Hosted)>) -> HttpsHost {
        let (config, certificate_pem) =
            crate::fake_arena::tls::server_config().expect("test TLS identity");
        let acceptor = TlsAcceptor::from(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let routes: Arc<HashMap<&'static str, Hosted>> = Arc::new(routes.into_iter().collect());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let routes = routes.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let reply = reply(routes.get(req.uri().path()));
                        async move { Ok::<_, Infallible>(reply) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        HttpsHost {
            port,
            certificate_pem,
            hits,
        }
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{}", self.port, path)
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn reply(hosted: Option<&Hosted>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    match hosted {
        Some(Hosted::File { content_type, body }) => {
            *res.body_mut() = Full::new(Bytes::from(body.clone()));
            if let Ok(v) = content_type.parse() {
                res.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
            }
        }
        Some(Hosted::Redirect(to)) => {
            *res.status_mut() = StatusCode::FOUND;
            if let Ok(v) = to.parse() {
                res.headers_mut().insert(hyper::header::LOCATION, v);
            }
        }
        None => *res.status_mut() = StatusCode::NOT_FOUND,
    }
    res
}
