//! `spawn_app()`: the real server on a free port with a fresh database, and a client.

use caravan_core::testing::TestDatabase;
use caravan_gateway::Application;
use caravan_gateway::config::Settings;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    /// The operator's admin key, holding every scope.
    pub admin_key: String,
    _data_dir: tempfile::TempDir,
}

/// A tenant made for a test, with one key.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub id: String,
    pub key: String,
    pub key_id: String,
}

/// A well-formed key that was never issued.
pub const UNKNOWN_KEY: &str = "cvn_live_0000000000000000000000000000000000000000000";

impl TestApp {
    /// A client of a `caravan serve` child process (`served.rs`) that uses `database` and
    /// `data_dir`, acting as the operator with `admin_key`.
    pub fn attach(
        address: &str,
        database: TestDatabase,
        data_dir: tempfile::TempDir,
        admin_key: String,
    ) -> Self {
        let client = test_client();
        Self { address: format!("http://{address}"), client, database, admin_key, _data_dir: data_dir }
    }

    /// Where this server keeps its SQLite file and blobs.
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request reaches the server")
    }

    pub async fn get_as(&self, key: &str, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(key).send().await.expect("request reaches the server")
    }

    pub async fn post_as(&self, key: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request reaches the server")
    }

    pub async fn patch_as(&self, key: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Creates a tenant on `plan` and a key for it with `scopes`, as the operator.
    pub async fn create_tenant(&self, plan: &str, scopes: &[&str]) -> TestTenant {
        let tenant = self
            .post_as(&self.admin_key, "/v1/tenants", serde_json::json!({ "name": "Acme", "plan": plan }))
            .await;
        assert_eq!(tenant.status(), 201, "create tenant");
        let tenant: serde_json::Value = tenant.json().await.expect("tenant json");
        let id = tenant["id"].as_str().expect("tenant id").to_owned();
        let key = self.create_key_for(&self.admin_key, Some(&id), scopes, serde_json::json!({})).await;
        TestTenant { id, key: key.0, key_id: key.1 }
    }

    /// Creates a key as `actor`, returning (secret, key id); `extra` adds request fields.
    pub async fn create_key_for(
        &self,
        actor: &str,
        tenant: Option<&str>,
        scopes: &[&str],
        extra: serde_json::Value,
    ) -> (String, String) {
        let mut body = serde_json::json!({ "name": "test key", "scopes": scopes });
        if let Some(tenant) = tenant {
            body["tenant_id"] = tenant.into();
        }
        if let Some(extra) = extra.as_object() {
            for (field, value) in extra {
                body[field] = value.clone();
            }
        }
        let response = self.post_as(actor, "/v1/keys", body).await;
        assert_eq!(response.status(), 201, "create key");
        let created: serde_json::Value = response.json().await.expect("key json");
        (
            created["secret"].as_str().expect("secret").to_owned(),
            created["key"]["id"].as_str().expect("id").to_owned(),
        )
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], letting the test adjust the settings first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("create data directory");
    let admin_key = test_secret();
    let mut settings = Settings {
        data_dir: data_dir.path().to_owned(),
        database_url: Some(database.url().into()),
        listen: "127.0.0.1:0".to_owned(),
        workers: Some(1),
        bootstrap_key: Some(admin_key.clone().into()),
        ..Settings::default()
    };
    adjust(&mut settings);
    let application = Application::build(settings).await.expect("application builds");
    let address = format!("http://{}", application.address());
    actix_web::rt::spawn(application.run_until_stopped());
    let client = test_client();
    TestApp { address, client, database, admin_key, _data_dir: data_dir }
}

/// The HTTP client every test speaks through. Idle pooled connections are dropped after one
/// second, well before the server's five-second keep-alive closes them, so a request never
/// races the server's close of the connection it was about to reuse.
fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("client")
}

/// A fresh, well-formed live key secret.
pub fn test_secret() -> String {
    let random: String = caravan_core::id::Ulid::new()
        .to_string()
        .chars()
        .chain("0123456789abcdefgh".chars())
        .take(43)
        .collect();
    format!("cvn_live_{random}")
}

/// Asserts a problem+json answer with `status` and `/problems/<slug>`, returning the body.
pub async fn assert_problem(response: reqwest::Response, status: u16, slug: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string(), "{body}");
    body
}
