//! `caravan pack`: a directory becomes a capsule file, reproducibly. Entries are sorted,
//! and owners, times and modes are normalized (0644, or 0755 for executables), so the
//! same directory always packs to the same bytes and the same digest. Hidden files and
//! directories (`.git`, `.env`) are left out; links are refused. The result is checked
//! like a publish would check it, so a bad manifest fails here, not at the registry.

use super::{BundleLimits, Capsule, CapsuleError};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("cannot read {0}")]
    Read(PathBuf, #[source] std::io::Error),
    #[error("{0} is a link; capsules hold regular files only")]
    Link(PathBuf),
    #[error("{0} is not valid UTF-8")]
    NotUtf8(PathBuf),
    #[error("cannot write the bundle")]
    Write(#[source] std::io::Error),
    #[error(transparent)]
    Invalid(#[from] CapsuleError),
}

/// Packs `directory` and returns the bundle's bytes with the capsule they make.
pub fn pack_directory(directory: &Path, limits: &BundleLimits) -> Result<(Vec<u8>, Capsule), PackError> {
    let mut files = Vec::new();
    collect(directory, directory, &mut files)?;
    files.sort();
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    builder.mode(tar::HeaderMode::Deterministic);
    for relative in &files {
        let path = directory.join(relative);
        let content = std::fs::read(&path).map_err(|error| PackError::Read(path.clone(), error))?;
        let executable = std::fs::metadata(&path)
            .map_err(|error| PackError::Read(path.clone(), error))?
            .permissions()
            .mode()
            & 0o111
            != 0;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(content.len() as u64);
        header.set_mode(if executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        builder.append_data(&mut header, relative, content.as_slice()).map_err(PackError::Write)?;
    }
    let bytes = builder.into_inner().and_then(GzEncoder::finish).map_err(PackError::Write)?;
    let capsule = Capsule::from_bundle(&bytes, limits)?;
    Ok((bytes, capsule))
}

fn collect(root: &Path, directory: &Path, files: &mut Vec<String>) -> Result<(), PackError> {
    let entries =
        std::fs::read_dir(directory).map_err(|error| PackError::Read(directory.to_owned(), error))?;
    for entry in entries {
        let entry = entry.map_err(|error| PackError::Read(directory.to_owned(), error))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(|error| PackError::Read(path.clone(), error))?;
        if kind.is_symlink() {
            return Err(PackError::Link(path));
        }
        if kind.is_dir() {
            collect(root, &path, files)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let relative = relative.to_str().ok_or_else(|| PackError::NotUtf8(path.clone()))?;
            files.push(relative.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_directory() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |path: &str, content: &str| {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, content).expect("write");
        };
        write(
            "capsule.toml",
            "name = \"acme/echo\"\nversion = \"0.1.0\"\ndescription = \"Echo\"\nlicense = \"MIT\"\n\n[runtime]\nentrypoint = \"run.sh\"\ntimeout_s = 5\ntier = \"fast\"\n",
        );
        write("README.md", "# Echo\n");
        write("run.sh", "#!/bin/sh\ncat\n");
        write(".git/config", "secret");
        dir
    }

    #[test]
    fn the_same_directory_packs_to_the_same_bytes() {
        let dir = echo_directory();
        let (first, capsule) = pack_directory(dir.path(), &BundleLimits::default()).expect("packs");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(dir.path().join("README.md"), "# Echo\n").expect("touch");
        let (second, _) = pack_directory(dir.path(), &BundleLimits::default()).expect("packs");

        assert_eq!(first, second, "packing is reproducible");
        assert_eq!(capsule.manifest.name.to_string(), "acme/echo");
        assert!(capsule.digest.starts_with("sha256:"));
        assert!(!capsule.files.contains(".git/config"), "hidden files stay out");
    }

    #[test]
    fn a_directory_without_its_entrypoint_does_not_pack() {
        let dir = echo_directory();
        std::fs::remove_file(dir.path().join("run.sh")).expect("remove");
        let result = pack_directory(dir.path(), &BundleLimits::default());
        assert!(
            matches!(result, Err(PackError::Invalid(CapsuleError::MissingFile(path))) if path == "run.sh")
        );
    }

    #[test]
    fn links_are_refused() {
        let dir = echo_directory();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).expect("symlink");
        assert!(matches!(pack_directory(dir.path(), &BundleLimits::default()), Err(PackError::Link(_))));
    }
}
