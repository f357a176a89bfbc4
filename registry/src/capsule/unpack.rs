//! Safe unpacking into memory. Nothing touches the file system: entries are read into a
//! map after each is checked. Refused: oversize bundles, more than `max_entries` entries,
//! more than `max_unpacked_bytes` after decompression (bombs), absolute paths and `..`,
//! links, devices and other special files, duplicate paths, truncated or corrupt gzip or
//! tar data (the gzip trailer's checksum is verified and the tar must end with its
//! end-of-archive marker), and anything after the end of the archive.

use super::CapsuleError;
use flate2::bufread::GzDecoder;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};
use tar::EntryType;

/// How big a bundle may be.
#[derive(Debug, Clone, Copy)]
pub struct BundleLimits {
    pub max_bundle_bytes: u64,
    pub max_unpacked_bytes: u64,
    pub max_entries: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self { max_bundle_bytes: 10 * 1024 * 1024, max_unpacked_bytes: 64 * 1024 * 1024, max_entries: 1000 }
    }
}

/// The regular files of a bundle, by normalized relative path.
#[derive(Debug, Default)]
pub struct UnpackedBundle {
    files: BTreeMap<String, Vec<u8>>,
}

impl UnpackedBundle {
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// A file that must exist and be UTF-8.
    pub fn text(&self, path: &str) -> Result<&str, CapsuleError> {
        let bytes = self.get(path).ok_or_else(|| CapsuleError::MissingFile(path.to_owned()))?;
        std::str::from_utf8(bytes).map_err(|_| CapsuleError::NotText(path.to_owned()))
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Total size of the files.
    pub fn unpacked_size(&self) -> u64 {
        self.files.values().map(|bytes| bytes.len() as u64).sum()
    }
}

pub fn unpack(bundle: &[u8], limits: &BundleLimits) -> Result<UnpackedBundle, CapsuleError> {
    let size = bundle.len() as u64;
    if size > limits.max_bundle_bytes {
        return Err(CapsuleError::BundleTooLarge { size, limit: limits.max_bundle_bytes });
    }
    // One byte past the limit is enough to know the limit was crossed.
    let decompressed = GzDecoder::new(bundle).take(limits.max_unpacked_bytes.saturating_add(1));
    let mut archive =
        tar::Archive::new(BombGuard { inner: decompressed, limit: limits.max_unpacked_bytes, read: 0 });
    let mut unpacked = UnpackedBundle::default();
    let mut seen = std::collections::BTreeSet::new();
    let entries = archive.entries().map_err(|error| corrupt(&error, limits))?;
    for (index, entry) in entries.enumerate() {
        if index >= limits.max_entries {
            return Err(CapsuleError::TooManyEntries { limit: limits.max_entries });
        }
        let mut entry = entry.map_err(|error| corrupt(&error, limits))?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalized(&raw_path)?;
        match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Directory => continue,
            EntryType::Symlink | EntryType::Link => return Err(CapsuleError::Link(raw_path)),
            _ => return Err(CapsuleError::SpecialFile(raw_path)),
        }
        if !seen.insert(path.clone()) {
            return Err(CapsuleError::DuplicateEntry(path));
        }
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(|error| corrupt(&error, limits))?;
        unpacked.files.insert(path, content);
    }
    check_end(archive.into_inner(), limits)?;
    Ok(unpacked)
}

/// The tar reader stops at the first zero block, or at a clean end of input. What must
/// follow is the rest of the end-of-archive marker (more zero blocks) and then the end of
/// the gzip stream, whose checksum the decoder verifies as it reaches it; no byte may
/// follow that stream.
fn check_end(
    mut rest: BombGuard<std::io::Take<GzDecoder<&[u8]>>>,
    limits: &BundleLimits,
) -> Result<(), CapsuleError> {
    let mut tail = Vec::new();
    rest.read_to_end(&mut tail).map_err(|error| corrupt(&error, limits))?;
    if tail.is_empty() {
        return Err(CapsuleError::Corrupt("the archive has no end-of-archive marker".to_owned()));
    }
    if tail.iter().any(|byte| *byte != 0) {
        return Err(CapsuleError::Corrupt("data follows the end of the archive".to_owned()));
    }
    if !rest.inner.into_inner().into_inner().is_empty() {
        return Err(CapsuleError::Corrupt("data follows the end of the gzip stream".to_owned()));
    }
    Ok(())
}

/// `./a/b` and `a//b` become `a/b`; absolute paths, `..` and empty paths are refused.
fn normalized(raw: &str) -> Result<String, CapsuleError> {
    let mut parts = Vec::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => {
                parts.push(part.to_str().ok_or_else(|| CapsuleError::UnsafePath(raw.to_owned()))?)
            }
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(CapsuleError::UnsafePath(raw.to_owned()));
            }
        }
    }
    if parts.is_empty() || raw.contains('\\') {
        return Err(CapsuleError::UnsafePath(raw.to_owned()));
    }
    Ok(parts.join("/"))
}

/// Counts decompressed bytes and fails once the limit is crossed, whatever the tar
/// headers claim.
struct BombGuard<R> {
    inner: R,
    limit: u64,
    read: u64,
}

impl<R: Read> Read for BombGuard<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.read += count as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(BOMB));
        }
        Ok(count)
    }
}

const BOMB: &str = "decompressed size limit crossed";

