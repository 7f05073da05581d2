//! The site's public model catalog (UPSTREAM.md §7): `GET /nextjs-api/model-catalog`
//! answers the fixture reconstructed from §7 (`tests/fixtures/catalog/`), anonymous, no
//! reCAPTCHA.

/// Path of the catalog.
pub const MODEL_CATALOG_PATH: &str = "/nextjs-api/model-catalog";

/// The catalog body: `tests/fixtures/catalog/model_catalog_2026-10.json`.
pub const MODEL_CATALOG_JSON: &str =
    include_str!("../../../../tests/fixtures/catalog/model_catalog_2026-10.json");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_arena::{start, FakeArenaOptions};

    #[tokio::test]
    async fn the_catalog_is_served_anonymously_and_parses_with_every_page_model() {
        let h = start(FakeArenaOptions::default())
            .await
            .expect("fake starts");
        let cert = reqwest::Certificate::from_pem(h.certificate_pem().as_bytes()).expect("pem");
        let client = reqwest::Client::builder()
            .add_root_certificate(cert)
            .resolve("arena.ai", h.addr())
            .build()
            .expect("client");
        let resp = client
            .get(format!("https://arena.ai:{}{MODEL_CATALOG_PATH}", h.port()))
            .send()
            .await
            .expect("catalog");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let catalog = bridge_core::arena::catalog::parse_catalog(&resp.text().await.expect("body"))
            .expect("parses");
        // Every model of the fake page is in the catalog under the same id, so a chat by
        // catalog id works against the fake.
        for m in crate::fake_arena::FAKE_MODELS {
            let found = catalog
                .models
                .iter()
                .find(|c| c.public_name() == m.public_name)
                .unwrap_or_else(|| panic!("{} missing", m.public_name));
            assert_eq!(found.id(), m.id);
        }
        let recorded = h.requests();
        assert_eq!(recorded.len(), 1);
        assert!(!recorded[0].has_auth_cookie);
        assert_eq!(recorded[0].status, 200);
    }
}
