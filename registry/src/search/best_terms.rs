//! The text part of a search as one query: for each of the query's words, a document scores
//! the best of the ways that word matches it (an indexed term, each with a fixed score),
//! and the words' scores add up.
//!
//! It computes what a `BooleanQuery` of `DisjunctionMaxQuery`s of `ConstScoreQuery`s of
//! term queries computes, without those layers. The postings are read a window of documents
//! at a time into two arrays: the current word's best score per document, and the running
//! sum. Each posting then costs an array write, not a walk through three levels of boxed
//! scorers, and a broad query reads tens of thousands of postings. The postings are read
//! as the blocks of document ids they are stored in, a slice at a time, rather than one
//! document at a time through a cursor that checks at each step whether its block ended.
//!
//! A search takes the matches with `for_each_match` (`matches`), one direct call each. As
//! a tantivy `Query` it also composes with others; its unit tests compare both ways with
//! what tantivy's own queries compute.
//!
//! Given the segments' rows (`rows`), the scorer reads the rows of a window's matches as
//! soon as the window is filled. The collectors read each match's row as it is handed
//! out, one at a time: a cache miss each, paid in turn. Read together, the misses
//! overlap, and the collectors find the rows in the cache.

use super::warm::{SegmentValues, WarmValues};
use std::cell::RefCell;
use std::sync::Arc;
use tantivy::postings::BlockSegmentPostings;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

/// Documents read into the arrays at a time.
const WINDOW: usize = 4096;
const WINDOW_BLOCKS: usize = WINDOW / 64;

/// For each word, the terms that stand for it and what each scores: a document matches if
/// it holds any term, and scores, summed over the words, the best of the terms it holds.
#[derive(Clone)]
pub struct BestTermsQuery {
    words: Arc<[Vec<(Term, Score)>]>,
    /// The values whose rows are read ahead, if any.
    values: Option<Arc<WarmValues>>,
}

/// The words only: the values hold every segment's rows and typo keys.
impl std::fmt::Debug for BestTermsQuery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("BestTermsQuery").field("words", &self.words).finish_non_exhaustive()
    }
}

impl BestTermsQuery {
    pub fn new(words: Vec<Vec<(Term, Score)>>) -> Self {
        Self { words: words.into(), values: None }
    }

    /// Reads the rows of a window's matches ahead of the collectors.
    pub fn reading_rows_ahead(mut self, values: Arc<WarmValues>) -> Self {
        self.values = Some(values);
        self
    }

    /// Calls `each` with every matching document of the segment of `reader` and its
    /// score, in order: what a collector gets through `Weight::for_each`, without a
    /// virtual call per document.
    pub fn for_each_match(
        &self,
        reader: &SegmentReader,
        each: impl FnMut(DocId, Score),
    ) -> tantivy::Result<()> {
        open_scorer(&self.words, self.values.as_deref(), reader, 1.0)?.for_each_match(each);
        Ok(())
    }
}

impl Query for BestTermsQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(BestTermsWeight { words: Arc::clone(&self.words), values: self.values.clone() }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (term, _) in self.words.iter().flatten() {
            visitor(term, false);
        }
    }
}

struct BestTermsWeight {
    words: Arc<[Vec<(Term, Score)>]>,
    values: Option<Arc<WarmValues>>,
}

impl Weight for BestTermsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(open_scorer(&self.words, self.values.as_deref(), reader, boost)?))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!("document {doc} does not match")));
        }
        Ok(Explanation::new("sum over the words of the best term each matches", scorer.score()))
    }
}

