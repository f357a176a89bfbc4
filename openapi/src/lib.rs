//! The one OpenAPI 3.1 document of the Caravan API: the top-level description, the shared
//! components (the problem+json schema), and every crate's paths merged together. The
//! document is committed at `openapi/openapi.json`; a gateway test keeps the two equal.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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
    complete_refusals(&mut document);
    list_problem_types(&mut document);
    document
}

/// [`document`] with the gateway's own endpoints merged in.
pub fn with_edge(edge: Document) -> Document {
    let mut document = document();
    document.merge(edge);
    complete_refusals(&mut document);
    document
}

/// The methods each path of `document` answers (`/v1/keys/{key_id}` → `GET`), for the
/// `Allow` header of a 405.
pub fn allowed_methods(document: &Document) -> std::collections::HashMap<String, String> {
    document
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let methods: Vec<&str> = [
                ("GET", item.get.is_some()),
                ("PUT", item.put.is_some()),
                ("POST", item.post.is_some()),
                ("DELETE", item.delete.is_some()),
                ("PATCH", item.patch.is_some()),
            ]
            .into_iter()
            .filter_map(|(method, present)| present.then_some(method))
            .collect();
            (path.clone(), methods.join(", "))
        })
        .collect()
}

/// What every operation may answer without each declaring it: 400 for a malformed query,
/// path or header parameter, 415 for a request body of another media type, and the
/// problem+json schema on every problem+json response.
fn complete_refusals(document: &mut Document) {
    for item in document.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            complete_operation(operation);
        }
    }
}

fn complete_operation(operation: &mut Operation) {
    let problem = || RefOr::Ref(Ref::from_schema_name("Problem"));
    let refusal = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(problem())).build())
                .build(),
        )
    };
    let responses = &mut operation.responses.responses;
    if operation.parameters.as_ref().is_some_and(|parameters| !parameters.is_empty()) {
        responses.entry("400".to_owned()).or_insert_with(|| refusal("Malformed request"));
    }
    if operation.request_body.is_some() {
        responses
            .entry("415".to_owned())
            .or_insert_with(|| refusal("The body is not of a media type this operation reads"));
    }
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        if let Some(RefOr::T(content)) = response.content.get_mut(PROBLEM_JSON)
            && content.schema.is_none()
        {
            content.schema = Some(problem());
        }
    }
}

const PROBLEM_JSON: &str = "application/problem+json";

/// Every problem slug the code answers, one per line; a gateway test keeps it equal to the
/// `fn slug`s of the code.
const PROBLEM_TYPES: &str = include_str!("../problem-types.txt");

/// Names every problem type in the description of `Problem.type`, so clients can match on
/// them without reading the code.
fn list_problem_types(document: &mut Document) {
    use utoipa::openapi::schema::Schema;
    let Some(components) = document.components.as_mut() else { return };
    let Some(RefOr::T(Schema::Object(problem))) = components.schemas.get_mut("Problem") else { return };
    let Some(RefOr::T(Schema::Object(kind))) = problem.properties.get_mut("type") else { return };
    let listed: Vec<String> = PROBLEM_TYPES.lines().map(|slug| format!("`/problems/{slug}`")).collect();
    kind.description =
        Some(format!("Identifies the problem type; stable across releases. One of: {}.", listed.join(", ")));
}

/// The document as committed: pretty JSON with a trailing newline.
pub fn to_committed_json(document: &Document) -> Result<String, serde_json::Error> {
    document.to_pretty_json().map(|json| json + "\n")
}
