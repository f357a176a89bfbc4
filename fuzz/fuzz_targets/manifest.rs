//! `capsule.toml` parsing and validation: any text must parse or be refused, never panic.

#![no_main]

use caravan_registry::capsule::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Manifest::parse(text);
    }
});
