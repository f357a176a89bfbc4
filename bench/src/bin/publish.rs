//! Publish and download benchmark: a 5 MB capsule published end to end (multipart
//! upload, signature, unpack, manifest, SBOM, policy, blob with fsync, commit) against a
//! baseline measured in the same run: the same multipart upload to a bare actix-web
//! handler that only reads it and hashes it with SHA-256. Then download throughput of
//! the stored bundle against the bare server sending the same bytes from memory.
//!
//! Rounds alternate baseline and subject; medians are reported. Usage:
//! `cargo run --release -p caravan-bench --bin publish -- [ROUNDS] [PUBLISHES_PER_ROUND]`,
//! with `DATABASE_URL=postgres://…` to measure PostgreSQL instead of embedded SQLite.

#![allow(clippy::print_stdout)] // the report goes to standard output

use actix_web::{App, HttpResponse, HttpServer, web};
use caravan_bench::{bench_settings, median, millis, percentile, serve_caravan};
use caravan_registry::capsule::{BundleLimits, pack_directory};
use caravan_registry::signing;
use serde_json::{Value, json};
use sha2::Digest;
use std::time::Instant;

const PAYLOAD_BYTES: usize = 5 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|value| value.parse()).transpose()?.unwrap_or(5);
    let per_round: usize = args.next().map(|value| value.parse()).transpose()?.unwrap_or(10);
    let (settings, _data_dir, backend) = bench_settings(1)?;
    let (caravan, admin_key) = serve_caravan(settings)?;
    let bare = serve_bare()?;
    let client = Client::new();

    let (signing_key, public_key) = signing::generate_key_pair()?;
    let publisher_key = publisher(&client, &caravan, &admin_key, &public_key)?;
    let sbom = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sboms/echo.cdx.json"))?;
    let payload = incompressible(PAYLOAD_BYTES);

    let mut subject_ms = Vec::new();
    let mut baseline_ms = Vec::new();
    let mut ratios = Vec::new();
    let mut version = 0;
    for round in 0..rounds {
        let mut bundles = Vec::new();
        for _ in 0..per_round {
            version += 1;
            let bundle = bundle(&format!("1.0.{version}"), &payload)?;
            let signature = signing::sign(&signing_key.0, &bundle)?;
            bundles.push((bundle, signature));
        }
        let run_baseline = |samples: &mut Vec<f64>| -> anyhow::Result<f64> {
            let mut times = Vec::new();
            for (bundle, signature) in &bundles {
                times.push(client.publish(&format!("{bare}/upload"), "", bundle, signature, &sbom)?.0);
            }
            samples.extend(&times);
            Ok(median(&mut times))
        };
        let run_subject = |samples: &mut Vec<f64>| -> anyhow::Result<f64> {
            let mut times = Vec::new();
            for (bundle, signature) in &bundles {
                let (elapsed, status) = client.publish(
                    &format!("{caravan}/v1/capsules"),
                    &publisher_key,
                    bundle,
                    signature,
                    &sbom,
                )?;
                anyhow::ensure!(status == 201, "publish answered {status}");
                times.push(elapsed);
            }
            samples.extend(&times);
            Ok(median(&mut times))
        };
        let (base, subject) = if round % 2 == 0 {
            let base = run_baseline(&mut baseline_ms)?;
            (base, run_subject(&mut subject_ms)?)
        } else {
            let subject = run_subject(&mut subject_ms)?;
            (run_baseline(&mut baseline_ms)?, subject)
        };
        ratios.push(subject / base);
        eprintln!(
            "round {round}: publish p50 {subject:.1} ms, baseline p50 {base:.1} ms, ratio {:.2}",
            subject / base
        );
    }
    let bundle_size = bundle("9.9.9", &payload)?.len();
    println!(
        "backend: {backend}; bundle: {:.2} MB; {rounds} rounds x {per_round} publishes",
        mb(bundle_size)
    );
    println!(
        "publish p50: {:.1} ms (p90 {:.1} ms); baseline upload+hash p50: {:.1} ms; ratio (median of rounds): {:.2}x",
        percentile(&mut subject_ms, 0.5),
        percentile(&mut subject_ms, 0.9),
        percentile(&mut baseline_ms, 0.5),
        median(&mut ratios)
    );

    let download = format!("{caravan}/v1/capsules/bench/capsule/versions/1.0.1/download");
    let mut subject_rates = Vec::new();
    let mut baseline_rates = Vec::new();
    for round in 0..rounds {
        let measure = |url: &str, key: &str| client.download_rate(url, key, per_round);
        if round % 2 == 0 {
            baseline_rates.push(measure(&format!("{bare}/download"), "")?);
            subject_rates.push(measure(&download, &publisher_key)?);
        } else {
            subject_rates.push(measure(&download, &publisher_key)?);
            baseline_rates.push(measure(&format!("{bare}/download"), "")?);
        }
    }
    let subject = median(&mut subject_rates);
    let baseline = median(&mut baseline_rates);
    println!(
        "download: {subject:.0} MB/s; baseline (bytes from memory): {baseline:.0} MB/s; ratio {:.2}x",
        subject / baseline
    );
    Ok(())
}

