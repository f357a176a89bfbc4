//! Facet counts: how many of the matching capsules have each category, license, publisher
//! and tier. Counted by term ordinal from the segment's in-memory rows (`rows`), an
//! array increment per matching document, by the results collector (`results`); only the
//! most frequent values of each segment are reported.
//!
//! The count arrays are the size of each field's vocabulary (tens of kilobytes for the
//! publishers), so each search thread keeps its own and hands them back zeroed: the scan
//! that finds a segment's counted values zeroes them as it goes.
//!
//! Across segments, each segment offers its top `offered(limit)` values and the offers are
//! summed, the way search engines count terms across shards: exact for every value that
//! is among the top of each segment, which covers the values shown in practice.

use super::rows::DocRow;
use super::warm::SegmentValues;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// One faceted field, by its name in the schema, and how many values to report.
#[derive(Debug, Clone, Copy)]
pub struct FacetField {
    pub field: &'static str,
    pub limit: usize,
}

/// The faceted fields, in the order of [`Facets`](super::query::Facets).
pub const FACETS: [FacetField; 4] = [
    FacetField { field: "category", limit: 50 },
    FacetField { field: "license", limit: 20 },
    FacetField { field: "publisher", limit: 20 },
    FacetField { field: "tier", limit: 3 },
];

/// Values a segment offers for a field showing `limit`.
fn offered(limit: usize) -> usize {
    limit * 3 / 2 + 10
}

/// Per entry of [`FACETS`]: a count per term ordinal.
type Counts = [Vec<u32>; FACETS.len()];

thread_local! {
    /// This thread's count arrays, all zero, between two segments' counts.
    static SPARE_COUNTS: RefCell<Option<Counts>> = const { RefCell::new(None) };
}

/// One segment's facet counts over the documents collected in it.
#[derive(Debug)]
pub struct SegmentFacetCounts {
    values: Arc<SegmentValues>,
    counts: Counts,
}

/// What one segment offers: per field, term ordinals of `values` and their counts.
#[derive(Debug)]
pub struct SegmentOffers {
    values: Arc<SegmentValues>,
    offers: Vec<Vec<(u32, u32)>>,
}

impl SegmentFacetCounts {
    /// Counts over the segment of `values`, in this thread's spare arrays if it has them.
    pub fn new(values: Arc<SegmentValues>) -> Self {
        let mut counts = SPARE_COUNTS.with_borrow_mut(Option::take).unwrap_or_default();
        for (facet, counts) in counts.iter_mut().enumerate() {
            // Zero throughout: what a spare holds, and what grows it.
            counts.resize(values.rows.term_count(facet), 0);
        }
        Self { values, counts }
    }

    /// Counts the values of a document with `row`.
    #[inline]
    pub fn count(&mut self, row: &DocRow) {
        let counts = &mut self.counts;
        self.values.rows.each_ord(row, |facet, ord| {
            if let Some(count) = counts.get_mut(facet).and_then(|counts| counts.get_mut(ord as usize)) {
                *count += 1;
            }
        });
    }

    /// The segment's most frequent values per field; the arrays go back to the thread,
    /// zeroed.
    pub fn offers(mut self) -> SegmentOffers {
        let offers = self
            .counts
            .iter_mut()
            .zip(FACETS)
            .map(|(counts, field)| {
                let mut present = take_counted(counts);
                let offered = offered(field.limit);
                if present.len() > offered {
                    present.select_nth_unstable_by(offered, |left, right| right.1.cmp(&left.1));
                    present.truncate(offered);
                }
                present
            })
            .collect();
        SPARE_COUNTS.with_borrow_mut(|spare| *spare = Some(self.counts));
        SegmentOffers { values: self.values, offers }
    }
}

