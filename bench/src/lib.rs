//! What the benchmark binaries share: Caravan served in-process on an empty database, a
//! small HTTP client, and order statistics.

#![allow(clippy::print_stdout)]

use caravan_gateway::Application;
use caravan_gateway::config::Settings;
use serde_json::Value;
use std::time::Duration;

/// The allocator the `caravan` binary uses, so what is measured here is what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Starts Caravan on its own thread, on an empty database; returns its base URL and the
/// admin key the first start made.
pub fn serve_caravan(settings: Settings) -> anyhow::Result<(String, String)> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match Application::build(settings).await {
                Ok(mut application) => {
                    let admin_key =
                        application.take_bootstrapped().map(|created| created.secret.reveal().to_owned());
                    let address = format!("http://{}", application.address());
                    let _ =
                        sender.send(admin_key.map(|key| (address, key)).ok_or_else(|| {
                            anyhow::anyhow!("the database was not empty: no admin key was made")
                        }));
                    let _ = application.run_until_stopped().await;
                }
                Err(error) => {
                    let _ = sender.send(Err(error));
                }
            }
        });
    });
    receiver.recv()?
}

/// Settings for a benchmark: a temporary data directory, a free port, quiet logs, and
/// PostgreSQL when `DATABASE_URL` is set. The built-in plans gain `bench`, whose limits no
/// benchmark reaches; the operator's admin key gets it (the most generous plan), so
/// setting up thousands of tenants is not rate limited. Returns the settings, the
/// directory (delete it by dropping) and the backend's name.
pub fn bench_settings(workers: usize) -> anyhow::Result<(Settings, tempfile::TempDir, &'static str)> {
    let data_dir = tempfile::tempdir()?;
    let plans = data_dir.path().join("plans.toml");
    let built_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/plans.toml"))?;
    std::fs::write(
        &plans,
        format!(
            "{built_in}\n[plans.bench]\nname = \"Bench\"\nkey_requests_per_minute = 100000000\nkey_burst = 1000000\n\
             tenant_requests_per_minute = 100000000\ntenant_burst = 1000000\n"
        ),
    )?;
    let mut settings = Settings {
        plans_file: Some(plans),
        data_dir: data_dir.path().to_owned(),
        listen: "127.0.0.1:0".to_owned(),
        workers: Some(workers),
        log_filter: "warn".to_owned(),
        ..Settings::default()
    };
    if let Ok(url) = std::env::var("DATABASE_URL") {
        settings.database_url = Some(url.into());
    }
    let backend = if settings.database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    Ok((settings, data_dir, backend))
}

/// A blocking HTTP client that reports statuses instead of failing on them.
pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build())
}

/// POSTs JSON with a bearer key; fails unless the answer is a success.
pub fn post_json(
    agent: &ureq::Agent,
    base: &str,
    key: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let mut response = agent
        .post(&format!("{base}{path}"))
        .header("Authorization", &format!("Bearer {key}"))
        .send_json(body)?;
    anyhow::ensure!(response.status().is_success(), "{path} answered {}", response.status());
    Ok(response.body_mut().read_json()?)
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

pub fn median(values: &mut [f64]) -> f64 {
    percentile(values, 0.5)
}

/// The `quantile` (0..=1) of `values`, nearest rank.
pub fn percentile(values: &mut [f64], quantile: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len().saturating_sub(1)) as f64 * quantile).round() as usize;
    values.get(index).copied().unwrap_or(f64::NAN)
}