/// The scorer of `words` in the segment of `reader`, reading the rows of `values` ahead.
fn open_scorer(
    words: &[Vec<(Term, Score)>],
    values: Option<&WarmValues>,
    reader: &SegmentReader,
    boost: Score,
) -> tantivy::Result<BestTermsScorer> {
    let mut sources = Vec::with_capacity(words.iter().map(Vec::len).sum());
    for (word, terms) in words.iter().enumerate() {
        for (term, score) in terms {
            let postings =
                reader.inverted_index(term.field())?.read_block_postings(term, IndexRecordOption::Basic)?;
            if let Some(postings) = postings {
                sources.push(Source { word, score: score * boost, postings, at: 0 });
            }
        }
    }
    // Reading ahead only saves time: a segment whose values cannot be read goes without.
    let values = values.and_then(|values| values.of(reader).ok());
    Ok(BestTermsScorer::new(sources, values))
}

/// One term's postings in a segment, and what it scores for its word.
struct Source {
    word: usize,
    score: Score,
    /// The postings, a block of up to 128 documents decoded at a time; an exhausted list
    /// holds an empty block.
    postings: BlockSegmentPostings,
    /// Where the current document is in the block.
    at: usize,
}

impl Source {
    /// The current document; `TERMINATED` once every document was read (a block is padded
    /// with it past its last document).
    fn doc(&self) -> DocId {
        self.postings.doc(self.at)
    }

    /// Hands over each document before `horizon`, and stops on the first at or past it.
    fn read_until(&mut self, horizon: DocId, mut each: impl FnMut(DocId)) {
        loop {
            let docs = self.postings.docs();
            let mut at = self.at;
            while let Some(&doc) = docs.get(at) {
                if doc >= horizon {
                    self.at = at;
                    return;
                }
                each(doc);
                at += 1;
            }
            self.at = 0;
            if docs.is_empty() {
                return;
            }
            self.postings.advance();
        }
    }

    /// Moves to the first document at or past `target`, skipping whole blocks.
    fn seek(&mut self, target: DocId) {
        if self.doc() < target {
            self.at = self.postings.seek(target);
        }
    }
}

/// Walks the matching documents in order, a window at a time.
struct BestTermsScorer {
    /// Ordered by word, so that a word's terms are next to each other.
    sources: Vec<Source>,
    window: Window,
    doc: DocId,
    score: Score,
    /// The segment's values, whose rows are read ahead.
    values: Option<Arc<SegmentValues>>,
}

/// The documents read from `start` on, up to `WINDOW` of them, each by its offset (slot).
struct Window {
    start: DocId,
    /// Per slot: the best score of the word being read. `WINDOW` long; all zero between
    /// windows.
    best: Box<[Score]>,
    /// Per slot: the sum over the words read so far. `WINDOW` long; zero where no match
    /// is pending.
    sums: Box<[Score]>,
    /// The slots matched and not yet handed out.
    pending: [u64; WINDOW_BLOCKS],
    /// The block of `pending` the cursor is in.
    block: usize,
}

/// A window's `best` and `sums`.
type ScoreArrays = (Box<[Score]>, Box<[Score]>);

thread_local! {
    /// This thread's spare score arrays, all zero, between two scorers, which would
    /// otherwise allocate and zero 32 KB each.
    static SPARE_SCORES: RefCell<Option<ScoreArrays>> = const { RefCell::new(None) };
}

/// The first document past a window starting at `start`; never past `TERMINATED`, where
/// exhausted postings rest.
fn horizon(start: DocId) -> DocId {
    start.saturating_add(WINDOW as DocId).min(TERMINATED)
}

/// A window's array as the size it has, so that indexing it by slot needs no bounds check.
/// None only for the arrays of a dropped window.
fn fixed(scores: &mut [Score]) -> Option<&mut [Score; WINDOW]> {
    scores.try_into().ok()
}

impl BestTermsScorer {
    fn new(sources: Vec<Source>, values: Option<Arc<SegmentValues>>) -> Self {
        let zeroed = || vec![0.0; WINDOW].into_boxed_slice();
        let (best, sums) = SPARE_SCORES.with_borrow_mut(Option::take).unwrap_or_else(|| (zeroed(), zeroed()));
        let window = Window { start: 0, best, sums, pending: [0; WINDOW_BLOCKS], block: WINDOW_BLOCKS };
        let mut scorer = Self { sources, window, doc: 0, score: 0.0, values };
        scorer.advance();
        scorer
    }

