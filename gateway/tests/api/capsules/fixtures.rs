//! The fixture capsules in `fixtures/` are real: each directory packs to the committed
//! bundle byte for byte, and each bundle publishes with its committed signature (made with
//! `fixtures/keys/acme.key`) and its `cyclonedx-py` SBOM.

use super::support::{ALL_REGISTRY_SCOPES, fixtures};
use crate::helpers::spawn_app;
use caravan_registry::capsule::{BundleLimits, pack_directory};
use serde_json::{Value, json};

const FIXTURE_CAPSULES: [&str; 3] = ["echo", "word-count", "json-transform"];

#[test]
fn every_fixture_directory_packs_to_its_committed_bundle() {
    let limits = BundleLimits::default();
    for name in FIXTURE_CAPSULES {
        let (packed, _) = pack_directory(&fixtures().join("capsules").join(name), &limits).expect("pack");
        let committed = std::fs::read(fixtures().join(format!("dist/{name}.capsule"))).expect("dist bundle");
        assert!(packed == committed, "fixtures/dist/{name}.capsule is stale: run fixtures/rebuild.sh");
    }
}

#[actix_web::test]
async fn every_fixture_capsule_publishes_with_its_signature_and_sbom() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", ALL_REGISTRY_SCOPES).await;
    let public_key = std::fs::read_to_string(fixtures().join("keys/acme.pub")).expect("acme.pub");
    let registered = app
        .post_as(
            &tenant.key,
            "/v1/namespaces/acme/keys",
            json!({ "name": "fixtures", "public_key_pem": public_key }),
        )
        .await;
    assert_eq!(registered.status(), 201);

    for name in FIXTURE_CAPSULES {
        let bundle = std::fs::read(fixtures().join(format!("dist/{name}.capsule"))).expect("bundle");
        let signature =
            std::fs::read_to_string(fixtures().join(format!("dist/{name}.capsule.sig"))).expect("sig");
        let sbom = std::fs::read(fixtures().join(format!("sboms/{name}.cdx.json"))).expect("sbom");

        let published = app.publish_parts(&tenant.key, &bundle, signature.trim(), Some(&sbom)).await;

        assert_eq!(published.status(), 201, "{name}: {}", published.text().await.unwrap_or_default());
        let version: Value = published.json().await.expect("json");
        assert_eq!(version["capsule"], format!("acme/{name}"));
        assert_eq!(version["admission"]["decision"], "admitted");
    }
}