/// The segments' offers summed: per entry of [`FACETS`], in the same order, its values
/// most frequent first.
pub fn merge(segments: &[SegmentOffers]) -> Vec<Vec<(String, u64)>> {
    let mut merged = Vec::with_capacity(FACETS.len());
    for (position, facet) in FACETS.iter().enumerate() {
        let mut totals: HashMap<&str, u64> = HashMap::new();
        for segment in segments {
            for &(ord, count) in segment.offers.get(position).into_iter().flatten() {
                if let Some(text) = segment.values.rows.text(position, ord) {
                    *totals.entry(text).or_default() += u64::from(count);
                }
            }
        }
        let mut values: Vec<(&str, u64)> = totals.into_iter().collect();
        values.sort_unstable_by(|left, right| right.1.cmp(&left.1).then_with(|| left.0.cmp(right.0)));
        values.truncate(facet.limit);
        merged.push(values.into_iter().map(|(text, count)| (text.to_owned(), count)).collect());
    }
    merged
}

/// The ordinals counted at least once and their counts, leaving every count zero. Most
/// counts of a large vocabulary are zero: runs of them are skipped sixteen at a time, each
/// run tested in a few vector instructions.
fn take_counted(counts: &mut [u32]) -> Vec<(u32, u32)> {
    const RUN: usize = 16;
    let mut counted = Vec::new();
    let mut take = |start: usize, run: &mut [u32]| {
        for (offset, count) in run.iter_mut().enumerate() {
            if *count != 0 {
                counted.push(((start + offset) as u32, std::mem::take(count)));
            }
        }
    };
    let whole_runs = counts.len() / RUN * RUN;
    let (runs, rest) = counts.split_at_mut(whole_runs);
    for (index, run) in runs.chunks_exact_mut(RUN).enumerate() {
        if run.iter().fold(0, |any, &count| any | count) != 0 {
            take(index * RUN, run);
        }
    }
    take(whole_runs, rest);
    counted
}

#[cfg(test)]
mod tests {
    use super::{FACETS, SegmentFacetCounts, merge, take_counted};
    use crate::search::documents::SearchDoc;
    use crate::search::index::tests::{committed, doc};

    #[test]
    fn counts_add_up_across_segments_by_value() -> anyhow::Result<()> {
        let with = |name: &str, categories: &[&str]| SearchDoc {
            categories: categories.iter().map(|category| (*category).to_owned()).collect(),
            ..doc(name)
        };
        // `http` comes after `cli` in the first commit's segments, first in the second's.
        let (_directory, index) = committed(vec![
            vec![with("acme/a", &["cli", "http"]), with("acme/b", &["cli"])],
            vec![with("other/c", &["http"]), with("other/d", &["zip"])],
        ])?;
        let searcher = index.searcher();
        // Each commit makes a segment or more (one per indexing thread).
        assert!(searcher.segment_readers().len() >= 2);

        let count_all = || -> anyhow::Result<Vec<Vec<(String, u64)>>> {
            let mut offers = Vec::new();
            for segment in searcher.segment_readers() {
                let values = index.values.of(segment)?;
                let mut counts = SegmentFacetCounts::new(values.clone());
                for doc in 0..segment.max_doc() {
                    counts.count(values.rows.row(doc));
                }
                offers.push(counts.offers());
            }
            Ok(merge(&offers))
        };
        let counts = count_all()?;
        // The second count starts from the arrays the first handed back.
        assert_eq!(count_all()?, counts);
        let of = |field: &str| {
            let position = FACETS.iter().position(|facet| facet.field == field).expect("faceted");
            counts[position].iter().map(|(value, count)| (value.as_str(), *count)).collect::<Vec<_>>()
        };
        assert_eq!(of("category"), [("cli", 2), ("http", 2), ("zip", 1)]);
        assert_eq!(of("publisher"), [("acme", 2), ("other", 2)]);
        assert_eq!(of("license"), [("MIT", 4)]);
        Ok(())
    }

    #[test]
    fn taking_the_counts_zeroes_them() {
        let mut counts = vec![0; 21];
        counts[3] = 2;
        counts[8] = 1;
        counts[20] = 5;
        assert_eq!(take_counted(&mut counts), [(3, 2), (8, 1), (20, 5)]);
        assert!(counts.iter().all(|&count| count == 0));
        assert!(take_counted(&mut counts).is_empty());
        // Whole runs only, and none at all.
        let mut counts = vec![0; 32];
        counts[15] = 1;
        counts[16] = 4;
        assert_eq!(take_counted(&mut counts), [(15, 1), (16, 4)]);
        assert!(take_counted(&mut []).is_empty());
    }
}
