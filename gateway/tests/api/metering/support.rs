//! What metering tests share: CloudEvents, times in the open periods, sending events,
//! and the Stripe-compatible servers (the repository's test server and `localstripe`).

use crate::helpers::TestApp;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const BATCH: &str = "application/cloudevents-batch+json";
pub const SINGLE: &str = "application/cloudevents+json";

/// A `caravan.usage` CloudEvent.
pub fn usage_event(id: &str, time: DateTime<Utc>, data: Value) -> Value {
    json!({ "specversion": "1.0", "id": id, "source": "test-runtime", "type": "caravan.usage",
        "time": time.to_rfc3339(), "data": data })
}

/// A moment of the previous month: its period is open (for late events) and over, so it
/// can be closed.
pub fn last_month(day: u32, hour: u32) -> DateTime<Utc> {
    let now = Utc::now();
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).expect("first of the month");
    let previous = first - Duration::days(1);
    let date = NaiveDate::from_ymd_opt(previous.year(), previous.month(), day).expect("a day of last month");
    Utc.from_utc_datetime(&date.and_hms_opt(hour, 0, 0).expect("hour"))
}

/// `YYYY-MM` of the previous month.
pub fn last_period() -> String {
    last_month(1, 0).format("%Y-%m").to_string()
}

impl TestApp {
    pub async fn send_events(&self, key: &str, body: &Value, content_type: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/events"))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Sends a batch and asserts every event was accepted.
    pub async fn ingest(&self, key: &str, events: Vec<Value>) {
        let count = events.len();
        let response = self.send_events(key, &Value::Array(events), BATCH).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["accepted"], count, "{body}");
    }

    /// A tenant with a key for usage and billing and one event last month that costs
    /// nothing (tool calls within the allowance), so closing last month invoices it.
    pub async fn billed_tenant(&self, plan: &str) -> crate::helpers::TestTenant {
        let tenant = self.create_tenant(plan, &["usage:write", "usage:read", "billing:read"]).await;
        self.ingest(&tenant.key, vec![usage_event("joined", last_month(1, 0), json!({ "tool_calls": 1 }))])
            .await;
        tenant
    }

    /// The operator closes last month.
    pub async fn close_last_period(&self) -> Value {
        let response = self
            .post_as(&self.admin_key, &format!("/v1/billing/periods/{}/close", last_period()), json!({}))
            .await;
        assert_eq!(response.status(), 200, "close");
        response.json().await.expect("json")
    }

    /// The one invoice of `tenant` for last month, with its lines.
    pub async fn last_invoice_of(&self, key: &str) -> Value {
        let list: Value = self
            .get_as(key, &format!("/v1/invoices?period={}", last_period()))
            .await
            .json()
            .await
            .expect("json");
        let id = list["data"][0]["id"].as_str().expect("an invoice").to_owned();
        self.get_as(key, &format!("/v1/invoices/{id}")).await.json().await.expect("json")
    }
}

/// A Stripe-compatible server as a child process, stopped when dropped.
#[derive(Debug)]
pub struct StripeServer {
    child: Child,
    pub url: String,
}

pub const STRIPE_KEY: &str = "sk_test_caravan";

impl Drop for StripeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl StripeServer {
    /// The repository's test server (`metering/stripe-test-server`), on a free port.
    pub fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../metering/stripe-test-server/server.py");
        let mut child = Command::new("python3")
            .args([script, "--port", "0", "--api-key", STRIPE_KEY])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the Stripe test server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the server prints its address");
        let url = line.trim().strip_prefix("listening on ").expect("`listening on <url>`").to_owned();
        Self { child, url }
    }

    /// `localstripe` (PyPI), as `CARAVAN_TEST_LOCALSTRIPE` names it or found on PATH.
    pub fn localstripe() -> Self {
        let program = std::env::var("CARAVAN_TEST_LOCALSTRIPE").unwrap_or_else(|_| "localstripe".to_owned());
        let port = free_port();
        let child = Command::new(&program)
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start localstripe ({program}: {error}); `.ci/test` installs it, or `pip install localstripe`")
            });
        let server = Self { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("localstripe did not start listening on {port}");
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build())
    }

    pub fn get(&self, path: &str) -> Value {
        Self::agent()
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {STRIPE_KEY}"))
            .call()
            .expect("Stripe server answers")
            .into_body()
            .read_json()
            .expect("json")
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        Self::agent()
            .post(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {STRIPE_KEY}"))
            .send_form(form.iter().copied())
            .expect("Stripe server answers")
            .into_body()
            .read_json()
            .expect("json")
    }

    /// Registers a webhook endpoint for every event; returns its signing secret.
    pub fn webhook_to(&self, url: &str) -> String {
        let endpoint = self.post("/v1/webhook_endpoints", &[("url", url), ("enabled_events[]", "*")]);
        endpoint["secret"].as_str().expect("whsec_ secret").to_owned()
    }

    /// Every invoice with its lines.
    pub fn invoices(&self) -> Vec<Value> {
        self.get("/v1/invoices?limit=100")["data"].as_array().cloned().unwrap_or_default()
    }

    /// How many API requests created objects (not replays) at `path`.
    pub fn created(&self, path: &str) -> usize {
        self.get("/_test/requests")["data"]
            .as_array()
            .map(|requests| {
                requests
                    .iter()
                    .filter(|request| request["method"] == "POST" && request["path"] == path)
                    .filter(|request| request["replayed"] != true && request["status"] == 200)
                    .count()
            })
            .unwrap_or(0)
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
