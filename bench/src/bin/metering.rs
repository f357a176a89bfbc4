//! Metering benchmarks (release build; `DATABASE_URL=postgres://…` for PostgreSQL, an
//! empty database; embedded SQLite otherwise):
//!
//! - `ingest [ROUNDS] [BATCHES] [CLIENTS]`: batches of 1,000 CloudEvents through
//!   `POST /v1/events`, every one committed durably before its answer, by CLIENTS
//!   concurrent clients; against a baseline measured in the same run: a bare actix-web
//!   handler that reads and parses the same batches as JSON and answers. Events/s.
//! - `usage [EVENTS]`: one tenant's month of EVENTS events (ingested through the API),
//!   then `GET /v1/usage` by day and capsule, p50/p99; against the same figures computed
//!   with one SQL `GROUP BY` over the raw events, in the same run.
//! - `close [TENANTS] [EVENTS]`: EVENTS events of last month spread over TENANTS tenants
//!   (written through the ingestion code path, in-process), then the period's close: one
//!   invoice per tenant. Seconds.

#![allow(clippy::print_stdout)] // the report goes to standard output

use actix_web::{App, HttpResponse, HttpServer, web};
use caravan_bench::{agent, bench_settings, median, millis, percentile, post_json, serve_caravan};
use chrono::{Datelike, Duration as TimeDelta, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use std::time::Instant;

const BATCH: usize = 1000;
const CAPSULES: [&str; 5] =
    ["acme/echo", "acme/word-count", "acme/json-transform", "beta/search", "beta/summarize"];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let numbers: Vec<usize> = args.map(|value| value.replace('_', "").parse()).collect::<Result<_, _>>()?;
    let number = |index: usize, default: usize| numbers.get(index).copied().unwrap_or(default);
    match command.as_str() {
        "ingest" => ingest(number(0, 5), number(1, 60), number(2, 4)),
        "usage" => usage(number(0, 1_000_000)),
        "close" => close(number(0, 10_000), number(1, 10_000_000)),
        _ => anyhow::bail!("usage: metering ingest|usage|close [numbers…] (see the file's header)"),
    }
}

/// A tenant on the team plan with a key for usage and billing; returns (tenant id, key).
fn tenant(base: &str, admin: &str, name: &str) -> anyhow::Result<(String, String)> {
    let agent = agent();
    let tenant = post_json(&agent, base, admin, "/v1/tenants", json!({ "name": name, "plan": "team" }))?;
    let key = post_json(
        &agent,
        base,
        admin,
        "/v1/keys",
        json!({ "name": "bench", "tenant_id": tenant["id"],
        "scopes": ["usage:write", "usage:read", "billing:read"] }),
    )?;
    Ok((
        tenant["id"].as_str().unwrap_or_default().to_owned(),
        key["secret"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// A batch of `BATCH` distinct events at `time`, as the request body.
fn batch(prefix: &str, number: usize, time: chrono::DateTime<Utc>) -> String {
    let events: Vec<Value> = (0..BATCH)
        .map(|index| {
            json!({ "specversion": "1.0", "id": format!("{prefix}-{number}-{index}"), "source": "bench",
                "type": "caravan.usage", "time": time.to_rfc3339(),
                "data": { "capsule": CAPSULES[index % CAPSULES.len()], "executions": 1, "tokens_in": 100 + index,
                    "tokens_out": 40, "job_seconds": "0.25" } })
        })
        .collect();
    Value::Array(events).to_string()
}

/// Sends `bodies` to `url` from `clients` threads; events/s.
fn send_all(url: &str, key: &str, bodies: &[String], clients: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                scope.spawn(move || -> anyhow::Result<()> {
                    let agent = agent();
                    for body in bodies.iter().skip(client).step_by(clients) {
                        let mut response = agent
                            .post(url)
                            .header("Authorization", &format!("Bearer {key}"))
                            .header("Content-Type", "application/cloudevents-batch+json")
                            .send(body.as_bytes())?;
                        anyhow::ensure!(response.status() == 200, "answered {}", response.status());
                        let answer: Value = response.body_mut().with_config().limit(1 << 26).read_json()?;
                        anyhow::ensure!(answer["rejected"] == 0, "rejections: {answer}");
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().map_err(|_| anyhow::anyhow!("a client panicked"))??;
        }
        Ok(())
    })?;
    Ok((bodies.len() * BATCH) as f64 / started.elapsed().as_secs_f64())
}

fn ingest(rounds: usize, batches: usize, clients: usize) -> anyhow::Result<()> {
    let (settings, _data_dir, backend) = bench_settings(2)?;
    let (caravan, admin) = serve_caravan(settings)?;
    let bare = serve_bare()?;
    let (_, key) = tenant(&caravan, &admin, "Ingest")?;
    let mut caravan_rates = Vec::new();
    let mut bare_rates = Vec::new();
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let bodies: Vec<String> =
            (0..batches).map(|number| batch(&format!("r{round}"), number, Utc::now())).collect();
        let (base, subject) = if round % 2 == 0 {
            let base = send_all(&format!("{bare}/events"), &key, &bodies, clients)?;
            (base, send_all(&format!("{caravan}/v1/events"), &key, &bodies, clients)?)
        } else {
            let subject = send_all(&format!("{caravan}/v1/events"), &key, &bodies, clients)?;
            (send_all(&format!("{bare}/events"), &key, &bodies, clients)?, subject)
        };
        eprintln!("round {round}: caravan {subject:.0} events/s, baseline {base:.0} events/s");
        caravan_rates.push(subject);
        bare_rates.push(base);
        ratios.push(subject / base);
    }
    println!("backend: {backend}; {rounds} rounds x {batches} batches of {BATCH} events, {clients} clients");
    println!(
        "ingest: {:.0} events/s (median); baseline (parse only): {:.0} events/s; ratio {:.2}x",
        median(&mut caravan_rates),
        median(&mut bare_rates),
        median(&mut ratios)
    );
    Ok(())
}

/// The baseline: reads the batch, parses it as JSON and answers the count, storing nothing.
fn serve_bare() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(|| {
                App::new().app_data(web::PayloadConfig::new(64 * 1024 * 1024)).route(
                    "/events",
                    web::post().to(|body: web::Bytes| async move {
                        let events: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
                        HttpResponse::Ok().json(json!({ "accepted": events.len(), "rejected": 0 }))
                    }),
                )
            })
            .workers(2)
            .listen(listener);
            if let Ok(server) = server {
                let _ = server.run().await;
            }
        });
    });
    Ok(format!("http://{address}"))
}

