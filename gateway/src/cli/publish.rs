//! `caravan publish`: uploads a signed capsule and its SBOM to a running registry, with
//! a progress bar on a terminal. `--url` / `CARAVAN_URL` and `--key` / `CARAVAN_KEY` say
//! where and as whom, as for `caravan admin`.

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The `.capsule` file.
    pub file: PathBuf,
    /// Its signature; FILE.sig by default.
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// CycloneDX JSON SBOM.
    #[arg(long)]
    pub sbom: Option<PathBuf>,
    /// Base URL of the Caravan server.
    #[arg(long, env = "CARAVAN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key with `registry:publish`.
    #[arg(long, env = "CARAVAN_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// Uploads and returns the published version as the server describes it.
pub fn run(args: PublishArgs) -> anyhow::Result<Value> {
    let key = args.key.as_deref().context("an API key is needed: pass --key or set CARAVAN_KEY")?;
    let bundle = read(&args.file)?;
    let signature_path = args.signature.unwrap_or_else(|| super::publisher::with_suffix(&args.file, "sig"));
    let signature = read(&signature_path)?;
    let sbom = args.sbom.as_deref().map(read).transpose()?;

    let boundary = format!("caravan-{}", ulid::Ulid::new());
    let mut body =
        Vec::with_capacity(bundle.len() + signature.len() + sbom.as_ref().map_or(0, Vec::len) + 1024);
    append_part(&mut body, &boundary, "bundle", Some(&file_name(&args.file)), &bundle);
    append_part(&mut body, &boundary, "signature", None, &signature);
    if let (Some(sbom), Some(path)) = (&sbom, &args.sbom) {
        append_part(&mut body, &boundary, "sbom", Some(&file_name(path)), sbom);
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());

    let progress = ProgressBar::new(body.len() as u64).with_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    progress.set_message(format!("uploading {}", args.file.display()));
    let length = body.len().to_string();
    let mut reader = progress.wrap_read(std::io::Cursor::new(body));
    let url = format!("{}/v1/capsules", args.url.trim_end_matches('/'));
    let agent =
        ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let response = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {key}"))
        .header("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
        .header("Content-Length", &length)
        .send(ureq::SendBody::from_reader(&mut reader))
        .with_context(|| format!("cannot reach {}", args.url))?;
    progress.finish_and_clear();
    let status = response.status().as_u16();
    let answer: Value = response.into_body().read_json().unwrap_or(Value::Null);
    if status >= 400 {
        let kind = answer["type"].as_str().unwrap_or("error");
        let detail = answer["detail"].as_str().unwrap_or("no detail");
        bail!("publish refused ({status} {kind}): {detail}");
    }
    Ok(answer)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().replace('"', "")).unwrap_or_default()
}

fn append_part(body: &mut Vec<u8>, boundary: &str, name: &str, file_name: Option<&str>, content: &[u8]) {
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    match file_name {
        Some(file_name) => body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        ),
        None => body
            .extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
    }
    body.extend_from_slice(content);
    body.extend_from_slice(b"\r\n");
}