    /// Reads the next window that holds a match, from the lowest document a source is on.
    /// False when every source is exhausted.
    fn refill(&mut self) -> bool {
        let Some(start) = self.sources.iter().map(Source::doc).min() else { return false };
        let Window { start: window_start, best, sums, pending, block } = &mut self.window;
        let (Some(best), Some(sums)) = (fixed(best), fixed(sums)) else { return false };
        if start == TERMINATED {
            return false;
        }
        *window_start = start;
        *block = 0;
        let horizon = horizon(start);
        let mut word_matches = [0u64; WINDOW_BLOCKS];
        let mut sources = self.sources.iter_mut().peekable();
        while let Some(source) = sources.next() {
            let score = source.score;
            // A document before the horizon is less than `WINDOW` past the start: the
            // remainders cost nothing and spare the bounds checks.
            source.read_until(horizon, |doc| {
                let slot = (doc - start) as usize % WINDOW;
                best[slot] = best[slot].max(score);
                word_matches[slot / 64 % WINDOW_BLOCKS] |= 1 << (slot % 64);
            });
            if sources.peek().is_none_or(|next| next.word != source.word) {
                add_word(&mut word_matches, best, sums, pending);
            }
        }
        if let Some(values) = &self.values {
            values.rows.read_ahead(start, pending);
        }
        true
    }

    /// Hands out every match from the current one on, and ends exhausted.
    fn for_each_match(&mut self, mut each: impl FnMut(DocId, Score)) {
        if self.doc == TERMINATED {
            return;
        }
        each(self.doc, self.score);
        loop {
            self.window.drain(&mut each);
            if !self.refill() {
                break;
            }
        }
        self.doc = TERMINATED;
    }
}

/// Adds the word just read to the sums, clears its scores, and marks its matches pending.
fn add_word(
    word_matches: &mut [u64; WINDOW_BLOCKS],
    best: &mut [Score; WINDOW],
    sums: &mut [Score; WINDOW],
    pending: &mut [u64; WINDOW_BLOCKS],
) {
    for (index, (matches, pending)) in word_matches.iter_mut().zip(pending).enumerate() {
        *pending |= *matches;
        while *matches != 0 {
            let slot = (index * 64 + matches.trailing_zeros() as usize) % WINDOW;
            *matches &= *matches - 1;
            sums[slot] += std::mem::take(&mut best[slot]);
        }
    }
}

impl Window {
    /// Hands out every pending document with its sum, clearing both.
    fn drain(&mut self, each: &mut impl FnMut(DocId, Score)) {
        let Some(sums) = fixed(&mut self.sums) else { return };
        for (block, pending) in self.pending.iter_mut().enumerate().skip(self.block) {
            let mut bits = std::mem::take(pending);
            while bits != 0 {
                let slot = (block * 64 + bits.trailing_zeros() as usize) % WINDOW;
                bits &= bits - 1;
                each(self.start + slot as DocId, std::mem::take(&mut sums[slot]));
            }
        }
        self.block = WINDOW_BLOCKS;
    }

    /// The next pending document, its sum taken (and cleared).
    fn next_pending(&mut self) -> Option<(DocId, Score)> {
        while let Some(pending) = self.pending.get_mut(self.block) {
            if *pending != 0 {
                let slot = self.block * 64 + pending.trailing_zeros() as usize;
                *pending &= *pending - 1;
                let score = self.sums.get_mut(slot).map_or(0.0, std::mem::take);
                return Some((self.start + slot as DocId, score));
            }
            self.block += 1;
        }
        None
    }

    /// The first document past the window.
    fn horizon(&self) -> DocId {
        horizon(self.start)
    }
}

/// Hands the arrays back to the thread, zero: `best` is after every word, the sums of
/// matches not handed out are cleared here. A window dropped by a panic (mid-word, or
/// mid-way through a block of matches) may hold scores nothing clears: its arrays are
/// freed instead.
impl Drop for Window {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        self.drain(&mut |_, _| {});
        let arrays = (std::mem::take(&mut self.best), std::mem::take(&mut self.sums));
        SPARE_SCORES.with_borrow_mut(|spare| *spare = Some(arrays));
    }
}

