//! The words one typo away from a query word, found by lookup rather than by walking the
//! term dictionary with an automaton. Every indexed word is filed under itself and under
//! each word it becomes with one letter deleted, and the query word is looked up the same
//! way: two words share such a key whenever they are one edit apart (a letter added,
//! removed or changed, or two neighbouring letters swapped), and a check of the actual
//! distance then drops the few that share a key without being that close. This is the
//! symmetric-deletion scheme of spelling correctors.
//!
//! It also holds the field's words in dictionary order with their document frequencies,
//! from which a prefix's completions are read (`expand`).
//!
//! Built for one field of one segment by the reader's warmer (`warm`), next to the other
//! values every search reads. Keys are 32-bit hashes: a collision only adds a candidate
//! that the distance check turns away.

use std::hash::{DefaultHasher, Hasher};
use tantivy::SegmentReader;
use tantivy::schema::Field;

/// The fields whose words are looked up this way: the ones every query word with 4
/// letters or more is looked for with one typo in, and the short names, which the whole
/// query is (see `query`).
pub const TYPO_INDEXED: [&str; 3] = ["name_words", "description", "short_name"];

/// One field's words in one segment, in dictionary order and filed under their
/// one-deletion keys.
#[derive(Debug)]
pub struct TypoIndex {
    pub field: Field,
    /// (key, word number), sorted.
    keys: Vec<(u32, u32)>,
    /// `keys` cut by their top bits: a lookup reads one bucket of a few keys, not a binary
    /// search through millions of them.
    buckets: Buckets,
    /// Each word and the number of documents containing it, in dictionary order.
    words: Vec<(Box<str>, u32)>,
}

impl TypoIndex {
    /// Reads the term dictionary of `field` in `segment`.
    pub fn read(segment: &SegmentReader, field: Field) -> tantivy::Result<Self> {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted.terms().stream()?;
        let mut keys = Vec::new();
        let mut words = Vec::new();
        let mut scratch = Keys::default();
        while stream.advance() {
            let Ok(word) = std::str::from_utf8(stream.key()) else { continue };
            let number = words.len() as u32;
            keys.extend(scratch.of(word).iter().map(|&key| (key, number)));
            words.push((Box::from(word), stream.value().doc_freq));
        }
        keys.sort_unstable();
        // The vectors grew by doubling; a catalog's worth of names holds millions of keys.
        keys.shrink_to_fit();
        words.shrink_to_fit();
        let buckets = Buckets::of(&keys);
        Ok(Self { field, keys, buckets, words })
    }

    /// Calls `found` with each indexed word exactly one edit away from `word` (a swap of two
    /// neighbouring letters counts as one), and its document frequency.
    pub fn one_edit_from(&self, word: &str, mut found: impl FnMut(&str, u32)) {
        let mut candidates: Vec<u32> = Vec::new();
        for &key in Keys::default().of(word) {
            let bucket = self.keys.get(self.buckets.range(key)).unwrap_or_default();
            let start = bucket.partition_point(|&(filed, _)| filed < key);
            candidates
                .extend(bucket.iter().skip(start).take_while(|&&(filed, _)| filed == key).map(|&(_, n)| n));
        }
        candidates.sort_unstable();
        candidates.dedup();
        for number in candidates {
            if let Some((candidate, frequency)) = self.words.get(number as usize)
                && **candidate != *word
                && one_edit_apart(candidate, word)
            {
                found(candidate, *frequency);
            }
        }
    }

    /// The indexed words that start with `prefix` and are longer, with their document
    /// frequencies, in dictionary order.
    pub fn starting_with<'a, 'p>(&'a self, prefix: &'p str) -> impl Iterator<Item = (&'a str, u32)> + 'p
    where
        'a: 'p,
    {
        let start = self.words.partition_point(|(word, _)| word.as_bytes() <= prefix.as_bytes());
        self.words
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(move |(word, _)| word.starts_with(prefix))
            .map(|(word, frequency)| (&**word, *frequency))
    }
}

/// The sorted keys cut into buckets by their top bits: two to four keys to a bucket on
/// average, more past 4 Mi keys, where `bits` stops at 20.
#[derive(Debug)]
struct Buckets {
    /// `starts[b]..starts[b + 1]` is where bucket `b` lies in the keys.
    starts: Vec<u32>,
    /// How many of a key's top bits number its bucket (at most 20: 4 MiB of starts).
    bits: u32,
}

impl Buckets {
    fn of(keys: &[(u32, u32)]) -> Self {
        let bits = Self::bits_for(keys.len());
        let mut starts = vec![0u32; (1 << bits) + 1];
        for &(key, _) in keys {
            if let Some(count) = starts.get_mut(Self::bucket(key, bits) + 1) {
                *count += 1;
            }
        }
        let mut total = 0;
        for start in &mut starts {
            total += *start;
            *start = total;
        }
        Self { starts, bits }
    }

    /// Enough bits for a bucket per two to four keys, at most 20.
    fn bits_for(keys: usize) -> u32 {
        (usize::BITS - (keys / 4).leading_zeros()).min(20)
    }

    fn bucket(key: u32, bits: u32) -> usize {
        (u64::from(key) >> (32 - bits)) as usize
    }

