//! Portal page benchmark (release build; `DATABASE_URL=postgres://…` for PostgreSQL, an
//! empty database; embedded SQLite otherwise): a tenant holding 1,000 API keys, 10,000
//! executions of a published capsule (run through the API) and 24 monthly invoices, whose
//! owner signs in; then every portal page is rendered ROUNDS times in sequence, p50 and
//! p99 per page, against `GET /healthz` on the same server in the same run.
//!
//! Usage: `portal [ROUNDS]` (200 by default).

#![allow(clippy::print_stdout)] // the report goes to standard output

use caravan_bench::{agent, bench_settings, millis, percentile, post_json, serve_caravan};
use caravan_core::Database;
use caravan_core::id::{InvoiceId, InvoiceLineId, TenantId};
use caravan_metering::db::invoices::{self, InvoiceRow, LineRow};
use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};
use std::time::Instant;

const KEYS: usize = 1000;
const EXECUTIONS: usize = 10_000;
const INVOICES: i32 = 24;
const RUNNERS: usize = 4;

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).map(|value| value.parse()).transpose()?.unwrap_or(200);
    let (settings, _data_dir, backend) = bench_settings(2)?;
    let target = settings.database_target()?;
    let pool = settings.pool_options();
    let (base, admin) = serve_caravan(settings)?;
    let http = agent();

    let started = Instant::now();
    let tenant = post_json(&http, &base, &admin, "/v1/tenants", json!({ "name": "Bench", "plan": "bench" }))?;
    let tenant_id = text(&tenant["id"]);
    let scopes = ["registry:read", "registry:publish", "executions:run", "executions:read", "keys:manage"];
    let key = post_json(
        &http,
        &base,
        &admin,
        "/v1/keys",
        json!({ "name": "bench", "tenant_id": tenant_id, "scopes": scopes }),
    )?;
    let secret = text(&key["secret"]);
    for number in 1..KEYS {
        post_json(
            &http,
            &base,
            &secret,
            "/v1/keys",
            json!({ "name": format!("service {number}"), "scopes": ["registry:read"] }),
        )?;
    }
    publish_echo(&http, &base, &secret)?;
    run_echo(&base, &secret)?;
    insert_invoices(&Database::connect(target, &pool)?, &TenantId::parse(&tenant_id)?)?;
    let mut moved = http
        .patch(&format!("{base}/v1/tenants/{tenant_id}"))
        .header("Authorization", &format!("Bearer {admin}"))
        .send_json(json!({ "plan": "team" }))?;
    anyhow::ensure!(moved.status().is_success(), "plan change answered {}", moved.status());
    let _ = moved.body_mut().read_to_string()?;
    let invitation = post_json(
        &http,
        &base,
        &admin,
        "/v1/invitations",
        json!({ "email": "owner@bench.test", "role": "owner", "tenant_id": tenant_id }),
    )?;
    let mut owner = Browser::new(&base);
    owner.join(&text(&invitation["url"]))?;
    println!(
        "{backend}: seeded {KEYS} keys, {EXECUTIONS} executions, {INVOICES} invoices in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let invoice = owner.first_invoice()?;
    let pages = [
        "/portal/keys".to_owned(),
        "/portal/publishing".to_owned(),
        "/portal/usage".to_owned(),
        "/portal/usage?window=month".to_owned(),
        "/portal/invoices".to_owned(),
        format!("/portal/invoices/{invoice}"),
        "/portal/audit".to_owned(),
        "/portal/members".to_owned(),
    ];
    let baseline = owner.timings("/healthz", rounds)?;
    let (base_p50, base_p99) =
        (percentile(&mut baseline.clone(), 0.5), percentile(&mut baseline.clone(), 0.99));
    println!("{:<34} {:>8} {:>8} {:>10}", "page", "p50 ms", "p99 ms", "p99 / base");
    println!("{:<34} {base_p50:>8.2} {base_p99:>8.2} {:>10}", "GET /healthz (baseline)", "1.0×");
    let mut worst: f64 = 0.0;
    for page in &pages {
        let mut timings = owner.timings(page, rounds)?;
        let p50 = percentile(&mut timings, 0.5);
        let p99 = percentile(&mut timings, 0.99);
        worst = worst.max(p99);
        println!("{page:<34} {p50:>8.2} {p99:>8.2} {:>9.1}×", p99 / base_p99);
    }
    println!("slowest page p99: {worst:.2} ms (target ≤ 20 ms)");
    Ok(())
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Registers the fixtures' signing key for `acme` and publishes `acme/echo`.
fn publish_echo(http: &ureq::Agent, base: &str, key: &str) -> anyhow::Result<()> {
    let public_key = std::fs::read_to_string(fixtures().join("keys/acme.pub"))?;
    post_json(
        http,
        base,
        key,
        "/v1/namespaces/acme/keys",
        json!({ "name": "fixtures", "public_key_pem": public_key }),
    )?;
    let bundle = std::fs::read(fixtures().join("dist/echo.capsule"))?;
    let signature = std::fs::read_to_string(fixtures().join("dist/echo.capsule.sig"))?;
    let sbom = std::fs::read(fixtures().join("sboms/echo.cdx.json"))?;
    let boundary = "caravan-bench-boundary-portal";
    let mut body = Vec::new();
    for (name, content) in
        [("bundle", &bundle[..]), ("signature", signature.trim().as_bytes()), ("sbom", &sbom[..])]
    {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut response = http
        .post(&format!("{base}/v1/capsules"))
        .header("Authorization", &format!("Bearer {key}"))
        .header("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
        .send(&body[..])?;
    anyhow::ensure!(response.status() == 201, "publish answered {}", response.status());
    let _ = response.body_mut().read_to_string()?;
    Ok(())
}

/// Runs `acme/echo` EXECUTIONS times, from RUNNERS threads; a 503 (every worker slot
/// busy) is retried after a moment, as its `Retry-After` asks.
fn run_echo(base: &str, key: &str) -> anyhow::Result<()> {
    let url = format!("{base}/v1/capsules/acme/echo/executions");
    std::thread::scope(|scope| {
        let runners: Vec<_> = (0..RUNNERS)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    let http = agent();
                    let mut done = 0;
                    while done < EXECUTIONS / RUNNERS {
                        let mut response = http
                            .post(&url)
                            .header("Authorization", &format!("Bearer {key}"))
                            .send_json(json!({ "input": { "text": "hi" } }))?;
                        let _ = response.body_mut().read_to_string()?;
                        match response.status().as_u16() {
                            200 => done += 1,
                            503 => std::thread::sleep(std::time::Duration::from_millis(20)),
                            status => anyhow::bail!("a run answered {status}"),
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        runners
            .into_iter()
            .try_for_each(|runner| runner.join().map_err(|_| anyhow::anyhow!("a runner panicked"))?)
    })
}

/// Two years of closed months, as the close writes them: one invoice with three lines each.
fn insert_invoices(database: &Database, tenant: &TenantId) -> anyhow::Result<()> {
    let mut connection = database.connection()?;
    let today = chrono::Utc::now().date_naive();
    let mut month =
        NaiveDate::from_ymd_opt(today.year(), today.month(), 1).ok_or_else(|| anyhow::anyhow!("date"))?;
    for _ in 0..INVOICES {
        month = month
            .pred_opt()
            .and_then(|last| NaiveDate::from_ymd_opt(last.year(), last.month(), 1))
            .ok_or_else(|| anyhow::anyhow!("date"))?;
        let id = InvoiceId::new();
        let lines: Vec<LineRow> = [
            ("fee", None, "Team plan, monthly fee", "1", "199", 19_900),
            ("usage", Some("executions"), "executions over the included 10,000", "2500", "0.0015", 375),
            (
                "capsule",
                Some("executions"),
                "acme/echo: executions at 0.001 usd each",
                "12000",
                "0.001",
                1_200,
            ),
        ]
        .into_iter()
        .enumerate()
        .map(|(position, (kind, meter, description, quantity, unit_price, amount_minor))| LineRow {
            id: InvoiceLineId::new(),
            invoice_id: id.clone(),
            position: position as i64,
            kind: kind.to_owned(),
            meter: meter.map(str::to_owned),
            capsule: (kind == "capsule").then(|| "acme/echo".to_owned()),
            description: description.to_owned(),
            quantity: quantity.to_owned(),
            unit_price: unit_price.to_owned(),
            amount_minor,
            stripe_invoice_item_id: None,
        })
        .collect();
        let closed =
            month.and_hms_opt(0, 0, 0).ok_or_else(|| anyhow::anyhow!("date"))? + chrono::Duration::days(32);
        let invoice = InvoiceRow {
            id,
            tenant_id: tenant.clone(),
            period: month.format("%Y-%m").to_string(),
            plan: "team".to_owned(),
            currency: "usd".to_owned(),
            status: "paid".to_owned(),
            total_minor: lines.iter().map(|line| line.amount_minor).sum(),
            created_at: closed,
            paid_at: Some(closed),
            voided_at: None,
            void_reason: None,
            stripe_status: "disabled".to_owned(),
            stripe_invoice_id: None,
            stripe_hosted_url: None,
            stripe_synced_at: None,
            stripe_error: None,
        };
        invoices::insert(&mut connection, &[invoice], &lines)?;
    }
    Ok(())
}

/// A signed-in browser: the session cookie, sent back by hand.
struct Browser {
    http: ureq::Agent,
    base: String,
    cookie: String,
}

impl Browser {
    fn new(base: &str) -> Self {
        let config = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build();
        Self { http: ureq::Agent::new_with_config(config), base: base.to_owned(), cookie: String::new() }
    }

    fn get(&mut self, path: &str) -> anyhow::Result<(u16, String)> {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let mut response = self.http.get(&url).header("Cookie", &self.cookie).call()?;
        self.keep_cookie(&response);
        Ok((response.status().as_u16(), response.body_mut().read_to_string()?))
    }

    fn keep_cookie(&mut self, response: &ureq::http::Response<ureq::Body>) {
        if let Some(set) = response.headers().get("set-cookie").and_then(|value| value.to_str().ok()) {
            self.cookie = set.split(';').next().unwrap_or_default().to_owned();
        }
    }

    /// Accepts an invitation link: the owner is signed in afterwards.
    fn join(&mut self, url: &str) -> anyhow::Result<()> {
        let (status, page) = self.get(url)?;
        anyhow::ensure!(status == 200, "the invitation page answered {status}");
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| anyhow::anyhow!("no CSRF token on the invitation page"))?
            .to_owned();
        let password = "bench password, long enough";
        let response = self.http.post(url).header("Cookie", &self.cookie).send_form([
            ("display_name", "Bench owner"),
            ("password", password),
            ("password_again", password),
            ("csrf", csrf.as_str()),
        ])?;
        anyhow::ensure!(response.status() == 303, "joining answered {}", response.status());
        self.keep_cookie(&response);
        Ok(())
    }

    fn first_invoice(&mut self) -> anyhow::Result<String> {
        let (_, page) = self.get("/portal/invoices")?;
        page.split("href=\"/portal/invoices/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no invoice listed"))
    }

    /// Milliseconds for each of `rounds` sequential renderings of `path`, after a warm-up.
    fn timings(&mut self, path: &str, rounds: usize) -> anyhow::Result<Vec<f64>> {
        for _ in 0..5 {
            self.get(path)?;
        }
        let mut timings = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let (status, _) = self.get(path)?;
            timings.push(millis(started.elapsed()));
            anyhow::ensure!(status == 200, "{path} answered {status}");
        }
        Ok(timings)
    }
}
