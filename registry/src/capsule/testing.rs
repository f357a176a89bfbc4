//! Bundles made on purpose, hostile ones included, for tests here and in other crates
//! (the `testing` feature).

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::EntryType;

/// A gzip tar of `(path, kind, content)` entries written from raw headers, so paths with
/// `..`, absolute paths, links and devices can be made (`set_path` would refuse them).
/// Symlinks point at `/etc/passwd`.
///
/// # Panics
/// When a path is longer than the 100 bytes of an old-style tar name.
#[allow(clippy::expect_used)]
pub fn raw_bundle(entries: &[(&str, EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (path, kind, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        if *kind == EntryType::Symlink {
            header.set_link_name("/etc/passwd").expect("link name");
        }
        header.set_cksum();
        builder.append(&header, *content).expect("append to an in-memory tar");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}
