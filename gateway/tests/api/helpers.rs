//! `spawn_app()`: the real server on a free port with a fresh database, and a client.

use caravan_core::testing::TestDatabase;
use caravan_gateway::Application;
use caravan_gateway::config::Settings;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    _data_dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request reaches the server")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], letting the test adjust the settings first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("create data directory");
    let mut settings = Settings {
        data_dir: data_dir.path().to_owned(),
        database_url: Some(database.url().into()),
        listen: "127.0.0.1:0".to_owned(),
        workers: Some(1),
        ..Settings::default()
    };
    adjust(&mut settings);
    let application = Application::build(settings).await.expect("application builds");
    let address = format!("http://{}", application.address());
    actix_web::rt::spawn(application.run_until_stopped());
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    TestApp { address, client, database, _data_dir: data_dir }
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
