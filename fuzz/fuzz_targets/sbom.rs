//! CycloneDX SBOM reading and validation: any bytes must be accepted or refused, never
//! panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = caravan_registry::sbom::inspect(data);
});