/// The first instant of last month, UTC.
fn last_month_start() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default();
    let previous = first - TimeDelta::days(1);
    let start = NaiveDate::from_ymd_opt(previous.year(), previous.month(), 1).unwrap_or_default();
    Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn usage(events: usize) -> anyhow::Result<()> {
    let (settings, _data_dir, backend) = bench_settings(2)?;
    let target = settings.database_target()?;
    let (caravan, admin) = serve_caravan(settings)?;
    let (tenant_id, key) = tenant(&caravan, &admin, "Usage")?;
    let start = last_month_start();
    let batches = events / BATCH;
    let seeded = Instant::now();
    let bodies: Vec<String> = (0..batches)
        // Spread over 27 days, every hour.
        .map(|number| {
            batch("u", number, start + TimeDelta::minutes((number * 27 * 24 * 60 / batches.max(1)) as i64))
        })
        .collect();
    send_all(&format!("{caravan}/v1/events"), &key, &bodies, 4)?;
    eprintln!("seeded {events} events in {:.1} s", seeded.elapsed().as_secs_f64());

    let from = start.format("%Y-%m-%dT%H:%M:%SZ");
    let to = (start + TimeDelta::days(28)).format("%Y-%m-%dT%H:%M:%SZ");
    let url = format!("{caravan}/v1/usage?meter=tokens_in&window=day&group_by=capsule&from={from}&to={to}");
    let agent = agent();
    let mut api_ms = Vec::new();
    for _ in 0..200 {
        let began = Instant::now();
        let mut response = agent.get(&url).header("Authorization", &format!("Bearer {key}")).call()?;
        let report: Value = response.body_mut().with_config().limit(1 << 26).read_json()?;
        anyhow::ensure!(
            response.status() == 200 && report["data"].as_array().is_some_and(|rows| !rows.is_empty())
        );
        api_ms.push(millis(began.elapsed()));
    }

    // The baseline: the same figures with one GROUP BY over the raw events.
    let database = caravan_core::Database::connect(target, &caravan_core::db::PoolOptions::default())?;
    let mut connection = database.connection()?;
    let day = match backend {
        "PostgreSQL" => "date_trunc('day', occurred_at)",
        _ => "date(occurred_at)",
    };
    let tokens = match backend {
        "PostgreSQL" => "(event::jsonb -> 'data' ->> 'tokens_in')::numeric",
        _ => "json_extract(event, '$.data.tokens_in')",
    };
    let query = format!(
        "SELECT {day} AS day, capsule, SUM({tokens}) FROM usage_events WHERE tenant_id = '{tenant_id}' \
         AND occurred_at >= '{}' AND occurred_at < '{}' GROUP BY 1, 2",
        start.naive_utc(),
        (start + TimeDelta::days(28)).naive_utc()
    );
    let mut sql_ms = Vec::new();
    for _ in 0..10 {
        let began = Instant::now();
        diesel::RunQueryDsl::execute(diesel::sql_query(&query), &mut *connection)?;
        sql_ms.push(millis(began.elapsed()));
    }
    println!("backend: {backend}; {events} events of one tenant over 27 days; by day and capsule");
    println!(
        "GET /v1/usage: p50 {:.2} ms, p99 {:.2} ms (200 requests over HTTP); raw-events GROUP BY: p50 {:.1} ms ({}x)",
        percentile(&mut api_ms, 0.5),
        percentile(&mut api_ms, 0.99),
        median(&mut sql_ms),
        (median(&mut sql_ms) / percentile(&mut api_ms, 0.5)).round()
    );
    Ok(())
}

