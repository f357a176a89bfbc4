//! Bundles on the worker: downloaded from the gateway, checked against their digest and
//! their publisher's signature, unpacked safely (the registry's own unpacker) into
//! `<data_dir>/bundles/<hex digest>/`, read-only, and kept: the next run of the same
//! digest starts without a download.

use crate::error::WorkerError;
use crate::protocol::RunRequest;
use caravan_registry::capsule::{BundleLimits, Capsule, MANIFEST_FILE, Manifest, digest_of};
use caravan_registry::signing::PublicKey;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A bundle ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub directory: PathBuf,
    /// Relative to `directory`.
    pub entrypoint: String,
}

/// Marks a directory whose files are all written.
const READY: &str = ".caravan-ready";

#[derive(Debug)]
pub struct BundleCache {
    root: PathBuf,
    client: reqwest::Client,
    token: String,
    /// One download per digest at a time; later runs wait for it.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl BundleCache {
    pub fn new(root: PathBuf, client: reqwest::Client, token: String) -> Result<Self, WorkerError> {
        std::fs::create_dir_all(&root)?;
        Ok(Self { root, client, token, fetching: Mutex::new(HashMap::new()) })
    }

    /// The unpacked bundle of `request`, downloading and checking it when it is new here.
    pub async fn prepare(&self, request: &RunRequest) -> Result<Prepared, WorkerError> {
        let hex = digest_hex(&request.digest)?;
        let directory = self.root.join(hex);
        if let Some(prepared) = ready(&directory)? {
            return Ok(prepared);
        }
        let guard = {
            let mut fetching =
                self.fetching.lock().map_err(|_| WorkerError::Bundle("cache lock poisoned".to_owned()))?;
            fetching.entry(hex.to_owned()).or_default().clone()
        };
        let _only_one = guard.lock().await;
        if let Some(prepared) = ready(&directory)? {
            return Ok(prepared);
        }
        let bytes = self.download(&request.bundle_url).await?;
        let found = digest_of(&bytes);
        if found != request.digest {
            return Err(WorkerError::DigestMismatch { expected: request.digest.clone(), found });
        }
        PublicKey::from_pem(&request.public_key_pem)
            .and_then(|key| key.verify(&request.signature, &bytes))
            .map_err(|error| WorkerError::Signature(error.to_string()))?;
        let root = self.root.clone();
        let target = directory.clone();
        actix_web::web::block(move || unpack_into(&root, &target, &bytes))
            .await
            .map_err(|error| WorkerError::Bundle(error.to_string()))??;
        ready(&directory)?.ok_or_else(|| WorkerError::Bundle("the unpacked bundle is incomplete".to_owned()))
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, WorkerError> {
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|error| WorkerError::Download(error.to_string()))?;
        if !response.status().is_success() {
            return Err(WorkerError::Download(format!("{url} answered {}", response.status())));
        }
        let bytes = response.bytes().await.map_err(|error| WorkerError::Download(error.to_string()))?;
        Ok(bytes.to_vec())
    }
}

fn digest_hex(digest: &str) -> Result<&str, WorkerError> {
    digest
        .strip_prefix("sha256:")
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .ok_or_else(|| WorkerError::InvalidRequest(format!("`{digest}` is not a sha256 digest")))
}

/// The prepared bundle in `directory`, if it was completely written.
fn ready(directory: &Path) -> Result<Option<Prepared>, WorkerError> {
    if !directory.join(READY).is_file() {
        return Ok(None);
    }
    let manifest = std::fs::read_to_string(directory.join(MANIFEST_FILE))?;
    let manifest = Manifest::parse(&manifest).map_err(|error| WorkerError::Bundle(error.to_string()))?;
    Ok(Some(Prepared {
        directory: directory.to_owned(),
        entrypoint: manifest.runtime.entrypoint().to_owned(),
    }))
}

/// Unpacks into a scratch directory beside `target`, then renames it into place, so a
/// crash never leaves a half-written bundle that looks ready.
fn unpack_into(root: &Path, target: &Path, bytes: &[u8]) -> Result<(), WorkerError> {
    let capsule = Capsule::from_bundle(bytes, &BundleLimits::default())
        .map_err(|error| WorkerError::Bundle(error.to_string()))?;
    let scratch = tempfile::Builder::new().prefix(".unpacking-").tempdir_in(root)?;
    let entrypoint = capsule.manifest.runtime.entrypoint().to_owned();
    for path in capsule.files.paths() {
        let destination = scratch.path().join(path);
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&destination, capsule.files.get(path).unwrap_or_default())?;
        let mode = if path == entrypoint { 0o555 } else { 0o444 };
        std::fs::set_permissions(&destination, std::fs::Permissions::from_mode(mode))?;
    }
    std::fs::write(scratch.path().join(READY), b"")?;
    let scratch = scratch.keep();
    match std::fs::rename(&scratch, target) {
        Ok(()) => Ok(()),
        // Another process prepared it meanwhile.
        Err(_) if target.join(READY).is_file() => {
            let _ = std::fs::remove_dir_all(&scratch);
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}