impl DocSet for BestTermsScorer {
    fn advance(&mut self) -> DocId {
        loop {
            if let Some((doc, score)) = self.window.next_pending() {
                self.doc = doc;
                self.score = score;
                return doc;
            }
            if !self.refill() {
                self.doc = TERMINATED;
                return TERMINATED;
            }
        }
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        if target >= self.window.horizon() {
            // Beyond the window: drop what is left of it and let the postings skip ahead.
            while self.window.next_pending().is_some() {}
            for source in &mut self.sources {
                source.seek(target);
            }
        }
        while self.doc < target {
            self.advance();
        }
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.sources.iter().map(|source| source.postings.doc_freq()).fold(0, u32::saturating_add)
    }
}

impl Scorer for BestTermsScorer {
    fn score(&mut self) -> Score {
        self.score
    }
}

#[cfg(test)]
mod tests {
    use super::BestTermsQuery;
    use crate::search::warm::WarmValues;
    use std::sync::Arc;
    use tantivy::collector::TopDocs;
    use tantivy::query::{BooleanQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, Query, TermQuery};
    use tantivy::schema::{Field, IndexRecordOption, STRING, Schema};
    use tantivy::{DocAddress, Index, IndexWriter, Score, Searcher, TantivyDocument, Term};

    const VOCABULARY: [&str; 12] =
        ["http", "client", "react", "state", "parse", "json", "test", "mock", "cli", "color", "rare", "gone"];

    /// Numbers that look random and are the same on every run.
    struct Sequence(u64);