fn close(tenants: usize, events: usize) -> anyhow::Result<()> {
    use caravan_core::db::write_transaction;
    use caravan_metering::domain::event::UsageEvent;
    use caravan_metering::domain::meter::MeterCatalog;
    use caravan_metering::ingest::{self, lock_open_periods};

    let (settings, _data_dir, backend) = bench_settings(2)?;
    let target = settings.database_target()?;
    let (caravan, admin) = serve_caravan(settings)?;
    let agent = agent();
    let started = Instant::now();
    let mut tenant_ids = Vec::with_capacity(tenants);
    for number in 0..tenants {
        let tenant = post_json(
            &agent,
            &caravan,
            &admin,
            "/v1/tenants",
            json!({ "name": format!("T{number}"), "plan": "pro" }),
        )?;
        tenant_ids.push(caravan_core::id::TenantId::parse(tenant["id"].as_str().unwrap_or_default())?);
    }
    eprintln!("{tenants} tenants in {:.1} s", started.elapsed().as_secs_f64());

    // Seed through the ingestion code path (parse, meter, record with rollups), in-process.
    let database = caravan_core::Database::connect(target, &caravan_core::db::PoolOptions::default())?;
    let meters = MeterCatalog::new(&[])?;
    let start = last_month_start();
    let per_tenant = events / tenants.max(1);
    let seeding = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let (database, meters, tenant_ids) = (&database, &meters, &tenant_ids);
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut connection = database.connection()?;
                    for (number, tenant) in tenant_ids.iter().enumerate().skip(worker).step_by(2) {
                        let metered: Vec<_> = (0..per_tenant)
                            .map(|index| {
                                let time = start + TimeDelta::minutes(((index * 38_880) / per_tenant.max(1)) as i64);
                                let event = UsageEvent::parse(json!({ "specversion": "1.0", "id": format!("e{index}"),
                                    "source": "bench", "type": "caravan.usage", "time": time.to_rfc3339(),
                                    "data": { "capsule": CAPSULES[(number + index) % CAPSULES.len()], "executions": 1,
                                        "tokens_in": 100 + index % 900, "tokens_out": 40 } }))
                                .map_err(|error| anyhow::anyhow!("{error}"))?;
                                ingest::meter(meters, event).map_err(|error| anyhow::anyhow!(error))
                            })
                            .collect::<anyhow::Result<_>>()?;
                        write_transaction(&mut connection, |connection| {
                            lock_open_periods(connection, metered.iter().map(|metered| metered.event.time))?;
                            ingest::record(connection, tenant, None, &metered, caravan_core::db::now())
                        })?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().map_err(|_| anyhow::anyhow!("a seeding worker panicked"))??;
        }
        Ok(())
    })?;
    eprintln!("seeded {} events in {:.1} s", per_tenant * tenants, seeding.elapsed().as_secs_f64());

    let period = start.format("%Y-%m").to_string();
    let closing = Instant::now();
    let closed =
        post_json(&agent, &caravan, &admin, &format!("/v1/billing/periods/{period}/close"), json!({}))?;
    let seconds = closing.elapsed().as_secs_f64();
    anyhow::ensure!(closed["invoice_count"].as_u64() == Some(tenants as u64), "closed: {closed}");
    println!("backend: {backend}; {tenants} tenants, {} events", per_tenant * tenants);
    println!("close {period}: {seconds:.2} s for {} invoices", closed["invoice_count"]);
    Ok(())
}
