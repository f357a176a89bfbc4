//! The OpenAPI document: the committed `openapi/openapi.json` is exactly what the code
//! serves. Run with `UPDATE_OPENAPI=1` to rewrite the committed file after a change.

use crate::helpers::spawn_app;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

#[test]
fn the_committed_document_matches_the_code() {
    let generated =
        caravan_openapi::to_committed_json(&caravan_gateway::openapi_document()).expect("serialize");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &generated).expect("write openapi/openapi.json");
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p caravan-gateway --test api openapi` and commit it"
    );
}

#[actix_web::test]
async fn the_server_serves_the_committed_document() {
    let app = spawn_app().await;

    let served: serde_json::Value = app.get("/openapi.json").await.json().await.expect("json");

    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(committed_path()).expect("read")).expect("parse");
    assert_eq!(served, committed);
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/healthz"]["get"].is_object());
    assert!(served["components"]["schemas"]["Problem"].is_object());
}
