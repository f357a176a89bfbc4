//! Every refusal of the publish pipeline has its own problem type and stores nothing:
//! no capsule, no version, no blob.

use super::support::{Template, bundle, bundle_with, echo_sbom, version};
use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use caravan_registry::capsule::testing::raw_bundle;
use caravan_registry::policy::AdmissionPolicy;
use caravan_registry::signing;
use serde_json::json;
use tar::EntryType;

const MANIFEST_TEXT: &str = "name = \"acme/evil\"\nversion = \"1.0.0\"\ndescription = \"x\"\n\
license = \"MIT\"\n[runtime]\nentrypoint = \"run.sh\"\ntimeout_s = 5\ntier = \"fast\"\n";
const MANIFEST: &[u8] = MANIFEST_TEXT.as_bytes();

fn with_manifest(manifest: &str) -> Vec<u8> {
    raw_bundle(&[
        ("capsule.toml", EntryType::Regular, manifest.as_bytes()),
        ("README.md", EntryType::Regular, b"# Evil\n"),
        ("run.sh", EntryType::Regular, b"#!/bin/sh\n"),
    ])
}

fn hostile(extra: (&str, EntryType, &[u8])) -> Vec<u8> {
    raw_bundle(&[
        ("capsule.toml", EntryType::Regular, MANIFEST),
        ("README.md", EntryType::Regular, b"# Evil\n"),
        ("run.sh", EntryType::Regular, b"#!/bin/sh\n"),
        extra,
    ])
}

#[actix_web::test]
async fn signature_problems_are_refused_before_the_bundle_is_opened() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let beta = app.publisher_in(publisher.tenant.clone(), "beta").await;
    let bytes = bundle(Template::default());
    let sbom = echo_sbom();
    let key = &publisher.tenant.key;

    let mut tampered = bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let (stranger, _) = signing::generate_key_pair().expect("key pair");
    let other_namespace = app.publish_parts(key, &bytes, &beta.sign(&bytes), Some(&sbom)).await;
    let tampered = app.publish_parts(key, &tampered, &publisher.sign(&bytes), Some(&sbom)).await;
    let wrong_key =
        app.publish_parts(key, &bytes, &signing::sign(&stranger.0, &bytes).expect("sign"), Some(&sbom)).await;
    let garbage = app.publish_parts(key, &bytes, "not base64!", Some(&sbom)).await;

    assert_problem(other_namespace, 422, "signed-for-another-namespace").await;
    assert_problem(tampered, 422, "signature-mismatch").await;
    assert_problem(wrong_key, 422, "signature-mismatch").await;
    assert_problem(garbage, 422, "malformed-signature").await;
    assert_nothing_stored(&app, key).await;
}

#[actix_web::test]
async fn a_retired_key_no_longer_signs_and_a_tenant_without_keys_is_told_to_register_one() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let retire = format!("/v1/namespaces/acme/keys/{}/retire", publisher.publisher_key_id);
    assert_eq!(app.post_as(&publisher.tenant.key, &retire, json!({})).await.status(), 200);
    let keyless = app.create_tenant("pro", super::support::ALL_REGISTRY_SCOPES).await;
    let bytes = bundle(Template::default());

    let retired = app.publish(&publisher, &bytes).await;
    let no_keys = app.publish_parts(&keyless.key, &bytes, &publisher.sign(&bytes), Some(&echo_sbom())).await;

    let problem = assert_problem(retired, 422, "publisher-key-retired").await;
    assert!(problem["detail"].as_str().is_some_and(|detail| detail.contains(&publisher.publisher_key_id)));
    assert_problem(no_keys, 422, "no-publisher-keys").await;
    assert_nothing_stored(&app, &publisher.tenant.key).await;
}

#[actix_web::test]
async fn hostile_and_broken_bundles_are_refused_each_with_its_own_problem() {
    let app = spawn_app_with(|settings| settings.registry.admission.max_unpacked_bytes = 1024 * 1024).await;
    let publisher = app.publisher("acme").await;
    let zeros = vec![0_u8; 4 * 1024 * 1024];
    let good = bundle(Template::default());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unsafe-path", hostile(("../../etc/cron.d/evil", EntryType::Regular, b"x"))),
        ("unsafe-path", hostile(("/etc/passwd", EntryType::Regular, b"x"))),
        ("link-in-bundle", hostile(("passwd", EntryType::Symlink, b""))),
        ("special-file-in-bundle", hostile(("tty", EntryType::Char, b""))),
        ("duplicate-entry", hostile(("./run.sh", EntryType::Regular, b"again"))),
        ("decompression-bomb", hostile(("zeros", EntryType::Regular, &zeros))),
        ("corrupt-bundle", good[..good.len() - 20].to_vec()),
        ("corrupt-bundle", b"definitely not gzip".to_vec()),
        ("invalid-manifest", with_manifest(&MANIFEST_TEXT.replace("1.0.0", "1.0"))),
        ("invalid-manifest", with_manifest(&MANIFEST_TEXT.replace("MIT", "Not A License"))),
        ("missing-file", raw_bundle(&[("capsule.toml", EntryType::Regular, MANIFEST)])),
    ];

    for (slug, bytes) in cases {
        let response = app.publish(&publisher, &bytes).await;
        assert_problem(response, 422, slug).await;
    }
    assert_nothing_stored(&app, &publisher.tenant.key).await;
}

