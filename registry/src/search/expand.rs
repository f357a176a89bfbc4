//! A query word grown into the indexed words it may stand for: those one or two typos away
//! and those it is the beginning of. The term dictionaries are walked once per query (not
//! once per document matched), and only the few most likely words are kept — the way
//! search engines bound fuzzy and prefix queries — so a short or common word cannot fan
//! out into thousands of postings.
//!
//! A typo is looked for only among words that start with the same letter: few typos hit the
//! first letter, and fixing it confines the walk to one branch of the dictionary. One typo
//! in a field with a `typo_index` is a lookup there instead of a walk, and a prefix's
//! completions are read from it.

use super::warm::WarmValues;
use std::borrow::Cow;
use std::collections::HashMap;
use tantivy::query::{DfaWrapper, FuzzyTermQuery};
use tantivy::schema::Field;
use tantivy::{Searcher, SegmentReader, Term};

/// Words kept for a typo.
const TYPO_EXPANSIONS: usize = 8;
/// Words kept for a prefix.
const PREFIX_EXPANSIONS: usize = 16;
/// Words of a prefix read before it picks (in dictionary order).
const PREFIX_SCAN: usize = 512;

/// The expansions of one query's words: keeps the typo automata it builds, since a query
/// looks for the same word's typos in several fields.
pub struct Expander<'s> {
    searcher: &'s Searcher,
    values: &'s WarmValues,
    automata: HashMap<(String, u8), Option<DfaWrapper>>,
}

impl<'s> Expander<'s> {
    pub fn new(searcher: &'s Searcher, values: &'s WarmValues) -> Self {
        Self { searcher, values, automata: HashMap::new() }
    }

    /// The words of `field` within `distance` edits of `word` (a transposition is one
    /// edit), other than `word` itself: the most frequent first.
    ///
    /// Edits are tried one at a time: two edits only when no word is one edit away and
    /// `word` itself is not indexed in `field`. A word with a neighbour one edit away is
    /// most likely that neighbour, or spelled right, as is a word the field holds; and the
    /// walk for two edits visits far more of the dictionary than the lookup for one.
    pub fn typos(&mut self, field: Field, word: &str, distance: u8) -> Vec<String> {
        let mut found = HashMap::new();
        for edits in 1..=distance {
            if edits > 1 && self.indexed(field, word) {
                break;
            }
            found = self.within(field, word, edits);
            if !found.is_empty() {
                break;
            }
        }
        most_frequent(found, TYPO_EXPANSIONS)
    }

    /// Whether a segment holds `word` in `field`. A word of a deleted document counts until
    /// its segment is merged away, which only spares it a walk for two edits.
    fn indexed(&self, field: Field, word: &str) -> bool {
        self.searcher.segment_readers().iter().any(|segment| {
            segment
                .inverted_index(field)
                .is_ok_and(|inverted| matches!(inverted.terms().get(word.as_bytes()), Ok(Some(_))))
        })
    }

    /// The words of `field` within `edits` of `word`, other than `word`, with their
    /// document frequencies. A typo is looked for only among words that start with the
    /// same letter.
    fn within(&mut self, field: Field, word: &str, edits: u8) -> HashMap<String, u64> {
        let Some(first) = word.chars().next() else { return HashMap::new() };
        if edits == 1
            && let Some(found) = self.looked_up(field, word, first)
        {
            return found;
        }
        self.walked(field, word, first, edits)
    }

    /// [`within`](Self::within), by walking each segment's term dictionary with a
    /// Levenshtein automaton.
    fn walked(&mut self, field: Field, word: &str, first: char, edits: u8) -> HashMap<String, u64> {
        let mut found = HashMap::new();
        let low = first.to_string();
        let high = successor(low.as_bytes());
        let automaton = self.automata.entry((word.to_owned(), edits)).or_insert_with(|| {
            FuzzyTermQuery::new(Term::from_field_text(field, word), edits, true).automaton().ok()
        });
        let Some(automaton) = automaton else { return found };
        for segment in self.searcher.segment_readers() {
            let Ok(inverted) = segment.inverted_index(field) else { continue };
            let mut builder = inverted.terms().search(&*automaton).ge(low.as_bytes());
            if let Some(high) = &high {
                builder = builder.lt(high);
            }
            let Ok(mut stream) = builder.into_stream() else { continue };
            while stream.advance() {
                if let Ok(term) = std::str::from_utf8(stream.key())
                    && term != word
                {
                    *found.entry(term.to_owned()).or_default() += u64::from(stream.value().doc_freq);
                }
            }
        }
        found
    }

    /// [`within`](Self::within) one edit, from each segment's `typo_index`; `None` when a
    /// segment has none for `field`.
    fn looked_up(&self, field: Field, word: &str, first: char) -> Option<HashMap<String, u64>> {
        let mut found = HashMap::new();
        for segment in self.searcher.segment_readers() {
            let values = self.values.of(segment).ok()?;
            values.typo_index(field)?.one_edit_from(word, |term, frequency| {
                if term.starts_with(first) {
                    *found.entry(term.to_owned()).or_default() += u64::from(frequency);
                }
            });
        }
        Some(found)
    }

