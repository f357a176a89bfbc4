//! What capsule tests share: a publisher (tenant, registered signing key), bundles made
//! from a template manifest, SBOMs, and the multipart publish request.

use crate::helpers::{TestApp, TestTenant};
use caravan_registry::capsule::{BundleLimits, pack_directory};
use caravan_registry::signing::{self, PrivateKeyPem};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::path::PathBuf;

pub const ALL_REGISTRY_SCOPES: &[&str] = &["registry:read", "registry:publish", "registry:yank"];

/// A tenant with a key and a signing key registered for `namespace`.
#[allow(missing_debug_implementations)] // holds a private key
pub struct Publisher {
    pub tenant: TestTenant,
    pub signing_key: PrivateKeyPem,
    pub public_key_pem: String,
    pub publisher_key_id: String,
}

impl Publisher {
    pub fn sign(&self, bundle: &[u8]) -> String {
        signing::sign(&self.signing_key.0, bundle).expect("sign")
    }
}

impl TestApp {
    pub async fn publisher(&self, namespace: &str) -> Publisher {
        let tenant = self.create_tenant("pro", ALL_REGISTRY_SCOPES).await;
        self.publisher_in(tenant, namespace).await
    }

    /// Registers a fresh signing key for `namespace` as `tenant`.
    pub async fn publisher_in(&self, tenant: TestTenant, namespace: &str) -> Publisher {
        let (signing_key, public_key_pem) = signing::generate_key_pair().expect("key pair");
        let path = format!("/v1/namespaces/{namespace}/keys");
        let response = self
            .post_as(&tenant.key, &path, json!({ "name": "release", "public_key_pem": public_key_pem }))
            .await;
        assert_eq!(response.status(), 201, "register publisher key");
        let key: Value = response.json().await.expect("json");
        let publisher_key_id = key["id"].as_str().expect("id").to_owned();
        Publisher { tenant, signing_key, public_key_pem, publisher_key_id }
    }

    /// `POST /v1/capsules` with the given parts.
    pub async fn publish_parts(
        &self,
        key: &str,
        bundle: &[u8],
        signature: &str,
        sbom: Option<&[u8]>,
    ) -> reqwest::Response {
        let mut form = Form::new()
            .part("bundle", Part::bytes(bundle.to_vec()).file_name("capsule.capsule"))
            .text("signature", signature.to_owned());
        if let Some(sbom) = sbom {
            form = form.part("sbom", Part::bytes(sbom.to_vec()).file_name("sbom.cdx.json"));
        }
        self.client
            .post(self.url("/v1/capsules"))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Signs `bundle` with the publisher's key and publishes it with the echo SBOM.
    pub async fn publish(&self, publisher: &Publisher, bundle: &[u8]) -> reqwest::Response {
        self.publish_parts(&publisher.tenant.key, bundle, &publisher.sign(bundle), Some(&echo_sbom())).await
    }

    /// Every blob file under the data directory.
    pub fn blob_count(&self) -> usize {
        fn count(directory: &std::path::Path) -> usize {
            std::fs::read_dir(directory)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|entry| if entry.path().is_dir() { count(&entry.path()) } else { 1 })
                        .sum()
                })
                .unwrap_or(0)
        }
        count(&self.data_dir().join("blobs"))
    }
}

/// A capsule's manifest fields that tests vary.
#[derive(Debug)]
pub struct Template<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub license: &'a str,
    pub tier: &'a str,
}

impl Default for Template<'_> {
    fn default() -> Self {
        Self { name: "acme/echo", version: "1.0.0", license: "Apache-2.0", tier: "fast" }
    }
}

/// Packs a small capsule from the template, with `payload` as an extra file.
pub fn bundle_with(template: Template<'_>, payload: &[u8]) -> Vec<u8> {
    let directory = tempfile::tempdir().expect("temp dir");
    let manifest = format!(
        "name = \"{}\"\nversion = \"{}\"\ndescription = \"Echoes its input\"\nlicense = \"{}\"\n\
         categories = [\"utilities\"]\n\n[runtime]\nentrypoint = \"run.sh\"\ntimeout_s = 10\ntier = \"{}\"\n",
        template.name, template.version, template.license, template.tier
    );
    std::fs::write(directory.path().join("capsule.toml"), manifest).expect("write manifest");
    std::fs::write(directory.path().join("README.md"), "# Echo\n").expect("write readme");
    std::fs::write(directory.path().join("run.sh"), "#!/bin/sh\ncat\n").expect("write entrypoint");
    std::fs::write(directory.path().join("payload.bin"), payload).expect("write payload");
    let limits = BundleLimits { max_bundle_bytes: u64::MAX, max_unpacked_bytes: u64::MAX, max_entries: 100 };
    pack_directory(directory.path(), &limits).expect("pack").0
}

pub fn bundle(template: Template<'_>) -> Vec<u8> {
    bundle_with(template, b"")
}

pub fn version(version: &str) -> Vec<u8> {
    bundle(Template { version, ..Template::default() })
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The echo capsule's SBOM, made by `cyclonedx-py` (see `fixtures/sboms/README.md`).
pub fn echo_sbom() -> Vec<u8> {
    std::fs::read(fixtures().join("sboms/echo.cdx.json")).expect("fixtures/sboms/echo.cdx.json")
}

/// Bytes gzip cannot shrink (xorshift), so a bundle is as large as its payload.
pub fn incompressible(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