#[actix_web::test]
async fn sbom_and_policy_refusals_explain_themselves() {
    let app = spawn_app_with(|settings| {
        settings.registry.admission = AdmissionPolicy {
            denied_licenses: vec!["AGPL-3.0-only".to_owned()],
            allowed_tiers: vec![caravan_registry::capsule::Tier::Fast],
            ..AdmissionPolicy::default()
        }
    })
    .await;
    let publisher = app.publisher("acme").await;
    let key = &publisher.tenant.key;
    let bytes = bundle(Template::default());
    let signature = publisher.sign(&bytes);

    let without_sbom = app.publish_parts(key, &bytes, &signature, None).await;
    let not_cyclonedx =
        app.publish_parts(key, &bytes, &signature, Some(br#"{"spdxVersion":"SPDX-2.3"}"#)).await;
    let old_spec = app
        .publish_parts(
            key,
            &bytes,
            &signature,
            Some(br#"{"bomFormat":"CycloneDX","specVersion":"1.2","version":1}"#),
        )
        .await;
    let agpl = bundle(Template { license: "MIT OR AGPL-3.0-only", ..Template::default() });
    let denied = app.publish(&publisher, &agpl).await;
    let flagship =
        app.publish(&publisher, &bundle(Template { tier: "flagship", ..Template::default() })).await;

    let problem = assert_problem(without_sbom, 422, "sbom-required").await;
    assert!(problem["detail"].as_str().is_some_and(|detail| detail.contains("CycloneDX")));
    assert_problem(not_cyclonedx, 422, "invalid-sbom").await;
    assert_problem(old_spec, 422, "unsupported-sbom-version").await;
    let problem = assert_problem(denied, 422, "denied-license").await;
    assert!(problem["detail"].as_str().is_some_and(|detail| detail.contains("AGPL-3.0-only")));
    assert_problem(flagship, 422, "tier-not-allowed").await;
    assert_nothing_stored(&app, key).await;
    let audit: serde_json::Value = app.get_as(&app.admin_key, "/v1/audit").await.json().await.expect("json");
    let refusals =
        audit["data"].as_array().expect("entries").iter().filter(|entry| entry["action"] == "capsule.refuse");
    assert_eq!(refusals.count(), 3, "policy decisions are audited");
}

#[actix_web::test]
async fn oversize_uploads_are_refused_with_413() {
    let app = spawn_app_with(|settings| settings.registry.admission.max_bundle_bytes = 64 * 1024).await;
    let publisher = app.publisher("acme").await;
    let large = bundle_with(Template::default(), &super::support::incompressible(200_000));
    assert!(large.len() > 64 * 1024);

    let response = app.publish(&publisher, &large).await;

    assert_problem(response, 413, "bundle-too-large").await;
    assert_nothing_stored(&app, &publisher.tenant.key).await;
}

#[actix_web::test]
async fn a_version_is_published_once_and_never_replaced() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let first = version("1.0.0");
    let different_bytes_same_version = bundle_with(Template::default(), b"changed");
    assert_eq!(app.publish(&publisher, &first).await.status(), 201);
    let blobs = app.blob_count();

    let again = app.publish(&publisher, &first).await;
    let replaced = app.publish(&publisher, &different_bytes_same_version).await;

    assert_problem(again, 409, "version-exists").await;
    assert_problem(replaced, 409, "version-exists").await;
    assert_eq!(app.blob_count(), blobs, "no blob left behind");
    let download = app.get_as(&publisher.tenant.key, "/v1/capsules/acme/echo/versions/1.0.0/download").await;
    assert_eq!(download.bytes().await.expect("body").as_ref(), first.as_slice());
}

#[actix_web::test]
async fn malformed_uploads_and_keys_outside_their_patterns_are_refused() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let bytes = bundle(Template::default());
    let signature = publisher.sign(&bytes);
    let (narrow, _) = app
        .create_key_for(
            &app.admin_key,
            Some(&publisher.tenant.id),
            &["registry:publish"],
            json!({ "capsule_patterns": ["acme/other"] }),
        )
        .await;
    let reader = app.create_tenant("pro", &["registry:read"]).await;

    let no_signature = app
        .client
        .post(app.url("/v1/capsules"))
        .bearer_auth(&publisher.tenant.key)
        .multipart(
            reqwest::multipart::Form::new().part("bundle", reqwest::multipart::Part::bytes(bytes.clone())),
        )
        .send()
        .await
        .expect("response");
    let json_body = app.post_as(&publisher.tenant.key, "/v1/capsules", json!({ "bundle": "x" })).await;
    let outside = app.publish_parts(&narrow, &bytes, &signature, Some(&echo_sbom())).await;
    let read_only = app.publish_parts(&reader.key, &bytes, &signature, Some(&echo_sbom())).await;

    assert_problem(no_signature, 400, "invalid-upload").await;
    assert_problem(json_body, 400, "invalid-upload").await;
    assert_problem(outside, 403, "outside-capsule-patterns").await;
    let problem = assert_problem(read_only, 403, "missing-scope").await;
    assert_eq!(problem["required-scope"], "registry:publish");
    assert_nothing_stored(&app, &publisher.tenant.key).await;
}

async fn assert_nothing_stored(app: &crate::helpers::TestApp, key: &str) {
    assert_eq!(app.blob_count(), 0, "no blob is stored for a refused publish");
    for name in ["acme/echo", "acme/evil"] {
        let capsule = app.get_as(key, &format!("/v1/capsules/{name}")).await;
        assert_eq!(capsule.status(), 404, "{name} was not created");
    }
}