    impl Sequence {
        fn below(&mut self, bound: usize) -> usize {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % bound as u64) as usize
        }
    }

    /// Two segments of documents with a few words in each of two fields, over several
    /// windows; `rare` is in a handful of documents, `gone` in none.
    fn index() -> anyhow::Result<(Searcher, [Field; 3])> {
        let mut builder = Schema::builder();
        let fields = [
            builder.add_text_field("a", STRING),
            builder.add_text_field("b", STRING),
            builder.add_text_field("kind", STRING),
        ];
        let index = Index::create_in_ram(builder.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000)?;
        let mut numbers = Sequence(7);
        for segment in 0..2 {
            for doc in 0..9_000 {
                let mut document = TantivyDocument::new();
                for field in &fields[..2] {
                    for _ in 0..numbers.below(3) {
                        document.add_text(*field, VOCABULARY[numbers.below(10)]);
                    }
                }
                if doc % 1_500 == 7 {
                    document.add_text(fields[0], "rare");
                }
                document.add_text(fields[2], if numbers.below(4) == 0 { "odd" } else { "even" });
                if doc % 5_000 == 3 {
                    document.add_text(fields[2], "sparse");
                }
                writer.add_document(document)?;
            }
            writer.commit()?;
            assert_eq!(index.reader()?.searcher().segment_readers().len(), segment + 1);
        }
        Ok((index.reader()?.searcher(), fields))
    }

    /// What the query computes, as tantivy's own queries compose it.
    fn composed(words: &[Vec<(Term, Score)>]) -> Box<dyn Query> {
        let words = words
            .iter()
            .map(|terms| -> (Occur, Box<dyn Query>) {
                let ways = terms
                    .iter()
                    .map(|(term, score)| -> Box<dyn Query> {
                        let query = TermQuery::new(term.clone(), IndexRecordOption::Basic);
                        Box::new(ConstScoreQuery::new(Box::new(query), *score))
                    })
                    .collect();
                (Occur::Should, Box::new(DisjunctionMaxQuery::new(ways)))
            })
            .collect();
        Box::new(BooleanQuery::new(words))
    }

    fn everything(searcher: &Searcher, query: &dyn Query) -> anyhow::Result<Vec<(DocAddress, Score)>> {
        let limit = searcher.num_docs() as usize;
        let mut found: Vec<(DocAddress, Score)> = searcher
            .search(query, &TopDocs::with_limit(limit).order_by_score())?
            .into_iter()
            .map(|(score, address)| (address, score))
            .collect();
        found.sort_by_key(|(address, _)| *address);
        Ok(found)
    }

    /// What `for_each_match` hands out over every segment.
    fn each_match(searcher: &Searcher, query: &BestTermsQuery) -> anyhow::Result<Vec<(DocAddress, Score)>> {
        let mut found = Vec::new();
        for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
            query.for_each_match(segment, |doc, score| {
                found.push((DocAddress::new(ordinal as u32, doc), score))
            })?;
        }
        Ok(found)
    }

    fn assert_same(actual: &[(DocAddress, Score)], expected: &[(DocAddress, Score)], what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: how many match");
        for ((address, score), (expected_address, expected_score)) in actual.iter().zip(expected) {
            assert_eq!(address, expected_address, "{what}");
            assert!(
                (score - expected_score).abs() < 1e-5,
                "{what}: {address:?} scores {score}, not {expected_score}"
            );
        }
    }

    #[test]
    fn matches_and_scores_what_the_composed_term_queries_do() -> anyhow::Result<()> {
        let (searcher, [a, b, kind]) = index()?;
        let mut numbers = Sequence(11);
        let scores = [1.0, 1.1, 1.2, 1.3, 3.0];
        let kind_is = |value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(kind, value), IndexRecordOption::Basic))
        };
        for round in 0..40 {
            let words: Vec<Vec<(Term, Score)>> = (0..1 + numbers.below(4))
                .map(|_| {
                    (0..1 + numbers.below(4))
                        .map(|_| {
                            let field = if numbers.below(2) == 0 { a } else { b };
                            let word = VOCABULARY[numbers.below(VOCABULARY.len())];
                            (Term::from_field_text(field, word), scores[numbers.below(scores.len())])
                        })
                        .collect()
                })
                .collect();
            let what = format!("round {round}: {words:?}");
            // Half the rounds read the rows ahead, which must neither fail nor change a result.
            let query = match round % 2 {
                0 => BestTermsQuery::new(words.clone()),
                _ => BestTermsQuery::new(words.clone()).reading_rows_ahead(Arc::new(WarmValues::default())),
            };
            let expected = everything(&searcher, &*composed(&words))?;
            assert_same(&everything(&searcher, &query)?, &expected, &what);
            assert_same(&each_match(&searcher, &query)?, &expected, &format!("{what}, each match"));

            // Excluded by a filter, and intersected with a dense one and with a sparse one (a
            // few documents thousands apart), so that the documents are also sought, within
            // a window and past it.
            for (occur, value) in [(Occur::MustNot, "odd"), (Occur::Must, "odd"), (Occur::Must, "sparse")] {
                let filtered = |text: Box<dyn Query>| {
                    BooleanQuery::new(vec![(Occur::Must, text), (occur, kind_is(value))])
                };
                assert_same(
                    &everything(&searcher, &filtered(Box::new(query.clone())))?,
                    &everything(&searcher, &filtered(composed(&words)))?,
                    &format!("{what}, {occur:?} {value}"),
                );
            }
        }
        Ok(())
    }

    #[test]
    fn a_word_with_no_indexed_term_matches_nothing() -> anyhow::Result<()> {
        let (searcher, [a, _, _]) = index()?;
        let gone = BestTermsQuery::new(vec![vec![(Term::from_field_text(a, "gone"), 1.0)]]);
        assert!(everything(&searcher, &gone)?.is_empty());
        assert!(everything(&searcher, &BestTermsQuery::new(Vec::new()))?.is_empty());
        let rare = BestTermsQuery::new(vec![vec![(Term::from_field_text(a, "rare"), 1.0)]]);
        assert_eq!(everything(&searcher, &rare)?.len(), 12);
        Ok(())
    }
}