fn corrupt(error: &std::io::Error, limits: &BundleLimits) -> CapsuleError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.to_string().contains(BOMB) {
            return CapsuleError::DecompressionBomb { limit: limits.max_unpacked_bytes };
        }
        source = current.source();
    }
    CapsuleError::Corrupt(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capsule::testing::raw_bundle as bundle;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn limits() -> BundleLimits {
        BundleLimits::default()
    }

    #[test]
    fn regular_files_and_directories_unpack() {
        let bytes = bundle(&[
            ("capsule.toml", EntryType::Regular, b"name = 'x'"),
            ("bin/", EntryType::Directory, b""),
            ("./bin/run.sh", EntryType::Regular, b"#!/bin/sh\n"),
        ]);
        let unpacked = unpack(&bytes, &limits()).expect("unpacks");
        assert_eq!(unpacked.paths().collect::<Vec<_>>(), ["bin/run.sh", "capsule.toml"]);
        assert_eq!(unpacked.get("bin/run.sh"), Some(&b"#!/bin/sh\n"[..]));
    }

    #[test]
    fn path_traversal_and_absolute_paths_are_refused() {
        for path in ["../evil", "a/../../evil", "/etc/cron.d/evil"] {
            let bytes = bundle(&[(path, EntryType::Regular, b"x")]);
            assert!(matches!(unpack(&bytes, &limits()), Err(CapsuleError::UnsafePath(_))), "{path}");
        }
    }

    #[test]
    fn links_and_special_files_are_refused() {
        let symlink = bundle(&[("passwd", EntryType::Symlink, b"")]);
        let hardlink = bundle(&[("passwd", EntryType::Link, b"")]);
        let device = bundle(&[("tty", EntryType::Char, b"")]);
        let fifo = bundle(&[("pipe", EntryType::Fifo, b"")]);
        assert!(matches!(unpack(&symlink, &limits()), Err(CapsuleError::Link(_))));
        assert!(matches!(unpack(&hardlink, &limits()), Err(CapsuleError::Link(_))));
        assert!(matches!(unpack(&device, &limits()), Err(CapsuleError::SpecialFile(_))));
        assert!(matches!(unpack(&fifo, &limits()), Err(CapsuleError::SpecialFile(_))));
    }

    #[test]
    fn duplicate_entries_are_refused_even_when_spelled_differently() {
        let bytes = bundle(&[("run.sh", EntryType::Regular, b"a"), ("./run.sh", EntryType::Regular, b"b")]);
        assert!(
            matches!(unpack(&bytes, &limits()), Err(CapsuleError::DuplicateEntry(path)) if path == "run.sh")
        );
    }

    #[test]
    fn a_decompression_bomb_is_stopped_at_the_limit() {
        let zeros = vec![0_u8; 8 * 1024 * 1024];
        let bytes = bundle(&[("zeros", EntryType::Regular, &zeros)]);
        let small = BundleLimits { max_unpacked_bytes: 1024 * 1024, ..limits() };
        assert!(bytes.len() < 64 * 1024, "the bomb is small: {} bytes", bytes.len());
        assert!(matches!(unpack(&bytes, &small), Err(CapsuleError::DecompressionBomb { .. })));
    }

    #[test]
    fn too_many_entries_and_oversize_bundles_are_refused() {
        let many: Vec<String> = (0..20).map(|index| format!("f{index}")).collect();
        let entries: Vec<(&str, EntryType, &[u8])> =
            many.iter().map(|name| (name.as_str(), EntryType::Regular, &b"x"[..])).collect();
        let bytes = bundle(&entries);
        let few = BundleLimits { max_entries: 10, ..limits() };
        let tiny = BundleLimits { max_bundle_bytes: 10, ..limits() };
        assert!(matches!(unpack(&bytes, &few), Err(CapsuleError::TooManyEntries { limit: 10 })));
        assert!(matches!(unpack(&bytes, &tiny), Err(CapsuleError::BundleTooLarge { .. })));
    }

    #[test]
    fn a_missing_end_marker_trailing_data_and_a_bad_checksum_are_corrupt() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_cksum();
        tar.append_data(&mut header, "capsule.toml", &b"x"[..]).expect("append");
        let without_end = tar.get_ref().clone();
        let complete = tar.into_inner().expect("tar");
        let gzip = |bytes: &[u8]| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(bytes).expect("write");
            encoder.finish().expect("gzip")
        };
        let mut smuggled = complete.clone();
        smuggled.extend_from_slice(b"hidden payload");
        let mut trailing_gzip = gzip(&complete);
        trailing_gzip.extend_from_slice(b"more");
        let mut bad_checksum = gzip(&complete);
        let crc_at = bad_checksum.len() - 8;
        bad_checksum[crc_at] ^= 0xff;

        assert!(unpack(&gzip(&complete), &limits()).is_ok());
        for (case, bytes) in [
            ("no end marker", gzip(&without_end)),
            ("data after the archive", gzip(&smuggled)),
            ("data after the gzip stream", trailing_gzip),
            ("bad gzip checksum", bad_checksum),
        ] {
            assert!(matches!(unpack(&bytes, &limits()), Err(CapsuleError::Corrupt(_))), "{case}");
        }
    }

    #[test]
    fn truncated_and_garbage_bundles_are_corrupt() {
        let bytes = bundle(&[("capsule.toml", EntryType::Regular, &[b'x'; 4000])]);
        let truncated = &bytes[..bytes.len() / 2];
        assert!(matches!(unpack(truncated, &limits()), Err(CapsuleError::Corrupt(_))));
        assert!(matches!(unpack(b"not a gzip stream at all", &limits()), Err(CapsuleError::Corrupt(_))));
        let mut plain = GzEncoder::new(Vec::new(), Compression::default());
        plain.write_all(&[7_u8; 1000]).expect("write");
        let not_tar = plain.finish().expect("gzip");
        assert!(unpack(&not_tar, &limits()).is_err());
    }
}
