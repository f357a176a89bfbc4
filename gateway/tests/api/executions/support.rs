//! What execution tests share: the fixture capsules published under `acme/`, a tenant that
//! runs them, and calls to the execution API.

use crate::capsules::support::{ALL_REGISTRY_SCOPES, fixtures};
use crate::helpers::{TestApp, TestTenant};
use serde_json::{Value, json};

pub const RUN_SCOPES: &[&str] =
    &["executions:run", "executions:read", "usage:read", "billing:read", "keys:manage"];

impl TestApp {
    /// Publishes the fixture capsules (`acme/echo`, `acme/word-count`,
    /// `acme/json-transform`) as they are committed, signed with `fixtures/keys/acme.key`.
    pub async fn publish_fixtures(&self) -> TestTenant {
        let publisher = self.create_tenant("pro", ALL_REGISTRY_SCOPES).await;
        let public_key = std::fs::read_to_string(fixtures().join("keys/acme.pub")).expect("acme.pub");
        let registered = self
            .post_as(
                &publisher.key,
                "/v1/namespaces/acme/keys",
                json!({ "name": "fixtures", "public_key_pem": public_key }),
            )
            .await;
        assert_eq!(registered.status(), 201);
        for name in ["echo", "word-count", "json-transform"] {
            let bundle = std::fs::read(fixtures().join(format!("dist/{name}.capsule"))).expect("bundle");
            let signature =
                std::fs::read_to_string(fixtures().join(format!("dist/{name}.capsule.sig"))).expect("sig");
            let sbom = std::fs::read(fixtures().join(format!("sboms/{name}.cdx.json"))).expect("sbom");
            let published = self.publish_parts(&publisher.key, &bundle, signature.trim(), Some(&sbom)).await;
            assert_eq!(published.status(), 201, "{name}");
        }
        publisher
    }

    /// Starts a run of `capsule` (`publisher/name`) with `body` as `tenant`.
    pub async fn run(&self, key: &str, capsule: &str, body: Value) -> reqwest::Response {
        self.post_as(key, &format!("/v1/capsules/{capsule}/executions"), body).await
    }

    /// Polls an execution until it has ended.
    pub async fn wait_for_end(&self, key: &str, id: &str) -> Value {
        for _ in 0..400 {
            let execution: Value =
                self.get_as(key, &format!("/v1/executions/{id}")).await.json().await.expect("json");
            if execution["status"] != "running" {
                return execution;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("execution {id} never ended");
    }
}

/// A capsule `lab/<name>` whose entrypoint is `script` (POSIX shell), with a deadline of
/// `timeout_s` and an input schema that takes any object.
pub fn shell_capsule(name: &str, timeout_s: u32, script: &str) -> Vec<u8> {
    shell_capsule_version(name, "1.0.0", timeout_s, script)
}

/// [`shell_capsule`] at `version`.
pub fn shell_capsule_version(name: &str, version: &str, timeout_s: u32, script: &str) -> Vec<u8> {
    let directory = tempfile::tempdir().expect("temp dir");
    let manifest = format!(
        "name = \"lab/{name}\"\nversion = \"{version}\"\ndescription = \"A capsule for tests\"\nlicense = \"MIT\"\n\
         categories = [\"utilities\"]\n\n[runtime]\nentrypoint = \"run.sh\"\ntimeout_s = {timeout_s}\ntier = \"fast\"\n\n\
         [input_schema]\ntype = \"object\"\n"
    );
    std::fs::write(directory.path().join("capsule.toml"), manifest).expect("manifest");
    std::fs::write(directory.path().join("README.md"), format!("# {name}\n")).expect("readme");
    std::fs::write(directory.path().join("run.sh"), format!("#!/bin/sh\n{script}\n")).expect("entrypoint");
    let limits = caravan_registry::capsule::BundleLimits::default();
    caravan_registry::capsule::pack_directory(directory.path(), &limits).expect("pack").0
}

impl TestApp {
    /// Publishes shell capsules under `lab/` with a fresh signing key.
    pub async fn publish_lab(&self, capsules: &[(&str, u32, &str)]) {
        let publisher = self.publisher("lab").await;
        for (name, timeout_s, script) in capsules {
            let published = self.publish(&publisher, &shell_capsule(name, *timeout_s, script)).await;
            assert_eq!(published.status(), 201, "lab/{name}");
        }
    }
}

/// A webhook receiver on a free port: it records every delivery and answers 500 to the
/// first `failures` of them.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Delivered>>>,
}

#[derive(Debug, Clone)]
pub struct Delivered {
    pub signature: String,
    pub body: String,
    pub answered: u16,
}

impl Receiver {
    pub fn start(failures: usize) -> Self {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Delivered>::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
        let shared = received.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().route(
                "/hooks",
                web::post().to(move |request: HttpRequest, body: web::Bytes| {
                    let shared = shared.clone();
                    async move {
                        let mut received = shared.lock().expect("lock");
                        let answered = if received.len() < failures { 500 } else { 200 };
                        received.push(Delivered {
                            signature: request
                                .headers()
                                .get("Caravan-Signature")
                                .and_then(|value| value.to_str().ok())
                                .unwrap_or_default()
                                .to_owned(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                            answered,
                        });
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).expect("status"))
                            .finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        Self { url, received }
    }

    /// Waits until `count` deliveries arrived; all of them.
    pub async fn wait_for(&self, count: usize) -> Vec<Delivered> {
        for _ in 0..400 {
            let received = self.received.lock().expect("lock").clone();
            if received.len() >= count {
                return received;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{count} webhook deliveries never arrived");
    }
}

/// Does `header` (`t=…,v1=…[,v1=…]`) sign `body` with `secret`?
pub fn signed_with(header: &str, body: &str, secret: &str) -> bool {
    use hmac::{Hmac, Mac};
    let timestamp = header.split(',').find_map(|part| part.strip_prefix("t=")).unwrap_or_default();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("mac");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    header.split(',').filter_map(|part| part.strip_prefix("v1=")).any(|signature| signature == expected)
}
