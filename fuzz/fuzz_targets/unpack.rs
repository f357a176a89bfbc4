//! The bundle unpacker and everything `Capsule::from_bundle` does after it (manifest,
//! README, entrypoint). The first byte picks the input's meaning: odd means the rest is a
//! gzip stream as sent; even means the rest is a tar archive, gzipped here, so the fuzzer
//! explores the tar reader instead of fighting gzip checksums.

#![no_main]

use caravan_registry::capsule::{BundleLimits, Capsule};
use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else { return };
    let limits = BundleLimits { max_bundle_bytes: 1 << 20, max_unpacked_bytes: 4 << 20, max_entries: 64 };
    if mode % 2 == 1 {
        let _ = Capsule::from_bundle(rest, &limits);
    } else {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        if encoder.write_all(rest).is_ok()
            && let Ok(gzipped) = encoder.finish()
        {
            let _ = Capsule::from_bundle(&gzipped, &limits);
        }
    }
});