    /// Where the keys that share `key`'s bucket lie.
    fn range(&self, key: u32) -> std::ops::Range<usize> {
        let bucket = Self::bucket(key, self.bits);
        match (self.starts.get(bucket), self.starts.get(bucket + 1)) {
            (Some(&start), Some(&end)) => start as usize..end as usize,
            _ => 0..0,
        }
    }
}

/// The keys of a word: itself and each deletion of one of its letters, without repeats.
#[derive(Default)]
struct Keys {
    keys: Vec<u32>,
    spelled: Vec<u8>,
}

impl Keys {
    fn of(&mut self, word: &str) -> &[u32] {
        self.keys.clear();
        self.keys.push(hash(word.as_bytes()));
        for (start, letter) in word.char_indices() {
            self.spelled.clear();
            self.spelled.extend_from_slice(&word.as_bytes()[..start]);
            self.spelled.extend_from_slice(&word.as_bytes()[start + letter.len_utf8()..]);
            self.keys.push(hash(&self.spelled));
        }
        self.keys.sort_unstable();
        self.keys.dedup();
        &self.keys
    }
}

fn hash(bytes: &[u8]) -> u32 {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    let hash = hasher.finish();
    (hash ^ (hash >> 32)) as u32
}

/// Whether `a` becomes `b` with at most one edit: a letter added, removed or changed, or
/// two neighbouring letters swapped. Words are nearly always ASCII, compared as they are;
/// others letter by letter.
fn one_edit_apart(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return one_edit_apart_in(a.as_bytes(), b.as_bytes());
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    one_edit_apart_in(&a, &b)
}

fn one_edit_apart_in<Letter: PartialEq>(a: &[Letter], b: &[Letter]) -> bool {
    let (longer, shorter) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let Some(at) = shorter.iter().zip(longer).position(|(x, y)| x != y) else {
        return longer.len() - shorter.len() <= 1;
    };
    match longer.len() - shorter.len() {
        0 => {
            longer[at + 1..] == shorter[at + 1..]
                || (at + 1 < longer.len()
                    && longer[at] == shorter[at + 1]
                    && longer[at + 1] == shorter[at]
                    && longer[at + 2..] == shorter[at + 2..])
        }
        1 => longer[at + 1..] == shorter[at..],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{Buckets, Keys, hash, one_edit_apart};

    #[test]
    fn buckets_hold_two_to_four_keys_up_to_a_million_buckets() {
        let bits = [0, 3, 4, 7, 8, 4_000, 4 << 20, usize::MAX].map(Buckets::bits_for);
        assert_eq!(bits, [0, 0, 1, 1, 2, 10, 20, 20]);
    }

    #[test]
    fn every_key_is_found_in_its_bucket() {
        for count in [0_u32, 1, 3, 4, 100, 5_000] {
            let mut keys: Vec<(u32, u32)> =
                (0..count).map(|number| (hash(&number.to_le_bytes()), number)).collect();
            keys.extend([(0, count), (u32::MAX, count + 1)]);
            keys.sort_unstable();
            let buckets = Buckets::of(&keys);
            assert_eq!(buckets.starts.last().copied(), Some(keys.len() as u32));
            assert_eq!(buckets.starts.len(), (1 << buckets.bits) + 1);
            let bucket_of = |key| Buckets::bucket(key, buckets.bits);
            for &(key, number) in &keys {
                let bucket = &keys[buckets.range(key)];
                assert!(bucket.contains(&(key, number)), "{count} keys: {key}");
                assert!(bucket.iter().all(|&(other, _)| bucket_of(other) == bucket_of(key)), "{count} keys");
                assert!(bucket.len() <= 24, "{count} keys: a bucket of {}", bucket.len());
            }
        }
    }

    #[test]
    fn one_edit_is_an_insertion_a_deletion_a_change_or_a_swap() {
        for (a, b) in
            [("react", "reat"), ("react", "reactt"), ("react", "raect"), ("react", "rezct"), ("ab", "ba")]
        {
            assert!(one_edit_apart(a, b), "{a} {b}");
            assert!(one_edit_apart(b, a), "{b} {a}");
        }
        for (a, b) in [("react", "rect!"), ("abc", "bcd"), ("react", "reacttt"), ("abcd", "badc"), ("é", "")]
        {
            assert_eq!(one_edit_apart(a, b), a == "é", "{a} {b}");
        }
        // Letters, not bytes: `é` is two bytes, and one letter.
        for (a, b) in [("café", "cafe"), ("café", "caf"), ("naïve", "naive"), ("über", "ubre")] {
            assert_eq!(one_edit_apart(a, b), b != "ubre", "{a} {b}");
        }
    }

    #[test]
    fn words_one_edit_apart_share_a_key() {
        let shares = |a: &str, b: &str| {
            let first = Keys::default().of(a).to_vec();
            Keys::default().of(b).iter().any(|key| first.contains(key))
        };
        for (a, b) in
            [("express", "expres"), ("express", "exprses"), ("express", "exprass"), ("lodash", "lodashh")]
        {
            assert!(shares(a, b), "{a} {b}");
        }
    }
}
