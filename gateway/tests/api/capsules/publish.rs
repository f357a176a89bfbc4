//! Publishing a signed capsule with its SBOM, then reading, downloading and verifying it.

use super::support::{Template, bundle, echo_sbom, fixtures};
use crate::helpers::{assert_problem, spawn_app};
use base64::Engine;
use caravan_registry::signing::PublicKey;
use serde_json::Value;
use sha2::Digest;
use std::process::Command;

#[actix_web::test]
async fn a_published_capsule_reads_downloads_and_verifies() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let bytes = bundle(Template::default());
    let sbom = echo_sbom();

    let published = app.publish(&publisher, &bytes).await;
    assert_eq!(published.status(), 201);
    assert_eq!(
        published.headers().get("location").and_then(|value| value.to_str().ok()),
        Some("/v1/capsules/acme/echo/versions/1.0.0")
    );
    let version: Value = published.json().await.expect("json");
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(version["capsule"], "acme/echo");
    assert_eq!(version["status"], "active");
    assert_eq!(version["digest"], digest);
    assert_eq!(version["size_bytes"], bytes.len());
    assert_eq!(version["signer_key_id"], publisher.publisher_key_id.as_str());
    assert_eq!(version["manifest"]["runtime"]["tier"], "fast");
    assert_eq!(version["admission"]["decision"], "admitted");
    assert!(version["sbom"]["component_count"].as_i64().is_some_and(|count| count >= 1), "{version}");
    assert_eq!(version["sbom"]["spec_version"], "1.5");

    let reader = app.create_tenant("free", &["registry:read"]).await;
    let fetched: Value =
        app.get_as(&reader.key, "/v1/capsules/acme/echo/versions/1.0.0").await.json().await.expect("json");
    assert_eq!(fetched, version);
    let capsule: Value = app.get_as(&reader.key, "/v1/capsules/acme/echo").await.json().await.expect("json");
    assert_eq!(capsule["latest_version"], "1.0.0");
    assert_eq!(capsule["version_count"], 1);

    let download = app.get_as(&reader.key, "/v1/capsules/acme/echo/versions/1.0.0/download").await;
    assert_eq!(download.status(), 200);
    let header =
        |name: &str| download.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    assert_eq!(header("etag"), Some(format!("\"{digest}\"")));
    let digest_base64 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
    assert_eq!(header("digest"), Some(format!("sha-256={digest_base64}")));
    assert_eq!(header("repr-digest"), Some(format!("sha-256=:{digest_base64}:")));
    assert_eq!(header("accept-ranges").as_deref(), Some("bytes"));
    let downloaded = download.bytes().await.expect("body");
    assert_eq!(downloaded.as_ref(), bytes.as_slice());

    let signature = app
        .get_as(&reader.key, "/v1/capsules/acme/echo/versions/1.0.0/signature")
        .await
        .text()
        .await
        .expect("signature");
    PublicKey::from_pem(&publisher.public_key_pem)
        .expect("public key")
        .verify(&signature, &downloaded)
        .expect("verifies");
    let served_sbom = app
        .get_as(&reader.key, "/v1/capsules/acme/echo/versions/1.0.0/sbom")
        .await
        .bytes()
        .await
        .expect("sbom");
    assert_eq!(served_sbom.as_ref(), sbom.as_slice());
}

#[actix_web::test]
async fn downloads_answer_ranges_and_conditional_requests() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let bytes = bundle(Template::default());
    assert_eq!(app.publish(&publisher, &bytes).await.status(), 201);
    let path = app.url("/v1/capsules/acme/echo/versions/1.0.0/download");
    let get = |range: Option<&str>, etag: Option<&str>| {
        let mut request = app.client.get(&path).bearer_auth(&publisher.tenant.key);
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        if let Some(etag) = etag {
            request = request.header("If-None-Match", etag);
        }
        request.send()
    };
    let size = bytes.len();

    let first = get(Some("bytes=0-9"), None).await.expect("response");
    assert_eq!(first.status(), 206);
    assert_eq!(
        first.headers().get("content-range").and_then(|value| value.to_str().ok()),
        Some(format!("bytes 0-9/{size}").as_str())
    );
    assert_eq!(first.bytes().await.expect("body").as_ref(), &bytes[..10]);
    let tail = get(Some("bytes=-5"), None).await.expect("response");
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.expect("body").as_ref(), &bytes[size - 5..]);
    let rest = get(Some("bytes=10-"), None).await.expect("response");
    assert_eq!(rest.bytes().await.expect("body").as_ref(), &bytes[10..]);
    let outside = get(Some(&format!("bytes={size}-")), None).await.expect("response");
    assert_problem(outside, 416, "range-not-satisfiable").await;

    let digest = format!("\"sha256:{}\"", hex::encode(sha2::Sha256::digest(&bytes)));
    let unchanged = get(None, Some(&digest)).await.expect("response");
    assert_eq!(unchanged.status(), 304);
    let changed = get(None, Some("\"sha256:other\"")).await.expect("response");
    assert_eq!(changed.status(), 200);
}

#[actix_web::test]
async fn a_signature_made_by_openssl_is_accepted() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let bytes = bundle(Template::default());
    let directory = tempfile::tempdir().expect("temp dir");
    let key_path = directory.path().join("acme.key");
    let bundle_path = directory.path().join("echo.capsule");
    std::fs::write(&key_path, &publisher.signing_key.0).expect("write key");
    std::fs::write(&bundle_path, &bytes).expect("write bundle");
    let signed = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key_path)
        .arg(&bundle_path)
        .output()
        .expect("openssl runs");
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let signature = base64::engine::general_purpose::STANDARD.encode(&signed.stdout);

    let published = app.publish_parts(&publisher.tenant.key, &bytes, &signature, Some(&echo_sbom())).await;

    assert_eq!(published.status(), 201);
}

/// An SBOM made by the real `cyclonedx-py`: fresh from the tool when
/// `CARAVAN_TEST_CYCLONEDX_PY` names it (CI installs it), else the committed one it made.
#[actix_web::test]
async fn sboms_made_by_cyclonedx_py_are_accepted_in_every_supported_spec_version() {
    let app = spawn_app().await;
    let publisher = app.publisher("acme").await;
    let mut sboms = vec![
        ("1.5", std::fs::read(fixtures().join("sboms/echo.cdx.json")).expect("1.5 fixture")),
        ("1.6", std::fs::read(fixtures().join("sboms/echo.cdx-1.6.json")).expect("1.6 fixture")),
    ];
    if let Ok(tool) = std::env::var("CARAVAN_TEST_CYCLONEDX_PY") {
        for spec in ["1.4", "1.5", "1.6"] {
            let made = Command::new(&tool)
                .args(["requirements", "--spec-version", spec, "--output-format", "JSON"])
                .arg(fixtures().join("sboms/echo.requirements.txt"))
                .output()
                .expect("cyclonedx-py runs");
            assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
            sboms.push((spec, made.stdout));
        }
    }

    for (index, (spec, sbom)) in sboms.iter().enumerate() {
        let bytes = super::support::version(&format!("1.0.{index}"));
        let published =
            app.publish_parts(&publisher.tenant.key, &bytes, &publisher.sign(&bytes), Some(sbom)).await;
        assert_eq!(published.status(), 201, "CycloneDX {spec}");
        let version: Value = published.json().await.expect("json");
        assert_eq!(version["sbom"]["spec_version"], *spec);
    }
}