/// The baseline: reads a multipart upload whole and hashes it; serves 5 MB from memory.
fn serve_bare() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let blob = web::Bytes::from(incompressible(PAYLOAD_BYTES));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let blob = blob.clone();
                App::new()
                    .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                    .route(
                        "/upload",
                        web::post().to(|body: web::Bytes| async move {
                            let digest = hex::encode(sha2::Sha256::digest(&body));
                            HttpResponse::Created().json(json!({ "digest": digest }))
                        }),
                    )
                    .route(
                        "/download",
                        web::get().to(move || {
                            let blob = blob.clone();
                            async move { HttpResponse::Ok().content_type("application/gzip").body(blob) }
                        }),
                    )
            })
            .workers(1)
            .listen(listener);
            if let Ok(server) = server {
                let _ = server.run().await;
            }
        });
    });
    Ok(format!("http://{address}"))
}

/// A tenant with `registry:*` scopes and a signing key registered for `bench/`.
fn publisher(client: &Client, base: &str, admin_key: &str, public_key: &str) -> anyhow::Result<String> {
    let tenant =
        client.post_json(base, admin_key, "/v1/tenants", json!({ "name": "Bench", "plan": "team" }))?;
    let key = client.post_json(
        base,
        admin_key,
        "/v1/keys",
        json!({ "name": "bench", "tenant_id": tenant["id"], "scopes": ["registry:read", "registry:publish"] }),
    )?;
    let secret = key["secret"].as_str().unwrap_or_default().to_owned();
    client.post_json(
        base,
        &secret,
        "/v1/namespaces/bench/keys",
        json!({ "name": "bench", "public_key_pem": public_key }),
    )?;
    Ok(secret)
}

fn bundle(version: &str, payload: &[u8]) -> anyhow::Result<Vec<u8>> {
    let directory = tempfile::tempdir()?;
    let manifest = format!(
        "name = \"bench/capsule\"\nversion = \"{version}\"\ndescription = \"Benchmark capsule\"\n\
         license = \"MIT\"\n[runtime]\nentrypoint = \"run.sh\"\ntimeout_s = 10\ntier = \"fast\"\n"
    );
    std::fs::write(directory.path().join("capsule.toml"), manifest)?;
    std::fs::write(directory.path().join("README.md"), "# Bench\n")?;
    std::fs::write(directory.path().join("run.sh"), "#!/bin/sh\ncat\n")?;
    std::fs::write(directory.path().join("model.bin"), payload)?;
    Ok(pack_directory(directory.path(), &BundleLimits::default())?.0)
}

/// Bytes that gzip cannot shrink, so the bundle is as large as its payload.
fn incompressible(size: usize) -> Vec<u8> {
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

struct Client {
    agent: ureq::Agent,
}

impl Client {
    fn new() -> Self {
        let config = ureq::Agent::config_builder().http_status_as_error(false).build();
        Self { agent: ureq::Agent::new_with_config(config) }
    }

    fn post_json(&self, base: &str, key: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let mut response = self
            .agent
            .post(&format!("{base}{path}"))
            .header("Authorization", &format!("Bearer {key}"))
            .send_json(body)?;
        anyhow::ensure!(response.status().is_success(), "{path} answered {}", response.status());
        Ok(response.body_mut().read_json()?)
    }

    /// Milliseconds for one multipart publish, and the status.
    fn publish(
        &self,
        url: &str,
        key: &str,
        bundle: &[u8],
        signature: &str,
        sbom: &[u8],
    ) -> anyhow::Result<(f64, u16)> {
        let boundary = "caravan-bench-boundary-7d1f";
        let mut body = Vec::with_capacity(bundle.len() + sbom.len() + 1024);
        for (name, content) in [("bundle", bundle), ("signature", signature.as_bytes()), ("sbom", sbom)] {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let started = Instant::now();
        let mut response = self
            .agent
            .post(url)
            .header("Authorization", &format!("Bearer {key}"))
            .header("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
            .send(&body[..])?;
        let _ = response.body_mut().read_to_vec()?;
        Ok((millis(started.elapsed()), response.status().as_u16()))
    }

    /// MB/s over `count` sequential downloads.
    fn download_rate(&self, url: &str, key: &str, count: usize) -> anyhow::Result<f64> {
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..count {
            let mut response =
                self.agent.get(url).header("Authorization", &format!("Bearer {key}")).call()?;
            anyhow::ensure!(response.status() == 200, "download answered {}", response.status());
            bytes += response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec()?.len();
        }
        Ok(mb(bytes) / started.elapsed().as_secs_f64())
    }
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_000_000.0
}
