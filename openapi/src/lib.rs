//! The one OpenAPI 3.1 document of the Caravan API: the top-level description, the shared
//! components (the problem+json schema), and every crate's paths merged together. The
//! document is committed at `openapi/openapi.json`; a gateway test keeps the two equal.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Caravan",
        description = "Marketplace registry and metering gateway for AI-agent capsules.\n\n\
            Every error is an RFC 9457 `application/problem+json` body whose `type` is a stable \
            relative URI `/problems/<slug>`; match on it, not on `detail`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(caravan_core::Problem)),
    modifiers(&SecuritySchemes),
)]
struct Root;

/// API keys travel as `Authorization: Bearer cvn_…` or `X-API-Key: cvn_…`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cvn_live_… or cvn_test_… API key")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "The same API key",
            ))),
        );
    }
}

/// The document for every crate's routes. The gateway adds its operational endpoints
/// (`/healthz`, `/readyz`, `/metrics`) with [`with_edge`].
pub fn document() -> Document {
    let mut document = Root::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document.merge(caravan_registry::ApiDoc::openapi());
    document.merge(caravan_metering::ApiDoc::openapi());
    document.merge(caravan_portal_api::ApiDoc::openapi());
    document.merge(caravan_worker::ApiDoc::openapi());
    document
}

/// [`document`] with the gateway's own endpoints merged in.
pub fn with_edge(edge: Document) -> Document {
    let mut document = document();
    document.merge(edge);
    document
}

/// The document as committed: pretty JSON with a trailing newline.
pub fn to_committed_json(document: &Document) -> Result<String, serde_json::Error> {
    document.to_pretty_json().map(|json| json + "\n")
}
