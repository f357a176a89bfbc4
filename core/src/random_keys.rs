//! A hasher for map keys whose bits are random already: SHA-256 digests and the ULIDs of
//! server-made ids. Hashing them again with SipHash only costs time on every request.
//! Never use it for keys a client chooses freely: it offers no protection against
//! collision flooding.

use std::hash::{BuildHasherDefault, Hasher};

/// Folds the key's bytes into 64 bits with a multiply, keeping their randomness.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomKeyHasher(u64);

/// `BuildHasher` for `HashMap<K, V, RandomKeys>` and governor's keyed stores.
pub type RandomKeys = BuildHasherDefault<RandomKeyHasher>;

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for RandomKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0_u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(23) ^ value).wrapping_mul(MIX);
    }

    fn write_u128(&mut self, value: u128) {
        // A ULID's random bits are its low 80; its high 48 are a timestamp.
        self.write_u64(value as u64);
        self.write_u64((value >> 64) as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn distinct_ulids_spread_over_buckets() {
        let hasher = RandomKeys::default();
        let buckets: std::collections::HashSet<u64> =
            (0..1000).map(|_| hasher.hash_one(crate::id::Ulid::new().0) % 1024).collect();
        assert!(buckets.len() > 550, "{} of 1024 buckets used by 1000 keys", buckets.len());
    }
}