    /// The words of `field` that start with `prefix` (and are longer): the most frequent
    /// first, among the first `PREFIX_SCAN` in dictionary order. Read from a segment's
    /// `typo_index`, which holds the field's words in that order, or else walked.
    pub fn completions(&self, field: Field, prefix: &str) -> Vec<String> {
        // Held here, so that the words counted can be borrowed from them.
        let segments: Vec<_> = self
            .searcher
            .segment_readers()
            .iter()
            .map(|segment| (segment, self.values.of(segment).ok()))
            .collect();
        let mut found: HashMap<Cow<'_, str>, u64> = HashMap::new();
        for (segment, values) in &segments {
            match values.as_ref().and_then(|values| values.typo_index(field)) {
                Some(index) => {
                    for (term, frequency) in index.starting_with(prefix).take(PREFIX_SCAN) {
                        add_frequency(&mut found, Cow::Borrowed(term), frequency);
                    }
                }
                None => {
                    for (term, frequency) in walked_completions(segment, field, prefix) {
                        add_frequency(&mut found, Cow::Owned(term), frequency);
                    }
                }
            }
        }
        most_frequent(found, PREFIX_EXPANSIONS)
    }
}

/// The first `PREFIX_SCAN` words of `field` in `segment` that start with `prefix` and are
/// longer, with their document frequencies, by walking the term dictionary.
fn walked_completions(segment: &SegmentReader, field: Field, prefix: &str) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    let Ok(inverted) = segment.inverted_index(field) else { return found };
    let mut builder = inverted.terms().range().gt(prefix.as_bytes());
    if let Some(high) = successor(prefix.as_bytes()) {
        builder = builder.lt(high);
    }
    let Ok(mut stream) = builder.into_stream() else { return found };
    while found.len() < PREFIX_SCAN && stream.advance() {
        if let Ok(term) = std::str::from_utf8(stream.key()) {
            found.push((term.to_owned(), stream.value().doc_freq));
        }
    }
    found
}

/// Adds a word's document frequency in a segment to its total.
fn add_frequency<'a>(found: &mut HashMap<Cow<'a, str>, u64>, term: Cow<'a, str>, frequency: u32) {
    match found.get_mut(&*term) {
        Some(total) => *total += u64::from(frequency),
        None => {
            found.insert(term, u64::from(frequency));
        }
    }
}

/// The `keep` words with the highest document frequency, ties in dictionary order.
fn most_frequent<W: AsRef<str>>(found: HashMap<W, u64>, keep: usize) -> Vec<String> {
    let mut ranked: Vec<(u64, W)> = found.into_iter().map(|(term, frequency)| (frequency, term)).collect();
    ranked.sort_unstable_by(|left, right| right.0.cmp(&left.0).then(left.1.as_ref().cmp(right.1.as_ref())));
    ranked.into_iter().take(keep).map(|(_, term)| term.as_ref().to_owned()).collect()
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = prefix.to_vec();
    while let Some(last) = bytes.pop() {
        if last < u8::MAX {
            bytes.push(last + 1);
            return Some(bytes);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{Expander, PREFIX_SCAN, successor, walked_completions};
    use crate::search::index::tests::{committed, doc, named};

    #[test]
    fn a_typo_looked_up_finds_what_the_automaton_finds() -> anyhow::Result<()> {
        let names = [
            "acme/express",
            "acme/expresso",
            "acme/exprses",
            "acme/xpress",
            "acme/react",
            "acme/reactt",
            "acme/raect",
            "acme/redact",
            "acme/read-act",
        ];
        let (_directory, index) = committed(named(&names, 4))?;
        let searcher = index.searcher();
        let mut expander = Expander::new(&searcher, &index.values);
        let field = index.fields.name_words;
        for word in ["express", "expres", "react", "raect", "reac", "xpress", "acme", "zebra"] {
            let first = word.chars().next().unwrap_or_default();
            let looked_up = expander.looked_up(field, word, first);
            assert_eq!(looked_up, Some(expander.walked(field, word, first, 1)), "{word}");
        }
        assert_eq!(expander.typos(field, "reactx", 1), ["react", "reactt"]);
        Ok(())
    }

    #[test]
    fn a_word_the_field_holds_is_not_looked_for_two_edits_away() -> anyhow::Result<()> {
        let (_directory, index) = committed(named(&["acme/validator", "acme/validate"], 2))?;
        let searcher = index.searcher();
        let mut expander = Expander::new(&searcher, &index.values);
        let field = index.fields.name_words;
        // `validate` is two edits from `validator`, which is spelled as indexed.
        assert!(expander.typos(field, "validator", 2).is_empty());
        assert_eq!(expander.typos(field, "valydatr", 2), ["validate", "validator"]);
        Ok(())
    }

    #[test]
    fn completions_read_from_the_typo_index_are_the_ones_walked() -> anyhow::Result<()> {
        let names = ["acme/react", "acme/react-dom", "acme/reactive", "acme/read", "acme/re", "acme/redux"];
        let mut commits = named(&names, 4);
        // More words starting with `re` than a prefix reads, so that the cut is compared too.
        commits.push((0..PREFIX_SCAN + 100).map(|n| doc(&format!("acme/rex{n:04}"))).collect());
        let (_directory, index) = committed(commits)?;
        let searcher = index.searcher();
        let field = index.fields.name_words;
        for segment in searcher.segment_readers() {
            let values = index.values.of(segment)?;
            let typo_index = values.typo_index(field).expect("name words have a typo index");
            for prefix in ["re", "react", "rea", "a", "dom", "zebra", ""] {
                let read: Vec<(String, u32)> = typo_index
                    .starting_with(prefix)
                    .take(PREFIX_SCAN)
                    .map(|(term, frequency)| (term.to_owned(), frequency))
                    .collect();
                assert_eq!(read, walked_completions(segment, field, prefix), "{prefix:?}");
            }
        }
        let expander = Expander::new(&searcher, &index.values);
        assert_eq!(expander.completions(field, "rea"), ["react", "reactive", "read"]);
        Ok(())
    }

    #[test]
    fn the_successor_of_a_prefix_bounds_every_word_it_starts() {
        assert_eq!(successor(b"re"), Some(b"rf".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff"), None);
    }
}
