//! Publisher commands that work offline: `keygen`, `sign` and `verify`. Signatures are
//! cosign- and openssl-compatible (see `caravan_registry::signing`).

use anyhow::{Context, bail};
use caravan_registry::capsule::{BundleLimits, Capsule};
use caravan_registry::signing::{self, PublicKey};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub fn keygen(prefix: &Path) -> anyhow::Result<()> {
    let private_path = with_suffix(prefix, "key");
    let public_path = with_suffix(prefix, "pub");
    let (private, public) = signing::generate_key_pair()?;
    // create_new: never overwrite a key someone may already depend on.
    let mut file =
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private_path)
            .with_context(|| format!("cannot create {} (it must not exist yet)", private_path.display()))?;
    file.write_all(private.0.as_bytes())?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&public_path)
        .and_then(|mut file| file.write_all(public.as_bytes()))
        .with_context(|| format!("cannot create {}", public_path.display()))?;
    super::print(&format!(
        "wrote {} (private, keep it secret) and {} (register it for your namespace)",
        private_path.display(),
        public_path.display()
    ))
}

pub fn sign(key: &Path, file: &Path, output: Option<PathBuf>) -> anyhow::Result<()> {
    let private = std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let signature = signing::sign(&private, &bytes)?;
    let output = output.unwrap_or_else(|| with_suffix(file, "sig"));
    std::fs::write(&output, format!("{signature}\n"))
        .with_context(|| format!("cannot write {}", output.display()))?;
    super::print(&format!("signed {} into {}", file.display(), output.display()))
}

pub fn verify(key: &Path, file: &Path, signature: Option<PathBuf>) -> anyhow::Result<()> {
    let public = std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    let public = PublicKey::from_pem(&public)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let signature_path = signature.unwrap_or_else(|| with_suffix(file, "sig"));
    let signature = std::fs::read_to_string(&signature_path)
        .with_context(|| format!("cannot read {}", signature_path.display()))?;
    let capsule = Capsule::from_bundle(&bytes, &BundleLimits::default())?;
    if let Err(error) = public.verify(&signature, &bytes) {
        bail!("{}: {error}", file.display());
    }
    super::print(&format!(
        "verified {}@{}: signature by {} matches {}",
        capsule.manifest.name,
        capsule.manifest.version,
        key.display(),
        capsule.digest
    ))
}

/// `dir/name` → `dir/name.suffix`, keeping any existing extension (`x.capsule.sig`).
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}
